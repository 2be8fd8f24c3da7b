/**
 * The telemetry bus: assigns `seq`, freezes and records each event in a bounded ring, then hands
 * it synchronously to one sink (the plugin registry). Recording is the only work done when no
 * sink is attached.
 *
 * @module
 */
import { randomBytes } from "node:crypto";
import { isoNow } from "./clock.js";
import type { EngineEvent, EventFilter, EventPayloads, EventType } from "./events.js";
import { compileTypeMatcher } from "./match.js";

/** Receives every event right after it is recorded. Must not throw (the bus guards anyway). */
export type EventSink = (event: EngineEvent) => void;

/** Options for {@link TelemetryBus}. */
export interface TelemetryBusOptions {
  /**
   * How many events to retain for `getEvents()`. Oldest are dropped first and counted in
   * {@link TelemetryBus.droppedEvents}. `0` keeps none; `Infinity` keeps all. Default 100,000.
   */
  readonly maxEvents?: number;
  /** Clock for timestamps (tests). Default: the current time. */
  readonly now?: () => Date;
}

/** Default retention bound. */
export const DEFAULT_MAX_EVENTS = 100_000;

/** Records engine events and forwards them to a sink. */
export class TelemetryBus {
  private readonly maxEvents: number;
  private readonly timestamp: () => string;
  private readonly idPrefix = randomBytes(4).toString("hex");
  private ring: EngineEvent[] = [];
  /** Index of the oldest event in `ring` once it has wrapped. */
  private head = 0;
  private seqCounter = 0;
  private dropped = 0;
  private sink: EventSink | undefined;
  private sinkErrors = 0;

  constructor(options: TelemetryBusOptions = {}) {
    const max = options.maxEvents ?? DEFAULT_MAX_EVENTS;
    if (!(max >= 0)) throw new RangeError(`maxEvents must be >= 0, got ${String(max)}`);
    this.maxEvents = max;
    const now = options.now;
    this.timestamp = now === undefined ? isoNow : () => now().toISOString();
  }

  /** Attaches (or with `undefined` detaches) the sink that receives every recorded event. */
  setSink(sink: EventSink | undefined): void {
    this.sink = sink;
  }

  /** True when a sink is attached. */
  get hasSink(): boolean {
    return this.sink !== undefined;
  }

  /**
   * Records an event and delivers it to the sink. The payload's nested values must already be
   * sealed (see `sealJson`); the payload object itself is frozen here. `at` is when the event
   * happened (ISO-8601) when that is earlier than its emission (work committed later); default now.
   */
  emit<T extends EventType>(type: T, taskId: string, nodeId: string | undefined, payload: EventPayloads[T], at?: string): EngineEvent {
    const seq = ++this.seqCounter;
    const timestamp = at ?? this.timestamp();
    Object.freeze(payload);
    // Two literal shapes rather than a spread: this is the hottest allocation in the engine.
    const event = (
      nodeId === undefined
        ? { id: `${this.idPrefix}-${seq}`, seq, type, taskId, timestamp, payload }
        : { id: `${this.idPrefix}-${seq}`, seq, type, taskId, nodeId, timestamp, payload }
    ) as EngineEvent;
    Object.freeze(event);
    this.record(event);
    if (this.held > 0) this.heldEvents.push(event);
    else this.deliver(event);
    return event;
  }

  private deliver(event: EngineEvent): void {
    const sink = this.sink;
    if (sink !== undefined) {
      try {
        sink(event);
      } catch {
        // The sink is the plugin registry, which guards every plugin call; this is belt and braces.
        this.sinkErrors++;
      }
    }
  }

  private held = 0;
  private heldEvents: EngineEvent[] = [];

  /**
   * Holds delivery to the sink (events are still numbered and recorded) until the matching
   * {@link release}: a durable run persists a commit before its events reach plugins. Nests.
   */
  hold(): void {
    this.held++;
  }

  /** Ends one {@link hold}; the last one delivers the held events in `seq` order. */
  release(): void {
    if (this.held === 0 || --this.held > 0) return;
    const events = this.heldEvents;
    this.heldEvents = [];
    for (const e of events) this.deliver(e);
  }

  private record(event: EngineEvent): void {
    const max = this.maxEvents;
    if (max === 0) {
      this.dropped++;
      return;
    }
    if (this.ring.length < max) {
      this.ring.push(event);
      return;
    }
    this.ring[this.head] = event;
    this.head = this.head + 1 === max ? 0 : this.head + 1;
    this.dropped++;
  }

  /** Number of events emitted so far (the last `seq`). */
  get lastSeq(): number {
    return this.seqCounter;
  }

  /** Number of events dropped from retention because of `maxEvents`. */
  get droppedEvents(): number {
    return this.dropped;
  }

  /** Number of events currently retained. */
  get retainedEvents(): number {
    return this.ring.length;
  }

  /** Retained events in `seq` order, optionally filtered; a frozen array. */
  getEvents(filter?: EventFilter): readonly EngineEvent[] {
    const ordered = this.head === 0 ? this.ring.slice() : this.ring.slice(this.head).concat(this.ring.slice(0, this.head));
    if (!filter || (filter.type === undefined && filter.taskId === undefined && filter.nodeId === undefined)) return Object.freeze(ordered);
    const typeOk = filter.type === undefined ? undefined : compileTypeMatcher([filter.type]);
    return Object.freeze(
      ordered.filter(
        (e) =>
          (typeOk === undefined || typeOk(e.type)) &&
          (filter.taskId === undefined || e.taskId === filter.taskId) &&
          (filter.nodeId === undefined || e.nodeId === filter.nodeId),
      ),
    );
  }

  /** Forgets retained events (seq keeps counting). */
  clear(): void {
    this.ring = [];
    this.head = 0;
  }
}

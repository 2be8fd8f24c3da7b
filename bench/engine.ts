/**
 * agent-engine on the bench shapes: engines built from temporary config directories, with
 * trivial synchronous handlers given by node id.
 *
 * @module
 */
import { Engine, type EngineOptions, type NodeHandler } from "../src/index.js";
import { CountingPlugin } from "./dispatch.js";
import type { BenchCase } from "./harness.js";
import { FAN_WIDTH, LINEAR_LENGTH, TASK_INPUT, fanOutWorkflowYaml, linearWorkflowYaml, writeConfigDir, type TempConfigDir } from "./shapes.js";

type Obj = Readonly<Record<string, unknown>>;

/** n0..n9, each `(input) => ({ ...input, n: i })`, as LangGraph's nodes write `n`. */
export function linearHandlers(length = LINEAR_LENGTH): Record<string, NodeHandler> {
  const handlers: Record<string, NodeHandler> = {};
  for (let i = 0; i < length; i++) handlers[`n${i}`] = (input) => ({ ...(input as Obj), n: i });
  return handlers;
}

/** start, fan, w0..w7, join (counts arrivals), done (adds one): the output's `n` is 9, as in LangGraph. */
export function fanOutHandlers(width = FAN_WIDTH, worker?: (i: number) => NodeHandler): Record<string, NodeHandler> {
  const handlers: Record<string, NodeHandler> = {
    start: (input) => ({ ...(input as Obj), n: 0 }),
    fan: (input) => ({ ...(input as Obj), n: 1 }),
    join: (inputs) => ({ n: (inputs as readonly unknown[]).length }),
    done: (input) => ({ n: ((input as Obj)["n"] as number) + 1 }),
  };
  for (let i = 0; i < width; i++) handlers[`w${i}`] = worker ? worker(i) : (input) => ({ ...(input as Obj), w: i });
  return handlers;
}

/** An engine over a temporary config dir; `dispose()` shuts it down and removes the dir. */
export interface BenchEngine {
  readonly engine: Engine;
  dispose(): Promise<void>;
}

/** Builds an engine for one shape. */
export async function benchEngine(shape: "linear" | "fan-out", options: EngineOptions): Promise<BenchEngine> {
  const dir: TempConfigDir = shape === "linear" ? writeConfigDir("linear", linearWorkflowYaml()) : writeConfigDir("fan-out", fanOutWorkflowYaml());
  const handlers = options.handlers ?? (shape === "linear" ? linearHandlers() : fanOutHandlers());
  const engine = await Engine.fromConfigDir(dir.dir, { ...options, handlers });
  return {
    engine,
    async dispose() {
      await engine.shutdown();
      dir.dispose();
    },
  };
}

/** Retention used by the in-process cases (the ring wraps, as in a long-lived engine). */
const MAX_EVENTS = 10_000;

function engineCase(name: string, group: string, description: string, engine: Engine, expectedN: number, observer?: CountingPlugin): BenchCase {
  let last: Awaited<ReturnType<Engine["run"]>> | undefined;
  return {
    name,
    group,
    unit: "task",
    description,
    async batch(n) {
      for (let i = 0; i < n; i++) last = await engine.run(TASK_INPUT);
    },
    verify() {
      const out = last?.output as Obj | undefined;
      if (last?.status !== "success" || out?.["n"] !== expectedN) throw new Error(`${name}: unexpected result ${JSON.stringify({ status: last?.status, output: last?.output, error: last?.error })}`);
      if (engine.getEvents().length === 0) throw new Error(`${name}: no events recorded`);
      if (observer && observer.count === 0) throw new Error(`${name}: the observer plugin received nothing`);
    },
  };
}

/** Our cases: linear-10 and fan-out-8, without plugins, with one observer plugin, and linear-10 with plugin dispatch disabled. */
export async function engineCases(): Promise<{ cases: BenchCase[]; dispose: () => Promise<void> }> {
  const linearObserver = new CountingPlugin("observer");
  const fanObserver = new CountingPlugin("observer");
  const linear = await benchEngine("linear", { maxEvents: MAX_EVENTS });
  const linearObs = await benchEngine("linear", { maxEvents: MAX_EVENTS, plugins: [linearObserver] });
  const linearOff = await benchEngine("linear", { maxEvents: MAX_EVENTS, pluginDispatch: false });
  const fan = await benchEngine("fan-out", { maxEvents: MAX_EVENTS });
  const fanObs = await benchEngine("fan-out", { maxEvents: MAX_EVENTS, plugins: [fanObserver] });
  const cases: BenchCase[] = [
    engineCase("engine-linear-10", "linear-10", "agent-engine, 10 sync handlers in a chain, events recorded, no plugins", linear.engine, LINEAR_LENGTH - 1),
    engineCase("engine-linear-10-observer", "linear-10", "same, one plugin receiving every event", linearObs.engine, LINEAR_LENGTH - 1, linearObserver),
    engineCase("engine-fan-out-8", "fan-out-8", "agent-engine, start -> fan (branch) -> 8 linear -> join (merge) -> done, no plugins", fan.engine, FAN_WIDTH + 1),
    engineCase("engine-fan-out-8-observer", "fan-out-8", "same, one plugin receiving every event", fanObs.engine, FAN_WIDTH + 1, fanObserver),
    engineCase("engine-linear-10-no-dispatch", "zero-plugins", "engine-linear-10 with pluginDispatch: false (bus never calls the registry)", linearOff.engine, LINEAR_LENGTH - 1),
  ];
  return {
    cases,
    dispose: async () => {
      for (const e of [linear, linearObs, linearOff, fan, fanObs]) await e.dispose();
    },
  };
}

/** Events one task of each shape produces (for the report). */
export async function eventsPerTask(): Promise<{ linear: number; fanOut: number }> {
  const count = async (shape: "linear" | "fan-out"): Promise<number> => {
    const e = await benchEngine(shape, {});
    await e.engine.run(TASK_INPUT);
    const n = e.engine.getEvents().length;
    await e.dispose();
    return n;
  };
  return { linear: await count("linear"), fanOut: await count("fan-out") };
}

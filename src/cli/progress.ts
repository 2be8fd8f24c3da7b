/**
 * `run`'s progress view on stderr: an in-process plugin that sees the run only through its
 * events, like any other plugin.
 *
 * - `live` (stderr is a terminal, no `CI`): a line per node start and end, indented under the
 *   parent task for clones and subtasks, colours, and a status line at the bottom (running
 *   nodes, tokens and cost so far, elapsed time) redrawn in place.
 * - `plain` (not a terminal, or `CI`): the same lines, no colours, no redrawing.
 *
 * @module
 */
import type { Plugin } from "../plugins/PluginBase.js";
import type { EngineEvent } from "../telemetry/events.js";

/** How progress is shown: `live` (animated, for terminals), `plain` (lines only), `none`. */
export type ProgressMode = "live" | "plain" | "none";

/** Options of {@link ProgressView}. */
export interface ProgressViewOptions {
  readonly mode: Exclude<ProgressMode, "none">;
  /** Where to write (stderr). */
  readonly write: (text: string) => void;
  /** Terminal width for the status line; default 100. */
  readonly columns?: number;
}

/** Running totals of LLM usage seen in `agent.response` events. */
export interface UsageTotals {
  calls: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  /** True when at least one response carried `costUsd`. */
  priced: boolean;
}

const SPINNER = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/** Formats a duration in ms for people: `12 ms`, `1.4 s`, `2 m 3 s`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "?";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} m ${Math.round((ms % 60_000) / 1000)} s`;
}

/** `tokens 120 in / 40 out, $0.0012` (cost only when priced). */
export function formatUsage(u: UsageTotals): string {
  return `tokens ${u.inputTokens} in / ${u.outputTokens} out${u.priced ? `, $${u.costUsd.toFixed(4)}` : ""}`;
}

/**
 * The CLI's progress view. Registered by `agent-engine run` as an in-process plugin.
 */
export class ProgressView implements Plugin {
  readonly pluginId = "agent-engine-cli-progress";
  private readonly depth = new Map<string, number>();
  private readonly running = new Map<string, string>();
  private readonly usage: UsageTotals = { calls: 0, inputTokens: 0, outputTokens: 0, costUsd: 0, priced: false };
  private nodesDone = 0;
  private startedAt = Date.now();
  private footerShown = false;
  private frame = 0;
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly live: boolean;

  constructor(private readonly options: ProgressViewOptions) {
    this.live = options.mode === "live";
  }

  onStartup(): void {
    if (this.live) {
      this.timer = setInterval(() => this.redraw(), 120);
      this.timer.unref();
    }
  }

  onShutdown(): void {
    this.stop();
  }

  /** Stops the animation and clears the status line (idempotent). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.clearFooter();
  }

  /** Totals so far (for the final summary). */
  totals(): Readonly<UsageTotals> & { readonly nodes: number } {
    return { ...this.usage, nodes: this.nodesDone };
  }

  onEvent(event: Readonly<EngineEvent>): void {
    switch (event.type) {
      case "task.started": {
        const parent = event.payload.parentTaskId;
        const d = parent === undefined ? 0 : (this.depth.get(parent) ?? event.payload.lineage.length - 1) + 1;
        this.depth.set(event.taskId, d);
        if (d === 0) this.startedAt = Date.now();
        if (d === 0) this.line(0, `${this.c("1", "▶ run")} ${event.taskId} from ${event.payload.startNode}`);
        break;
      }
      case "clone.created":
      case "subtask.created": {
        const kind = event.type === "clone.created" ? "clone" : `subtask ${event.payload.index}`;
        const d = (this.depth.get(event.payload.parentTaskId) ?? 0) + 1;
        this.depth.set(event.payload.childTaskId, d);
        this.line(d, this.c("2", `↳ ${kind} ${event.payload.childTaskId} via ${event.payload.edge.from} → ${event.payload.edge.to}`));
        break;
      }
      case "node.started":
        this.running.set(`${event.taskId}\u0000${event.nodeId ?? ""}`, event.nodeId ?? "?");
        this.line(this.taskDepth(event.taskId), `${this.c("36", "•")} ${event.nodeId ?? "?"} ${this.c("2", `(${event.payload.role}${event.payload.kind === "agent" ? ", agent" : ""}) started`)}`);
        break;
      case "node.completed":
        this.running.delete(`${event.taskId}\u0000${event.nodeId ?? ""}`);
        this.nodesDone++;
        this.line(this.taskDepth(event.taskId), `${this.c("32", "✓")} ${event.nodeId ?? "?"} success ${this.c("2", formatDuration(event.payload.durationMs))}`);
        break;
      case "node.failed":
        this.running.delete(`${event.taskId}\u0000${event.nodeId ?? ""}`);
        this.nodesDone++;
        this.line(
          this.taskDepth(event.taskId),
          `${this.c("31", "✗")} ${event.nodeId ?? "?"} failure ${this.c("2", formatDuration(event.payload.durationMs))} [${event.payload.error.code}] ${oneLine(event.payload.error.message)}${event.payload.continued ? " (continuing)" : ""}`,
        );
        break;
      case "agent.response": {
        const p = event.payload as typeof event.payload & { costUsd?: unknown };
        this.usage.calls++;
        if (p.usage) {
          this.usage.inputTokens += finite(p.usage.inputTokens);
          this.usage.outputTokens += finite(p.usage.outputTokens);
        }
        if (typeof p.costUsd === "number" && Number.isFinite(p.costUsd)) {
          this.usage.costUsd += p.costUsd;
          this.usage.priced = true;
        }
        if (!this.live) this.line(this.taskDepth(event.taskId) + 1, this.c("2", `${event.nodeId ?? "?"}: ${p.agent} replied (${p.provider}/${p.model}); ${formatUsage(this.usage)} so far`));
        break;
      }
      case "run.interrupted":
        this.running.delete(`${event.taskId}\u0000${event.nodeId ?? ""}`);
        this.line(this.taskDepth(event.taskId), `${this.c("33", "⏸")} ${event.nodeId ?? "?"} waits for an answer ${this.c("2", `(interrupt ${event.payload.interruptId})`)}`);
        break;
      case "run.resumed":
        this.line(this.taskDepth(event.taskId), `${this.c("33", "▶")} ${event.nodeId ?? "?"} answered: ${oneLine(JSON.stringify(event.payload.answer ?? null) ?? "null")}`);
        break;
      case "task.completed":
      case "task.failed": {
        const d = this.taskDepth(event.taskId);
        const status = event.payload.status;
        const colour = status === "success" ? "32" : status === "partial" ? "33" : "31";
        if (d === 0) {
          this.line(0, `${this.c(colour, `■ ${status}`)} in ${formatDuration(Date.now() - this.startedAt)}: ${this.nodesDone} node${this.nodesDone === 1 ? "" : "s"} run, ${this.usage.calls} LLM call${this.usage.calls === 1 ? "" : "s"}, ${formatUsage(this.usage)}`);
        } else {
          this.line(d, this.c(colour, `■ ${event.taskId} ${status}`));
        }
        break;
      }
      default:
        break;
    }
  }

  private taskDepth(taskId: string): number {
    // A resumed run does not announce the tasks it started before; a child's id is its parent's
    // id plus ".n", so the dots give its depth.
    return this.depth.get(taskId) ?? taskId.split(".").length - 1;
  }

  private c(code: string, text: string): string {
    return this.live ? `\x1b[${code}m${text}\x1b[0m` : text;
  }

  private line(depth: number, text: string): void {
    this.clearFooter();
    this.options.write(`${"  ".repeat(depth + 1)}${text}\n`);
    if (this.live) this.drawFooter();
  }

  /** Clears the status line (before someone else writes to the terminal); the next tick redraws it. */
  clearFooter(): void {
    if (!this.footerShown) return;
    this.options.write("\r\x1b[2K");
    this.footerShown = false;
  }

  private redraw(): void {
    this.clearFooter();
    this.drawFooter();
  }

  private drawFooter(): void {
    if (!this.live || this.running.size === 0) return;
    this.frame = (this.frame + 1) % SPINNER.length;
    const names = [...new Set(this.running.values())].join(", ");
    let text = `${SPINNER[this.frame]} running: ${names} · ${this.nodesDone} done · ${formatUsage(this.usage)} · ${formatDuration(Date.now() - this.startedAt)}`;
    const width = Math.max(20, (this.options.columns ?? 100) - 1);
    if (text.length > width) text = `${text.slice(0, width - 1)}…`;
    this.options.write(`\x1b[2m${text}\x1b[0m`);
    this.footerShown = true;
  }
}

function finite(n: unknown): number {
  return typeof n === "number" && Number.isFinite(n) ? n : 0;
}

function oneLine(s: string): string {
  const first = s.split("\n")[0] ?? "";
  return first.length > 200 ? `${first.slice(0, 199)}…` : first;
}

/**
 * Reading a recorded run (`run --events FILE.jsonl`) back: the events, and a summary of what
 * happened (tasks, paths, node statuses and timings, failures, LLM usage, tool calls), shared by
 * `inspect` and `graph --events`.
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import { errorMessage } from "../errors.js";
import type { JsonValue } from "../json.js";
import type { EngineEvent, ErrorInfo } from "../telemetry/events.js";

/** Events read from a file, and lines that could not be read. */
export interface RecordedEvents {
  readonly events: readonly EngineEvent[];
  /** `line N: reason` for each unreadable line (a run killed mid-write may leave a cut last line). */
  readonly skipped: readonly string[];
}

/** Reads a JSONL events file. Throws (with a message naming the file) when it cannot be read. */
export async function readEventsFile(path: string): Promise<RecordedEvents> {
  const text = await readFile(path, "utf8");
  const events: EngineEvent[] = [];
  const skipped: string[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "") continue;
    try {
      const e = JSON.parse(line) as EngineEvent;
      if (e === null || typeof e !== "object" || typeof e.type !== "string" || typeof e.taskId !== "string") throw new Error("not an agent-engine event (no type or taskId)");
      events.push(e);
    } catch (err) {
      skipped.push(`line ${i + 1}: ${errorMessage(err)}`);
    }
  }
  events.sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0));
  return { events, skipped };
}

/** One executed node of a task. */
export interface NodeRun {
  readonly taskId: string;
  readonly nodeId: string;
  readonly role?: string;
  readonly kind?: string;
  /** `running` when the recording ends before the node did. */
  status: "success" | "failure" | "running";
  durationMs?: number;
  input?: JsonValue;
  error?: ErrorInfo;
}

/** One task of the run. */
export interface TaskSummary {
  readonly taskId: string;
  readonly parentTaskId?: string;
  readonly startNode?: string;
  /** `running` when the recording ends before the task did. */
  status: "success" | "failure" | "partial" | "running";
  /** Node ids in the order they started. */
  readonly path: string[];
  error?: ErrorInfo;
}

/** Per-agent LLM usage. */
export interface AgentUsage {
  calls: number;
  inputTokens: number;
  outputTokens: number;
  costUsd?: number;
}

/** Per-tool call counts. */
export interface ToolUsage {
  calls: number;
  failures: number;
  totalMs: number;
}

/** A recorded run at a glance. */
export interface RunSummary {
  readonly rootTaskId?: string;
  readonly status: string;
  readonly events: number;
  readonly tasks: TaskSummary[];
  readonly nodes: NodeRun[];
  /** Failed nodes, with the input each got. */
  readonly failures: NodeRun[];
  readonly agents: Record<string, AgentUsage>;
  readonly tools: Record<string, ToolUsage>;
  readonly toolCalls: { taskId: string; nodeId?: string; tool: string; callId: string; args?: JsonValue; status: "success" | "failure" | "running"; error?: ErrorInfo; durationMs?: number }[];
  /** Declared edges the run followed, as `from->to` keys (needs the graph to filter; see `graph`). */
  readonly transitions: { from: string; to: string }[];
  readonly skipped: readonly string[];
}

function finite(n: unknown): number {
  return typeof n === "number" && Number.isFinite(n) ? n : 0;
}

/** Summarises recorded events. */
export function summarizeRun(recorded: RecordedEvents): RunSummary {
  const tasks = new Map<string, TaskSummary>();
  const nodes: NodeRun[] = [];
  const open = new Map<string, NodeRun>();
  const agents: Record<string, AgentUsage> = {};
  const tools: Record<string, ToolUsage> = {};
  const toolCalls: RunSummary["toolCalls"] = [];
  const callsById = new Map<string, RunSummary["toolCalls"][number]>();
  const transitions: { from: string; to: string }[] = [];
  const lastNode = new Map<string, string>();
  let rootTaskId: string | undefined;
  const task = (id: string): TaskSummary => {
    let t = tasks.get(id);
    if (!t) {
      t = { taskId: id, status: "running", path: [] };
      tasks.set(id, t);
    }
    return t;
  };
  for (const e of recorded.events) {
    switch (e.type) {
      case "task.started": {
        const t: TaskSummary = { taskId: e.taskId, status: "running", path: tasks.get(e.taskId)?.path ?? [], startNode: e.payload.startNode, ...(e.payload.parentTaskId ? { parentTaskId: e.payload.parentTaskId } : {}) };
        tasks.set(e.taskId, t);
        if (!e.payload.parentTaskId && rootTaskId === undefined) rootTaskId = e.taskId;
        break;
      }
      case "task.completed":
      case "task.failed": {
        const t = task(e.taskId);
        t.status = e.payload.status;
        if (e.type === "task.failed" && e.payload.error) t.error = e.payload.error;
        break;
      }
      case "clone.created":
      case "subtask.created":
        transitions.push({ from: e.payload.edge.from, to: e.payload.edge.to });
        lastNode.set(e.payload.childTaskId, e.payload.edge.from);
        break;
      case "node.started": {
        const id = e.nodeId ?? "?";
        const t = task(e.taskId);
        t.path.push(id);
        const prev = lastNode.get(e.taskId);
        if (prev !== undefined) transitions.push({ from: prev, to: id });
        lastNode.set(e.taskId, id);
        const run: NodeRun = { taskId: e.taskId, nodeId: id, role: e.payload.role, kind: e.payload.kind, status: "running", input: e.payload.input };
        nodes.push(run);
        open.set(`${e.taskId}\u0000${id}`, run);
        break;
      }
      case "node.completed":
      case "node.failed": {
        const key = `${e.taskId}\u0000${e.nodeId ?? "?"}`;
        const run = open.get(key);
        if (!run) break;
        open.delete(key);
        run.durationMs = finite(e.payload.durationMs);
        run.status = e.type === "node.completed" ? "success" : "failure";
        if (e.type === "node.failed") run.error = e.payload.error;
        break;
      }
      case "routing.merge":
        for (const i of e.payload.inputs) if (e.nodeId) transitions.push({ from: i.node_id, to: e.nodeId });
        for (const f of e.payload.failed) if (e.nodeId) transitions.push({ from: f.node_id, to: e.nodeId });
        break;
      case "agent.response": {
        const p = e.payload as typeof e.payload & { costUsd?: unknown };
        const a = (agents[p.agent] ??= { calls: 0, inputTokens: 0, outputTokens: 0 });
        a.calls++;
        a.inputTokens += finite(p.usage?.inputTokens);
        a.outputTokens += finite(p.usage?.outputTokens);
        if (typeof p.costUsd === "number" && Number.isFinite(p.costUsd)) a.costUsd = (a.costUsd ?? 0) + p.costUsd;
        break;
      }
      case "tool.invoked": {
        const c = { taskId: e.taskId, ...(e.nodeId ? { nodeId: e.nodeId } : {}), tool: e.payload.tool, callId: e.payload.callId, args: e.payload.args, status: "running" as const };
        toolCalls.push(c);
        callsById.set(e.payload.callId, c);
        (tools[e.payload.tool] ??= { calls: 0, failures: 0, totalMs: 0 }).calls++;
        break;
      }
      case "tool.completed":
      case "tool.failed": {
        const c = callsById.get(e.payload.callId);
        const t = (tools[e.payload.tool] ??= { calls: 0, failures: 0, totalMs: 0 });
        t.totalMs += finite(e.payload.durationMs);
        if (e.type === "tool.failed") t.failures++;
        if (c) {
          c.status = e.type === "tool.completed" ? "success" : "failure";
          c.durationMs = finite(e.payload.durationMs);
          if (e.type === "tool.failed") c.error = e.payload.error;
        }
        break;
      }
      default:
        break;
    }
  }
  const root = rootTaskId === undefined ? undefined : tasks.get(rootTaskId);
  return {
    ...(rootTaskId === undefined ? {} : { rootTaskId }),
    status: root?.status ?? "unknown",
    events: recorded.events.length,
    tasks: [...tasks.values()],
    nodes,
    failures: nodes.filter((n) => n.status === "failure"),
    agents,
    tools,
    toolCalls,
    transitions,
    skipped: recorded.skipped,
  };
}

/**
 * Status of each node over all tasks: `success` when every execution succeeded, `failure` when
 * every one failed, `partial` when mixed, `running` when one never ended.
 */
export function nodeStatuses(summary: RunSummary): Map<string, "success" | "failure" | "partial" | "running"> {
  const out = new Map<string, "success" | "failure" | "partial" | "running">();
  for (const n of summary.nodes) {
    const prev = out.get(n.nodeId);
    if (n.status === "running" || prev === "running") out.set(n.nodeId, "running");
    else if (prev === undefined || prev === n.status) out.set(n.nodeId, n.status);
    else out.set(n.nodeId, "partial");
  }
  return out;
}

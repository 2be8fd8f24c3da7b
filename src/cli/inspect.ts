/**
 * `agent-engine inspect`: a recorded run (`run --events FILE.jsonl`) at a glance.
 *
 * @module
 */
import { resolve } from "node:path";
import { errorMessage } from "../errors.js";
import { CliExit, cliError, type CliIO } from "./output.js";
import { formatDuration } from "./progress.js";
import { readEventsFile, summarizeRun, type RunSummary } from "./recorded.js";

function short(value: unknown, max = 300): string {
  let s: string;
  try {
    s = JSON.stringify(value) ?? "undefined";
  } catch {
    s = "(cannot be printed)";
  }
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** The summary as text, for people. */
export function formatSummary(s: RunSummary, file: string): string {
  const out: string[] = [];
  out.push(`run ${s.rootTaskId ?? "(no task.started recorded)"}: ${s.status} (${s.events} events in ${file})`);
  out.push("");
  out.push(`tasks (${s.tasks.length}):`);
  const depth = new Map<string, number>();
  for (const t of s.tasks) {
    const d = t.parentTaskId === undefined ? 0 : (depth.get(t.parentTaskId) ?? 0) + 1;
    depth.set(t.taskId, d);
    out.push(`${"  ".repeat(d + 1)}${t.taskId} ${t.status}${t.parentTaskId ? ` (child of ${t.parentTaskId})` : ""}: ${t.path.join(" -> ") || "(no node started)"}`);
  }
  out.push("");
  out.push("nodes:");
  for (const n of s.nodes) {
    out.push(`  ${n.status === "success" ? "✓" : n.status === "failure" ? "✗" : "…"} ${n.nodeId.padEnd(20)} ${n.status.padEnd(8)} ${(n.durationMs === undefined ? "" : formatDuration(n.durationMs)).padStart(8)}  ${n.taskId}`);
  }
  if (s.failures.length > 0) {
    out.push("");
    out.push(`failures (${s.failures.length}):`);
    for (const f of s.failures) {
      out.push(`  node "${f.nodeId}" (task ${f.taskId}): [${f.error?.code ?? "?"}] ${f.error?.message ?? ""}`);
      out.push(`    input: ${short(f.input)}`);
    }
  }
  const agents = Object.entries(s.agents);
  if (agents.length > 0) {
    out.push("");
    out.push("agents:");
    for (const [id, a] of agents) out.push(`  ${id}: ${a.calls} call${a.calls === 1 ? "" : "s"}, tokens ${a.inputTokens} in / ${a.outputTokens} out${a.costUsd === undefined ? "" : `, $${a.costUsd.toFixed(4)}`}`);
  }
  if (s.toolCalls.length > 0) {
    out.push("");
    out.push(`tool calls (${s.toolCalls.length}):`);
    for (const c of s.toolCalls) {
      out.push(`  ${c.tool} from ${c.nodeId ?? "?"} (task ${c.taskId}): ${c.status}${c.durationMs === undefined ? "" : ` ${formatDuration(c.durationMs)}`} args ${short(c.args, 120)}${c.error ? ` [${c.error.code}] ${c.error.message}` : ""}`);
    }
  }
  return `${out.join("\n")}\n`;
}

/** `agent-engine inspect` */
export async function inspectCommand(file: string, opts: { json?: boolean }, io: CliIO): Promise<void> {
  const path = resolve(io.cwd(), file);
  let summary: RunSummary;
  try {
    summary = summarizeRun(await readEventsFile(path));
  } catch (err) {
    cliError(io, "CLI_INPUT", `${path}: cannot read the events file: ${errorMessage(err)}`);
    throw new CliExit(2);
  }
  for (const s of summary.skipped) io.stderr(`warning: ${path} ${s} (skipped)\n`);
  if (summary.events === 0) {
    cliError(io, "CLI_INPUT", `${path} holds no agent-engine events`, "write one with: agent-engine run <configDir> --events run.jsonl");
    throw new CliExit(2);
  }
  if (opts.json) {
    const { transitions: _t, ...rest } = summary;
    io.stdout(`${JSON.stringify(rest, null, 2)}\n`);
  } else {
    io.stdout(formatSummary(summary, file));
  }
}

/**
 * `agent-engine runs <configDir>`: the runs in the store (id, status, start, last update, the
 * nodes an interrupted run waits at), `--prune --older-than 30d` for retention, and
 * `--export <runId>` to write a run's journal as the same JSONL that `run --events` writes.
 *
 * @module
 */
import { resolve } from "node:path";
import { errorMessage, type ErrorCode } from "../errors.js";
import type { RunStore } from "../runtime/runStore.js";
import type { EngineRunStore } from "../store/EngineRunStore.js";
import { CliExit, cliError, type CliIO } from "./output.js";
import { openCliStore } from "./run.js";

/** Options of `agent-engine runs`. */
export interface RunsCommandOptions {
  readonly store?: string;
  readonly json?: boolean;
  readonly status?: string;
  readonly limit?: string;
  readonly prune?: boolean;
  readonly olderThan?: string;
  readonly includeUnfinished?: boolean;
  readonly export?: string;
}

const STATUSES = ["running", "interrupted", "success", "failure", "partial"] as const;

/** `30d`, `12h`, `45m`, `90s` -> milliseconds. */
export function parseAge(text: string): number | undefined {
  const m = /^(\d+)\s*(d|h|m|s)$/.exec(text.trim());
  if (!m) return undefined;
  const unit = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 }[m[2] as "d" | "h" | "m" | "s"];
  return Number(m[1]) * unit;
}

function usage(io: CliIO, message: string): never {
  cliError(io, "CLI_USAGE", message);
  throw new CliExit(2);
}

/** `agent-engine runs` */
export async function runsCommand(configDir: string, opts: RunsCommandOptions, io: CliIO): Promise<void> {
  if (opts.status !== undefined && !(STATUSES as readonly string[]).includes(opts.status)) usage(io, `--status must be one of ${STATUSES.join(", ")}`);
  const limit = opts.limit === undefined ? undefined : Number(opts.limit);
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) usage(io, `--limit must be a positive integer, got ${String(opts.limit)}`);
  let age: number | undefined;
  if (opts.prune) {
    if (opts.olderThan === undefined) usage(io, "--prune needs --older-than (e.g. 30d, 12h)");
    age = parseAge(opts.olderThan);
    if (age === undefined) usage(io, `--older-than "${opts.olderThan}" is not an age like 30d, 12h, 45m or 90s`);
  }
  const store = await openCliStore(resolve(io.cwd(), configDir), opts.store ?? undefined, io);
  if (store === "memory") usage(io, "runs needs a durable store: --store sqlite:<path> or postgres://...");
  const durable = store as RunStore & Partial<Pick<EngineRunStore, "store" | "journal">>;
  try {
    if (opts.export !== undefined) {
      if (durable.journal === undefined) usage(io, "this store cannot export journals");
      const found = await durable.load(opts.export);
      if (found === undefined) {
        cliError(io, "RUN_NOT_FOUND", `no run "${opts.export}" in the store`);
        throw new CliExit(2);
      }
      for await (const e of durable.journal(opts.export)) io.stdout(`${JSON.stringify(e)}\n`);
      return;
    }
    if (opts.prune && age !== undefined) {
      const n = await durable.store!.prune({ olderThan: new Date(Date.now() - age), ...(opts.includeUnfinished ? { includeUnfinished: true } : {}) });
      io.stderr(`pruned ${n} run${n === 1 ? "" : "s"} last updated more than ${opts.olderThan} ago\n`);
      return;
    }
    const rows = await durable.list({ ...(opts.status ? { status: opts.status as (typeof STATUSES)[number] } : {}), ...(limit ? { limit } : {}) });
    if (opts.json) {
      io.stdout(`${JSON.stringify(rows.map((r) => ({ id: r.runId, status: r.status, startedAt: r.startedAt, updatedAt: r.updatedAt, currentNodes: r.pending.map((p) => p.nodeId), interrupts: r.pending })), null, 2)}\n`);
      return;
    }
    if (rows.length === 0) {
      io.stdout("no runs\n");
      return;
    }
    for (const r of rows) {
      const waiting = r.pending.length > 0 ? `  waits at ${r.pending.map((p) => `${p.nodeId} (${p.id})`).join(", ")}` : "";
      io.stdout(`${r.runId}  ${r.status.padEnd(11)}  started ${r.startedAt}  updated ${r.updatedAt}${waiting}\n`);
    }
  } catch (err) {
    if (err instanceof CliExit) throw err;
    const code = (err as { code?: unknown } | null)?.code;
    cliError(io, (typeof code === "string" ? code : "STORE_OPEN_FAILED") as ErrorCode, errorMessage(err));
    throw new CliExit(2);
  } finally {
    await store.close();
  }
}

/**
 * The cost of durability through the engine (issue 11): linear-10 run by three engines that
 * differ only in their run store, `memory`, `sqlite:<temp file>` (the CLI's default settings) and
 * `postgres://…` (a fresh schema, dropped afterwards), measured round-robin with the other cases.
 * The quoted figures are the wall time a durable store adds **per committed stage** over the
 * memory store: per round, (durable task time − memory task time) / 10 stages, paired batches
 * seconds apart; the median over rounds with its min–max. Wall time, because a durable commit
 * waits for the disk or the server, which this process's CPU time does not see (it is reported
 * too, as context).
 *
 * What a durable linear-10 run does besides the memory run: create the run row, take the lease,
 * journal each commit point (a wave's `node.started`, then each stage's outcome and events: two
 * store commits per stage), and finish the run (result, lease released). Spread over its 10
 * stages, that is the figure.
 *
 * The handlers are linear-10's, made asynchronous (each resolves a promise, as a stage awaiting an
 * LLM or a tool does), so every stage is its own commit point, as in real runs: a run whose
 * handlers all return synchronously executes ahead and commits in fewer, larger transactions.
 *
 * PostgreSQL unreachable: its case is left out and a note says so (a bench, not a test).
 *
 * @module
 */
import { mkdtempSync, rmSync } from "node:fs";
import type pg from "pg";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Engine, NodeHandler } from "../src/index.js";
import { benchEngine, linearHandlers, type BenchEngine } from "./engine.js";
import type { BenchCase, DeltaSpec } from "./harness.js";
import { LINEAR_LENGTH, TASK_INPUT } from "./shapes.js";

/** Case names, in table order (the three run back to back in every round). */
export const DURABILITY_CASES = ["durability-linear-10-memory", "durability-linear-10-sqlite", "durability-linear-10-postgres"] as const;

/** The quoted figures: added wall time per committed stage, and the target (issue 11). */
export const DURABILITY_DELTAS: readonly DeltaSpec[] = [
  {
    name: "SQLite store (WAL, synchronous=NORMAL: the CLI's default) vs memory, linear-10",
    a: "durability-linear-10-sqlite",
    b: "durability-linear-10-memory",
    per: LINEAR_LENGTH,
    unit: "committed stage",
    target: 1e6,
    targetText: "< 1 ms",
  },
  {
    name: "PostgreSQL store (loopback, one round trip per commit) vs memory, linear-10",
    a: "durability-linear-10-postgres",
    b: "durability-linear-10-memory",
    per: LINEAR_LENGTH,
    unit: "committed stage",
    targetText: "context",
  },
];

/** The PostgreSQL server the bench uses: `AGENT_ENGINE_BENCH_PG`, else the tests' server. */
export const BENCH_PG = process.env.AGENT_ENGINE_BENCH_PG ?? process.env.AGENT_ENGINE_TEST_PG ?? "postgres://postgres@127.0.0.1:5432/test";

const MAX_EVENTS = 10_000;

type PgClient = (typeof pg)["Client"];

/** linear-10's handlers, each returning a promise. */
function asyncLinearHandlers(): Record<string, NodeHandler> {
  return Object.fromEntries(Object.entries(linearHandlers()).map(([id, h]) => [id, (input: Parameters<NodeHandler>[0], ctx: Parameters<NodeHandler>[1]) => Promise.resolve(h(input, ctx))]));
}

/** Null when the server answers, else why not. */
async function pgUnreachable(url: string): Promise<string | null> {
  let Client: PgClient;
  try {
    Client = (await import("pg")).default.Client;
  } catch {
    return 'the "pg" driver is not installed';
  }
  const c = new Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    await c.query("SELECT 1");
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  } finally {
    await c.end().catch(() => undefined);
  }
}

async function dropSchema(url: string, schema: string): Promise<void> {
  const pg = (await import("pg")).default;
  const c = new pg.Client({ connectionString: url });
  try {
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await c.end().catch(() => undefined);
  }
}

function durabilityCase(name: string, description: string, engine: Engine): BenchCase {
  let last: Awaited<ReturnType<Engine["run"]>> | undefined;
  return {
    name,
    group: "durability",
    unit: "task",
    description,
    async batch(n) {
      for (let i = 0; i < n; i++) last = await engine.run(TASK_INPUT);
    },
    async verify() {
      const out = last?.output as { n?: unknown } | undefined;
      if (last?.status !== "success" || out?.n !== LINEAR_LENGTH - 1) throw new Error(`${name}: unexpected result ${JSON.stringify({ status: last?.status, output: last?.output, error: last?.error })}`);
      const [row] = await engine.listRuns({ limit: 1 });
      if (row?.id !== last.runId || row.status !== "success") throw new Error(`${name}: the store does not hold the last run as finished: ${JSON.stringify(row)}`);
    },
  };
}

/**
 * The durability cases among `wanted` (names from {@link DURABILITY_CASES}), their engines set up;
 * `notes` says what could not be measured. `dispose()` shuts the engines down and removes the
 * SQLite file and the PostgreSQL schema.
 */
export async function durabilityCases(wanted: readonly string[]): Promise<{ cases: BenchCase[]; notes: string[]; dispose: () => Promise<void> }> {
  const engines: BenchEngine[] = [];
  const cases: BenchCase[] = [];
  const notes: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), "agent-engine-bench-durability-"));
  const schema = `ae_bench_${process.pid}`;
  let pgUsed = false;
  const add = async (name: string, description: string, store: string): Promise<void> => {
    const e = await benchEngine("linear", { maxEvents: MAX_EVENTS, store, handlers: asyncLinearHandlers() });
    engines.push(e);
    cases.push(durabilityCase(name, description, e.engine));
  };
  try {
    const want = (n: string): boolean => wanted.includes(n);
    // The memory engine is the baseline of both figures: measured whenever either is.
    if (want(DURABILITY_CASES[0]) || want(DURABILITY_CASES[1]) || want(DURABILITY_CASES[2])) await add(DURABILITY_CASES[0], "linear-10 (async handlers), run store memory (the API's default): the baseline", "memory");
    if (want(DURABILITY_CASES[1])) await add(DURABILITY_CASES[1], "linear-10 (async handlers), run store sqlite:<temp file> (WAL, synchronous=NORMAL): every commit point journaled", `sqlite:${join(dir, "runs.db")}`);
    if (want(DURABILITY_CASES[2])) {
      const why = await pgUnreachable(BENCH_PG);
      if (why === null) {
        pgUsed = true;
        await add(DURABILITY_CASES[2], "linear-10 (async handlers), run store postgres (loopback, fresh schema): every commit point journaled", `${BENCH_PG}${BENCH_PG.includes("?") ? "&" : "?"}schema=${schema}`);
      } else {
        notes.push(`PostgreSQL at ${BENCH_PG.replace(/:[^:@/]*@/, ":***@")} is unreachable (${why}): the PostgreSQL durability row was not measured. Start it (pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) or set AGENT_ENGINE_BENCH_PG.`);
      }
    }
  } catch (err) {
    for (const e of engines) await e.dispose();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    cases,
    notes,
    dispose: async () => {
      for (const e of engines) await e.dispose();
      rmSync(dir, { recursive: true, force: true });
      if (pgUsed) await dropSchema(BENCH_PG, schema);
    },
  };
}

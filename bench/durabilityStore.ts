/**
 * `npm run build && node dist/bench/durabilityStore.js [--runs=N] [--rounds=N] [--pg=URL]`: the
 * cost of one durable commit through the store API alone, for the memory, SQLite and PostgreSQL
 * stores side by side (what a commit costs without the engine around it; the figure quoted
 * against the target is measured through the engine, see bench/durability.ts).
 *
 * The commit pattern is linear-10's: a run is created, then each of its 10 stages is one commit
 * (`node.started` + `node.completed` events of realistic size, the stage outcome as one state
 * key), the first commit also carries `run.started`, and the run is finished. Figures are wall
 * time (a durable commit waits for I/O), the median over rounds of the mean per commit; "added"
 * is the difference to the memory store ("per commit" spreads a run's create and finish over its
 * 10 commits). The CPU column is this process's CPU time (not the PostgreSQL server's), which a
 * busy shared machine inflates less than wall time. PostgreSQL runs in a fresh schema, dropped
 * at the end.
 *
 * @module
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { openStore, type RunStore, type StoredEvent } from "../src/store/index.js";

const STAGES = 10;

function arg(name: string, dflt: string): string {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a === undefined ? dflt : a.slice(name.length + 3);
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function event(seq: number, type: string, nodeId: string): StoredEvent {
  const base = { type, seq, taskId: "task-9f2c1a-1", runId: "run", timestamp: new Date().toISOString(), nodeId };
  return type === "node.completed" ? { ...base, durationMs: 0.12, output: { ticket: { id: 42, subject: "Printer on fire", priority: "high", tags: ["hardware", "urgent"] }, step: nodeId } } : base;
}

/** One linear-10 run through the store; returns the number of commits. */
async function oneRun(s: RunStore, runId: string): Promise<number> {
  await s.createRun({ runId, configHash: "c0ffee", input: { ticket: { id: 42, subject: "Printer on fire" } }, startedAt: new Date().toISOString(), meta: { startNode: "n0" } });
  let seq = 0;
  for (let i = 0; i < STAGES; i++) {
    const from = seq + 1;
    const events: StoredEvent[] = [];
    if (i === 0) events.push(event(++seq, "run.started", "n0"));
    events.push(event(++seq, "node.started", `n${i}`), event(++seq, "node.completed", `n${i}`));
    const outcome = { ok: true, output: (events[events.length - 1] as unknown as { output: unknown }).output, startedAt: "2026-01-01T00:00:00.000Z", endedAt: "2026-01-01T00:00:00.001Z", durationMs: 0.12, events: [], toolCalls: [] };
    await s.commit(runId, { fromSeq: from, toSeq: seq, events, state: { set: { [`task-1\u0000n${i}\u00000`]: outcome as never } }, currentNodes: [`n${i}`] });
  }
  await s.finish(runId, "success", { status: "success" });
  return STAGES;
}

interface Row {
  store: string;
  perCommitMs: number;
  addedMs: number;
  perRunMs: number;
  cpuMs: number;
}

async function measure(name: string, url: string, runs: number, rounds: number): Promise<{ name: string; perCommit: number; perRun: number; cpuPerCommit: number }> {
  const s = await openStore(url);
  try {
    // Warm-up: statement caches, connections, the JIT.
    for (let i = 0; i < Math.min(20, runs); i++) await oneRun(s, `warm-${i}`);
    const perCommit: number[] = [];
    const perRun: number[] = [];
    const cpu: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      let commits = 0;
      for (let i = 0; i < runs; i++) commits += await oneRun(s, `r${r}-${i}`);
      const ms = performance.now() - t0;
      perCommit.push(ms / commits);
      perRun.push(ms / runs);
      const c = process.cpuUsage(c0);
      cpu.push((c.user + c.system) / 1000 / commits);
    }
    return { name, perCommit: median(perCommit), perRun: median(perRun), cpuPerCommit: median(cpu) };
  } finally {
    await s.close();
  }
}

async function main(): Promise<void> {
  const runs = Number(arg("runs", "100"));
  const rounds = Number(arg("rounds", "5"));
  const pgBase = arg("pg", process.env.AGENT_ENGINE_TEST_PG ?? "postgres://postgres@127.0.0.1:5432/test");
  const dir = mkdtempSync(join(tmpdir(), "ae-bench-durability-"));
  const schema = `ae_bench_${process.pid}`;
  const results: { name: string; perCommit: number; perRun: number; cpuPerCommit: number }[] = [];
  try {
    results.push(await measure("memory", "memory", runs, rounds));
    results.push(await measure("sqlite (WAL, synchronous=NORMAL, default)", `sqlite:${join(dir, "normal.db")}`, runs, rounds));
    results.push(await measure("sqlite (WAL, synchronous=FULL)", `sqlite:${join(dir, "full.db")}?synchronous=full`, runs, rounds));
    try {
      results.push(await measure("postgres (loopback)", `${pgBase}?schema=${schema}`, runs, rounds));
    } catch (err) {
      console.error(`postgres skipped: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      try {
        const { default: pg } = await import("pg");
        const c = new pg.Client({ connectionString: pgBase });
        await c.connect();
        await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await c.end();
      } catch {
        // no server: nothing to drop
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const base = results[0]!.perCommit;
  const rows: Row[] = results.map((r) => ({ store: r.name, perCommitMs: r.perCommit, addedMs: r.perCommit - base, perRunMs: r.perRun, cpuMs: r.cpuPerCommit }));
  console.log(`linear-10 commit pattern, ${runs} runs x ${rounds} rounds, median of round means, wall time; node ${process.version}`);
  console.log("| store | wall ms per commit | added vs memory | ms per run (10 commits + create + finish) | this process's CPU ms per commit |");
  console.log("|---|---:|---:|---:|---:|");
  for (const r of rows) console.log(`| ${r.store} | ${r.perCommitMs.toFixed(3)} | ${r.addedMs.toFixed(3)} | ${r.perRunMs.toFixed(2)} | ${r.cpuMs.toFixed(3)} |`);
}

await main();

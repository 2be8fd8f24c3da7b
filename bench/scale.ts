/**
 * Scale cases. Each runs alone in a child process (forked by run.ts) so peak RSS belongs to it.
 *
 * - `scale-concurrent-10k`: 10,000 linear-10 tasks started at once on one engine; peak RSS, tasks/s.
 * - `scale-fan-out-timers`: fan-out of 8 async nodes that each await a 10 ms timer; wall time per
 *   task (about 10 ms when the branches really run concurrently, 80 if they ran one by one).
 * - `scale-sequential-100k`: one long-lived engine, bounded retention (10,000 events), 100,000
 *   sequential tasks; RSS after the first 10,000 vs at the end.
 *
 * @module
 */
import { setTimeout as sleep } from "node:timers/promises";
import { benchEngine, fanOutHandlers } from "./engine.js";
import { collect, stats } from "./harness.js";
import { buildFanOutGraph } from "./langgraph.js";
import type { ScaleResult } from "./report.js";
import { FAN_WIDTH, TASK_INPUT } from "./shapes.js";

const MiB = 2 ** 20;

/** Names of the scale cases, in run order. */
export const SCALE_CASES = ["scale-concurrent-10k", "scale-fan-out-timers", "scale-sequential-100k"] as const;

function rssMiB(): number {
  return process.memoryUsage().rss / MiB;
}

/** Peak RSS of this process so far, in MiB (`maxRSS` is in KiB). */
function peakRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024;
}

async function concurrent(quick: boolean): Promise<ScaleResult> {
  const tasks = quick ? 2_000 : 10_000;
  const { engine, dispose } = await benchEngine("linear", {});
  await engine.run(TASK_INPUT); // load and JIT the path once
  collect();
  const rssBefore = rssMiB();
  // Sample RSS while the tasks run (the timer only fires when the runs yield, so maxRSS is the figure).
  let sampled = rssBefore;
  const timer = setInterval(() => {
    sampled = Math.max(sampled, rssMiB());
  }, 5);
  const t0 = performance.now();
  const results = await Promise.all(Array.from({ length: tasks }, () => engine.run(TASK_INPUT)));
  const ms = performance.now() - t0;
  clearInterval(timer);
  sampled = Math.max(sampled, rssMiB());
  const ok = results.filter((r) => r.status === "success").length;
  const peak = peakRssMiB();
  const retained = engine.getEvents().length;
  await dispose();
  if (ok !== tasks) throw new Error(`${tasks - ok} of ${tasks} tasks did not succeed`);
  return {
    name: "scale-concurrent-10k",
    description: `${tasks} linear-10 tasks started at once on one engine (default retention)`,
    figures: { tasks, "wall ": ms, "tasks/s": (tasks * 1000) / ms, "RSS before": rssBefore, "peak RSS (maxRSS)": peak, "peak RSS (sampled)": sampled, "events retained": retained },
    units: { "wall ": " ms", "RSS before": " MiB", "peak RSS (maxRSS)": " MiB", "peak RSS (sampled)": " MiB" },
    targetFigure: "peak RSS (maxRSS)",
    target: 1024,
    targetKind: "max",
    targetText: "peak RSS < 1 GiB",
    met: peak < 1024,
  };
}

async function fanOutTimers(quick: boolean): Promise<ScaleResult> {
  const delayMs = 10;
  const runs = quick ? 5 : 30;
  const worker = (i: number) => async (input: unknown) => {
    await sleep(delayMs);
    return { ...(input as Record<string, unknown>), w: i };
  };
  const { engine, dispose } = await benchEngine("fan-out", { handlers: fanOutHandlers(FAN_WIDTH, worker) });
  const ours: number[] = [];
  for (let i = 0; i < runs + 3; i++) {
    const t0 = performance.now();
    const r = await engine.run(TASK_INPUT);
    const dt = performance.now() - t0;
    if (r.status !== "success") throw new Error(`fan-out timers task ended ${r.status}: ${JSON.stringify(r.error)}`);
    if (i >= 3) ours.push(dt);
  }
  await dispose();

  // LangGraph, same shape with async sleeping workers, for context.
  const graph = buildFanOutGraph(FAN_WIDTH, async (i) => {
    await sleep(delayMs);
    return { results: [i] };
  });
  const theirs: number[] = [];
  for (let i = 0; i < runs + 3; i++) {
    const t0 = performance.now();
    await graph.invoke(TASK_INPUT);
    if (i >= 3) theirs.push(performance.now() - t0);
  }
  const s = stats(ours);
  const t = stats(theirs);
  const limit = 2 * delayMs;
  return {
    name: "scale-fan-out-timers",
    description: `fan-out of ${FAN_WIDTH} async nodes each awaiting a ${delayMs} ms timer, ${runs} sequential tasks`,
    figures: { "ours median": s.median, "ours min": s.min, "ours max": s.max, "LangGraph median": t.median, "serial would be": FAN_WIDTH * delayMs },
    units: { "ours median": " ms", "ours min": " ms", "ours max": " ms", "LangGraph median": " ms", "serial would be": " ms" },
    targetFigure: "ours median",
    target: limit,
    targetKind: "max",
    targetText: `about ${delayMs} ms per task (< ${limit} ms), not ${FAN_WIDTH * delayMs}`,
    met: s.median < limit,
  };
}

async function sequential(quick: boolean): Promise<ScaleResult> {
  const total = quick ? 10_000 : 100_000;
  const checkpoint = total / 10;
  const maxEvents = 10_000;
  const { engine, dispose } = await benchEngine("linear", { maxEvents });
  let rssAtCheckpoint = 0;
  let heapAtCheckpoint = 0;
  const t0 = performance.now();
  for (let i = 1; i <= total; i++) {
    const r = await engine.run(TASK_INPUT);
    if (r.status !== "success") throw new Error(`task ${i} ended ${r.status}`);
    if (i === checkpoint) {
      collect();
      rssAtCheckpoint = rssMiB();
      heapAtCheckpoint = process.memoryUsage().heapUsed / MiB;
    }
  }
  const ms = performance.now() - t0;
  collect();
  const rssEnd = rssMiB();
  const heapEnd = process.memoryUsage().heapUsed / MiB;
  const retained = engine.getEvents().length;
  const dropped = engine.droppedEvents;
  await dispose();
  const ratio = rssEnd / rssAtCheckpoint;
  return {
    name: "scale-sequential-100k",
    description: `one engine, maxEvents ${maxEvents}, ${total} sequential linear-10 tasks`,
    figures: {
      [`RSS after ${checkpoint}`]: rssAtCheckpoint,
      [`RSS after ${total}`]: rssEnd,
      "end / checkpoint": ratio,
      [`heap after ${checkpoint}`]: heapAtCheckpoint,
      [`heap after ${total}`]: heapEnd,
      "tasks/s": (total * 1000) / ms,
      "events retained": retained,
      "events dropped": dropped,
    },
    units: { [`RSS after ${checkpoint}`]: " MiB", [`RSS after ${total}`]: " MiB", "end / checkpoint": "x", [`heap after ${checkpoint}`]: " MiB", [`heap after ${total}`]: " MiB" },
    targetFigure: "end / checkpoint",
    target: 1.2,
    targetKind: "max",
    targetText: "end RSS within 20% of RSS after the first 10%",
    met: ratio <= 1.2 && retained <= maxEvents,
  };
}

/** Runs one scale case by name. */
export async function runScaleCase(name: string, quick: boolean): Promise<ScaleResult> {
  switch (name) {
    case "scale-concurrent-10k":
      return concurrent(quick);
    case "scale-fan-out-timers":
      return fanOutTimers(quick);
    case "scale-sequential-100k":
      return sequential(quick);
    default:
      throw new Error(`unknown scale case ${name} (have: ${SCALE_CASES.join(", ")})`);
  }
}

/**
 * Scheduling latency (issue 8, CONTRACT §12): makespan over critical path for workflows whose
 * stages sleep for seeded log-normal times (timers, no CPU), the way LLM calls of uneven latency
 * behave. The same shapes and the very same per-stage latencies run on our engine (eager, and the
 * old wave model for reference) and on LangGraph.js (supersteps), side by side in one process.
 *
 * - `latency-split-50x4`: a split of 50 items, each through 4 steps, then a merge. Stage latency:
 *   log-normal, median 100 ms, sigma 0.8.
 * - `latency-branch-uneven`: a branch whose arms are 8 stages of ~50 ms and 2 stages of ~400 ms
 *   (sigma 0.3), joined by a merge.
 * - `latency-concurrent-20x5`: 20 runs of a linear chain of 5 stages started at once
 *   (median 100 ms, sigma 0.8).
 *
 * Critical path: the longest chain of dependent sleeps (engine overhead is not in it, so a ratio
 * of 1.00 is the floor). Each case runs 3 seeds; the figure is the median ratio.
 *
 * @module
 */
import { setTimeout as sleep } from "node:timers/promises";
import { Annotation, Command, END, Send, START, StateGraph } from "@langchain/langgraph";
import { Engine, type NodeHandler } from "../src/index.js";
import type { ScaleResult } from "./report.js";
import { writeConfigDir } from "./shapes.js";

/** Names of the latency cases, in run order. */
export const LATENCY_CASES = ["latency-split-50x4", "latency-branch-uneven", "latency-concurrent-20x5"] as const;

const SEEDS = [1, 2, 3];
const silent = { debug() {}, info() {}, warn() {}, error() {} };

/** A deterministic PRNG (mulberry32) for the latencies. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Log-normal samples with the given median (ms) and sigma, by Box-Muller. */
function logNormal(random: () => number, median: number, sigma: number): number {
  const u = Math.max(random(), 1e-12);
  const v = random();
  const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  return median * Math.exp(sigma * z);
}

/** A table of latencies: `lat[row][step]` in ms. */
type Table = number[][];

function table(seed: number, rows: number, steps: (row: number) => number, median: (row: number) => number, sigma: number): Table {
  const random = rng(seed);
  return Array.from({ length: rows }, (_, r) => Array.from({ length: steps(r) }, () => logNormal(random, median(r), sigma)));
}

/** The longest chain of dependent sleeps: rows run in parallel, steps of a row in sequence. */
function criticalPath(t: Table): number {
  return Math.max(...t.map((row) => row.reduce((a, b) => a + b, 0)));
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

// ---------------------------------------------------------------- our engine

/**
 * split -> a1..a4 | b1..b4 (items round-robin over two identical chains) -> gather -> done. The
 * items' paths are exactly "4 steps each"; two chains keep the merge valid under every DAG rule.
 */
function splitYaml(steps: number): string {
  let nodes = "nodes:\n  - { id: begin, kind: deterministic, role: start }\n  - { id: sp, kind: deterministic, role: split }\n";
  const edges = ["  - { from: begin, to: sp }"];
  for (const arm of ["a", "b"]) {
    for (let k = 1; k <= steps; k++) nodes += `  - { id: ${arm}${k}, kind: deterministic, role: linear }\n`;
    edges.push(`  - { from: sp, to: ${arm}1 }`);
    for (let k = 2; k <= steps; k++) edges.push(`  - { from: ${arm}${k - 1}, to: ${arm}${k} }`);
    edges.push(`  - { from: ${arm}${steps}, to: gather }`);
  }
  nodes += "  - { id: gather, kind: deterministic, role: merge }\n  - { id: done, kind: deterministic, role: exit }\n";
  edges.push("  - { from: gather, to: done }");
  return `${nodes}edges:\n${edges.join("\n")}\n`;
}

function branchYaml(arms: readonly number[]): string {
  let nodes = "nodes:\n  - { id: begin, kind: deterministic, role: start }\n  - { id: fan, kind: deterministic, role: branch }\n";
  const edges = ["  - { from: begin, to: fan }"];
  arms.forEach((len, a) => {
    for (let k = 1; k <= len; k++) nodes += `  - { id: r${a}_${k}, kind: deterministic, role: linear }\n`;
    edges.push(`  - { from: fan, to: r${a}_1 }`);
    for (let k = 2; k <= len; k++) edges.push(`  - { from: r${a}_${k - 1}, to: r${a}_${k} }`);
    edges.push(`  - { from: r${a}_${len}, to: join }`);
  });
  nodes += "  - { id: join, kind: deterministic, role: merge }\n  - { id: done, kind: deterministic, role: exit }\n";
  edges.push("  - { from: join, to: done }");
  return `${nodes}edges:\n${edges.join("\n")}\n`;
}

function linearYaml(len: number): string {
  let nodes = "nodes:\n";
  const edges: string[] = [];
  for (let k = 0; k < len; k++) {
    nodes += `  - { id: n${k}, kind: deterministic, role: ${k === 0 ? "start" : k === len - 1 ? "exit" : "linear"} }\n`;
    if (k > 0) edges.push(`  - { from: n${k - 1}, to: n${k} }`);
  }
  return `${nodes}edges:\n${edges.join("\n")}\n`;
}

async function withEngine<T>(yaml: string, handlers: Record<string, NodeHandler>, scheduling: "eager" | "waves", fn: (e: Engine) => Promise<T>): Promise<T> {
  const cfg = writeConfigDir("latency", yaml);
  try {
    const engine = await Engine.fromConfigDir(cfg.dir, { handlers, scheduling, logger: silent, maxEvents: 10_000 });
    try {
      return await fn(engine);
    } finally {
      await engine.shutdown();
    }
  } finally {
    cfg.dispose();
  }
}

type Item = { readonly i: number };

async function oursSplit(t: Table, scheduling: "eager" | "waves"): Promise<number> {
  const steps = t[0]!.length;
  const handlers: Record<string, NodeHandler> = { sp: () => t.map((_, i) => ({ i })) };
  for (const arm of ["a", "b"]) {
    for (let k = 1; k <= steps; k++) {
      handlers[`${arm}${k}`] = async (input) => {
        await sleep(t[(input as Item).i]![k - 1]!);
        return input;
      };
    }
  }
  return withEngine(splitYaml(steps), handlers, scheduling, async (engine) => {
    let status = "";
    const ms = await timed(async () => (status = (await engine.run({})).status));
    if (status !== "success") throw new Error(`split run ended ${status}`);
    return ms;
  });
}

async function oursBranch(t: Table, scheduling: "eager" | "waves"): Promise<number> {
  const handlers: Record<string, NodeHandler> = {};
  t.forEach((row, a) =>
    row.forEach((ms, k) => {
      handlers[`r${a}_${k + 1}`] = async (input) => {
        await sleep(ms);
        return input;
      };
    }),
  );
  return withEngine(branchYaml(t.map((r) => r.length)), handlers, scheduling, async (engine) => {
    let status = "";
    const ms = await timed(async () => (status = (await engine.run({})).status));
    if (status !== "success") throw new Error(`branch run ended ${status}`);
    return ms;
  });
}

async function oursConcurrent(t: Table, scheduling: "eager" | "waves"): Promise<number> {
  const len = t[0]!.length;
  const handlers: Record<string, NodeHandler> = {};
  for (let k = 0; k < len; k++) {
    handlers[`n${k}`] = async (input) => {
      await sleep(t[(input as Item).i]![k]!);
      return input;
    };
  }
  return withEngine(linearYaml(len), handlers, scheduling, (engine) => timed(() => Promise.all(t.map((_, i) => engine.run({ i })))));
}

// ---------------------------------------------------------------- LangGraph.js

const SplitState = Annotation.Root({ done: Annotation<number[]>({ reducer: (a, b) => a.concat(b), default: () => [] }) });

/** split -> (Send per item) s1 -> Send s2 -> ... -> s4, each Send one superstep; the reducer gathers. */
async function langGraphSplit(t: Table): Promise<number> {
  const steps = t[0]!.length;
  const g = new StateGraph(SplitState) as unknown as LooseGraph;
  g.addNode("sp", () => new Command({ goto: t.map((_, i) => new Send("s1", { i })) }), { ends: ["s1"] });
  for (let k = 1; k <= steps; k++) {
    g.addNode(
      `s${k}`,
      async (s: Record<string, unknown>) => {
        const i = (s as unknown as Item).i;
        await sleep(t[i]![k - 1]!);
        return k < steps ? new Command({ goto: [new Send(`s${k + 1}`, { i })] }) : { done: [i] };
      },
      k < steps ? { ends: [`s${k + 1}`] } : {},
    );
  }
  g.addEdge(START, "sp");
  g.addEdge(`s${steps}`, END);
  const graph = g.compile();
  let out: Record<string, unknown> = {};
  const ms = await timed(async () => (out = await graph.invoke({})));
  if ((out["done"] as number[]).length !== t.length) throw new Error(`langgraph split: ${JSON.stringify(out).slice(0, 200)}`);
  return ms;
}

const BranchState = Annotation.Root({ n: Annotation<number>({ reducer: (a, b) => a + b, default: () => 0 }) });

async function langGraphBranch(t: Table): Promise<number> {
  const g = new StateGraph(BranchState) as unknown as LooseGraph;
  g.addNode("fan", () => ({ n: 0 }));
  g.addNode("join", () => ({ n: 0 }));
  g.addEdge(START, "fan");
  const lasts: string[] = [];
  t.forEach((row, a) => {
    row.forEach((ms, k) => {
      g.addNode(`r${a}_${k + 1}`, async () => {
        await sleep(ms);
        return { n: 1 };
      });
      g.addEdge(k === 0 ? "fan" : `r${a}_${k}`, `r${a}_${k + 1}`);
    });
    lasts.push(`r${a}_${row.length}`);
  });
  g.addEdge(lasts, "join");
  g.addEdge("join", END);
  const graph = g.compile();
  let out: Record<string, unknown> = {};
  const ms = await timed(async () => (out = await graph.invoke({})));
  const stages = t.reduce((a, r) => a + r.length, 0);
  if (out["n"] !== stages) throw new Error(`langgraph branch: ${JSON.stringify(out)}`);
  return ms;
}

const LinearState = Annotation.Root({ i: Annotation<number> });

async function langGraphConcurrent(t: Table): Promise<number> {
  const len = t[0]!.length;
  const g = new StateGraph(LinearState) as unknown as LooseGraph;
  for (let k = 0; k < len; k++) {
    g.addNode(`n${k}`, async (s: Record<string, unknown>) => {
      await sleep(t[s["i"] as number]![k]!);
      return {};
    });
    g.addEdge(k === 0 ? START : `n${k - 1}`, `n${k}`);
  }
  g.addEdge(`n${len - 1}`, END);
  const graph = g.compile();
  return timed(() => Promise.all(t.map((_, i) => graph.invoke({ i }))));
}

interface LooseGraph {
  addNode(name: string, fn: (s: Record<string, unknown>) => unknown, options?: { ends?: string[] }): LooseGraph;
  addEdge(from: string | string[], to: string): LooseGraph;
  compile(): { invoke(input: unknown): Promise<Record<string, unknown>> };
}

// ---------------------------------------------------------------- cases

interface Shape {
  readonly description: string;
  table(seed: number): Table;
  ours(t: Table, scheduling: "eager" | "waves"): Promise<number>;
  langGraph(t: Table): Promise<number>;
}

const SHAPES: Record<(typeof LATENCY_CASES)[number], Shape> = {
  "latency-split-50x4": {
    description: "split of 50 items x 4 steps, log-normal stage latency (median 100 ms, sigma 0.8)",
    table: (seed) => table(seed, 50, () => 4, () => 100, 0.8),
    ours: oursSplit,
    langGraph: langGraphSplit,
  },
  "latency-branch-uneven": {
    description: "branch with arms of 8 x ~50 ms and 2 x ~400 ms (log-normal, sigma 0.3), joined by a merge",
    table: (seed) => table(seed, 2, (r) => (r === 0 ? 8 : 2), (r) => (r === 0 ? 50 : 400), 0.3),
    ours: oursBranch,
    langGraph: langGraphBranch,
  },
  "latency-concurrent-20x5": {
    description: "20 concurrent runs of a linear chain of 5 stages (median 100 ms, sigma 0.8)",
    table: (seed) => table(seed, 20, () => 5, () => 100, 0.8),
    ours: oursConcurrent,
    langGraph: langGraphConcurrent,
  },
};

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Runs one latency case: every seed on ours (eager), ours (waves) and LangGraph, interleaved. */
export async function runLatencyCase(name: string, quick: boolean): Promise<ScaleResult> {
  const shape = SHAPES[name as (typeof LATENCY_CASES)[number]];
  if (shape === undefined) throw new Error(`unknown latency case ${name}`);
  const eager: number[] = [];
  const waves: number[] = [];
  const lg: number[] = [];
  let critical = 0;
  for (const seed of quick ? SEEDS.slice(0, 1) : SEEDS) {
    const t = shape.table(seed);
    const cp = criticalPath(t);
    critical = Math.max(critical, cp);
    eager.push((await shape.ours(t, "eager")) / cp);
    waves.push((await shape.ours(t, "waves")) / cp);
    lg.push((await shape.langGraph(t)) / cp);
  }
  const ours = median(eager);
  return {
    name,
    description: shape.description,
    figures: { ours: ours, "ours (wave model)": median(waves), "LangGraph.js": median(lg), "critical path": critical / 1000 },
    units: { ours: "x", "ours (wave model)": "x", "LangGraph.js": "x", "critical path": "s (longest seed)" },
    targetFigure: "ours",
    target: 1.1,
    targetKind: "max",
    targetText: "makespan <= 1.10x critical path",
    met: ours <= 1.1,
  };
}

/**
 * What reading kv memory costs eager scheduling (CONTRACT §10, §12). A read resolves as of the
 * stage's logical start, so a stage running ahead may have to wait for logically earlier stages
 * that can still write the store. This measures makespan over critical path (stage latencies are
 * seeded log-normal sleeps, as in latency.ts) for:
 *
 * - `split-50x4`: a split of 50 items through 4 steps, every step reading `project` memory;
 * - `branch-uneven`: a branch with an arm of 8 stages of ~50 ms and one of 2 stages of ~400 ms;
 *   every stage of the fast arm reads and writes `project` memory, the slow arm does not.
 *
 * each with: no memory; memory whose writers are declared (`writers:` in memory.yaml); the same
 * with the writer after the split's merge; writers not declared (every node with a handler may
 * write, so a read waits for every logically earlier stage); and the wave model for reference.
 *
 * `npm run build && node dist/bench/memory.js`
 *
 * @module
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Engine, type HandlerContext, type JsonValue, type NodeHandler } from "../src/index.js";
import { writeConfigDir } from "./shapes.js";

const SEEDS = [1, 2, 3];
const silent = { debug() {}, info() {}, warn() {}, error() {} };

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

function logNormal(random: () => number, median: number, sigma: number): number {
  const u = Math.max(random(), 1e-12);
  const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
  return median * Math.exp(sigma * z);
}

type Table = number[][];
const table = (seed: number, rows: number, steps: (r: number) => number, median: (r: number) => number, sigma: number): Table => {
  const random = rng(seed);
  return Array.from({ length: rows }, (_, r) => Array.from({ length: steps(r) }, () => logNormal(random, median(r), sigma)));
};
const criticalPath = (t: Table): number => Math.max(...t.map((row) => row.reduce((a, b) => a + b, 0)));

type Variant = "none" | "declared" | "after-merge" | "undeclared" | "waves";
const VARIANTS: readonly Variant[] = ["none", "declared", "after-merge", "undeclared", "waves"];

async function run(workflow: string, memory: string | undefined, handlers: Record<string, NodeHandler>, scheduling: "eager" | "waves"): Promise<number> {
  const cfg = writeConfigDir("memory", workflow);
  if (memory !== undefined) writeFileSync(join(cfg.dir, "memory.yaml"), memory);
  try {
    const engine = await Engine.fromConfigDir(cfg.dir, { handlers, scheduling, logger: silent, maxEvents: 10_000 });
    try {
      const t0 = performance.now();
      const r = await engine.run({});
      if (r.status !== "success") throw new Error(`run ended ${r.status}: ${JSON.stringify(r.error)}`);
      return performance.now() - t0;
    } finally {
      await engine.shutdown();
    }
  } finally {
    cfg.dispose();
  }
}

function splitYaml(): string {
  let nodes = "nodes:\n  - { id: begin, kind: deterministic, role: start }\n  - { id: sp, kind: deterministic, role: split }\n";
  const edges = ["  - { from: begin, to: sp }"];
  for (const arm of ["a", "b"]) {
    for (let k = 1; k <= 4; k++) nodes += `  - { id: ${arm}${k}, kind: deterministic, role: linear }\n`;
    edges.push(`  - { from: sp, to: ${arm}1 }`);
    for (let k = 2; k <= 4; k++) edges.push(`  - { from: ${arm}${k - 1}, to: ${arm}${k} }`);
    edges.push(`  - { from: ${arm}4, to: gather }`);
  }
  nodes += "  - { id: gather, kind: deterministic, role: merge }\n  - { id: post, kind: deterministic, role: linear }\n  - { id: done, kind: deterministic, role: exit }\n";
  edges.push("  - { from: gather, to: post }", "  - { from: post, to: done }");
  return `${nodes}edges:\n${edges.join("\n")}\n`;
}

async function split(t: Table, variant: Variant): Promise<number> {
  const memory = {
    none: undefined,
    waves: undefined,
    declared: "stores:\n  - { id: facts, kind: kv, scope: project, writers: [begin] }\n",
    "after-merge": "stores:\n  - { id: facts, kind: kv, scope: project, writers: [post] }\n",
    undeclared: "stores:\n  - { id: facts, kind: kv, scope: project }\n",
  }[variant];
  const handlers: Record<string, NodeHandler> = { sp: () => t.map((_, i) => ({ i })) };
  if (variant === "declared" || variant === "undeclared") {
    handlers["begin"] = (input, ctx) => {
      ctx.memory.put("facts", "k", 1);
      return input;
    };
  }
  if (variant === "after-merge" || variant === "undeclared") {
    handlers["post"] = (input, ctx) => {
      ctx.memory.put("facts", "k", 2);
      return input;
    };
  }
  for (const arm of ["a", "b"]) {
    for (let k = 1; k <= 4; k++) {
      handlers[`${arm}${k}`] = async (input: JsonValue, ctx: HandlerContext) => {
        if (memory !== undefined) await ctx.memory.get("facts", "k");
        await sleep(t[(input as { i: number }).i]![k - 1]!);
        return input;
      };
    }
  }
  return run(splitYaml(), memory, handlers, variant === "waves" ? "waves" : "eager");
}

async function branch(t: Table, variant: Variant): Promise<number> {
  let nodes = "nodes:\n  - { id: begin, kind: deterministic, role: start }\n  - { id: fan, kind: deterministic, role: branch }\n";
  const edges = ["  - { from: begin, to: fan }"];
  t.forEach((row, a) => {
    for (let k = 1; k <= row.length; k++) nodes += `  - { id: r${a}_${k}, kind: deterministic, role: linear }\n`;
    edges.push(`  - { from: fan, to: r${a}_1 }`);
    for (let k = 2; k <= row.length; k++) edges.push(`  - { from: r${a}_${k - 1}, to: r${a}_${k} }`);
    edges.push(`  - { from: r${a}_${row.length}, to: join }`);
  });
  nodes += "  - { id: join, kind: deterministic, role: merge }\n  - { id: done, kind: deterministic, role: exit }\n";
  edges.push("  - { from: join, to: done }");
  const fast = t[0]!.map((_, k) => `r0_${k + 1}`);
  const memory = {
    none: undefined,
    waves: undefined,
    declared: `stores:\n  - { id: facts, kind: kv, scope: project, writers: [${fast.join(", ")}] }\n`,
    "after-merge": `stores:\n  - { id: facts, kind: kv, scope: project, writers: [${fast.join(", ")}] }\n`,
    undeclared: "stores:\n  - { id: facts, kind: kv, scope: project }\n",
  }[variant];
  const handlers: Record<string, NodeHandler> = {};
  t.forEach((row, a) =>
    row.forEach((ms, k) => {
      handlers[`r${a}_${k + 1}`] = async (input: JsonValue, ctx: HandlerContext) => {
        if (memory !== undefined && a === 0) {
          const n = ((await ctx.memory.get("facts", "n")) as number | undefined) ?? 0;
          ctx.memory.put("facts", "n", n + 1);
        }
        await sleep(ms);
        return input;
      };
    }),
  );
  return run(`${nodes}edges:\n${edges.join("\n")}\n`, memory, handlers, variant === "waves" ? "waves" : "eager");
}

const median = (xs: number[]): number => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const cases: [string, (seed: number) => Table, (t: Table, v: Variant) => Promise<number>][] = [
    ["split-50x4", (seed) => table(seed, 50, () => 4, () => 100, 0.8), split],
    ["branch-uneven", (seed) => table(seed, 2, (r) => (r === 0 ? 8 : 2), (r) => (r === 0 ? 50 : 400), 0.3), branch],
  ];
  const rows: string[] = ["| case | no memory | writers declared | writer after the merge | writers not declared | wave model |", "|---|---:|---:|---:|---:|---:|"];
  for (const [name, make, fn] of cases) {
    const ratios = new Map<Variant, number[]>(VARIANTS.map((v) => [v, []]));
    for (const seed of SEEDS) {
      const t = make(seed);
      const cp = criticalPath(t);
      for (const v of VARIANTS) {
        if (name === "branch-uneven" && v === "after-merge") continue;
        ratios.get(v)!.push((await fn(t, v)) / cp);
      }
    }
    const cell = (v: Variant): string => (ratios.get(v)!.length === 0 ? "n/a" : `${median(ratios.get(v)!).toFixed(2)}x`);
    rows.push(`| ${name} | ${VARIANTS.map(cell).join(" | ")} |`);
  }
  console.log(rows.join("\n"));
}

await main();

/**
 * The bench harness: every case in one process, round-robin, warm-up first, one batch per case
 * per round, `gc()` and an unmeasured re-warm half batch before each batch, medians with their spread, and ratios computed per round
 * (paired samples taken seconds apart) so machine noise cancels as far as it can.
 *
 * @module
 */
import { performance } from "node:perf_hooks";

/** One measured case. A batch runs `iterations` operations back to back. */
export interface BenchCase {
  /** Unique, kebab-case; selectable from the command line. */
  readonly name: string;
  /** Group shown in the table (`dispatch`, `linear-10`, `fan-out-8`, `zero-plugins`). */
  readonly group: string;
  /** What one operation is (`event`, `task`). */
  readonly unit: string;
  /** One line for the table. */
  readonly description: string;
  /** Runs `iterations` operations. May be sync (dispatch) or async (workflow runs). */
  readonly batch: (iterations: number) => void | Promise<void>;
  /** Sanity check after the run (throws when the case did not do what it claims). */
  readonly verify?: () => void | Promise<void>;
}

/** Harness settings. */
export interface HarnessOptions {
  /** Measured rounds. */
  readonly rounds: number;
  /** Wall time of warm-up per case, in ms (before calibration). */
  readonly warmupMs: number;
  /** Target wall time of one batch, in ms; the iteration count is calibrated to it. */
  readonly batchMs: number;
  /**
   * Which clock the quoted figures use. `cpu` (default): this process's user + system CPU time,
   * which a neighbour stealing the core does not inflate; `wall`: elapsed time. Both are recorded.
   */
  readonly clock: Clock;
  /** Progress lines go here. */
  readonly log: (line: string) => void;
  /** Run an unmeasured half batch after each `gc()` (default true; see runRoundRobin). */
  readonly rewarm?: boolean;
}

/** Clock used for the quoted figures. */
export type Clock = "cpu" | "wall";

/** Summary statistics of a sample of numbers. */
export interface Stats {
  readonly median: number;
  readonly q1: number;
  readonly q3: number;
  readonly min: number;
  readonly max: number;
  readonly n: number;
}

/** What a case measured. */
export interface CaseResult {
  readonly name: string;
  readonly group: string;
  readonly unit: string;
  readonly description: string;
  readonly iterationsPerBatch: number;
  /** Nanoseconds per operation on the run's clock, one sample per round, in round order. */
  readonly nsPerOp: readonly number[];
  /** Wall-clock nanoseconds per operation, per round. */
  readonly wallNsPerOp: readonly number[];
  /** CPU nanoseconds (user + system, all threads) per operation, per round. */
  readonly cpuNsPerOp: readonly number[];
  /** Median wall time per op (context when the clock is `cpu`). */
  readonly wallMedian: number;
  readonly stats: Stats;
  /** Operations per second at the median. */
  readonly opsPerSec: number;
}

/** Quantile by linear interpolation on a sorted copy. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return a + (b - a) * (pos - lo);
}

/** Median, quartiles and range. */
export function stats(values: readonly number[]): Stats {
  const s = [...values].sort((a, b) => a - b);
  return {
    median: quantile(s, 0.5),
    q1: quantile(s, 0.25),
    q3: quantile(s, 0.75),
    min: s[0] ?? Number.NaN,
    max: s[s.length - 1] ?? Number.NaN,
    n: s.length,
  };
}

const gc: (() => void) | undefined = (globalThis as { gc?: () => void }).gc;

/** Runs a full collection when `--expose-gc` is on. */
export function collect(): void {
  if (gc) {
    gc();
    gc();
  }
}

/** True when the harness can collect between batches. */
export const gcAvailable = gc !== undefined;

interface BatchTime {
  /** Milliseconds. */
  readonly wall: number;
  /** Milliseconds of CPU (user + system). */
  readonly cpu: number;
}

async function timeBatch(c: BenchCase, iterations: number): Promise<BatchTime> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const r = c.batch(iterations);
  if (r !== undefined) await r;
  const wall = performance.now() - t0;
  const cu = process.cpuUsage(c0);
  return { wall, cpu: (cu.user + cu.system) / 1000 };
}

/** Warms a case up for about `ms`, then returns the iteration count whose batch takes about `batchMs`. */
async function warmAndCalibrate(c: BenchCase, warmupMs: number, batchMs: number): Promise<number> {
  let iterations = 1;
  let elapsed = 0;
  const start = performance.now();
  // Grow the batch until one takes a measurable time, while the JIT warms up.
  for (;;) {
    const dt = (await timeBatch(c, iterations)).wall;
    elapsed = performance.now() - start;
    if (dt >= batchMs / 4 && elapsed >= warmupMs) {
      return Math.max(1, Math.round((iterations * batchMs) / dt));
    }
    if (dt < batchMs / 4) iterations *= 2;
  }
}

/**
 * Runs every case: warm-up and calibration one case after another, then `rounds` rounds in which
 * each case runs one batch. The starting case rotates each round and odd rounds run in reverse
 * order, so no case always runs first, or always right after the same neighbour.
 */
export async function runRoundRobin(cases: readonly BenchCase[], options: HarnessOptions): Promise<CaseResult[]> {
  const iterations = new Map<string, number>();
  for (const c of cases) {
    collect();
    const n = await warmAndCalibrate(c, options.warmupMs, options.batchMs);
    iterations.set(c.name, n);
    options.log(`  warm-up ${c.name}: ${n} ${c.unit}s per batch`);
  }
  const wallSamples = new Map<string, number[]>(cases.map((c) => [c.name, []]));
  const cpuSamples = new Map<string, number[]>(cases.map((c) => [c.name, []]));
  for (let round = 0; round < options.rounds; round++) {
    for (let k = 0; k < cases.length; k++) {
      // Odd rounds walk the list backwards, so each case alternates which neighbour runs just
      // before it (a pair of adjacent cases runs A,B then B,A), cancelling position effects.
      const idx = round % 2 === 0 ? (round + k) % cases.length : (round + cases.length - 1 - k) % cases.length;
      const c = cases[idx] as BenchCase;
      const n = iterations.get(c.name) as number;
      // A forced full collection leaves the next few hundred runs of a case several times
      // slower while V8 re-optimizes (measured: fan-out-8 at ~400 µs per task for ~400 tasks
      // after gc(), ~55 µs after): an unmeasured half batch brings the case back to the steady
      // state a long-lived process is in, so batches compare steady states, not recoveries.
      collect();
      if (options.rewarm !== false) await timeBatch(c, Math.max(1, Math.ceil(n / 2)));
      const t = await timeBatch(c, n);
      (wallSamples.get(c.name) as number[]).push((t.wall * 1e6) / n);
      (cpuSamples.get(c.name) as number[]).push((t.cpu * 1e6) / n);
    }
    options.log(`  round ${round + 1}/${options.rounds} done`);
  }
  for (const c of cases) if (c.verify) await c.verify();
  return cases.map((c) => {
    const wall = wallSamples.get(c.name) as number[];
    const cpu = cpuSamples.get(c.name) as number[];
    const ns = options.clock === "cpu" ? cpu : wall;
    const s = stats(ns);
    return {
      name: c.name,
      group: c.group,
      unit: c.unit,
      description: c.description,
      iterationsPerBatch: iterations.get(c.name) as number,
      nsPerOp: ns,
      wallNsPerOp: wall,
      cpuNsPerOp: cpu,
      wallMedian: stats(wall).median,
      stats: s,
      opsPerSec: 1e9 / s.median,
    };
  });
}

/** A quoted figure: the ratio of two cases measured in the same run. */
export interface RatioSpec {
  readonly name: string;
  /**
   * `speedup`: slower.nsPerOp / faster.nsPerOp (higher is better). `cost`: measured / baseline
   * (lower is better). `overhead`: (measured - baseline) / `per` / `referenceNs`, the extra time
   * per unit of work as a share of a reference time (lower is better; shown as a percentage).
   */
  readonly kind: "speedup" | "cost" | "overhead";
  /** speedup: the case expected to be faster (ours); cost and overhead: the measured case. */
  readonly a: string;
  /** speedup: the slower comparison (theirs); cost and overhead: the baseline. */
  readonly b: string;
  /** overhead: units of work in one operation (say, model calls per agent run). Default 1. */
  readonly per?: number;
  /** overhead: the reference time the extra time is a share of, in ns (say, 1e6 for 1 ms). */
  readonly referenceNs?: number;
  /** Target: speedup >= target, or cost (overhead) <= target; absent for figures quoted as context. */
  readonly target?: number;
  /** How to read the target, for the report. */
  readonly targetText: string;
}

/** A computed ratio. */
export interface RatioResult extends RatioSpec {
  /** Median of per-round paired ratios. */
  readonly value: number;
  readonly stats: Stats;
  /** Undefined for context figures without a target. */
  readonly met: boolean | undefined;
}

/** One round's figure of `spec` from the two cases' times per operation (`a` then `b`). */
export function ratioOf(spec: RatioSpec, a: number, b: number): number {
  switch (spec.kind) {
    case "speedup":
      return b / a;
    case "cost":
      return a / b;
    case "overhead":
      return (a - b) / (spec.per ?? 1) / (spec.referenceNs ?? 1);
  }
}

/** Computes the ratios whose cases ran; paired per round. */
export function computeRatios(specs: readonly RatioSpec[], results: readonly CaseResult[]): RatioResult[] {
  const byName = new Map(results.map((r) => [r.name, r]));
  const out: RatioResult[] = [];
  for (const spec of specs) {
    const a = byName.get(spec.a);
    const b = byName.get(spec.b);
    if (!a || !b) continue;
    const per: number[] = [];
    const n = Math.min(a.nsPerOp.length, b.nsPerOp.length);
    for (let i = 0; i < n; i++) {
      const x = a.nsPerOp[i] as number;
      const y = b.nsPerOp[i] as number;
      per.push(ratioOf(spec, x, y));
    }
    const s = stats(per);
    const t = spec.target;
    const met = t === undefined ? undefined : spec.kind === "speedup" ? s.median >= t : s.median <= t;
    out.push({ ...spec, value: s.median, stats: s, met });
  }
  return out;
}

/**
 * A finer paired measurement for two cases whose difference is far below the machine's noise:
 * `pairs` times, run a short chunk of each back to back (ABBA order, so neither always goes
 * first) and take the ratio of their CPU times. Drift and neighbours' load hit both halves of a
 * pair alike; the median of many pair ratios is the figure.
 */
export async function runInterleavedPair(a: BenchCase, b: BenchCase, pairs: number, chunk: number): Promise<number[]> {
  const cpu = async (c: BenchCase): Promise<number> => {
    const t0 = process.cpuUsage();
    await c.batch(chunk);
    const t = process.cpuUsage(t0);
    return t.user + t.system;
  };
  const per: number[] = [];
  for (let i = 0; i < pairs; i++) {
    let ta: number;
    let tb: number;
    if (i % 2 === 0) {
      ta = await cpu(a);
      tb = await cpu(b);
    } else {
      tb = await cpu(b);
      ta = await cpu(a);
    }
    if (ta > 0 && tb > 0) per.push(ta / tb);
  }
  return per;
}

/**
 * Like {@link runInterleavedPair}, for any number of cases and without `gc()`: `rounds` times,
 * run a chunk of each case back to back (the order reversed every other round), and record each
 * chunk's CPU time per operation in ns. Neighbouring chunks see the same machine, and the heap
 * and the JIT stay in the steady state a long-lived process is in (a forced `gc()` makes the
 * next thousand or so engine runs several times slower while V8 re-optimizes; see
 * docs/benchmarks.md).
 *
 * @param warmupRounds - rounds run first and not recorded (back to the steady state after
 *   whatever ran before).
 * @returns per case (in `cases` order), one sample per recorded round.
 */
export async function runInterleaved(cases: readonly BenchCase[], chunks: readonly number[], rounds: number, warmupRounds = 0): Promise<number[][]> {
  const out = cases.map((): number[] => []);
  for (let r = -warmupRounds; r < rounds; r++) {
    for (let k = 0; k < cases.length; k++) {
      const i = r % 2 === 0 ? k : cases.length - 1 - k;
      const n = chunks[i] as number;
      const t0 = process.cpuUsage();
      await (cases[i] as BenchCase).batch(n);
      const t = process.cpuUsage(t0);
      if (r >= 0) (out[i] as number[]).push(((t.user + t.system) * 1000) / n);
    }
  }
  return out;
}

/**
 * A quoted difference: what case `a` adds over baseline `b`, per unit of work (`per` units in
 * one operation), on wall time. Paired per round like the ratios.
 */
export interface DeltaSpec {
  readonly name: string;
  /** The measured case. */
  readonly a: string;
  /** The baseline. */
  readonly b: string;
  /** Units of work in one operation of both cases (e.g. 10 committed stages per linear-10 task). */
  readonly per: number;
  /** What one unit is, for the report. */
  readonly unit: string;
  /** Target: at most this many nanoseconds per unit; absent for context figures. */
  readonly target?: number;
  readonly targetText: string;
}

/** A computed difference. */
export interface DeltaResult extends DeltaSpec {
  /** Median over rounds of (a − b) wall nanoseconds per unit. */
  readonly value: number;
  readonly stats: Stats;
  /** The same on this process's CPU time (context: a wait for a disk or a server is not CPU). */
  readonly cpu: number;
  readonly met: boolean | undefined;
}

/** Computes the differences whose cases ran, paired per round, on wall time (and CPU for context). */
export function computeDeltas(specs: readonly DeltaSpec[], results: readonly CaseResult[]): DeltaResult[] {
  const byName = new Map(results.map((r) => [r.name, r]));
  const out: DeltaResult[] = [];
  const paired = (x: readonly number[], y: readonly number[], per: number): number[] => {
    const n = Math.min(x.length, y.length);
    return Array.from({ length: n }, (_, i) => ((x[i] as number) - (y[i] as number)) / per);
  };
  for (const spec of specs) {
    const a = byName.get(spec.a);
    const b = byName.get(spec.b);
    if (!a || !b) continue;
    const s = stats(paired(a.wallNsPerOp, b.wallNsPerOp, spec.per));
    const cpu = stats(paired(a.cpuNsPerOp, b.cpuNsPerOp, spec.per)).median;
    out.push({ ...spec, value: s.median, stats: s, cpu, met: spec.target === undefined ? undefined : s.median < spec.target });
  }
  return out;
}

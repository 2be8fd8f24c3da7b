/**
 * Turns a bench run into text: the console table, and the generated section of bench/RESULTS.md
 * (between the `bench:begin` and `bench:end` markers; anything outside them is kept).
 *
 * @module
 */
import type { CaseResult, DeltaResult, RatioResult } from "./harness.js";
import type { MachineInfo } from "./machine.js";

/** A scale measurement from a child process, with its target. */
export interface ScaleResult {
  readonly name: string;
  readonly description: string;
  /** Named figures, already in display units (see `units`). */
  readonly figures: Readonly<Record<string, number>>;
  readonly units: Readonly<Record<string, string>>;
  /** The figure the target applies to. */
  readonly targetFigure?: string;
  readonly target?: number;
  readonly targetKind?: "max" | "min";
  readonly targetText?: string;
  readonly met?: boolean;
  readonly error?: string;
}

/** Everything one run produced; written to bench/results/latest.json. */
export interface BenchRun {
  readonly startedAt: string;
  readonly durationSec: number;
  readonly mode: "full" | "quick";
  readonly filter: readonly string[];
  readonly settings: { readonly rounds: number; readonly warmupMs: number; readonly batchMs: number; readonly gc: boolean; readonly clock: string };
  readonly machine: MachineInfo;
  readonly notes: readonly string[];
  readonly cases: readonly CaseResult[];
  readonly ratios: readonly RatioResult[];
  /** Added cost per unit of work (durability); absent in runs before it was measured. */
  readonly deltas?: readonly DeltaResult[];
  readonly scale: readonly ScaleResult[];
}

/** `1234567` -> `1,234,567`; small numbers keep 3 significant digits. */
export function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const abs = Math.abs(x);
  if (abs >= 1000) return Math.round(x).toLocaleString("en-US");
  if (abs >= 100) return x.toFixed(0);
  if (abs >= 10) return x.toFixed(1);
  if (abs >= 1) return x.toFixed(2);
  return x.toPrecision(3);
}

/** Nanoseconds, in the unit that reads best. */
export function fmtTime(ns: number): string {
  if (ns >= 1e6) return `${fmt(ns / 1e6)} ms`;
  if (ns >= 1e3) return `${fmt(ns / 1e3)} µs`;
  return `${fmt(ns)} ns`;
}

function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

/** Markdown table of cases. */
export function casesTable(cases: readonly CaseResult[]): string {
  const lines = [
    "| group | case | median per op | ops/s (median) | IQR | min – max | wall median | what |",
    "|---|---|---:|---:|---:|---|---:|---|",
  ];
  for (const c of cases) {
    const s = c.stats;
    const iqr = (s.q3 - s.q1) / s.median;
    lines.push(
      `| ${c.group} | \`${c.name}\` | ${fmtTime(s.median)} | ${fmt(c.opsPerSec)} ${c.unit}s/s | ±${pct(iqr / 2)} | ${fmtTime(s.min)} – ${fmtTime(s.max)} | ${fmtTime(c.wallMedian)} | ${c.description} |`,
    );
  }
  return lines.join("\n");
}

/** Markdown table of ratios. */
export function ratiosTable(ratios: readonly RatioResult[]): string {
  const lines = ["| ratio | median | min – max (per round) | target | met |", "|---|---:|---|---|:---:|"];
  for (const r of ratios) {
    const asPercent = r.kind === "cost" && r.target !== undefined && r.target < 1.5;
    const show = (x: number): string =>
      r.kind === "overhead" ? `${(x * 100).toFixed(2)}%` : asPercent ? `${x >= 1 ? "+" : ""}${((x - 1) * 100).toFixed(2)}%` : `${fmt(x)}x`;
    const met = r.met === undefined ? "–" : r.met ? "yes" : "**no**";
    // An overhead is also shown as the time it stands for (per unit of work).
    const median = r.kind === "overhead" && r.referenceNs !== undefined ? `**${show(r.value)}** (${fmtTime(r.value * r.referenceNs)})` : `**${show(r.value)}**`;
    lines.push(`| ${r.name} | ${median} | ${show(r.stats.min)} – ${show(r.stats.max)} | ${r.targetText} | ${met} |`);
  }
  return lines.join("\n");
}

/** Markdown table of differences (wall time added per unit of work). */
export function deltasTable(deltas: readonly DeltaResult[]): string {
  const lines = ["| added per committed stage (wall time) | median | min – max (per round) | this process's CPU | target | met |", "|---|---:|---|---:|---|:---:|"];
  for (const d of deltas) {
    const met = d.met === undefined ? "–" : d.met ? "yes" : "**no**";
    lines.push(`| ${d.name} | **${fmtTime(d.value)}** | ${fmtTime(d.stats.min)} – ${fmtTime(d.stats.max)} | ${fmtTime(d.cpu)} | ${d.targetText} | ${met} |`);
  }
  return lines.join("\n");
}

/** Markdown table of scale results. */
export function scaleTable(scale: readonly ScaleResult[]): string {
  const lines = ["| case | figures | target | met |", "|---|---|---|:---:|"];
  for (const s of scale) {
    if (s.error !== undefined) {
      lines.push(`| \`${s.name}\` | failed: ${s.error.replace(/\|/g, "\\|").replace(/\n/g, " ")} | ${s.targetText ?? ""} | **no** |`);
      continue;
    }
    const figs = Object.entries(s.figures)
      .map(([k, v]) => `${k} ${fmt(v)}${s.units[k] ?? ""}`)
      .join("; ");
    lines.push(`| \`${s.name}\` | ${figs} | ${s.targetText ?? "context"} | ${s.met === undefined ? "–" : s.met ? "yes" : "**no**"} |`);
  }
  return lines.join("\n");
}

/** The machine paragraph. */
export function machineText(m: MachineInfo): string {
  const libs = Object.entries(m.versions)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
  return [
    `- Machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB RAM, ${m.os}`,
    `- Node ${m.node} (V8 ${m.v8})`,
    `- Libraries: ${libs}`,
    `- Commit: ${m.commit} on ${m.branch}${m.dirty ? " (with uncommitted changes)" : ""}`,
  ].join("\n");
}

/** The generated section of RESULTS.md. */
export function resultsSection(run: BenchRun): string {
  const deltas = run.deltas ?? [];
  const met = run.ratios.filter((r) => r.met === true).length + deltas.filter((d) => d.met === true).length + run.scale.filter((s) => s.met === true).length;
  const total = run.ratios.filter((r) => r.met !== undefined).length + deltas.filter((d) => d.met !== undefined).length + run.scale.filter((s) => s.met !== undefined || s.error !== undefined).length;
  return [
    `Run of ${run.startedAt} (${run.mode}, ${run.durationSec.toFixed(0)} s): ${run.settings.rounds} round-robin rounds of ~${run.settings.batchMs} ms batches after ${run.settings.warmupMs} ms warm-up per case, gc between batches: ${run.settings.gc ? "yes, each followed by an unmeasured half batch (re-warm)" : "no"}; clock of the quoted figures: ${run.settings.clock === "cpu" ? "process CPU time (user + system), robust to busy neighbours; wall medians shown for context" : "wall time"}.`,
    "",
    machineText(run.machine),
    "",
    `**Targets met: ${met} of ${total}.**`,
    "",
    "### Ratios (the quoted figures; median of per-round paired ratios)",
    "",
    ratiosTable(run.ratios),
    ...(deltas.length > 0 ? ["", "### Durability (through the engine: wall time a durable run store adds per committed stage over the memory store; median of per-round paired differences)", "", deltasTable(deltas)] : []),
    "",
    "### Cases (absolute times are context only)",
    "",
    casesTable(run.cases),
    "",
    "### Scale (each in its own child process)",
    "",
    scaleTable(run.scale),
    ...(run.notes.length > 0 ? ["", "### Notes", "", ...run.notes.map((n) => `- ${n}`)] : []),
  ].join("\n");
}

const BEGIN = "<!-- bench:begin (generated by npm run bench; edit outside these markers) -->";
const END = "<!-- bench:end -->";

/** Replaces the generated section of RESULTS.md, keeping what is written around it. */
export function updateResultsMarkdown(existing: string | undefined, section: string): string {
  const block = `${BEGIN}\n${section}\n${END}`;
  if (existing === undefined || existing.trim() === "") {
    return `# Benchmark results\n\nGenerated by \`npm run bench\` (see docs/benchmarks.md for what each case measures and how).\n\n## Latest run\n\n${block}\n`;
  }
  const b = existing.indexOf("<!-- bench:begin");
  const e = existing.indexOf(END);
  if (b === -1 || e === -1) return `${existing.trimEnd()}\n\n## Latest run\n\n${block}\n`;
  return existing.slice(0, b) + block + existing.slice(e + END.length);
}

/**
 * Summarizes a V8 `.cpuprofile` (from `node --cpu-prof`): self time per function, as
 * `file:function:line  self%`, heaviest first.
 *
 * Usage: `node dist/bench/profileSummary.js PROFILE.cpuprofile [top=25] [filter]`. With a
 * filter, only functions whose file or name contains it are listed (percentages stay relative
 * to the whole profile).
 *
 * @module
 */
import { readFileSync } from "node:fs";

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** One row of the summary. */
export interface SelfTime {
  readonly key: string;
  readonly selfMs: number;
  readonly selfPct: number;
}

function shortUrl(url: string): string {
  if (url === "") return "(native)";
  const i = url.indexOf("/dist/");
  if (i !== -1) return url.slice(i + 1);
  const nm = url.lastIndexOf("/node_modules/");
  if (nm !== -1) return url.slice(nm + "/node_modules/".length);
  return url.replace(/^file:\/\//, "");
}

/** Self time per `file:function:line`, heaviest first. */
export function selfTimes(profile: CpuProfile): SelfTime[] {
  const byId = new Map<number, ProfileNode>();
  for (const n of profile.nodes) byId.set(n.id, n);
  const self = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i] as number);
    const dt = (profile.timeDeltas[i] ?? 0) / 1000;
    if (!node) continue;
    total += dt;
    const cf = node.callFrame;
    const key = `${shortUrl(cf.url)}:${cf.functionName || "(anonymous)"}:${cf.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + dt);
  }
  return [...self.entries()].map(([key, ms]) => ({ key, selfMs: ms, selfPct: (100 * ms) / total })).sort((a, b) => b.selfMs - a.selfMs);
}

function main(): void {
  const [file, topArg, filter] = process.argv.slice(2);
  if (!file) {
    console.error("usage: node dist/bench/profileSummary.js PROFILE.cpuprofile [top=25] [filter]");
    process.exitCode = 2;
    return;
  }
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const rows = selfTimes(profile).filter((r) => filter === undefined || r.key.includes(filter));
  for (const r of rows.slice(0, Number(topArg ?? 25))) console.log(`${r.selfPct.toFixed(1).padStart(5)}%  ${r.selfMs.toFixed(0).padStart(6)} ms  ${r.key}`);
}

main();

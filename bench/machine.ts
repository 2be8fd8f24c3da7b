/**
 * What the bench ran on: machine, Node version, versions of the compared libraries (read from
 * node_modules), and the git commit.
 *
 * @module
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus, platform, release, totalmem } from "node:os";
import { join } from "node:path";

/** The machine and software a run used. */
export interface MachineInfo {
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly os: string;
  readonly node: string;
  readonly v8: string;
  readonly versions: Readonly<Record<string, string>>;
  readonly commit: string;
  readonly branch: string;
  /** True when the working tree had uncommitted changes outside bench output. */
  readonly dirty: boolean;
}

/** Packages whose versions the report quotes. */
export const COMPARED_PACKAGES = ["@langchain/langgraph", "@langchain/core", "zod"] as const;

function packageVersion(root: string, name: string): string {
  try {
    const pkg = JSON.parse(readFileSync(join(root, "node_modules", name, "package.json"), "utf8")) as { version?: string };
    return pkg.version ?? "unknown";
  } catch {
    return "not installed";
  }
}

function git(root: string, args: string[]): string {
  try {
    return execFileSync("git", args, { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return "";
  }
}

/** Collects machine info; `root` is the repository root. */
export function machineInfo(root: string): MachineInfo {
  const cpu = cpus();
  const own = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { name: string; version: string };
  const versions: Record<string, string> = { [own.name]: own.version };
  for (const name of COMPARED_PACKAGES) versions[name] = packageVersion(root, name);
  const status = git(root, ["status", "--porcelain", "--untracked-files=no"]);
  const dirty = status
    .split("\n")
    .filter((l) => l.trim() !== "")
    .some((l) => !/\s(bench\/RESULTS\.md|bench\/results\/)/.test(l));
  return {
    cpuModel: cpu[0]?.model.trim() ?? "unknown",
    cores: cpu.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${platform()} ${release()}`,
    node: process.version,
    v8: process.versions.v8,
    versions,
    commit: git(root, ["rev-parse", "--short", "HEAD"]) || "unknown",
    branch: git(root, ["rev-parse", "--abbrev-ref", "HEAD"]) || "unknown",
    dirty,
  };
}

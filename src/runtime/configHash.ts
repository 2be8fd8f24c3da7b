/**
 * The fingerprint of a run's configuration, recorded when the run starts and checked when it is
 * resumed, so a run is never continued on a workflow other than the one it started on
 * (`RESUME_CONFIG_CHANGED`).
 *
 * What counts: the manifests that decide what a run does (workflow.yaml, agents.yaml,
 * tools.yaml, memory.yaml) and the JSON Schemas in `schemas/`, each as its parsed content in
 * canonical JSON, so comments and formatting do not count. What does not: plugins.yaml (plugins
 * only observe), and code and data files (handler and tool modules, scripted LLM rules, memory
 * files): deploying a fixed handler and resuming the run it broke is what resume is for, and
 * what already ran is never executed again.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { basename } from "node:path";
import { canonicalJson } from "../agents/recording.js";
import type { ManifestName, ProjectConfig } from "../config/types.js";

/** A configuration's fingerprint: one hash, and one per file (to say what changed). */
export interface ConfigFingerprint {
  /** SHA-256 (hex) over every file's hash. */
  readonly hash: string;
  /** Hash per file, by its name in the config dir (`workflow.yaml`, `schemas/answer`). */
  readonly files: Readonly<Record<string, string>>;
}

const COUNTED: readonly Exclude<ManifestName, "plugins">[] = ["workflow", "agents", "tools", "memory"];

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** The fingerprint of a loaded config directory. */
export function configFingerprint(config: ProjectConfig): ConfigFingerprint {
  const files: Record<string, string> = {};
  for (const name of COUNTED) {
    const value = config[name];
    if (value === undefined) continue;
    const file = config.files[name];
    files[file === undefined ? `${name}.yaml` : basename(file)] = sha256(canonicalJson(value));
  }
  for (const [stem, schema] of [...config.schemas].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) files[`schemas/${stem}`] = sha256(canonicalJson(schema));
  const names = Object.keys(files).sort();
  return Object.freeze({ hash: sha256(names.map((n) => `${n}\u0000${files[n]!}`).join("\n")), files: Object.freeze(Object.fromEntries(names.map((n) => [n, files[n]!]))) });
}

/**
 * What differs between the fingerprint a run started with and the current one, file by file:
 * `["workflow.yaml changed", "schemas/answer added"]`. Empty when they are the same.
 */
export function configChanges(was: ConfigFingerprint, now: ConfigFingerprint): string[] {
  if (was.hash === now.hash) return [];
  const out: string[] = [];
  for (const name of new Set([...Object.keys(was.files), ...Object.keys(now.files)])) {
    const a = was.files[name];
    const b = now.files[name];
    if (a === b) continue;
    out.push(a === undefined ? `${name} added` : b === undefined ? `${name} removed` : `${name} changed`);
  }
  // Same files, different overall hash: only possible for a fingerprint recorded without files.
  return out.length > 0 ? out.sort() : ["the configuration changed"];
}

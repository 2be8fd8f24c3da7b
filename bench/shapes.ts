/**
 * The workflow shapes both engines run, and the config directories that declare them for
 * agent-engine.
 *
 * @module
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Nodes in the linear chain. */
export const LINEAR_LENGTH = 10;
/** Parallel nodes in the fan-out. */
export const FAN_WIDTH = 8;

/** The task input both engines get. */
export interface TaskInput {
  readonly value: { readonly text: string; readonly id: number };
  readonly n: number;
}

/** A small input, the same for every run. */
export const TASK_INPUT: TaskInput = Object.freeze({ value: Object.freeze({ text: "hello", id: 1 }), n: 0 });

function nodeYaml(id: string, role: string, extra = ""): string {
  return `  - { id: ${id}, kind: deterministic, role: ${role}${extra} }\n`;
}

function edgesYaml(edges: readonly (readonly [string, string])[]): string {
  return `edges:\n${edges.map(([from, to]) => `  - { from: ${from}, to: ${to} }\n`).join("")}`;
}

/** workflow.yaml for n0 (start) -> n1..n8 (linear) -> n9 (exit). */
export function linearWorkflowYaml(length = LINEAR_LENGTH): string {
  let nodes = "name: bench-linear\nnodes:\n";
  const edges: [string, string][] = [];
  for (let i = 0; i < length; i++) {
    const role = i === 0 ? "start" : i === length - 1 ? "exit" : "linear";
    nodes += nodeYaml(`n${i}`, role, i === 0 ? ", default: true" : "");
    if (i > 0) edges.push([`n${i - 1}`, `n${i}`]);
  }
  return nodes + edgesYaml(edges);
}

/** workflow.yaml for start -> fan (branch) -> w0..w7 (linear) -> join (merge) -> done (exit). */
export function fanOutWorkflowYaml(width = FAN_WIDTH): string {
  let nodes = "name: bench-fan-out\nnodes:\n";
  nodes += nodeYaml("start", "start", ", default: true");
  nodes += nodeYaml("fan", "branch");
  const edges: [string, string][] = [["start", "fan"]];
  for (let i = 0; i < width; i++) {
    nodes += nodeYaml(`w${i}`, "linear");
    edges.push(["fan", `w${i}`], [`w${i}`, "join"]);
  }
  nodes += nodeYaml("join", "merge");
  nodes += nodeYaml("done", "exit");
  edges.push(["join", "done"]);
  return nodes + edgesYaml(edges);
}

/** A temporary config directory holding one workflow.yaml; `dispose()` removes it. */
export interface TempConfigDir {
  readonly dir: string;
  dispose(): void;
}

/** Writes `workflowYaml` into a fresh temporary directory. */
export function writeConfigDir(name: string, workflowYaml: string): TempConfigDir {
  const dir = mkdtempSync(join(tmpdir(), `agent-engine-bench-${name}-`));
  writeFileSync(join(dir, "workflow.yaml"), workflowYaml);
  return { dir, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

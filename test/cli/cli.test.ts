/**
 * The CLI as a user runs it: a real child process of dist/src/cli/main.js.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { example, removeDir, repoRoot, writeConfigDir } from "../helpers.js";

const bin = join(repoRoot, "dist", "src", "cli", "main.js");

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[], cwd = repoRoot): Promise<Outcome> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd, env: { ...process.env, AGENT_ENGINE_LOG_LEVEL: "error" } }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map(removeDir));
});

async function configDir(files: Record<string, string>): Promise<string> {
  const d = await writeConfigDir(files);
  dirs.push(d);
  return d;
}

const linear = `
nodes:
  - { id: a, kind: deterministic, role: start, default: true }
  - { id: b, kind: deterministic, role: linear, handler: ./h.js#fail }
  - { id: z, kind: deterministic, role: exit }
edges:
  - { from: a, to: b }
  - { from: b, to: z }
`;

function assertNoStackTrace(text: string): void {
  assert.doesNotMatch(text, /^\s+at .+:\d+:\d+\)?$/m, `unexpected stack trace in:\n${text}`);
}

describe("agent-engine run", () => {
  test("runs the example offline and prints the result as JSON (exit 0)", async () => {
    const r = await cli(["run", "examples/support-triage", "--input-file", "examples/support-triage/input.json"]);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout) as { status: string; output: { priority: string; answered: number } };
    assert.equal(result.status, "success");
    assert.equal(result.output.priority, "urgent");
    assert.equal(result.output.answered, 2);
  });

  test("routine ticket takes the other decision edge", async () => {
    const r = await cli(["run", example("support-triage"), "--input", JSON.stringify({ text: "How do I change my email?" })]);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout) as { output: { priority: string; reply: string } };
    assert.equal(result.output.priority, "routine");
    assert.match(result.output.reply, /Settings > Account > Email/);
  });

  test("a failing task exits 1 and still prints the result", async () => {
    const dir = await configDir({ "workflow.yaml": linear, "h.js": "export function fail() { throw new Error('boom'); }\n" });
    const r = await cli(["run", dir]);
    assert.equal(r.code, 1);
    const result = JSON.parse(r.stdout) as { status: string; error: { code: string; message: string } };
    assert.equal(result.status, "failure");
    assert.equal(result.error.code, "HANDLER_FAILED");
    assert.match(result.error.message, /boom/);
  });

  test("--events writes the run's events as JSON lines in seq order", async () => {
    const out = join(await configDir({}), "events.jsonl");
    const r = await cli(["run", "examples/support-triage", "--input-file", "examples/support-triage/input.json", "--events", out]);
    assert.equal(r.code, 0, r.stderr);
    const lines = (await readFile(out, "utf8")).trim().split("\n").map((l) => JSON.parse(l) as { seq: number; type: string });
    assert.ok(lines.length > 20);
    assert.equal(lines[0]!.type, "task.started");
    assert.equal(lines.at(-1)!.type, "task.completed");
    for (let i = 1; i < lines.length; i++) assert.ok(lines[i]!.seq > lines[i - 1]!.seq);
  });

  test("an --events path that cannot be written fails fast with exit 2, before the task runs", async () => {
    const r = await cli(["run", "examples/support-triage", "--input", "{}", "--events", "/nonexistent-dir-agent-engine/events.jsonl"]);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /CLI_INPUT.*--events/);
    assertNoStackTrace(r.stderr);
  });

  test("invalid config exits 2 with every problem located, and no stack trace", async () => {
    const dir = await configDir({
      "workflow.yaml": `
nodes:
  - { id: a, kind: deterministic, role: start, default: true }
  - { id: a, kind: deterministic, role: exit }
  - { id: c, kind: determinstic, role: exit }
edges:
  - { from: a, to: nowhere }
`,
    });
    const r = await cli(["run", dir]);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /workflow\.yaml:\d+:\d+/);
    assert.match(r.stderr, /DAG_DUPLICATE_ID/);
    assert.match(r.stderr, /DAG_DANGLING_EDGE/);
    assert.match(r.stderr, /determinstic/);
    assertNoStackTrace(r.stderr);
  });

  test("usage errors exit 2: bad --input JSON, both inputs, missing dir, unknown command", async () => {
    const bad = await cli(["run", "examples/support-triage", "--input", "{nope"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /CLI_INPUT/);
    const both = await cli(["run", "examples/support-triage", "--input", "{}", "--input-file", "x.json"]);
    assert.equal(both.code, 2);
    const missing = await cli(["run", "/nonexistent/agent-engine-config"]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /CONFIG_DIR_NOT_FOUND/);
    assertNoStackTrace(missing.stderr);
    const unknown = await cli(["frobnicate"]);
    assert.equal(unknown.code, 2);
  });

  test("--start picks a start node; an unknown one is a usage error (exit 2)", async () => {
    const dir = await configDir({
      "workflow.yaml": `
nodes:
  - { id: s1, kind: deterministic, role: start, default: true }
  - { id: s2, kind: deterministic, role: start }
  - { id: m, kind: deterministic, role: linear, handler: ./h.js#tag }
  - { id: z, kind: deterministic, role: exit }
edges:
  - { from: s1, to: m }
  - { from: s2, to: z }
  - { from: m, to: z }
`,
      "h.js": "export const tag = (input) => ({ ...input, tagged: true });\n",
    });
    const viaS2 = await cli(["run", dir, "--start", "s2", "--input", '{"x":1}']);
    assert.equal(viaS2.code, 0, viaS2.stderr);
    assert.deepEqual((JSON.parse(viaS2.stdout) as { output: unknown }).output, { x: 1 });
    const viaDefault = await cli(["run", dir, "--input", '{"x":1}']);
    assert.deepEqual((JSON.parse(viaDefault.stdout) as { output: unknown }).output, { x: 1, tagged: true });
    const nope = await cli(["run", dir, "--start", "nope"]);
    assert.equal(nope.code, 2);
    assert.match(nope.stderr, /UNKNOWN_START_NODE/);
  });
});

describe("agent-engine validate", () => {
  test("a valid directory exits 0 with a summary", async () => {
    const r = await cli(["validate", "examples/support-triage"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /is valid/);
    assert.match(r.stdout, /12 nodes/);
  });

  test("an invalid directory exits 2 listing every problem", async () => {
    const dir = await configDir({
      "workflow.yaml": `
nodes:
  - { id: a, kind: deterministic, role: start }
  - { id: b, kind: deterministic, role: linear, colour: red }
  - { id: z, kind: agent, role: exit }
edges:
  - { from: a, to: b }
  - { from: b, to: z }
  - { from: b, to: a }
`,
    });
    const r = await cli(["validate", dir]);
    assert.equal(r.code, 2);
    const problems = r.stderr.split("\n").filter((l) => l.startsWith("  "));
    assert.ok(problems.length >= 3, r.stderr);
    assert.match(r.stderr, /CONFIG_UNKNOWN_KEY/);
    assertNoStackTrace(r.stderr);
  });
});

describe("agent-engine plugins", () => {
  test("without plugins.yaml says so", async () => {
    const r = await cli(["plugins", "examples/support-triage"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /no plugins|loaded/);
  });

  test("lists enabled, disabled and failed plugins", async () => {
    const dir = await configDir({
      "workflow.yaml": linear.replace(", handler: ./h.js#fail", ""),
      "plugins.yaml": `
plugins:
  - { id: good, module: ./p.js#Good }
  - { id: off, module: ./missing.js, enabled: false }
  - { id: broken, module: ./p.js#Nope }
`,
      "p.js": "export class Good { constructor(id) { this.pluginId = id; } onEvent() {} }\n",
    });
    const r = await cli(["plugins", dir, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const list = JSON.parse(r.stdout) as { id: string; status: string; enabled: boolean; error?: { code: string } }[];
    assert.deepEqual(
      list.map((p) => [p.id, p.status, p.enabled]),
      [
        ["good", "loaded", true],
        ["off", "disabled", false],
        ["broken", "failed", true],
      ],
    );
    assert.equal(list[2]!.error?.code, "PLUGIN_EXPORT_MISSING");
  });

  test("a required plugin that fails: plugins and run both exit 2 naming the plugin", async () => {
    const dir = await configDir({
      "workflow.yaml": linear.replace(", handler: ./h.js#fail", ""),
      "plugins.yaml": "plugins:\n  - { id: audit, module: ./gone.mjs, required: true }\n",
    });
    const list = await cli(["plugins", dir]);
    assert.equal(list.code, 2);
    assert.match(list.stdout, /audit .*failed, required/);
    const run = await cli(["run", dir]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /PLUGIN_MODULE_NOT_FOUND/);
    assert.match(run.stderr, /plugins\.yaml:2:\d+/);
    assertNoStackTrace(run.stderr);
  });
});

describe("--allow: the operator's opt-in (EngineOptions.allow)", () => {
  const plainWorkflow = `
nodes:
  - { id: a, kind: deterministic, role: start }
  - { id: z, kind: deterministic, role: exit }
edges:
  - { from: a, to: z }
`;
  async function sharedLayout(): Promise<string> {
    const root = await configDir({
      "shared/p.mjs": "export class P { constructor(id) { this.pluginId = id; } onEvent() {} }\n",
      "cfg/workflow.yaml": plainWorkflow,
      "cfg/plugins.yaml": "plugins:\n  - { id: shared, module: ../shared/p.mjs#P, required: true }\n",
    });
    return join(root, "cfg");
  }

  test("a plugin module outside the config dir is refused by run, validate and plugins; --allow outside-config-dir loads it", async () => {
    const cfg = await sharedLayout();
    for (const args of [["run", cfg, "--store", "memory"], ["validate", cfg], ["plugins", cfg]]) {
      const refused = await cli(args);
      assert.equal(refused.code, 2, `${args[0]}: ${refused.stderr}${refused.stdout}`);
      assert.match(refused.stderr + refused.stdout, /CONFIG_MODULE_NOT_ALLOWED.*outside the config directory/, args[0]);
      const allowed = await cli([...args, "--allow", "outside-config-dir"]);
      assert.equal(allowed.code, 0, `${args[0]} --allow: ${allowed.stderr}`);
    }
  });

  test("an unknown --allow value is a usage error naming the accepted ones", async () => {
    const cfg = await sharedLayout();
    const r = await cli(["run", cfg, "--store", "memory", "--allow", "outside-config-dir,everything"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /CLI_USAGE.*--allow: unknown value "everything"/);
    assert.match(r.stderr, /builtin-modules, url-modules, outside-config-dir/);
    assert.equal(r.stdout, "");
  });
});

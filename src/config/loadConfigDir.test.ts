import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv2020 } from "ajv/dist/2020.js";
import { ConfigError } from "../errors.js";
import type { ErrorDetail } from "../errors.js";
import { fixture, removeDir, repoRoot, writeConfigDir } from "../../test/helpers.js";
import { createProjectConfig, loadConfigDir } from "./loadConfigDir.js";
import { MANIFEST_NAMES } from "./manifestSchemas.js";
import { packageRoot } from "./packageRoot.js";

const MINIMAL = `nodes:
  - { id: a, kind: deterministic, role: start }
  - { id: z, kind: deterministic, role: exit }
edges:
  - { from: a, to: z }
`;

async function loadErrors(files: Record<string, string>): Promise<readonly ErrorDetail[]> {
  const dir = await writeConfigDir(files);
  try {
    await loadConfigDir(dir);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.details;
  } finally {
    await removeDir(dir);
  }
  assert.fail("expected loadConfigDir to throw");
}

function only(details: readonly ErrorDetail[], code: string): ErrorDetail {
  const found = details.filter((d) => d.code === code);
  assert.equal(found.length, 1, `expected one ${code}, got ${JSON.stringify(details, null, 2)}`);
  return found[0] as ErrorDetail;
}

test("loads a complete valid config dir (agents.yml accepted, schemas from .json and .yaml)", async () => {
  const config = await loadConfigDir(fixture("config", "valid-basic"));
  assert.equal(config.workflow.nodes.length, 9);
  assert.equal(config.agents?.agents[0]?.id, "triager");
  assert.equal(config.tools?.tools[0]?.id, "lookup");
  assert.equal(config.memory?.profiles?.[0]?.id, "recent");
  assert.equal(config.plugins?.plugins[0]?.id, "audit");
  assert.deepEqual([...config.schemas.keys()].sort(), ["lookup_args", "request"]);
  assert.ok(config.files.agents?.endsWith("agents.yml"));
  assert.ok(Object.isFrozen(config.workflow.nodes[0]));
});

test("locate maps pointers to lines, falling back to the nearest ancestor", async () => {
  const config = await loadConfigDir(fixture("config", "valid-basic"));
  const file = config.files.workflow ?? "";
  assert.deepEqual(config.locate("workflow", "/nodes/1/agent"), { file, line: 13, column: 12 });
  assert.deepEqual(config.locate("workflow", "/nodes/1/nope/deeper"), { file, line: 11, column: 5 });
  assert.deepEqual(config.locate("workflow", "/edges/1"), { file, line: 44, column: 5 });
  assert.equal(config.locate("workflow", "")?.line, 1);
  assert.equal(config.locate("agents", "/agents/0/model")?.line, 12);
  assert.equal(createProjectConfig({ workflow: { nodes: [], edges: [] } }).locate("workflow", "/nodes"), undefined);
});

test("missing directory: CONFIG_DIR_NOT_FOUND", async () => {
  await assert.rejects(loadConfigDir(join(repoRoot, "test", "fixtures", "config", "does-not-exist")), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.code, "CONFIG_DIR_NOT_FOUND");
    return true;
  });
});

test("missing workflow.yaml: CONFIG_FILE_MISSING", async () => {
  const d = only(await loadErrors({ "agents.yaml": "agents: []\n" }), "CONFIG_FILE_MISSING");
  assert.match(d.file ?? "", /workflow\.yaml$/);
  assert.match(d.message, /workflow\.yaml is missing/);
});

test("workflow.yml is accepted; workflow.yaml plus workflow.yml is ambiguous", async () => {
  const dir = await writeConfigDir({ "workflow.yml": MINIMAL });
  try {
    const config = await loadConfigDir(dir);
    assert.ok(config.files.workflow?.endsWith("workflow.yml"));
  } finally {
    await removeDir(dir);
  }
  only(await loadErrors({ "workflow.yaml": MINIMAL, "workflow.yml": MINIMAL }), "CONFIG_AMBIGUOUS_FILE");
});

test("malformed YAML: CONFIG_YAML_SYNTAX with line and column", async () => {
  await assert.rejects(loadConfigDir(fixture("config", "invalid-yaml-syntax")), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    const d = only(err.details, "CONFIG_YAML_SYNTAX");
    assert.match(d.file ?? "", /workflow\.yaml$/);
    assert.equal(typeof d.line, "number");
    assert.ok((d.line ?? 0) >= 5);
    assert.equal(typeof d.column, "number");
    return true;
  });
});

test("duplicate YAML keys are errors", async () => {
  const details = await loadErrors({ "workflow.yaml": MINIMAL.replace("nodes:", "name: x\nname: y\nnodes:") });
  const d = only(details, "CONFIG_YAML_SYNTAX");
  assert.match(d.message, /duplicate key/);
  assert.equal(d.line, 2);
});

test("wrong types: CONFIG_SCHEMA naming the path, line and expected type", async () => {
  const details = await loadErrors({ "workflow.yaml": MINIMAL.replace("role: exit }", "role: exit, continue_on_failure: maybe }") });
  const d = only(details, "CONFIG_SCHEMA");
  assert.equal(d.path, "/nodes/1/continue_on_failure");
  assert.equal(d.nodeId, "z");
  assert.equal(d.line, 3);
  assert.match(d.message, /must be true or false, found the string "maybe"/);
});

test("empty workflow.yaml says it must be a mapping", async () => {
  const d = only(await loadErrors({ "workflow.yaml": "" }), "CONFIG_SCHEMA");
  assert.match(d.message, /workflow\.yaml must be a mapping/);
});

test("unknown keys: CONFIG_UNKNOWN_KEY at the key itself, with did-you-mean", async () => {
  const details = await loadErrors({ "workflow.yaml": MINIMAL.replace("role: start }", "role: start, continue_on_failur: true }") });
  const d = only(details, "CONFIG_UNKNOWN_KEY");
  assert.equal(d.path, "/nodes/0/continue_on_failur");
  assert.equal(d.hint, "did you mean `continue_on_failure`?");
  assert.equal(d.line, 2);
  assert.equal(d.column, 48);
  assert.match(d.message, /remove it or use one of: .*`continue_on_failure`/);
});

test("enum errors list the allowed values and suggest the closest", async () => {
  const details = await loadErrors({ "workflow.yaml": MINIMAL.replace("role: start", "role: strat") });
  const d = only(details, "CONFIG_SCHEMA");
  assert.match(d.message, /use one of: `start`, `linear`, `decision`, `branch`, `split`, `merge`, `exit`/);
  assert.equal(d.hint, "did you mean `start`?");
});

test("errors under /plugins/N carry the plugin id", async () => {
  const details = await loadErrors({ "workflow.yaml": MINIMAL, "plugins.yaml": "plugins:\n  - id: audit\n    module: ./a.js\n    events: node.*\n" });
  const d = only(details, "CONFIG_SCHEMA");
  assert.equal(d.pluginId, "audit");
  assert.equal(d.path, "/plugins/0/events");
  assert.equal(d.line, 4);
});

test("invalid JSON Schema in schemas/: CONFIG_INVALID_JSON_SCHEMA located inside it", async () => {
  const details = await loadErrors({ "workflow.yaml": MINIMAL, "schemas/bad.json": '{\n  "type": "strng"\n}\n', "schemas/good.yaml": "type: object\n" });
  const d = only(details, "CONFIG_INVALID_JSON_SCHEMA");
  assert.match(d.file ?? "", /bad\.json$/);
  assert.equal(d.path, "/type");
  assert.equal(d.line, 2);
  assert.match(d.message, /allowed values: array, boolean/);
});

test("schema files with syntax errors and duplicate stems are reported", async () => {
  const details = await loadErrors({ "workflow.yaml": MINIMAL, "schemas/a.json": "{ nope", "schemas/b.json": "{}", "schemas/b.yaml": "type: object\n" });
  assert.ok(details.some((d) => d.code === "CONFIG_YAML_SYNTAX" && d.file?.endsWith("a.json")));
  assert.ok(details.some((d) => d.code === "CONFIG_INVALID_JSON_SCHEMA" && /also defined/.test(d.message)));
});

test("all problems across all files at once, with correct lines (invalid-multiple-errors fixture)", async () => {
  await assert.rejects(loadConfigDir(fixture("config", "invalid-multiple-errors")), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    const got = err.details.map((d) => [d.file?.split(/[\\/]/).pop(), d.code, d.path, d.line]);
    assert.deepEqual(got, [
      ["workflow.yaml", "CONFIG_UNKNOWN_KEY", "/nodes/0/rol", 5],
      ["workflow.yaml", "CONFIG_SCHEMA", "/nodes/1/kind", 7],
      ["workflow.yaml", "CONFIG_SCHEMA", "/nodes/2/timeout_ms", 12],
      ["workflow.yaml", "CONFIG_UNKNOWN_KEY", "/edges/1/colour", 15],
      ["agents.yaml", "CONFIG_SCHEMA", "/agents/0/model", 2],
      ["agents.yaml", "CONFIG_UNKNOWN_KEY", "/agents/0/modle", 3],
      ["plugins.yaml", "CONFIG_SCHEMA", "/plugins/0/enabled", 4],
    ]);
    for (const d of err.details) {
      assert.ok(d.message.length > 0);
      assert.ok(d.column !== undefined);
    }
    assert.equal(err.details[1]?.hint, "did you mean `agent`?");
    assert.equal(err.details[5]?.hint, "did you mean `model`?");
    return true;
  });
});

test("shipped schemas: valid 2020-12, $id, descriptions, additionalProperties false on every object", () => {
  const ajv = new Ajv2020({ strict: true, allowUnionTypes: true });
  for (const name of MANIFEST_NAMES) {
    const schema = JSON.parse(readFileSync(join(packageRoot(), "schemas", `${name}.schema.json`), "utf8")) as Record<string, unknown>;
    assert.equal(schema.$id, `https://agent-engine.dev/schemas/${name}.schema.json`);
    assert.ok(ajv.validateSchema(schema), `${name}: ${JSON.stringify(ajv.errors)}`);
    const walk = (s: unknown, path: string): void => {
      if (s === null || typeof s !== "object") return;
      const o = s as Record<string, unknown>;
      if (o.properties !== undefined) {
        assert.equal(o.additionalProperties, false, `${name}${path} must set additionalProperties: false`);
        for (const [k, v] of Object.entries(o.properties as Record<string, unknown>)) {
          assert.equal(typeof (v as { description?: unknown }).description, "string", `${name}${path}/properties/${k} needs a description`);
        }
      }
      for (const [k, v] of Object.entries(o)) if (typeof v === "object") walk(v, `${path}/${k}`);
    };
    walk(schema, "");
  }
});

/**
 * Loading user modules (handlers, tools, plugins): the usual mistakes get actionable errors.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EngineError } from "../../src/errors.js";
import { Engine } from "../../src/runtime/Engine.js";
import { MemoryLogger } from "../../src/telemetry/logger.js";
import { removeDir, writeConfigDir } from "../helpers.js";

const WF = `
nodes:
  - { id: a, kind: deterministic, role: start, handler: ./h.js#f }
  - { id: z, kind: deterministic, role: exit }
edges:
  - { from: a, to: z }
`;

describe("user modules", () => {
  it("ESM syntax in a file Node treats as CommonJS: the error says to use .mjs or type: module", async () => {
    const dir = await writeConfigDir({ "package.json": '{ "type": "commonjs" }', "workflow.yaml": WF, "h.js": "export const f = (x) => x;\n" });
    try {
      await assert.rejects(Engine.fromConfigDir(dir, { logger: new MemoryLogger() }), (e: unknown) => {
        assert.ok(e instanceof EngineError);
        const d = e.details[0]!;
        assert.equal(d.code, "HANDLER_LOAD_FAILED");
        assert.equal(d.nodeId, "a");
        assert.equal(d.path, "/nodes/0/handler");
        assert.match(d.hint ?? "", /\.mjs/);
        return true;
      });
    } finally {
      await removeDir(dir);
    }
  });

  it("a handler module importing a package that is not installed: the error names the package", async () => {
    const dir = await writeConfigDir({ "workflow.yaml": WF, "h.js": 'import "no-such-package-agent-engine-test";\nexport const f = (x) => x;\n' });
    try {
      await assert.rejects(Engine.fromConfigDir(dir, { logger: new MemoryLogger() }), (e: unknown) => {
        assert.ok(e instanceof EngineError);
        assert.match(e.details[0]!.hint ?? "", /npm install no-such-package-agent-engine-test/);
        return true;
      });
    } finally {
      await removeDir(dir);
    }
  });

  it("a missing export lists the module's exports", async () => {
    const dir = await writeConfigDir({ "workflow.yaml": WF, "h.js": "export const g = (x) => x;\n" });
    try {
      await assert.rejects(Engine.fromConfigDir(dir, { logger: new MemoryLogger() }), (e: unknown) => {
        assert.ok(e instanceof EngineError);
        assert.match(e.details[0]!.message, /no export "f".*exports: g/);
        return true;
      });
    } finally {
      await removeDir(dir);
    }
  });
});

/**
 * What a resume must get right beyond replaying stages, through the API on a real SQLite file:
 * a run continues only on the configuration it started with (`RESUME_CONFIG_CHANGED`, naming the
 * files), `allowConfigChange` lets a compatible change through and turns an incompatible one
 * into `RESUME_DIVERGED` with the run left as it was; token totals count the stages committed
 * before the resume.
 */
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { EngineError } from "../../src/errors.js";
import type { JsonValue } from "../../src/json.js";
import { Engine, type EngineOptions } from "../../src/runtime/Engine.js";
import type { HandlerContext } from "../../src/runtime/types.js";
import { silentLogger } from "../../src/telemetry/logger.js";
import { removeDir, writeConfigDir } from "../helpers.js";

const WORKFLOW = `# review before publishing
nodes:
  - { id: begin, kind: deterministic, role: start }
  - { id: fan, kind: deterministic, role: branch }
  - { id: review, kind: deterministic, role: linear, interrupt: before }
  - { id: publish, kind: deterministic, role: linear }
  - { id: other, kind: deterministic, role: linear }
  - { id: join, kind: deterministic, role: merge }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: begin, to: fan }
  - { from: fan, to: review }
  - { from: review, to: publish }
  - { from: publish, to: join }
  - { from: fan, to: other }
  - { from: other, to: join }
  - { from: join, to: done }
`;

const SCHEMA = JSON.stringify({ type: "object" });

function handlers(calls: Record<string, number>, otherName = "other"): EngineOptions["handlers"] {
  const h = (id: string) => (input: JsonValue, ctx: HandlerContext) => {
    const counted = id === "other" ? otherName : id;
    calls[counted] = (calls[counted] ?? 0) + 1;
    return { from: id, input, ...(ctx.resumeValue !== undefined ? { answer: ctx.resumeValue } : {}) };
  };
  return { review: h("review"), publish: h("publish"), other: h("other") };
}

async function code(p: Promise<unknown>): Promise<{ code: string; message: string; hint: string }> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof EngineError, String(err));
    return { code: err.code, message: err.message, hint: err.details[0]?.hint ?? "" };
  }
  assert.fail("expected an EngineError");
}

/** A config dir with an interrupted run in its SQLite store; `engine()` opens a new engine (a new process, as far as the store is concerned). */
async function interruptedRun(calls: Record<string, number>): Promise<{ dir: string; runId: string; engine: () => Promise<Engine> }> {
  const dir = await writeConfigDir({ "workflow.yaml": WORKFLOW, "schemas/doc.json": SCHEMA });
  const engine = async (): Promise<Engine> => {
    const h = handlers(calls)!;
    // The divergence test renames `other` to `other2`.
    const renamed = (await readFile(join(dir, "workflow.yaml"), "utf8")).includes("other2");
    return Engine.fromConfigDir(dir, { logger: silentLogger, handlers: renamed ? { review: h["review"]!, publish: h["publish"]!, other2: handlers(calls, "other2")!["other"]! } : h, store: `sqlite:${join(dir, "runs.db")}` });
  };
  const a = await engine();
  try {
    const r = await a.run({ doc: 1 });
    assert.equal(r.status, "interrupted");
    return { dir, runId: r.runId, engine };
  } finally {
    await a.shutdown();
  }
}

async function withEngine<T>(make: () => Promise<Engine>, fn: (e: Engine) => Promise<T>): Promise<T> {
  const e = await make();
  try {
    return await fn(e);
  } finally {
    await e.shutdown();
  }
}

describe("resume checks the configuration the run started with", () => {
  test("a changed workflow or schema is RESUME_CONFIG_CHANGED naming the files; the run is left waiting; comments, formatting and plugins.yaml do not count", async () => {
    const calls: Record<string, number> = {};
    const { dir, runId, engine } = await interruptedRun(calls);
    try {
      const original = await readFile(join(dir, "workflow.yaml"), "utf8");
      // Comments, key order and flow style are not the configuration.
      await writeFile(join(dir, "workflow.yaml"), original.replace("# review before publishing", "# reviewed by a person").replace("{ id: other, kind: deterministic, role: linear }", "{ role: linear, id: other, kind: deterministic }"));
      await writeFile(join(dir, "plugins.yaml"), "plugins: []\n");
      await withEngine(engine, async (e) => assert.equal((await e.listRuns({ status: "interrupted" })).length, 1));

      await writeFile(join(dir, "workflow.yaml"), original.replace("{ id: publish, kind: deterministic, role: linear }", "{ id: publish, kind: deterministic, role: linear, timeout_ms: 5000 }"));
      await writeFile(join(dir, "schemas/extra.json"), SCHEMA);
      await withEngine(engine, async (e) => {
        const err = await code(e.resume(runId, { answer: "ok" }));
        assert.equal(err.code, "RESUME_CONFIG_CHANGED");
        assert.match(err.message, new RegExp(`run "${runId}" started on another configuration`));
        assert.match(err.message, /schemas\/extra added, workflow\.yaml changed/);
        assert.match(err.hint, /allowConfigChange: true \(CLI: --allow-config-change\)/);
        const [row] = await e.listRuns();
        assert.deepEqual([row!.status, row!.currentNodes], ["interrupted", ["review"]], "the run still waits");
      });
      assert.equal(calls["review"], undefined);

      // Put the files back: the run resumes as if nothing happened.
      await writeFile(join(dir, "workflow.yaml"), original);
      await removeDir(join(dir, "schemas/extra.json"));
      await withEngine(engine, async (e) => {
        const r = await e.resume(runId, { answer: "ok" });
        assert.equal(r.status, "success", JSON.stringify(r.error));
      });
      assert.deepEqual(calls, { other: 1, review: 1, publish: 1 });
    } finally {
      await removeDir(dir);
    }
  });

  test("allowConfigChange: a change that reproduces what ran continues on the new configuration", async () => {
    const calls: Record<string, number> = {};
    const { dir, runId, engine } = await interruptedRun(calls);
    try {
      const original = await readFile(join(dir, "workflow.yaml"), "utf8");
      await writeFile(join(dir, "workflow.yaml"), original.replace("{ id: publish, kind: deterministic, role: linear }", "{ id: publish, kind: deterministic, role: linear, timeout_ms: 5000 }"));
      await withEngine(engine, async (e) => {
        const r = await e.resume(runId, { answer: "ok", allowConfigChange: true });
        assert.equal(r.status, "success", JSON.stringify(r.error));
      });
      assert.deepEqual(calls, { other: 1, review: 1, publish: 1 }, "nothing committed ran again");
    } finally {
      await removeDir(dir);
    }
  });

  test("allowConfigChange: a change that does not reproduce what ran is RESUME_DIVERGED, and the run is left as it was", async () => {
    const calls: Record<string, number> = {};
    const { dir, runId, engine } = await interruptedRun(calls);
    try {
      const original = await readFile(join(dir, "workflow.yaml"), "utf8");
      // `other` completed before the interrupt; renamed, the replay no longer matches the journal.
      await writeFile(join(dir, "workflow.yaml"), original.replaceAll("other", "other2"));
      await withEngine(engine, async (e) => {
        const err = await code(e.resume(runId, { answer: "ok", allowConfigChange: true }));
        assert.equal(err.code, "RESUME_DIVERGED");
        assert.match(err.message, /expected node\.started at other, got node\.started at other2/);
        assert.match(err.message, /is left as it was/);
        const [row] = await e.listRuns();
        assert.deepEqual([row!.status, row!.currentNodes], ["interrupted", ["review"]]);
      });
      await writeFile(join(dir, "workflow.yaml"), original);
      await withEngine(engine, async (e) => {
        const r = await e.resume(runId, { answer: "ok" });
        assert.equal(r.status, "success", JSON.stringify(r.error));
        assert.deepEqual((r.output as { output: { answer: unknown } }[])[0]!.output, { from: "publish", input: { from: "review", input: { doc: 1 }, answer: "ok" } });
      });
      assert.equal(calls["other"], 1, "the committed stage did not run again");
      assert.equal(calls["review"], 1);
    } finally {
      await removeDir(dir);
    }
  });
});

describe("usage after a resume", () => {
  const AGENT_WORKFLOW = `
nodes:
  - { id: begin, kind: deterministic, role: start }
  - { id: draft, kind: agent, agent: writer, role: linear }
  - { id: approve, kind: deterministic, role: linear, interrupt: before }
  - { id: polish, kind: agent, agent: writer, role: linear }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: begin, to: draft }
  - { from: draft, to: approve }
  - { from: approve, to: polish }
  - { from: polish, to: done }
`;
  const AGENTS = `
default_provider: offline
providers:
  - id: offline
    type: scripted
    rules:
      - { agent: writer, match: "please", response: "a draft", usage: { input_tokens: 100, output_tokens: 20 } }
      - { agent: writer, response: "polished", usage: { input_tokens: 40, output_tokens: 8 } }
pricing:
  m: { input: 1.0, output: 2.0 }
agents:
  - { id: writer, model: m, prompt: "{{input}}" }
`;
  const expected = { llmCalls: 2, inputTokens: 140, outputTokens: 28, cachedInputTokens: 0, reasoningTokens: 0, costUsd: (140 * 1 + 28 * 2) / 1e6 };

  for (const store of ["memory", "sqlite"] as const) {
    test(`${store} store: the result's usage counts the calls made before the interrupt`, async () => {
      const dir = await writeConfigDir({ "workflow.yaml": AGENT_WORKFLOW, "agents.yaml": AGENTS });
      try {
        const opts: EngineOptions = { logger: silentLogger, handlers: { begin: () => "draft please" }, store: store === "memory" ? "memory" : `sqlite:${join(dir, "runs.db")}` };
        const a = await Engine.fromConfigDir(dir, opts);
        let runId: string;
        try {
          const first = await a.run(null);
          assert.equal(first.status, "interrupted");
          assert.deepEqual(first.usage, { ...expected, llmCalls: 1, inputTokens: 100, outputTokens: 20, costUsd: 140 / 1e6 });
          runId = first.runId;
          if (store === "memory") {
            const second = await a.resume(runId, { answer: true });
            assert.equal(second.status, "success");
            assert.deepEqual(second.usage, expected);
            return;
          }
        } finally {
          await a.shutdown();
        }
        const b = await Engine.fromConfigDir(dir, opts);
        try {
          const second = await b.resume(runId, { answer: true });
          assert.equal(second.status, "success");
          assert.deepEqual(second.usage, expected);
          assert.equal(b.getEvents({ type: "agent.request" }).length, 1, "only the polish call was made again");
        } finally {
          await b.shutdown();
        }
      } finally {
        await removeDir(dir);
      }
    });
  }
});

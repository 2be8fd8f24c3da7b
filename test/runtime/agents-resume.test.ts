/**
 * `{{resume}}` in agent templates (CONTRACT §11): an agent node with `interrupt: before` is
 * resumed with an answer, and the model's request carries the answer rendered into the prompt:
 * in process, across engines on a durable store, and from the CLI (`resume --answer`).
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { LlmRequest } from "../../src/agents/types.js";
import { Engine } from "../../src/runtime/Engine.js";
import { silentLogger } from "../../src/telemetry/logger.js";
import { cli } from "../cli/harness.js";
import { removeDir, writeConfigDir } from "../helpers.js";
import { withEngine } from "./harness.js";

const WORKFLOW = `
nodes:
  - { id: begin, kind: deterministic, role: start }
  - { id: draft, kind: agent, agent: writer, role: linear, interrupt: before }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: begin, to: draft }
  - { from: draft, to: done }
`;

// The scripted provider answers only when the rendered answer reached it (the `match` rule), so
// a prompt without the answer fails LLM_SCRIPT_EXHAUSTED.
const AGENTS = (prompt: string, system = "You write release notes."): string => `
providers:
  - id: offline
    type: scripted
    rules:
      - { agent: writer, match: "Reviewer: keep it under 50 words \\\\(ana\\\\)$", response: "Short notes, as asked." }
      - { agent: writer, match: "Reviewer: ship it$", response: "Shipped notes." }
agents:
  - id: writer
    model: m1
    system: "${system}"
    prompt: "${prompt}"
`;

const FILES = (prompt = "Notes for {{input.version}}. Reviewer: {{resume.note}} ({{resume.by}})", system?: string): Record<string, string> => ({
  "workflow.yaml": WORKFLOW,
  "agents.yaml": AGENTS(prompt, system),
});

type Msg = { role: string; content: string };
const requests = (events: readonly { type: string; payload: unknown }[]): Msg[][] =>
  events.filter((e) => e.type === "agent.request").map((e) => (e.payload as { messages: Msg[] }).messages);

describe("{{resume}} in agent templates", () => {
  it("interrupt: before on an agent node; the answer is rendered into the prompt the provider receives", async () => {
    await withEngine(FILES(), {}, async (engine) => {
      const first = await engine.run({ version: "2.1" });
      assert.equal(first.status, "interrupted");
      assert.equal(first.interrupt?.nodeId, "draft");
      assert.deepEqual(first.interrupt?.payload, { version: "2.1" });
      assert.equal(requests(engine.getEvents()).length, 0, "no model call before the answer");

      const second = await engine.resume(first.runId, { answer: { note: "keep it under 50 words", by: "ana" } });
      assert.equal(second.status, "success", JSON.stringify(second.error));
      assert.equal(second.output, "Short notes, as asked.");
      const sent = requests(engine.getEvents());
      assert.equal(sent.length, 1);
      assert.deepEqual(sent[0], [
        { role: "system", content: "You write release notes." },
        { role: "user", content: "Notes for 2.1. Reviewer: keep it under 50 words (ana)" },
      ]);
    });
  });

  it("the request object a provider gets carries the rendered answer (system template too); a string answer renders as is", async () => {
    const seen: LlmRequest[] = [];
    const spy = { name: "spy", complete: async (r: LlmRequest) => (seen.push(r), { content: "ok" }) };
    await withEngine(FILES("Notes for {{input.version}}. Reviewer: {{resume}}", "Approved by a human: {{resume}}"), { llm: spy }, async (engine) => {
      const first = await engine.run({ version: "3.0" });
      assert.equal(first.status, "interrupted");
      assert.equal(seen.length, 0);
      const second = await engine.resume(first.runId, { answer: "ship it" });
      assert.equal(second.status, "success", JSON.stringify(second.error));
      assert.equal(seen.length, 1);
      assert.deepEqual(
        seen[0]!.messages.map((m) => ({ role: m.role, content: m.content })),
        [
          { role: "system", content: "Approved by a human: ship it" },
          { role: "user", content: "Notes for 3.0. Reviewer: ship it" },
        ],
      );
    });
  });

  it("a durable run is resumed by another engine (as another process would) with the answer rendered", async () => {
    const dir = await writeConfigDir(FILES());
    const store = `sqlite:${join(dir, "runs.db")}`;
    try {
      const a = await Engine.fromConfigDir(dir, { logger: silentLogger, store });
      const first = await a.run({ version: "4.2" });
      await a.shutdown();
      assert.equal(first.status, "interrupted");
      const b = await Engine.fromConfigDir(dir, { logger: silentLogger, store });
      try {
        const second = await b.resume(first.runId, { answer: { note: "keep it under 50 words", by: "ana" } });
        assert.equal(second.status, "success", JSON.stringify(second.error));
        assert.equal(second.output, "Short notes, as asked.");
        assert.equal(requests(b.getEvents()).at(-1)!.at(-1)!.content, "Notes for 4.2. Reviewer: keep it under 50 words (ana)");
      } finally {
        await b.shutdown();
      }
    } finally {
      await removeDir(dir);
    }
  });

  it("from the CLI: run exits 3, resume --answer renders the answer into the prompt", async () => {
    const dir = await writeConfigDir(FILES());
    const store = `sqlite:${join(dir, "runs.db")}`;
    try {
      const first = await cli(["run", dir, "--store", store, "--quiet", "--input", '{"version":"5.0"}']);
      assert.equal(first.code, 3, first.stderr);
      const { runId } = JSON.parse(first.stdout) as { runId: string };
      const events = join(dir, "events.jsonl");
      const done = await cli(["resume", dir, runId, "--store", store, "--quiet", "--events", events, "--answer", '{"note":"keep it under 50 words","by":"ana"}']);
      assert.equal(done.code, 0, done.stderr);
      assert.equal((JSON.parse(done.stdout) as { output: unknown }).output, "Short notes, as asked.");
      const written = (await readFile(events, "utf8")).trim().split("\n").map((l) => JSON.parse(l) as { type: string; payload: unknown });
      assert.equal(requests(written).at(-1)!.at(-1)!.content, "Notes for 5.0. Reviewer: keep it under 50 words (ana)");
    } finally {
      await removeDir(dir);
    }
  });

  it("{{resume}} on a node that was never interrupted fails TEMPLATE_MISSING_VALUE saying when it has a value", async () => {
    await withEngine({ "workflow.yaml": WORKFLOW.replace(", interrupt: before", ""), "agents.yaml": AGENTS("Reviewer: {{resume}}") }, {}, async (engine) => {
      const r = await engine.run({ version: "1" });
      assert.equal(r.status, "failure");
      assert.equal(r.error?.code, "TEMPLATE_MISSING_VALUE");
      assert.match(r.error!.message, /\{\{resume\}\} has a value only when the node runs after an interrupt was answered/);
    });
  });
});

/**
 * Decisions chosen by agents (CONTRACT §14): the outbound labels are offered as the allowed
 * answers, as an enum in the structured-output schema (`response_format` on the OpenAI wire
 * protocol, the schema in the instructions on Anthropic) and listed in the prompt; replies are
 * matched leniently. Real HTTP servers on 127.0.0.1 speaking each protocol, the real clients.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { decisionSchema } from "../../src/agents/AgentRunner.js";
import { startFakeAnthropic, startFakeOpenAi, type FakeLlmServer, type FakeReply } from "../llm-servers/fakeLlmServer.js";
import { runWorkflow } from "./harness.js";

const WORKFLOW = `
nodes:
  - { id: begin, kind: deterministic, role: start }
  - { id: triage, kind: agent, agent: triager, role: decision }
  - { id: human, kind: deterministic, role: exit }
  - { id: bot, kind: deterministic, role: exit }
  - { id: drop, kind: deterministic, role: exit }
edges:
  - { from: begin, to: triage }
  - { from: triage, to: human, label: review }
  - { from: triage, to: bot, label: auto_reply }
  - { from: triage, to: drop }
`;
const LABELS = ["review", "auto_reply", "drop"];
const TICKET_SCHEMA = {
  type: "object",
  required: ["reason"],
  additionalProperties: false,
  properties: { reason: { type: "string" }, selected_edge: { type: "string", description: "where the ticket goes" } },
};

const servers: FakeLlmServer[] = [];
after(() => Promise.all(servers.map((s) => s.close())));

async function openAi(reply: FakeReply): Promise<FakeLlmServer> {
  const s = await startFakeOpenAi({ replies: () => reply });
  servers.push(s);
  return s;
}

function agentsYaml(provider: string, agent: string): string {
  return `
providers:
  - ${provider}
agents:
  - id: triager
    model: m1
    prompt: "Ticket: {{input.text}}"
${agent}
`;
}

const files = (provider: string, agent: string): Record<string, string> => ({
  "workflow.yaml": WORKFLOW,
  "agents.yaml": agentsYaml(provider, agent),
  "schemas/ticket_route.json": JSON.stringify(TICKET_SCHEMA),
});

type WireBody = {
  messages: { role: string; content: string }[];
  response_format?: { type: string; json_schema: { name: string; schema: { properties: Record<string, unknown>; required: string[] } } };
};

describe("decisions by agents on the OpenAI wire protocol", () => {
  it("output: json with schema_out: response_format carries the schema with selected_edge as an enum of the labels; the prompt lists them", async () => {
    const srv = await openAi({ type: "text", text: JSON.stringify({ reason: "angry customer", selected_edge: "Review." }) });
    const { result, events } = await runWorkflow(files(`{ id: oa, type: openai, base_url: "${srv.url}", retries: 0 }`, "    output: json\n    schema_out: ticket_route"), { text: "refund now" });
    assert.equal(result.status, "success", JSON.stringify(result.error));
    assert.deepEqual(result.history.map((h) => h.nodeId), ["begin", "triage", "human"], "a lenient match of Review.");
    const body = srv.requests[0]!.body as WireBody;
    assert.equal(body.response_format?.type, "json_schema");
    assert.equal(body.response_format?.json_schema.name, "ticket_route");
    const schema = body.response_format!.json_schema.schema;
    assert.deepEqual(schema.properties["selected_edge"], { type: "string", enum: LABELS, description: "where the ticket goes" });
    assert.deepEqual(schema.properties["reason"], { type: "string" }, "the rest of schema_out is kept");
    assert.deepEqual(schema.required, ["reason", "selected_edge"]);
    const system = body.messages.filter((m) => m.role === "system").map((m) => m.content);
    assert.ok(system.some((c) => c.includes('"selected_edge" is exactly one of: "review", "auto_reply", "drop"')), JSON.stringify(system));
    assert.equal((events.find((e) => e.type === "routing.decision")?.payload as { selected?: string } | undefined)?.selected, "review");
  });

  it("output: json without schema_out: a schema of just selected_edge (enum of the labels) is requested", async () => {
    const srv = await openAi({ type: "text", text: '{"selected_edge": "auto_reply"}' });
    const { result } = await runWorkflow(files(`{ id: oa, type: openai, base_url: "${srv.url}", retries: 0 }`, "    output: json"), { text: "how do I reset my password" });
    assert.equal(result.status, "success", JSON.stringify(result.error));
    assert.deepEqual(result.history.map((h) => h.nodeId), ["begin", "triage", "bot"]);
    const body = srv.requests[0]!.body as WireBody;
    assert.deepEqual(body.response_format, {
      type: "json_schema",
      json_schema: { name: "decision", schema: { type: "object", required: ["selected_edge"], additionalProperties: false, properties: { selected_edge: { type: "string", enum: LABELS } } } },
    });
  });

  it("output: text: no response_format (the reply is the label itself); the labels are the allowed answers in the prompt", async () => {
    const srv = await openAi({ type: "text", text: "`DROP`" });
    const { result } = await runWorkflow(files(`{ id: oa, type: openai, base_url: "${srv.url}", retries: 0 }`, ""), { text: "spam" });
    assert.equal(result.status, "success", JSON.stringify(result.error));
    assert.deepEqual(result.history.map((h) => h.nodeId), ["begin", "triage", "drop"]);
    const body = srv.requests[0]!.body as WireBody;
    assert.equal(body.response_format, undefined);
    assert.ok(body.messages.some((m) => m.role === "system" && m.content === 'Choose the next step: reply with exactly one of: "review", "auto_reply", "drop", and nothing else.'));
  });

  it("a reply outside the labels still fails ROUTING_NO_MATCH listing them (the enum is an offer, not a silent fallback)", async () => {
    const srv = await openAi({ type: "text", text: '{"reason": "?", "selected_edge": "escalate"}' });
    const { result } = await runWorkflow(files(`{ id: oa, type: openai, base_url: "${srv.url}", retries: 0 }`, "    output: json\n    schema_out: ticket_route"), { text: "?" });
    assert.equal(result.error?.code, "ROUTING_NO_MATCH");
    assert.match(result.error!.message, /review \(-> human\), auto_reply \(-> bot\)/);
    assert.equal(srv.requests.length, 1, "no repair round: the reply matched schema_out");
  });
});

describe("decisions by agents on the Anthropic wire protocol", () => {
  it("the schema with the labels as an enum goes into the instructions (no response_format on this protocol)", async () => {
    const srv = await startFakeAnthropic({ replies: () => ({ type: "text", text: '{"reason": "r", "selected_edge": "review"}' }) });
    servers.push(srv);
    process.env["DECISIONS_TEST_KEY"] = "sk-ant-test";
    try {
      const { result } = await runWorkflow(files(`{ id: an, type: anthropic, base_url: "${srv.url}", api_key_env: DECISIONS_TEST_KEY, retries: 0 }`, "    output: json\n    schema_out: ticket_route\n    max_tokens: 256"), { text: "t" });
      assert.equal(result.status, "success", JSON.stringify(result.error));
      assert.deepEqual(result.history.map((h) => h.nodeId), ["begin", "triage", "human"]);
      const body = srv.requests[0]!.body as { system: string };
      const at = body.system.indexOf("matching this JSON Schema:\n");
      assert.ok(at >= 0, body.system);
      const schema = JSON.parse(body.system.slice(at + "matching this JSON Schema:\n".length).split("\n\n")[0]!) as { properties: { selected_edge: { enum: string[] } } };
      assert.deepEqual(schema.properties.selected_edge.enum, LABELS);
      assert.match(body.system, /"selected_edge" is exactly one of: "review", "auto_reply", "drop"/);
    } finally {
      delete process.env["DECISIONS_TEST_KEY"];
    }
  });
});

describe("decisionSchema", () => {
  it("adds the labels to an object schema without touching the caller's schema; strings get a root enum; other roots are kept", () => {
    const own = { type: "object", properties: { a: { type: "number" } }, required: ["a"] };
    const copy = structuredClone(own);
    assert.deepEqual(decisionSchema(["x", "y"], own), { type: "object", properties: { a: { type: "number" }, selected_edge: { type: "string", enum: ["x", "y"] } }, required: ["a", "selected_edge"] });
    assert.deepEqual(own, copy);
    assert.deepEqual(decisionSchema(["x"], { properties: {} }), { properties: { selected_edge: { type: "string", enum: ["x"] } }, required: ["selected_edge"] });
    assert.deepEqual(decisionSchema(["x"], { type: "string" }), { type: "string", enum: ["x"] });
    const anyOf = { anyOf: [{ type: "string" }, { type: "object" }] };
    assert.equal(decisionSchema(["x"], anyOf), anyOf);
  });
});

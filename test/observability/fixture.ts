/**
 * A config dir exercising what the observability plugins report: an agent decision, a branch
 * with an agent and a tool-using node, a merge with `on_failure: partial`, a split into
 * subtasks, and (when the input asks) a failing node whose error carries hostile markup.
 */
import { writeConfigDir } from "../helpers.js";

/** Markup that must show as text in the HTML report, never run. */
export const HOSTILE = `<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>&amp;"'`;

const workflow = `
name: observed
nodes:
  - { id: intake, kind: deterministic, role: start, default: true, handler: ./h.mjs#intake }
  - { id: triage, kind: agent, role: decision, agent: triager }
  - { id: fan, kind: deterministic, role: branch }
  - { id: lookup, kind: deterministic, role: linear, handler: ./h.mjs#lookup, tools: [kb] }
  - { id: draft, kind: agent, role: linear, agent: writer }
  - { id: join, kind: deterministic, role: merge, merge: { on_failure: partial } }
  - { id: items, kind: deterministic, role: split, handler: ./h.mjs#items }
  - { id: worker_a, kind: deterministic, role: linear, handler: ./h.mjs#worker }
  - { id: worker_b, kind: deterministic, role: linear, handler: ./h.mjs#worker }
  - { id: gather, kind: deterministic, role: merge }
  - { id: quick, kind: deterministic, role: linear, handler: ./h.mjs#quick }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: intake, to: triage }
  - { from: triage, to: fan, label: urgent }
  - { from: triage, to: quick, label: routine }
  - { from: fan, to: lookup }
  - { from: fan, to: draft }
  - { from: lookup, to: join }
  - { from: draft, to: join }
  - { from: join, to: items }
  - { from: items, to: worker_a }
  - { from: items, to: worker_b }
  - { from: worker_a, to: gather }
  - { from: worker_b, to: gather }
  - { from: gather, to: done }
  - { from: quick, to: done }
`;

const agents = `
default_provider: offline
providers:
  - id: offline
    type: scripted
    rules:
      - { agent: triager, match: "urgent", response: urgent, usage: { input_tokens: 20, output_tokens: 1 } }
      - { agent: triager, response: routine, usage: { input_tokens: 18, output_tokens: 1 } }
      - { agent: writer, response: "We are sorry.", usage: { input_tokens: 30, output_tokens: 5 } }
agents:
  - { id: triager, model: scripted-small, prompt: "Ticket: {{input.text}}" }
  - { id: writer, model: scripted-large, prompt: "Apologise for: {{input.text}}" }
`;

const tools = `
tools:
  - { id: kb, handler: ./h.mjs#kb }
`;

const handlers = `
export const intake = (input) => ({ text: String(input.text), fail: input.fail === true });
export async function lookup(input, ctx) {
  const found = await ctx.callTool("kb", { q: input.text });
  if (input.fail) throw new Error("knowledge base down for " + input.text);
  return found;
}
export const kb = (args) => ({ hits: [String(args.q).length] });
export const items = (arrivals) => [{ n: 1 }, { n: 2 }, { n: arrivals.length }];
export const worker = (input) => ({ doubled: input.n * 2 });
export const quick = (input) => ({ reply: "ok: " + input.text });
`;

/** Writes the fixture config dir (plus `extra` files, e.g. a plugins.yaml) and returns its path. */
export async function writeObservedConfig(extra: Record<string, string> = {}): Promise<string> {
  return writeConfigDir({ "workflow.yaml": workflow, "agents.yaml": agents, "tools.yaml": tools, "h.mjs": handlers, ...extra });
}

/** Input that takes the urgent path and fails `lookup` with {@link HOSTILE} in the message and input. */
export const FAILING_INPUT = { text: `urgent ${HOSTILE}`, fail: true };

/** Input that takes the urgent path and fails `lookup` with a plain message (for screenshots). */
export const PLAIN_FAILING_INPUT = { text: "urgent: checkout is down", fail: true };

/** Input that takes the urgent path and succeeds everywhere. */
export const URGENT_INPUT = { text: "urgent: checkout is down" };

/** Input that takes the routine path. */
export const ROUTINE_INPUT = { text: "how do I reset my password?" };

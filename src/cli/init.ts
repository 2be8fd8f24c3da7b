/**
 * `agent-engine init <dir>`: a starter project that runs offline as created. It shows a decision
 * made by an agent, a branch whose two arms meet at a merge, scripted agents, a tool, a plugin,
 * and a README saying what to try next.
 *
 * @module
 */
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { basename, join, relative, resolve } from "node:path";
import { errorMessage } from "../errors.js";
import { CliExit, cliError, type CliIO } from "./output.js";

/** The files of a starter project, by relative path. */
export function starterFiles(name: string): Record<string, string> {
  return {
    "workflow.yaml": `# The workflow: one DAG. Docs: https://www.npmjs.com/package/agent-engine (docs/config-and-dag.md)
name: ${JSON.stringify(name)}
nodes:
  - id: intake               # normalizes the request
    kind: deterministic
    role: start
    default: true
    handler: ./handlers.mjs#intake
    schema_in: request
  - id: classify             # an agent picks the outbound edge by its label
    kind: agent
    role: decision
    agent: classifier
  - id: answer               # questions: one agent answers
    kind: agent
    role: linear
    agent: helper
  - id: escalate             # incidents: two things at once (each arm gets a copy of the request)
    kind: deterministic
    role: branch
  - id: lookup               # arm 1: find the runbook with a tool
    kind: deterministic
    role: linear
    handler: ./handlers.mjs#lookup
    tools: [runbooks]
  - id: notify               # arm 2: an agent drafts a status note
    kind: agent
    role: linear
    agent: notifier
  - id: combine              # waits for both arms; gets [{ node_id, output, status, task_id }]
    kind: deterministic
    role: merge
    handler: ./handlers.mjs#combine
  - id: reply                # the task's output
    kind: deterministic
    role: exit
    handler: ./handlers.mjs#reply
edges:
  - { from: intake, to: classify }
  - { from: classify, to: answer, label: question }
  - { from: classify, to: escalate, label: incident }
  - { from: answer, to: reply }
  - { from: escalate, to: lookup }
  - { from: escalate, to: notify }
  - { from: lookup, to: combine }
  - { from: notify, to: combine }
  - { from: combine, to: reply }
`,
    "agents.yaml": `# Agents and their LLM provider. "offline" is the embedded scripted LLM: no keys, no network.
# For a real model: add a provider { id: openai, type: openai, base_url: https://api.openai.com/v1,
# api_key_env: OPENAI_API_KEY } and set default_provider: openai.
default_provider: offline
providers:
  - id: offline
    type: scripted
    script_file: ./llm-script.yaml
agents:
  - id: classifier
    model: scripted
    system: "Classify the request. Reply with exactly one word: incident or question."
    prompt: "{{input.text}}"
  - id: helper
    model: scripted
    system: "Answer the question in one or two sentences."
    prompt: "{{input.text}}"
  - id: notifier
    model: scripted
    system: "Write a one-sentence status note for customers about this incident."
    prompt: "{{input.text}}"
`,
    "llm-script.yaml": `# Replies of the scripted LLM: the first rule whose agent and match (a regex on the prompt) fit.
rules:
  - agent: classifier
    match: "down|outage|error|broken|failing"
    response: incident
  - agent: classifier
    response: question
  - agent: helper
    response: "You can reset your password from the sign-in page: click 'Forgot password' and follow the email."
  - agent: notifier
    response: "We are aware of the problem and are working on it; next update within 30 minutes."
`,
    "tools.yaml": `# Tools that nodes may call (each node lists the tools it may use).
tools:
  - id: runbooks
    description: "Finds the runbook for an incident."
    handler: ./tools.mjs#runbooks
`,
    "tools.mjs": `// Tool implementations: (args, ctx) => JSON. Deterministic here, so runs can be compared.
const RUNBOOKS = [
  { keyword: "checkout", runbook: "RB-7: restart the payment gateway, then replay the failed orders" },
  { keyword: "login", runbook: "RB-3: check the identity provider status page, then rotate the session keys" },
];

export function runbooks(args) {
  const text = String(args.text ?? "").toLowerCase();
  const hit = RUNBOOKS.find((r) => text.includes(r.keyword));
  return { runbook: hit ? hit.runbook : "RB-1: page the on-call engineer" };
}
`,
    "handlers.mjs": `// Deterministic node handlers: (input, ctx) => JSON. Inputs are frozen: return new values.

export function intake(input) {
  return { text: String(input.text).replace(/\\s+/g, " ").trim(), from: input.from ?? "anonymous" };
}

export async function lookup(request, ctx) {
  const found = await ctx.callTool("runbooks", { text: request.text });
  return { runbook: found.runbook };
}

export function combine(arrivals) {
  const byNode = Object.fromEntries(arrivals.map((a) => [a.node_id, a.output]));
  return { kind: "incident", runbook: byNode.lookup.runbook, status_note: byNode.notify };
}

export function reply(input) {
  // From "answer" the input is the agent's text; from "combine" it is the incident summary.
  return typeof input === "string" ? { kind: "question", answer: input } : input;
}
`,
    "schemas/request.json": `${JSON.stringify(
      {
        $schema: "https://json-schema.org/draft/2020-12/schema",
        type: "object",
        required: ["text"],
        properties: { text: { type: "string", minLength: 1 }, from: { type: "string" } },
      },
      null,
      2,
    )}\n`,
    "plugins.yaml": `# Read-only observers: they see every event and cannot change the run.
plugins:
  - id: timing
    module: ./plugins/timing.mjs#Timing
    events: ["node.completed", "node.failed", "task.completed", "task.failed"]
`,
    "plugins/timing.mjs": `// A read-only plugin: reports the slowest node of each run on stderr.
export class Timing {
  constructor(pluginId, config = {}) {
    this.pluginId = pluginId;
    this.config = config;
    this.slowest = undefined;
  }

  onEvent(event) {
    if (event.type === "node.completed" || event.type === "node.failed") {
      if (!this.slowest || event.payload.durationMs > this.slowest.ms) this.slowest = { node: event.nodeId, ms: event.payload.durationMs };
    } else if (!event.payload.parentTaskId && this.slowest && !event.taskId.includes(".")) {
      process.stderr.write(\`[timing] slowest node: \${this.slowest.node} (\${this.slowest.ms.toFixed(1)} ms)\\n\`);
    }
  }
}
`,
    "input.json": `${JSON.stringify({ text: "Checkout is down for every customer since 9:00!", from: "ops@example.com" }, null, 2)}\n`,
    "question.json": `${JSON.stringify({ text: "How do I reset my password?", from: "ana@example.com" }, null, 2)}\n`,
    "README.md": `# ${name}

A starter [agent-engine](https://www.npmjs.com/package/agent-engine) project. It runs offline: the
agents use the embedded scripted LLM (\`llm-script.yaml\`), so no key and no network are needed.

\`\`\`
intake -> classify --question--> answer --------------------------> reply
                   --incident--> escalate -> lookup (tool) -> combine -> reply
                                           -> notify (agent) ->
\`\`\`

## Try it

\`\`\`sh
npx agent-engine run .                                  # an incident (input.json, the default input): branch + merge
npx agent-engine run . --input-file question.json       # a question: one agent answers
npx agent-engine run . --input-file input.json --events run.jsonl
npx agent-engine inspect run.jsonl                      # what happened, node by node
npx agent-engine graph . --events run.jsonl             # the path taken (Mermaid)
npx agent-engine validate .                             # check everything without running
\`\`\`

## Files

- \`workflow.yaml\`: the DAG (nodes with roles, edges with labels).
- \`agents.yaml\` and \`llm-script.yaml\`: agents and their (scripted) LLM.
- \`handlers.mjs\`: code of the deterministic nodes.
- \`tools.yaml\` and \`tools.mjs\`: the \`runbooks\` tool used by \`lookup\`.
- \`plugins.yaml\` and \`plugins/timing.mjs\`: a read-only observer.
- \`schemas/request.json\`: the input schema of \`intake\`.

To use a real model, add an OpenAI-compatible provider to \`agents.yaml\` (see the comment there).
`,
  };
}

/** `agent-engine init` */
export async function initCommand(dir: string, io: CliIO): Promise<void> {
  const target = resolve(io.cwd(), dir);
  let existing: string[] = [];
  try {
    existing = await readdir(target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
      cliError(io, "CLI_INPUT", `${target}: ${errorMessage(err)}`);
      throw new CliExit(2);
    }
  }
  if (existing.length > 0) {
    cliError(io, "CLI_INPUT", `${target} is not empty (${existing.slice(0, 5).join(", ")}${existing.length > 5 ? ", ..." : ""})`, "init writes into a new or empty directory so it never overwrites your files");
    throw new CliExit(2);
  }
  const files = starterFiles(basename(target) || "starter");
  try {
    for (const [rel, content] of Object.entries(files)) {
      const path = join(target, rel);
      await mkdir(resolve(path, ".."), { recursive: true });
      await writeFile(path, content, { flag: "wx" });
    }
  } catch (err) {
    cliError(io, "CLI_INPUT", `${target}: cannot write the starter project: ${errorMessage(err)}`);
    throw new CliExit(2);
  }
  const rel = relative(io.cwd(), target) || ".";
  io.stdout(
    `created ${rel}/ (${Object.keys(files).length} files): a decision, a branch and merge, scripted agents, a tool and a plugin\n` +
      `next:\n  npx agent-engine run ${rel}\n  npx agent-engine validate ${rel}\n  see ${join(rel, "README.md")}\n`,
  );
}

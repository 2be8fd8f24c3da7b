// Handlers of the approval example. Inputs are frozen: return new values.
import { readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";

const QUESTION = 'Publish this announcement? Answer {"approve": true}, or {"approve": false, "notes": "what to change"}.';

/** The brief: topic and facts, trimmed. */
export function brief(input) {
  return { topic: input.topic.trim(), facts: input.facts.map((f) => f.trim()).filter(Boolean) };
}

/**
 * Asks a person (the run suspends here until `agent-engine resume ... --answer JSON`), then
 * routes: approved drafts are published as they are, notes go to the reviser. An answer that
 * cannot be read is asked again; every answer given is kept, so this handler runs again from
 * the start on each resume and gets them back in order from ctx.interrupt().
 */
export function review(post, ctx) {
  let answer = ctx.interrupt({ question: QUESTION, post });
  while (!readable(answer)) {
    answer = ctx.interrupt({ question: QUESTION, problem: `could not read the answer ${JSON.stringify(answer)}`, post });
  }
  if (answer.approve === true) return { selected_edge: "approve", post };
  return { selected_edge: "revise", post, notes: answer.notes.trim() };
}

function readable(a) {
  if (a === null || typeof a !== "object") return false;
  return a.approve === true || (a.approve === false && typeof a.notes === "string" && a.notes.trim() !== "");
}

/** Approved as drafted. */
export function publish(input) {
  return input.post;
}

/**
 * Checks every fact of the brief against the incident log: a fact is confirmed when each of its
 * figures (4%, 2.3.1, ...) is in the log. Takes a second: it stands in for a slow lookup, and
 * shows the branch going on while the draft waits for approval.
 */
export async function checkFacts(input, ctx) {
  const log = await readFile(new URL("./incident-log.md", import.meta.url), "utf8");
  await sleep(1000, undefined, { signal: ctx.signal });
  return input.facts.map((fact) => ({ fact, confirmed: (fact.match(/\d+(\.\d+)*%?/g) ?? []).every((figure) => log.includes(figure)) }));
}

/** The post (as approved, or as revised) with the fact check. */
export function assemble(arrivals) {
  const post = arrivals.find((a) => a.node_id === "publish" || a.node_id === "revise");
  const facts = arrivals.find((a) => a.node_id === "check_facts")?.output ?? [];
  return {
    post: post.output,
    revised: post.node_id === "revise",
    facts_confirmed: `${facts.filter((f) => f.confirmed).length} of ${facts.length}`,
    unconfirmed: facts.filter((f) => !f.confirmed).map((f) => f.fact),
  };
}

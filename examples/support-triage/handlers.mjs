// Deterministic node handlers of the support-triage example. Inputs are frozen: return new values.

/** Normalizes the request into a ticket with a stable id derived from its text. */
export function intake(input) {
  const text = input.text.replace(/\s+/g, " ").trim();
  let hash = 0;
  for (const ch of text) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return { id: `T-${hash.toString(16).padStart(8, "0")}`, customer: input.customer ?? "anonymous", text };
}

/** Pages on-call through the allow-listed `pager` tool and passes the ticket on. */
export async function pageOncall(ticket, ctx) {
  const page = await ctx.callTool("pager", { ticket: ticket.id, summary: ticket.text.slice(0, 80) });
  return { ticket, incident: page.incident };
}

/** Splits the ticket into its questions (one subtask each); the merge before it gives [{ node_id, output }]. */
export function splitQuestions(arrivals) {
  const paged = arrivals.find((a) => a.node_id === "page_oncall").output;
  const apology = arrivals.find((a) => a.node_id === "draft_apology").output;
  const questions = paged.ticket.text.match(/[^.!?]*\?/g)?.map((q) => q.trim()) ?? [];
  const items = questions.length > 0 ? questions : [paged.ticket.text];
  return items.map((question, i) => ({ ticket: paged.ticket.id, incident: paged.incident, apology, n: i + 1, question }));
}

/** Formats the reply: one answer for routine tickets, apology plus every answer for urgent ones. */
export function respond(input) {
  if (typeof input === "string") return { priority: "routine", reply: input };
  const answers = input.map((a) => a.output);
  return { priority: "urgent", answered: answers.length, reply: answers.join("\n") };
}

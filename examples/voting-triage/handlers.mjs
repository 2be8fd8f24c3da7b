// Handlers of the voting-triage example. Inputs are frozen: return new values.

/** Normalizes the ticket text. */
export function intake(ticket) {
  return { text: ticket.text.replace(/\s+/g, " ").trim(), customer: ticket.customer ?? "anonymous" };
}

/** Reads a vote: trimmed, lower-cased, without quotes or final punctuation. */
function vote(text) {
  return String(text).trim().toLowerCase().replace(/^["']+|["'.!?]+$/g, "");
}

/**
 * Majority of the votes that arrived ([{ node_id, output, status, task_id }]); ties and
 * unreadable votes fall back to "urgent" (the safe side).
 */
export function majority(arrivals) {
  const votes = Object.fromEntries(arrivals.map((a) => [a.node_id.replace(/^vote_/, ""), vote(a.output)]));
  const counts = {};
  for (const v of Object.values(votes)) counts[v] = (counts[v] ?? 0) + 1;
  const ranked = Object.entries(counts).sort((a, b) => b[1] - a[1]);
  const [top, second] = ranked;
  const clear = top && (!second || top[1] > second[1]) && (top[0] === "urgent" || top[0] === "routine");
  return {
    priority: clear ? top[0] : "urgent",
    votes,
    tally: counts,
    unanimous: ranked.length === 1 && arrivals.length === 3,
  };
}

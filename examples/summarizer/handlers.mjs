// Handlers of the summarizer example. Inputs are frozen: return new values.

/** Splits the document into sections at Markdown headings ("## Heading"); each becomes a subtask. */
export function sections(doc) {
  const parts = doc.text.split(/^## +/m).map((s) => s.trim()).filter(Boolean);
  return parts.map((part, i) => {
    const [heading, ...body] = part.split("\n");
    return { n: i + 1, heading: heading.trim(), text: body.join("\n").trim() };
  });
}

/**
 * Puts the summaries back in document order. Sections were dealt round-robin to the worker
 * edges (summarize_a gets 1, 3, ...; summarize_b gets 2, 4, ...) and arrive edge by edge; when
 * the engine gives each arrival its item `index`, that is used directly.
 */
export function combine(arrivals) {
  if (arrivals.every((a) => typeof a.index === "number")) {
    return [...arrivals].sort((x, y) => x.index - y.index).map((a) => a.output);
  }
  const lanes = ["summarize_a", "summarize_b"].map((id) => arrivals.filter((a) => a.node_id === id).map((a) => a.output));
  const out = [];
  for (let i = 0; out.length < arrivals.length; i++) for (const lane of lanes) if (i < lane.length) out.push(lane[i]);
  return out;
}

/** The digest: one line per section, in document order. */
export function digest(summaries) {
  return { sections: summaries.length, summary: summaries.map((s, i) => `${i + 1}. ${s}`).join("\n") };
}

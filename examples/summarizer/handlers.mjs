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
 * The summaries, in document order. A split's arrivals come in item order, and each carries its
 * item `index`; a section whose summary failed is missing (`on_failure: partial`), so the index
 * says which one is which.
 */
export function combine(arrivals) {
  return arrivals.map((a) => ({ n: a.index + 1, summary: a.output }));
}

/** The digest: one line per section, in document order. */
export function digest(summaries) {
  return { sections: summaries.length, summary: summaries.map((s) => `${s.n}. ${s.summary}`).join("\n") };
}

// Deterministic handlers of the research example. Every file and knowledge-base access goes
// through ctx.callTool, so it is allow-listed (workflow.yaml `tools:`), permission-checked
// (tools.yaml `permissions:`) and recorded as tool.* events.

/** Normalizes the question. */
export function question(input) {
  return { question: input.question.trim() };
}

const STOP = new Set(["which", "what", "had", "the", "and", "why", "how", "did", "source", "largest"]);

/** Researches the question: picks library documents by keyword, reads them, asks the knowledge base, writes notes. */
export async function research(input, ctx) {
  const words = input.question.toLowerCase().split(/\W+/).filter((w) => w.length > 2 && !STOP.has(w));
  const { entries } = await ctx.callTool("shelf", { path: "." });
  const docs = [];
  for (const entry of entries.filter((e) => e.type === "file")) {
    const { content } = await ctx.callTool("library", { path: entry.name });
    const keywords = (content.match(/^Keywords: (.*)$/m)?.[1] ?? "").split(/,\s*/);
    const score = words.filter((w) => keywords.includes(w) || content.toLowerCase().includes(w)).length;
    docs.push({ name: entry.name, title: content.split("\n")[0].replace(/^#\s*/, ""), score, summary: (content.split("\n\n")[1] ?? "").split("\nKeywords:")[0].replace(/\s+/g, " ").trim() });
  }
  docs.sort((a, b) => b.score - a.score || a.name.localeCompare(b.name));
  const best = docs[0];
  const topic = best.name.replace(/\.md$/, "");
  const kb = await ctx.callTool("kb.search", { query: topic });
  const facts = kb.structuredContent.facts;
  // The permission model at work: the notes tool cannot write outside ./out.
  const escape = await ctx.callTool("notes", { path: "../library/hijack.md", content: "x" }).then(
    () => "allowed",
    (err) => err.code,
  );
  const notes = [`# ${input.question}`, "", `Best source: ${best.title} (${best.name})`, best.summary, "", ...facts.map((f) => `- [${f.id}] ${f.text}`), ""].join("\n");
  const written = await ctx.callTool("notes", { path: "notes.md", content: notes });
  return { question: input.question, answer: best.title, because: best.summary, facts, sources: docs.map((d) => d.name), notesBytes: written.bytes, escapeAttempt: escape };
}

/** Formats the final report. */
export function report(input) {
  return { answer: `${input.answer}: ${input.because}`, evidence: input.facts.map((f) => f.id), sources: input.sources, notes: "out/notes.md", refused: input.escapeAttempt };
}

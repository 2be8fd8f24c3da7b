import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { GraphEdge } from "../dag/types.js";
import { compareArrivals, decisionLabels, normalizeLabel, selectDecisionEdge, selectedName, splitEdgeFor } from "./router.js";

const edges = (specs: [string, string?][]): GraphEdge[] => specs.map(([to, label], index) => (label === undefined ? { from: "d", to, index } : { from: "d", to, label, index }));

describe("selectedName", () => {
  it("reads a string, or a string selected_edge of an object", () => {
    assert.equal(selectedName("a"), "a");
    assert.equal(selectedName({ selected_edge: "b", x: 1 }), "b");
    assert.equal(selectedName({ selected_edge: 1 }), undefined);
    assert.equal(selectedName(["a"]), undefined);
    assert.equal(selectedName(null), undefined);
    assert.equal(selectedName(3), undefined);
  });
});

describe("selectDecisionEdge", () => {
  it("matches by label, then by target id; reports the choices on no match", () => {
    const out = edges([["x", "yes"], ["y"], ["z", "no"]]);
    const byLabel = selectDecisionEdge("yes", out);
    assert.ok(byLabel.ok && byLabel.edge === out[0]);
    const byTarget = selectDecisionEdge({ selected_edge: "y" }, out);
    assert.ok(byTarget.ok && byTarget.edge === out[1] && byTarget.selected === "y");
    const labelledTarget = selectDecisionEdge("z", out);
    assert.ok(labelledTarget.ok && labelledTarget.edge === out[2]);
    const none = selectDecisionEdge("maybe", out);
    assert.equal(none.ok, false);
    assert.ok(!none.ok && /yes \(-> x\), y, no \(-> z\)/.test(none.message) && none.selected === "maybe");
    const notString = selectDecisionEdge(42, out);
    assert.ok(!notString.ok && notString.selected === undefined);
  });

  it("property: a label always wins over a target id of the same name; otherwise the first target match", () => {
    const name = fc.constantFrom("a", "b", "c", "d");
    fc.assert(
      fc.property(fc.array(fc.tuple(name, fc.option(name, { nil: undefined })), { minLength: 1, maxLength: 6 }), name, fc.boolean(), (specs, choice, asObject) => {
        const out = edges(specs);
        const sel = selectDecisionEdge(asObject ? { selected_edge: choice } : choice, out);
        const byLabel = out.find((e) => e.label === choice);
        const byTarget = out.find((e) => e.to === choice);
        const expected = byLabel ?? byTarget;
        if (expected === undefined) {
          assert.equal(sel.ok, false);
        } else {
          assert.ok(sel.ok);
          assert.equal(sel.edge, expected);
          assert.equal(sel.selected, choice);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("splitEdgeFor", () => {
  it("throws for a split without edges", () => {
    assert.throws(() => splitEdgeFor(0, []), RangeError);
  });

  it("property: round-robin in edge order; counts differ by at most one, earlier edges first", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 40 }), (k, n) => {
        const out = Array.from({ length: k }, (_, i) => i);
        const assigned = Array.from({ length: n }, (_, i) => splitEdgeFor(i, out));
        assigned.forEach((e, i) => assert.equal(e, i % k));
        const counts = out.map((e) => assigned.filter((a) => a === e).length);
        assert.ok(Math.max(...counts) - Math.min(...counts) <= 1);
        for (let i = 1; i < k; i++) assert.ok(counts[i - 1]! >= counts[i]!);
        assert.equal(counts.reduce((a, b) => a + b, 0), n);
      }),
      { numRuns: 200 },
    );
  });
});

describe("compareArrivals", () => {
  const key = fc.record({ edgeIndex: fc.nat(5), itemIndex: fc.nat(5) });
  it("property: a total order by edge, then item (antisymmetric, transitive, consistent with equality)", () => {
    fc.assert(
      fc.property(key, key, key, (a, b, c) => {
        const ab = Math.sign(compareArrivals(a, b));
        assert.equal(ab, -Math.sign(compareArrivals(b, a)) || 0);
        assert.equal(ab === 0, a.edgeIndex === b.edgeIndex && a.itemIndex === b.itemIndex);
        if (compareArrivals(a, b) <= 0 && compareArrivals(b, c) <= 0) assert.ok(compareArrivals(a, c) <= 0);
        if (a.edgeIndex !== b.edgeIndex) assert.equal(ab, Math.sign(a.edgeIndex - b.edgeIndex));
        else assert.equal(ab, Math.sign(a.itemIndex - b.itemIndex));
      }),
      { numRuns: 300 },
    );
  });

  it("property: sorting any permutation gives the same (edge, item) order", () => {
    fc.assert(
      fc.property(fc.uniqueArray(key, { selector: (k) => `${k.edgeIndex}/${k.itemIndex}`, maxLength: 12 }), (keys) => {
        const sorted = keys.slice().sort(compareArrivals);
        const reversed = keys.slice().reverse().sort(compareArrivals);
        assert.deepEqual(reversed, sorted);
        for (let i = 1; i < sorted.length; i++) assert.ok(compareArrivals(sorted[i - 1]!, sorted[i]!) < 0);
      }),
    );
  });
});

describe("lenient decision matching (CONTRACT §14)", () => {
  const label = fc.stringMatching(/^[a-z][a-z0-9_ -]{0,12}[a-z0-9]$/);
  const decorate = fc.record({
    pre: fc.constantFrom("", " ", "\n", "  \t"),
    post: fc.constantFrom("", " ", "\n"),
    quote: fc.constantFrom<[string, string]>(["", ""], ['"', '"'], ["'", "'"], ["`", "`"], ["**", "**"], ["\u201c", "\u201d"]),
    punct: fc.constantFrom("", ".", "!", "?", "...", ",", ":", ";"),
    upper: fc.array(fc.boolean(), { maxLength: 16 }),
  });
  const dress = (l: string, d: { pre: string; post: string; quote: [string, string]; punct: string; upper: boolean[] }, punctInside: boolean): string => {
    const cased = [...l].map((c, i) => (d.upper[i] ? c.toUpperCase() : c)).join("");
    const core = punctInside ? `${d.quote[0]}${cased}${d.punct}${d.quote[1]}` : `${d.quote[0]}${cased}${d.quote[1]}${d.punct}`;
    return `${d.pre}${core}${d.post}`;
  };

  it("property: a label dressed with whitespace, quotes, case and final punctuation selects its edge", () => {
    fc.assert(
      fc.property(fc.uniqueArray(label, { minLength: 2, maxLength: 6, selector: (l) => normalizeLabel(l) }), fc.nat(), decorate, fc.boolean(), (labels, pick, d, inside) => {
        const out = edges(labels.map((l, i) => [`n${i}`, l]));
        const target = labels[pick % labels.length]!;
        const sel = selectDecisionEdge(dress(target, d, inside), out);
        assert.ok(sel.ok, `${JSON.stringify(dress(target, d, inside))} should select ${target}`);
        assert.equal(sel.edge.label, target);
        assert.equal(sel.selected, target);
      }),
    );
  });

  it("property: an answer that normalizes to no label fails, listing every label", () => {
    fc.assert(
      fc.property(fc.uniqueArray(label, { minLength: 2, maxLength: 6 }), fc.string({ maxLength: 20 }), (labels, answer) => {
        fc.pre(!labels.some((l) => normalizeLabel(l) === normalizeLabel(answer)));
        const out = edges(labels.map((l, i) => [`n${i}`, l]));
        fc.pre(!out.some((e) => normalizeLabel(e.to) === normalizeLabel(answer)));
        const sel = selectDecisionEdge(answer, out);
        assert.equal(sel.ok, false);
        if (!sel.ok) for (const l of labels) assert.ok(sel.message.includes(l));
      }),
    );
  });

  it("exact matches win over lenient ones; labels of unlabelled edges are their targets", () => {
    const out = edges([["a", "Review"], ["b", "review"], ["c"]]);
    const exact = selectDecisionEdge("review", out);
    assert.ok(exact.ok && exact.edge === out[1]);
    const lenient = selectDecisionEdge("REVIEW.", out);
    assert.ok(lenient.ok && lenient.edge === out[0]);
    const target = selectDecisionEdge(" 'C'! ", out);
    assert.ok(target.ok && target.edge === out[2] && target.selected === "c");
    assert.deepEqual(decisionLabels(out), ["Review", "review", "c"]);
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { unsafeRegexReason } from "./safeRegex.js";

describe("unsafeRegexReason", () => {
  it("refuses nested repetition, quantified alternation, backreferences and lookarounds", () => {
    for (const p of ["(a+)+$", "(a*)*", "(a|aa)+", "((ab)*c)+", "(?:x+y?)*", "(\\w+\\s?)+$", "(a)\\1", "(?<n>a)\\k<n>", "a(?=b)", "(?<!x)y", "(.*a){3,}", "(a+){2,5}"]) {
      assert.ok(unsafeRegexReason(p) !== undefined, p);
    }
  });
  it("accepts the usual patterns of scripted rules", () => {
    for (const p of ["refund", "^billing|invoice$", "urgent|asap", "order #\\d+", "[a-z]+@[a-z]+\\.com", "(yes|no)", "(?:ab)+", "(a+)?", "(a|b){1}", "\\(a+\\)+", "[(]a+[)]+", "TOOL_FAILED"]) {
      assert.equal(unsafeRegexReason(p), undefined, p);
    }
  });
  it("property: patterns built from safe pieces are accepted; wrapping one with a quantifier in a repeated group is refused", () => {
    const piece = fc.constantFrom("a", "b+", "[ab]*", "\\d", "(?:ab)", "x?", "(c|d)");
    fc.assert(
      fc.property(fc.array(piece, { minLength: 1, maxLength: 4 }), (pieces) => {
        const p = pieces.join("");
        assert.equal(unsafeRegexReason(p), undefined, p);
        assert.ok(unsafeRegexReason(`(${p}z+)+`) !== undefined, p);
      }),
      { numRuns: 100 },
    );
  });
});

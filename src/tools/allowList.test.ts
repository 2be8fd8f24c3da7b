/**
 * Allow-lists: the check (`isToolAllowed`) and the expansion (`expandAllowList`) agree on every
 * list and id, so `<prefix>.*` means the same on every path (handlers, agents, the registry).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { expandAllowList, isToolAllowed } from "./allowList.js";

describe("tool allow-lists", () => {
  it("exact ids and <prefix>.* wildcards", () => {
    assert.equal(isToolAllowed(["docs", "kb.*"], "docs"), true);
    assert.equal(isToolAllowed(["docs", "kb.*"], "kb.search"), true);
    assert.equal(isToolAllowed(["docs", "kb.*"], "kb.files.read"), true);
    assert.equal(isToolAllowed(["docs", "kb.*"], "kb"), false);
    assert.equal(isToolAllowed(["docs", "kb.*"], "kb."), false);
    assert.equal(isToolAllowed(["docs", "kb.*"], "kbx.search"), false);
    assert.equal(isToolAllowed(["kb.search"], "kb.fact"), false);
    assert.equal(isToolAllowed([".*"], "x"), false);
    assert.equal(isToolAllowed([], "docs"), false);
  });

  it("expands wildcards against the known ids, keeps plain entries, in list order without duplicates", () => {
    const known = ["docs", "kb.search", "kb.fact", "kbx.search", "orders.lookup"];
    assert.deepEqual(expandAllowList(["kb.*", "docs", "kb.search", "orders.*", "gone"], known), ["kb.search", "kb.fact", "docs", "orders.lookup", "gone"]);
    assert.deepEqual(expandAllowList(["nope.*"], known), []);
  });

  it("property: an id is allowed exactly when the expansion of the list contains it", () => {
    const part = fc.constantFrom("kb", "k", "kbx", "a", "a.b", "search", "", "*", "ü");
    const id = fc.array(part, { minLength: 1, maxLength: 3 }).map((p) => p.join("."));
    fc.assert(
      fc.property(fc.array(id, { maxLength: 5 }), fc.array(id, { maxLength: 8 }), (list, known) => {
        const expanded = expandAllowList(list, known);
        for (const k of known) assert.equal(isToolAllowed(list, k), expanded.includes(k), `${k} against ${JSON.stringify(list)}`);
        for (const e of expanded) assert.ok(isToolAllowed(list, e), `${e} expanded from ${JSON.stringify(list)} but not allowed`);
      }),
      { numRuns: 500 },
    );
  });
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { closest, didYouMean, editDistance } from "./didYouMean.js";

test("editDistance counts insertions, deletions, substitutions and transpositions", () => {
  assert.equal(editDistance("kitten", "sitting"), 3);
  assert.equal(editDistance("strat", "start"), 1);
  assert.equal(editDistance("", "abc"), 3);
  assert.equal(editDistance("abc", "abc"), 0);
  assert.equal(editDistance("abcdef", "uvwxyz", 2), 3);
});

test("closest suggests plausible typos only", () => {
  assert.equal(closest("modle", ["model", "system", "prompt"]), "model");
  assert.equal(closest("xyz", ["model", "system"]), undefined);
  assert.equal(didYouMean("Role", ["role", "kind"]), "did you mean `role`?");
  assert.equal(didYouMean("anything", []), undefined);
});

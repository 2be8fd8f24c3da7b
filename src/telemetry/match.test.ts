import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { compileTypeMatcher } from "./match.js";

describe("compileTypeMatcher", () => {
  it("matches everything for a missing, empty or * list", () => {
    for (const p of [undefined, [], ["*"], ["node.started", "*"]]) assert.ok(compileTypeMatcher(p)("anything.at.all"));
  });
  it("matches exact types", () => {
    const m = compileTypeMatcher(["node.completed", "task.failed"]);
    assert.ok(m("node.completed") && m("task.failed"));
    assert.ok(!m("node.started") && !m("node.completedX") && !m("xnode.completed"));
  });
  it("globs: * matches any run of characters; dots are literal", () => {
    const m = compileTypeMatcher(["node.*", "*.failed"]);
    assert.ok(m("node.started") && m("node.") && m("tool.failed") && m("task.failed"));
    assert.ok(!m("nodeXstarted") && !m("task.completed") && !m("node"));
    const mid = compileTypeMatcher(["t*.c*d"]);
    assert.ok(mid("task.completed") && mid("tool.completed"));
    assert.ok(!mid("task.started"));
  });
  it("escapes regular-expression characters", () => {
    const m = compileTypeMatcher(["a+b.(c)*"]);
    assert.ok(m("a+b.(c)d"));
    assert.ok(!m("aab.(c)d") && !m("a+bx(c)d"));
  });
});

describe("compileTypeMatcher: linear-time globs", () => {
  it("regression: many stars against a long non-matching type answer at once (no backtracking)", () => {
    const m = compileTypeMatcher(["*.*.*.*.*.*.*.*.*.*.*.*.x"]);
    const long = ".".repeat(20_000) + "y";
    assert.equal(m(long), false);
    assert.equal(m(`${".".repeat(20_000)}x`), true);
    assert.equal(compileTypeMatcher(["a*a*a*a*a*a*a*a*b"])("a".repeat(50_000)), false);
  });
  it("agrees with a reference regular expression on generated patterns and types", async () => {
    const { default: fc } = await import("fast-check");
    const piece = fc.stringMatching(/^[ab.*]{0,8}$/);
    fc.assert(
      fc.property(fc.array(piece, { minLength: 1, maxLength: 3 }), fc.stringMatching(/^[ab.]{0,12}$/), (patterns, type) => {
        const usable = patterns.filter((p) => p !== "*");
        if (usable.length === 0) return;
        const reference = usable.some((p) => new RegExp(`^${p.split("*").map((x) => x.replace(/[.]/g, "\\.")).join(".*")}$`).test(type));
        assert.equal(compileTypeMatcher(usable)(type), reference, `${JSON.stringify(usable)} vs ${JSON.stringify(type)}`);
      }),
      { numRuns: 2000 },
    );
  });
  it("a star may match nothing, and pieces may not overlap head or tail", () => {
    assert.ok(compileTypeMatcher(["ab*ba"])("abba"));
    assert.ok(!compileTypeMatcher(["ab*ba"])("aba"));
    assert.ok(compileTypeMatcher(["a*b*c"])("abc"));
    assert.ok(!compileTypeMatcher(["a*bc*cd"])("abcd"));
    assert.ok(compileTypeMatcher(["**x"])("x"));
  });
});

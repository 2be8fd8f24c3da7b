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

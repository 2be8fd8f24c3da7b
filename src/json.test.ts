import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { escapePointer, freezeShell, isSealed, NotJsonError, sealJson, thawJson } from "./json.js";

function deepFrozen(v: unknown): boolean {
  if (v === null || typeof v !== "object") return true;
  return Object.isFrozen(v) && Object.values(v).every(deepFrozen);
}

describe("sealJson", () => {
  it("returns a deeply frozen copy and leaves the original alone", () => {
    const original = { a: [1, { b: "x" }], c: null, d: true };
    const sealed = sealJson(original);
    assert.notEqual(sealed, original);
    assert.deepEqual(sealed, original);
    assert.ok(deepFrozen(sealed));
    assert.ok(!Object.isFrozen(original));
    original.a.push(2);
    assert.deepEqual(sealed, { a: [1, { b: "x" }], c: null, d: true });
    assert.ok(isSealed(sealed));
    assert.ok(!isSealed(original));
    assert.ok(isSealed(3) && isSealed(null));
  });

  it("passes primitives through, accepts null-prototype objects and drops undefined-valued keys", () => {
    assert.equal(sealJson("s"), "s");
    assert.equal(sealJson(0), 0);
    assert.equal(sealJson(false), false);
    assert.equal(sealJson(null), null);
    const bare = Object.assign(Object.create(null) as object, { k: 1 });
    assert.deepEqual({ ...(sealJson(bare) as object) }, { k: 1 });
    assert.deepEqual(sealJson({ a: undefined, b: 1 }), { b: 1 });
  });

  for (const [what, value, path, found] of [
    ["a function", { f: () => 1 }, "/f", /function/],
    ["NaN", { list: [1, Number.NaN] }, "/list/1", /NaN/],
    ["Infinity", [Infinity], "/0", /Infinity/],
    ["a class instance", { when: new Date(0) }, "/when", /Date/],
    ["a Map", { m: new Map() }, "/m", /Map/],
    ["a bigint", { "a/b": 1n }, "/a~1b", /bigint/],
    ["a symbol", { s: Symbol("x") }, "/s", /symbol/],
    ["undefined in an array", [undefined], "/0", /undefined/],
    ["undefined at the top", undefined, "", /undefined/],
  ] as const) {
    it(`rejects ${what}, naming the path`, () => {
      assert.throws(() => sealJson(value), (err: unknown) => {
        assert.ok(err instanceof NotJsonError);
        assert.equal(err.path, path);
        assert.match(err.found, found);
        assert.match(err.message, new RegExp(path === "" ? "value at / " : `value at ${path.replace(/[/~]/g, (c) => `\\${c}`)} `));
        return true;
      });
    });
  }

  it("names empty-string keys in the path", () => {
    assert.throws(() => sealJson({ "": { f: () => 1 } }), (err: unknown) => err instanceof NotJsonError && err.path === "//f");
    assert.throws(() => sealJson({ a: { "": Number.NaN } }), (err: unknown) => err instanceof NotJsonError && err.path === "/a/");
  });

  it("rejects cycles with the path where the cycle closes, but accepts shared (non-cyclic) subtrees", () => {
    const a: Record<string, unknown> = { x: [] };
    (a["x"] as unknown[]).push({ back: a });
    assert.throws(() => sealJson(a), (err: unknown) => err instanceof NotJsonError && err.path === "/x/0/back" && /circular/.test(err.found));
    const shared = { v: 1 };
    assert.deepEqual(sealJson({ p: shared, q: shared }), { p: { v: 1 }, q: { v: 1 } });
  });

  it("regression: shared sub-objects are copied once per call, not once per path (2^40 paths seal at once)", () => {
    // a(i+1) = { x: a(i), y: a(i) }: 41 distinct objects, 2^40 paths from the top.
    const levels: Record<string, unknown>[] = [{}];
    for (let i = 0; i < 40; i++) levels.push({ x: levels[i], y: levels[i] });
    const top = levels[40]!;
    const sealed = sealJson(top) as Record<string, Record<string, unknown>>;
    assert.ok(isSealed(sealed));
    let node: unknown = sealed;
    for (let i = 0; i < 40; i++) {
      const o = node as Record<string, unknown>;
      assert.ok(Object.isFrozen(o));
      assert.deepEqual(Object.keys(o), ["x", "y"]);
      node = o["x"];
    }
    assert.deepEqual(node, {});
    // Past the first few dozen objects, the two references share one sealed copy.
    assert.equal(sealed["x"], sealed["y"]);
    assert.equal(JSON.stringify(sealJson(levels[10])).length, JSON.stringify(levels[10]).length);
  });

  it("regression: a cycle behind a 2^40-path shared DAG is still found, with its path", () => {
    const levels: Record<string, unknown>[] = [{ leaf: true }];
    for (let i = 0; i < 40; i++) levels.push({ x: levels[i], y: levels[i] });
    const loop: Record<string, unknown> = {};
    loop["again"] = { inner: loop };
    const top = { dag: levels[40], bad: loop };
    assert.throws(() => sealJson(top), (err: unknown) => err instanceof NotJsonError && err.path === "/bad/again/inner" && /circular/.test(err.found));
    // A cycle at the bottom of the shared DAG is reported on the first path leading to it.
    const bottom: Record<string, unknown> = {};
    bottom["self"] = [bottom];
    const deep: Record<string, unknown>[] = [bottom];
    for (let i = 0; i < 40; i++) deep.push({ x: deep[i], y: deep[i] });
    assert.throws(() => sealJson(deep[40]), (err: unknown) => err instanceof NotJsonError && err.path === `${"/x".repeat(40)}/self/0` && /circular/.test(err.found));
  });

  it("reuses already sealed subtrees instead of copying them", () => {
    const inner = sealJson({ big: [1, 2, 3] });
    const outer = sealJson({ inner, extra: 1 }) as { inner: unknown };
    assert.equal(outer.inner, inner);
    assert.equal(sealJson(inner), inner);
    // freezeShell only freezes (engine-built shells are not tracked as sealed).
    const shell = freezeShell({ k: inner });
    assert.ok(Object.isFrozen(shell));
    assert.deepEqual(sealJson(shell), shell);
  });

  it("escapePointer and thawJson", () => {
    assert.equal(escapePointer("a/b~c"), "a~1b~0c");
    const sealed = sealJson({ a: [1] });
    const thawed = thawJson<{ a: number[] }>(sealed);
    thawed.a.push(2);
    assert.deepEqual(thawed, { a: [1, 2] });
    assert.deepEqual(sealed, { a: [1] });
  });

  it("property: any JSON value seals to an equal, deeply frozen value with the same JSON text", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const s = sealJson(v);
        assert.deepEqual(s, v);
        assert.equal(JSON.stringify(s), JSON.stringify(v));
        assert.ok(deepFrozen(s));
        assert.equal(sealJson(s), s);
      }),
      { numRuns: 200 },
    );
  });
});

it("regression: an own __proto__ key (as JSON.parse makes) is copied as data, never as the prototype", () => {
  const v = JSON.parse('{"__proto__":{"polluted":true},"a":1}') as Record<string, unknown>;
  const s = sealJson(v) as Record<string, unknown>;
  assert.deepEqual(Object.keys(s), ["__proto__", "a"]);
  assert.equal(Object.getPrototypeOf(s), Object.prototype);
  assert.equal(JSON.stringify(s), '{"__proto__":{"polluted":true},"a":1}');
  assert.equal(({} as Record<string, unknown>)["polluted"], undefined);
});

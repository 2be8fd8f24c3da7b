import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { EngineEvent } from "../telemetry/events.js";
import { definePlugin, describeValue, frozenCopy, isPlugin, isPluginClass, isPluginDefinition, PluginBase } from "./PluginBase.js";

class Minimal extends PluginBase {
  onEvent(): void {}
}

const event = { id: "x-1", seq: 1, type: "error", taskId: "t", timestamp: "", payload: { source: "s", error: { code: "c", message: "m" } } } as EngineEvent;

describe("PluginBase", () => {
  it("keeps id, a frozen config copy, and an empty context by default", () => {
    const p = new Minimal("m");
    assert.equal(p.pluginId, "m");
    assert.deepEqual(p.config, {});
    assert.ok(Object.isFrozen(p.config));
    assert.deepEqual(p.context, {});
    assert.equal(p.onStartup(), undefined);
    assert.equal(p.onShutdown(), undefined);
  });

  it("rejects an empty id", () => {
    assert.throws(() => new Minimal(""), /pluginId must be a non-empty string/);
  });

  it("frozenCopy copies plain data, keeps functions and class instances, preserves cycles", () => {
    const fn = (): number => 1;
    const date = new Date(0);
    const cyclic: Record<string, unknown> = { fn, date, list: [{ a: 1 }] };
    cyclic["self"] = cyclic;
    const copy = frozenCopy(cyclic);
    assert.notEqual(copy, cyclic);
    assert.equal(copy["fn"], fn);
    assert.equal(copy["date"], date);
    assert.equal(copy["self"], copy);
    assert.ok(Object.isFrozen((copy["list"] as object[])[0]));
    assert.equal(Object.isFrozen(date), false);
  });
});

describe("definePlugin", () => {
  it("makes a PluginBase class whose hooks get the instance as this and last argument", async () => {
    const calls: string[] = [];
    const P = definePlugin<{ label: string }>({
      name: "Labelled",
      onStartup(p) {
        assert.equal(this, p);
        p.state["n"] = 0;
        calls.push(`start ${p.config.label}`);
      },
      onEvent(e, p) {
        p.state["n"] = (p.state["n"] as number) + 1;
        calls.push(`event ${e.seq} ${this.pluginId}`);
      },
      onMissed(count) {
        calls.push(`missed ${count}`);
      },
      async onShutdown(p) {
        calls.push(`stop ${String(p.state["n"])}`);
      },
    });
    assert.equal(P.name, "Labelled");
    assert.ok(isPluginClass(P));
    const a = new P("a", { label: "L" });
    const b = new P("b", { label: "M" });
    assert.ok(a instanceof PluginBase);
    await a.onStartup();
    await b.onStartup();
    await a.onEvent(event);
    await a.onMissed(2);
    await a.onShutdown();
    assert.deepEqual(calls, ["start L", "start M", "event 1 a", "missed 2", "stop 1"]);
    assert.equal(b.state["n"], 0, "state is per instance");
    assert.equal(typeof P.definition.onEvent, "function");
  });

  it("needs an onEvent function", () => {
    assert.throws(() => definePlugin({} as never), /needs an object with an onEvent function, got an object with no keys/);
  });
});

describe("plugin checks", () => {
  it("isPlugin / isPluginClass / isPluginDefinition", () => {
    assert.equal(isPlugin(new Minimal("m")), true);
    assert.equal(isPlugin({ pluginId: "x", onEvent() {} }), true);
    assert.equal(isPlugin({ pluginId: "", onEvent() {} }), false);
    assert.equal(isPlugin({ onEvent() {} }), false);
    assert.equal(isPlugin(null), false);
    assert.equal(isPluginClass(Minimal), true);
    assert.equal(isPluginClass(class {}), false);
    assert.equal(isPluginClass(() => undefined), false);
    assert.equal(isPluginDefinition({ onEvent() {} }), true);
    assert.equal(isPluginDefinition(new Minimal("m")), false);
  });

  it("describeValue says what a value is", () => {
    assert.equal(describeValue(42), "a number (42)");
    assert.equal(describeValue("x"), 'a string ("x")');
    assert.equal(describeValue(null), "null");
    assert.equal(describeValue([1, 2]), "an array (length 2)");
    assert.equal(describeValue({ a: 1 }), "an object with keys a");
    assert.equal(describeValue(new Map()), "an instance of Map with no keys");
    assert.match(describeValue(class Foo {}), /^a class Foo without an onEvent method$/);
  });
});

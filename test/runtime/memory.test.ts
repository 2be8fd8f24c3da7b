/**
 * Writable memory (CONTRACT §10): kv stores with task, project and global scope, `ctx.memory`,
 * reads as of the stage's logical start, writes applied at commit in commit order,
 * `memory.written` events, context profiles naming kv stores, and the coded errors. Real config
 * directories; every scenario runs under both scheduling modes where order could matter.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError } from "../../src/errors.js";
import type { JsonValue } from "../../src/json.js";
import { Engine } from "../../src/runtime/Engine.js";
import type { HandlerContext, NodeHandler, RunResult } from "../../src/runtime/types.js";
import { silentLogger } from "../../src/telemetry/logger.js";
import { removeDir, writeConfigDir } from "../helpers.js";
import { normalizeEvents } from "../normalize.js";
import { CrashingStore } from "./generated.js";
import { withEngine } from "./harness.js";

const MEMORY = `
stores:
  - { id: scratch, kind: kv, scope: task }
  - { id: facts, kind: kv, scope: project }
  - { id: prefs, kind: kv, scope: global }
  - { id: voice, kind: static, items: ["Speak plainly."] }
profiles:
  - { id: mem, stores: [voice, facts, scratch] }
`;

const LINEAR = `
nodes:
  - { id: s, kind: deterministic, role: start }
  - { id: a, kind: deterministic, role: linear }
  - { id: b, kind: deterministic, role: linear }
  - { id: e, kind: deterministic, role: exit }
edges:
  - { from: s, to: a }
  - { from: a, to: b }
  - { from: b, to: e }
`;

const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms));
const SCHEDULINGS = ["eager", "waves"] as const;

describe("ctx.memory: task and project scope along a task", () => {
  for (const scheduling of SCHEDULINGS) {
    it(`task memory travels with the task, project memory survives runs, a stage sees its own puts (${scheduling})`, async () => {
      const handlers: Record<string, NodeHandler> = {
        a: async (_input, ctx) => {
          ctx.memory.put("scratch", "x", { v: 1 });
          const n = ((await ctx.memory.get("facts", "n")) as number | undefined) ?? 0;
          ctx.memory.put("facts", "n", n + 1);
          ctx.memory.put("facts", "n", n + 1); // one write per key: the last value
          return { n, own: await ctx.memory.get("scratch", "x"), ownShared: await ctx.memory.get("facts", "n") };
        },
        b: async (input, ctx) => ({ ...(input as object), x: await ctx.memory.get("scratch", "x"), n: await ctx.memory.get("facts", "n"), list: await ctx.memory.list("facts") }),
      };
      await withEngine({ "workflow.yaml": LINEAR, "memory.yaml": MEMORY }, { handlers, scheduling }, async (engine) => {
        const first = await engine.run({});
        assert.equal(first.status, "success");
        assert.deepEqual(first.output, { n: 1, own: { v: 1 }, ownShared: 1, x: { v: 1 }, list: [{ key: "n", value: 1 }] });
        const second = await engine.run({});
        // Task memory starts empty for a new run; project memory keeps the first run's write.
        assert.deepEqual(second.output, { n: 2, own: { v: 1 }, ownShared: 2, x: { v: 1 }, list: [{ key: "n", value: 2 }] });
        const written = engine.getEvents({ taskId: first.taskId }).filter((e) => e.type.startsWith("memory.") || e.type.startsWith("node."));
        assert.deepEqual(
          written.map((e) => `${e.type}@${e.nodeId}${e.type === "memory.written" ? ` ${JSON.stringify(e.payload)}` : ""}`),
          [
            "node.started@s",
            "node.completed@s",
            "node.started@a",
            "node.completed@a",
            'memory.written@a {"store":"scratch","scope":"task","key":"x"}',
            'memory.written@a {"store":"facts","scope":"project","key":"n"}',
            "node.started@b",
            "node.completed@b",
            "node.started@e",
            "node.completed@e",
          ],
        );
        const ev = engine.getEvents({ type: "memory.written" })[0]!;
        assert.ok(Object.isFrozen(ev.payload));
        assert.throws(() => {
          (ev.payload as { key: string }).key = "y";
        });
      });
    });
  }

  it("values are frozen copies: mutating what was put or what get returns changes nothing", async () => {
    const handlers: Record<string, NodeHandler> = {
      a: async (_input, ctx) => {
        const v = { list: [1, 2] };
        ctx.memory.put("scratch", "v", v);
        v.list.push(3);
        const back = (await ctx.memory.get("scratch", "v")) as { list: number[] };
        assert.ok(Object.isFrozen(back) && Object.isFrozen(back.list));
        return back;
      },
      b: async (_input, ctx) => ctx.memory.get("scratch", "v"),
    };
    await withEngine({ "workflow.yaml": LINEAR, "memory.yaml": MEMORY }, { handlers }, async (engine) => {
      const r = await engine.run({});
      assert.equal(r.status, "success", JSON.stringify(r.error));
      assert.deepEqual(r.output, { list: [1, 2] });
    });
  });

  it("list: ordered by key (code units), with a prefix filter, the stage's own puts included", async () => {
    const handlers: Record<string, NodeHandler> = {
      a: (_input, ctx) => {
        for (const k of ["user:b", "user:a", "Z", "order:1"]) ctx.memory.put("facts", k, k.length);
        return null;
      },
      b: async (_input, ctx) => {
        ctx.memory.put("facts", "user:0", 0);
        return { all: (await ctx.memory.list("facts")).map((e) => e.key), users: await ctx.memory.list("facts", "user:") };
      },
    };
    await withEngine({ "workflow.yaml": LINEAR, "memory.yaml": MEMORY }, { handlers }, async (engine) => {
      const r = await engine.run({});
      assert.deepEqual(r.output, {
        all: ["Z", "order:1", "user:0", "user:a", "user:b"],
        users: [
          { key: "user:0", value: 0 },
          { key: "user:a", value: 6 },
          { key: "user:b", value: 6 },
        ],
      });
    });
  });
});

const FORKS = `
nodes:
  - { id: s, kind: deterministic, role: start }
  - { id: init, kind: deterministic, role: linear }
  - { id: br, kind: deterministic, role: branch }
  - { id: left, kind: deterministic, role: linear }
  - { id: right, kind: deterministic, role: linear }
  - { id: join, kind: deterministic, role: merge }
  - { id: sp, kind: deterministic, role: split }
  - { id: work, kind: deterministic, role: linear }
  - { id: gather, kind: deterministic, role: merge }
  - { id: e, kind: deterministic, role: exit }
edges:
  - { from: s, to: init }
  - { from: init, to: br }
  - { from: br, to: left }
  - { from: br, to: right }
  - { from: left, to: join }
  - { from: right, to: join }
  - { from: join, to: sp }
  - { from: sp, to: work }
  - { from: work, to: gather }
  - { from: gather, to: e }
`;

describe("ctx.memory: task scope across forks and merges", () => {
  for (const scheduling of SCHEDULINGS) {
    it(`clones and subtasks start from a copy; siblings never see each other's; a merge continues the parent's memory as at the fork (${scheduling})`, async () => {
      const seen: Record<string, unknown> = {};
      const handlers: Record<string, NodeHandler> = {
        init: (_i, ctx) => {
          ctx.memory.put("scratch", "k", "root");
          return null;
        },
        left: async (_i, ctx) => {
          const before = await ctx.memory.get("scratch", "k");
          ctx.memory.put("scratch", "k", "left");
          ctx.memory.put("scratch", "only-left", true);
          return before;
        },
        right: async (_i, ctx) => {
          await tick(5);
          return [(await ctx.memory.get("scratch", "k")) ?? null, (await ctx.memory.get("scratch", "only-left")) ?? null];
        },
        join: async (_i, ctx) => {
          seen["join"] = await ctx.memory.list("scratch");
          return [1, 2, 3];
        },
        sp: (input) => input,
        work: async (input, ctx) => {
          const before = await ctx.memory.get("scratch", "k");
          ctx.memory.put("scratch", "k", `item${String(input)}`);
          await tick(Number(input) % 2);
          return { before, after: await ctx.memory.get("scratch", "k") };
        },
        gather: async (input, ctx) => ({ k: await ctx.memory.get("scratch", "k"), items: input }),
      };
      await withEngine({ "workflow.yaml": FORKS, "memory.yaml": MEMORY }, { handlers, scheduling }, async (engine) => {
        const r = await engine.run({});
        assert.equal(r.status, "success", JSON.stringify(r.error));
        const left = r.children.find((c) => c.history.some((h) => h.nodeId === "left"))!;
        const right = r.children.find((c) => c.history.some((h) => h.nodeId === "right"))!;
        assert.equal(left.history.at(-1)!.output, "root");
        assert.deepEqual(right.history.at(-1)!.output, ["root", null]);
        assert.deepEqual(seen["join"], [{ key: "k", value: "root" }]);
        const works = r.children.filter((c) => c.history.some((h) => h.nodeId === "work")).map((c) => c.history.at(-1)!.output);
        assert.deepEqual(works, [
          { before: "root", after: "item1" },
          { before: "root", after: "item2" },
          { before: "root", after: "item3" },
        ]);
        assert.equal((r.output as { k: string }).k, "root");
      });
    });
  }
});

const SAME_WAVE = `
nodes:
  - { id: s, kind: deterministic, role: start }
  - { id: br, kind: deterministic, role: branch }
  - { id: writer, kind: deterministic, role: linear }
  - { id: reader, kind: deterministic, role: linear }
  - { id: later, kind: deterministic, role: linear }
  - { id: join, kind: deterministic, role: merge }
  - { id: e, kind: deterministic, role: exit }
edges:
  - { from: s, to: br }
  - { from: br, to: writer }
  - { from: br, to: reader }
  - { from: writer, to: join }
  - { from: reader, to: later }
  - { from: later, to: join }
  - { from: join, to: e }
`;

describe("ctx.memory: reads as of the stage's logical start", () => {
  for (const scheduling of SCHEDULINGS) {
    it(`a write committed in the reader's own wave is not seen (even after it committed); the next wave sees it (${scheduling})`, async () => {
      let writerDone = false;
      const handlers: Record<string, NodeHandler> = {
        writer: (_i, ctx) => {
          ctx.memory.put("facts", "k", "new");
          writerDone = true;
          return "w";
        },
        reader: async (_i, ctx) => {
          // Wait until the writer has finished (and, the writer being first in commit order,
          // has been committed): the read still answers as of the reader's start.
          while (!writerDone) await tick(1);
          await tick(5);
          return { k: (await ctx.memory.get("facts", "k")) ?? null, list: await ctx.memory.list("facts") };
        },
        later: async (_i, ctx) => ({ k: (await ctx.memory.get("facts", "k")) ?? null }),
      };
      await withEngine({ "workflow.yaml": SAME_WAVE, "memory.yaml": MEMORY }, { handlers, scheduling }, async (engine) => {
        const r = await engine.run({});
        assert.equal(r.status, "success", JSON.stringify(r.error));
        const outputs = Object.fromEntries(r.children.flatMap((c) => c.history).map((h) => [h.nodeId, h.output]));
        assert.deepEqual(outputs["reader"], { k: null, list: [] });
        assert.deepEqual(outputs["later"], { k: "new" });
        // The event stream says the same: the reader started before the write, `later` after.
        const trace = engine.getEvents().map((e) => `${e.type}@${e.nodeId ?? ""}`);
        assert.ok(trace.indexOf("node.started@reader") < trace.indexOf("memory.written@writer"));
        assert.ok(trace.indexOf("memory.written@writer") < trace.indexOf("node.started@later"));
      });
    });
  }

  it("a reader whose store has declared writers does not wait for an unrelated slow stage (the slow stage waits for the reader)", async () => {
    // The slow arm can only finish after the reader, deep in the other arm, has read: if reads
    // waited for every earlier commit this would deadlock (and fail at the node timeout).
    const workflow = `
defaults: { timeout_ms: 10000 }
nodes:
  - { id: s, kind: deterministic, role: start }
  - { id: seed, kind: deterministic, role: linear }
  - { id: br, kind: deterministic, role: branch }
  - { id: slow, kind: deterministic, role: linear }
  - { id: r1, kind: deterministic, role: linear }
  - { id: r2, kind: deterministic, role: linear }
  - { id: r3, kind: deterministic, role: linear }
  - { id: r4, kind: deterministic, role: linear }
  - { id: join, kind: deterministic, role: merge }
  - { id: e, kind: deterministic, role: exit }
edges:
  - { from: s, to: seed }
  - { from: seed, to: br }
  - { from: br, to: slow }
  - { from: br, to: r1 }
  - { from: r1, to: r2 }
  - { from: r2, to: r3 }
  - { from: r3, to: r4 }
  - { from: slow, to: join }
  - { from: r4, to: join }
  - { from: join, to: e }
`;
    const memory = `
stores:
  - { id: facts, kind: kv, scope: project, writers: [seed] }
`;
    let release!: () => void;
    const readerRead = new Promise<void>((r) => (release = r));
    const handlers: Record<string, NodeHandler> = {
      seed: (_i, ctx) => {
        ctx.memory.put("facts", "k", "seeded");
        return null;
      },
      slow: async () => {
        await readerRead;
        return "slow";
      },
      r4: async (_i, ctx) => {
        const k = await ctx.memory.get("facts", "k");
        release();
        return k;
      },
    };
    await withEngine({ "workflow.yaml": workflow, "memory.yaml": memory }, { handlers }, async (engine) => {
      const r = await engine.run({});
      assert.equal(r.status, "success", JSON.stringify(r.error));
      assert.equal(r.children.flatMap((c) => c.history).find((h) => h.nodeId === "r4")!.output, "seeded");
    });
  });

  it("a reader far ahead waits for a merge that may still fire before it and write (eager, with or without a concurrency cap, equals waves)", { timeout: 60_000 }, async () => {
    // The inner fork's merge `m` writes; the loop is held at `slow` (which writes nothing),
    // while `r1..r5` run ahead. r5 starts after m's commit in the wave model, so it must see m's
    // write even though every stage before m already has its outcome.
    const workflow = `
nodes:
  - { id: s, kind: deterministic, role: start }
  - { id: outer, kind: deterministic, role: branch }
  - { id: slow, kind: deterministic, role: linear }
  - { id: inner, kind: deterministic, role: branch }
  - { id: x, kind: deterministic, role: linear }
  - { id: y, kind: deterministic, role: linear }
  - { id: m, kind: deterministic, role: merge }
  - { id: mx, kind: deterministic, role: linear }
  - { id: r1, kind: deterministic, role: linear }
  - { id: r2, kind: deterministic, role: linear }
  - { id: r3, kind: deterministic, role: linear }
  - { id: r4, kind: deterministic, role: linear }
  - { id: r5, kind: deterministic, role: linear }
  - { id: join, kind: deterministic, role: merge }
  - { id: e, kind: deterministic, role: exit }
edges:
  - { from: s, to: outer }
  - { from: outer, to: slow }
  - { from: outer, to: inner }
  - { from: outer, to: r1 }
  - { from: inner, to: x }
  - { from: inner, to: y }
  - { from: x, to: m }
  - { from: y, to: m }
  - { from: m, to: mx }
  - { from: r1, to: r2 }
  - { from: r2, to: r3 }
  - { from: r3, to: r4 }
  - { from: r4, to: r5 }
  - { from: slow, to: join }
  - { from: mx, to: join }
  - { from: r5, to: join }
  - { from: join, to: e }
`;
    const memory = `
stores:
  - { id: facts, kind: kv, scope: project, writers: [m] }
`;
    const results: unknown[] = [];
    // With one slot, r1..r4 run (synchronously) right after \`slow\`, before the loop commits
    // anything: r4 waits holding the only slot while the merge is still to be created. Without
    // giving the slot back, the merge could never run.
    for (const options of [{ scheduling: "waves" }, { scheduling: "eager" }, { scheduling: "eager", maxConcurrency: 1 }, { scheduling: "eager", maxConcurrency: 2 }] as const) {
      const handlers: Record<string, NodeHandler> = {
        slow: async () => {
          await tick(60);
          return "slow";
        },
        m: (_i, ctx) => {
          ctx.memory.put("facts", "k", "from-merge");
          return "m";
        },
        ...Object.fromEntries(["r4", "r5"].map((id) => [id, async (_i: JsonValue, ctx: HandlerContext) => (await ctx.memory.get("facts", "k")) ?? null])),
      };
      await withEngine({ "workflow.yaml": workflow, "memory.yaml": memory }, { handlers, ...options }, async (engine) => {
        const r = await engine.run({});
        assert.equal(r.status, "success", JSON.stringify(r.error));
        results.push(Object.fromEntries(r.children.flatMap((c) => c.history).filter((h) => /^r[45]$/.test(h.nodeId)).map((h) => [h.nodeId, h.output])));
      });
    }
    // Waves: s 1, outer 2, [slow inner r1] 3, [x y r2] 4, [m r3] 5, [mx r4] 6, r5 7.
    assert.deepEqual(results[0], { r4: "from-merge", r5: "from-merge" });
    for (const r of results.slice(1)) assert.deepEqual(r, results[0]);
  });

  it("a reader running ahead uses earlier stages' known writes once their order is known, and never a failed stage's (eager equals waves)", { timeout: 60_000 }, async () => {
    // The loop is held at \`slow\` (wave 3). Meanwhile w1 and w2 (wave 3) both wrote k, and \`dec\`
    // wrote k too but routed nowhere (its node fails); r2 (wave 4) must read w2's value: the last
    // of wave 3 in commit order, not a failed stage's.
    const workflow = `
nodes:
  - { id: s, kind: deterministic, role: start }
  - { id: br, kind: deterministic, role: branch }
  - { id: slow, kind: deterministic, role: linear }
  - { id: w1, kind: deterministic, role: linear }
  - { id: w2, kind: deterministic, role: linear }
  - { id: dec, kind: deterministic, role: decision }
  - { id: x, kind: deterministic, role: linear }
  - { id: y, kind: deterministic, role: linear }
  - { id: r1, kind: deterministic, role: linear }
  - { id: r2, kind: deterministic, role: linear }
  - { id: join, kind: deterministic, role: merge, merge: { on_failure: ignore_failures } }
  - { id: e, kind: deterministic, role: exit }
edges:
  - { from: s, to: br }
  - { from: br, to: slow }
  - { from: br, to: w1 }
  - { from: br, to: w2 }
  - { from: br, to: dec }
  - { from: br, to: r1 }
  - { from: dec, to: x, label: yes }
  - { from: dec, to: y, label: no }
  - { from: r1, to: r2 }
  - { from: slow, to: join }
  - { from: w1, to: join }
  - { from: w2, to: join }
  - { from: x, to: join }
  - { from: y, to: join }
  - { from: r2, to: join }
  - { from: join, to: e }
`;
    const memory = `
stores:
  - { id: facts, kind: kv, scope: project, writers: [w1, w2, dec] }
`;
    const results: unknown[] = [];
    for (const options of [{ scheduling: "waves" }, { scheduling: "eager" }, { scheduling: "eager", maxConcurrency: 2 }] as const) {
      const handlers: Record<string, NodeHandler> = {
        slow: async () => {
          await tick(60);
          return "slow";
        },
        w1: (_i, ctx) => {
          ctx.memory.put("facts", "k", "w1");
          return null;
        },
        w2: (_i, ctx) => {
          ctx.memory.put("facts", "k", "w2");
          return null;
        },
        dec: (_i, ctx) => {
          ctx.memory.put("facts", "k", "dec");
          ctx.memory.put("facts", "d", "dec");
          return "maybe"; // no such edge: ROUTING_NO_MATCH, the node fails
        },
        r2: async (_i, ctx) => {
          const d = (await ctx.memory.get("facts", "d")) ?? null;
          return { d, k: (await ctx.memory.get("facts", "k")) ?? null, all: await ctx.memory.list("facts") };
        },
      };
      await withEngine({ "workflow.yaml": workflow, "memory.yaml": memory }, { handlers, ...options }, async (engine) => {
        const r = await engine.run({});
        assert.equal(r.status, "success", JSON.stringify(r.error));
        results.push(r.children.flatMap((c) => c.history).find((h) => h.nodeId === "r2")!.output);
      });
    }
    assert.deepEqual(results[0], { d: null, k: "w2", all: [{ key: "k", value: "w2" }] });
    for (const r of results.slice(1)) assert.deepEqual(r, results[0]);
  });

  it("with maxConcurrency, a stage waiting for earlier commits gives its slot back and takes one again", { timeout: 60_000 }, async () => {
    // Two slots: `a1` is slow and holds one; the other arm runs ahead to `b4`, which must wait
    // for a2 (a writer, logically earlier); a2 needs a slot, which b4 gives back while waiting.
    const workflow = `
defaults: { timeout_ms: 10000, max_concurrency: 2 }
nodes:
  - { id: s, kind: deterministic, role: start }
  - { id: br, kind: deterministic, role: branch }
  - { id: a1, kind: deterministic, role: linear }
  - { id: a2, kind: deterministic, role: linear }
  - { id: b1, kind: deterministic, role: linear }
  - { id: b2, kind: deterministic, role: linear }
  - { id: b3, kind: deterministic, role: linear }
  - { id: b4, kind: deterministic, role: linear }
  - { id: join, kind: deterministic, role: merge }
  - { id: e, kind: deterministic, role: exit }
edges:
  - { from: s, to: br }
  - { from: br, to: a1 }
  - { from: a1, to: a2 }
  - { from: br, to: b1 }
  - { from: b1, to: b2 }
  - { from: b2, to: b3 }
  - { from: b3, to: b4 }
  - { from: a2, to: join }
  - { from: b4, to: join }
  - { from: join, to: e }
`;
    const memory = `
stores:
  - { id: facts, kind: kv, scope: project, writers: [a1, a2] }
`;
    let b4Waiting = false;
    const handlers: Record<string, NodeHandler> = {
      a1: async () => {
        // Finish only once b4 is (very likely) waiting for a2's commit.
        for (let i = 0; i < 200 && !b4Waiting; i++) await tick(1);
        await tick(10);
        return "a1";
      },
      a2: (_i, ctx) => {
        ctx.memory.put("facts", "k", "a2");
        return "a2";
      },
      b4: async (_i, ctx) => {
        b4Waiting = true;
        return (await ctx.memory.get("facts", "k")) ?? null;
      },
    };
    await withEngine({ "workflow.yaml": workflow, "memory.yaml": memory }, { handlers }, async (engine) => {
      const r = await engine.run({});
      assert.equal(r.status, "success", JSON.stringify(r.error));
      // Waves: s 1, br 2, [a1 b1] 3, [a2 b2] 4, b3 5, b4 6: b4 sees a2's write.
      assert.equal(r.children.flatMap((c) => c.history).find((h) => h.nodeId === "b4")!.output, "a2");
    });
  });
});

describe("ctx.memory: waiting for earlier commits", () => {
  it("does not count toward the node's timeout_ms (under wave scheduling the stage would just start later)", async () => {
    const workflow = `
nodes:
  - { id: s, kind: deterministic, role: start }
  - { id: br, kind: deterministic, role: branch }
  - { id: w, kind: deterministic, role: linear }
  - { id: r1, kind: deterministic, role: linear }
  - { id: r2, kind: deterministic, role: linear, timeout_ms: 150 }
  - { id: join, kind: deterministic, role: merge }
  - { id: e, kind: deterministic, role: exit }
edges:
  - { from: s, to: br }
  - { from: br, to: w }
  - { from: br, to: r1 }
  - { from: r1, to: r2 }
  - { from: w, to: join }
  - { from: r2, to: join }
  - { from: join, to: e }
`;
    const handlers: Record<string, NodeHandler> = {
      w: async (_i, ctx) => {
        await tick(400);
        ctx.memory.put("facts", "k", "late");
        return null;
      },
      r2: async (_i, ctx) => (await ctx.memory.get("facts", "k")) ?? null,
    };
    await withEngine({ "workflow.yaml": workflow, "memory.yaml": MEMORY }, { handlers }, async (engine) => {
      const r = await engine.run({});
      assert.equal(r.status, "success", JSON.stringify(r.error));
      assert.equal(r.children.flatMap((c) => c.history).find((h) => h.nodeId === "r2")!.output, "late");
    });
  });
});

describe("ctx.memory: writes are applied only when the stage succeeds", () => {
  it("a failed stage's puts are discarded (thrown, bad output, continue_on_failure); a later stage does not see them", async () => {
    const workflow = `
nodes:
  - { id: s, kind: deterministic, role: start }
  - { id: a, kind: deterministic, role: linear, continue_on_failure: true }
  - { id: b, kind: deterministic, role: linear, continue_on_failure: true, schema_out: { type: string } }
  - { id: c, kind: deterministic, role: linear }
  - { id: e, kind: deterministic, role: exit }
edges:
  - { from: s, to: a }
  - { from: a, to: b }
  - { from: b, to: c }
  - { from: c, to: e }
`;
    const handlers: Record<string, NodeHandler> = {
      a: (_i, ctx) => {
        ctx.memory.put("facts", "a", 1);
        ctx.memory.put("scratch", "a", 1);
        throw new Error("boom");
      },
      b: (_i, ctx) => {
        ctx.memory.put("facts", "b", 1);
        return 42; // not a string: SCHEMA_OUT_FAILED
      },
      c: async (_i, ctx) => ({ facts: await ctx.memory.list("facts"), scratch: await ctx.memory.list("scratch") }),
    };
    await withEngine({ "workflow.yaml": workflow, "memory.yaml": MEMORY }, { handlers }, async (engine) => {
      const r = await engine.run({});
      assert.equal(r.status, "partial");
      assert.deepEqual(r.output, { facts: [], scratch: [] });
      assert.equal(engine.getEvents({ type: "memory.written" }).length, 0);
    });
  });

  it("interrupt: after — a rejected output's writes are discarded, an approved one's applied; ctx.interrupt() drops the puts made before it", async () => {
    const workflow = `
nodes:
  - { id: s, kind: deterministic, role: start }
  - { id: draft, kind: deterministic, role: linear, interrupt: after }
  - { id: ask, kind: deterministic, role: linear }
  - { id: check, kind: deterministic, role: linear }
  - { id: e, kind: deterministic, role: exit }
edges:
  - { from: s, to: draft }
  - { from: draft, to: ask }
  - { from: ask, to: check }
  - { from: check, to: e }
`;
    let asks = 0;
    const handlers: Record<string, NodeHandler> = {
      draft: (_i, ctx) => {
        ctx.memory.put("facts", "draft", "v1");
        return "text";
      },
      ask: (_i, ctx) => {
        asks++;
        ctx.memory.put("facts", "ask", asks);
        const answer = ctx.interrupt({ q: "ok?" });
        return answer;
      },
      check: async (_i, ctx) => ({ draft: (await ctx.memory.get("facts", "draft")) ?? null, ask: (await ctx.memory.get("facts", "ask")) ?? null }),
    };
    await withEngine({ "workflow.yaml": workflow, "memory.yaml": MEMORY }, { handlers }, async (engine) => {
      const rejected = await engine.run({});
      assert.equal(rejected.status, "interrupted");
      const end = await engine.resume(rejected.runId, { answer: { approve: false, reason: "no" } });
      assert.equal(end.status, "failure");
      assert.equal(end.error?.code, "INTERRUPT_REJECTED");
      assert.equal(engine.getEvents({ type: "memory.written" }).length, 0);

      const approved = await engine.run({});
      const asked = await engine.resume(approved.runId, { answer: { approve: true } });
      assert.equal(asked.status, "interrupted");
      assert.equal(asked.interrupt?.nodeId, "ask");
      const done = await engine.resume(approved.runId, { answer: "yes" });
      assert.equal(done.status, "success", JSON.stringify(done.error));
      // The handler ran twice (before the answer, and with it): its first puts were dropped.
      assert.equal(asks, 2);
      assert.deepEqual(done.output, { draft: "v1", ask: 2 });
      assert.deepEqual(
        engine.getEvents({ type: "memory.written" }).map((e) => `${e.nodeId}:${(e.payload as { key: string }).key}`),
        ["draft:draft", "ask:ask"],
      );
    });
  });
});

describe("ctx.memory in isolation: worker handlers", () => {
  it("works as inline: reads as of the stage's start, own puts visible, the same coded errors (put synchronously)", { timeout: 60_000 }, async () => {
    const module = `
import { threadId } from "node:worker_threads";
const code = async (f) => { try { await f(); return "ok"; } catch (e) { return e.code; } };
export async function first(input, ctx) {
  ctx.memory.put("facts", "k", { from: "first" });
  ctx.memory.put("scratch", "x", 1);
  return {
    own: await ctx.memory.get("facts", "k"),
    list: await ctx.memory.list("facts", "k"),
    readOnly: await code(() => ctx.memory.put("voice", "k", 1)),
    notKv: await code(() => ctx.memory.get("voice", "k")),
    unknown: await code(() => ctx.memory.get("nope", "k")),
    notAllowed: await code(() => ctx.memory.put("guarded", "k", 1)),
    badValue: await code(() => ctx.memory.put("facts", "k", () => 1)),
    badKey: await code(() => ctx.memory.put("facts", "", 1)),
    worker: threadId > 0,
  };
}
export async function second(input, ctx) {
  return { k: await ctx.memory.get("facts", "k"), x: await ctx.memory.get("scratch", "x"), missing: (await ctx.memory.get("facts", "zz")) ?? null, worker: threadId > 0 };
}
`;
    const workflow = (isolation: string): string => `
nodes:
  - { id: s, kind: deterministic, role: start }
  - { id: a, kind: deterministic, role: linear, handler: "./h.mjs#first"${isolation} }
  - { id: b, kind: deterministic, role: linear, handler: "./h.mjs#second"${isolation} }
  - { id: e, kind: deterministic, role: exit }
edges:
  - { from: s, to: a }
  - { from: a, to: b }
  - { from: b, to: e }
`;
    const memory = `${MEMORY.replace("profiles:", "  - { id: guarded, kind: kv, scope: project, writers: [b] }\nprofiles:")}`;
    const outputs: unknown[] = [];
    for (const isolation of [", isolation: worker", ""]) {
      await withEngine({ "workflow.yaml": workflow(isolation), "memory.yaml": memory, "h.mjs": module }, {}, async (engine) => {
        const r = await engine.run({});
        assert.equal(r.status, "success", JSON.stringify(r.error));
        outputs.push(r.history.filter((h) => h.nodeId === "a" || h.nodeId === "b").map((h) => h.output));
        assert.deepEqual(
          engine.getEvents({ type: "memory.written" }).map((e) => `${e.nodeId} ${(e.payload as { store: string }).store}`),
          ["a facts", "a scratch"],
        );
      });
    }
    const [inWorker, inline] = outputs as [{ worker: boolean }[], { worker: boolean }[]];
    assert.ok(inWorker[0]!.worker && inWorker[1]!.worker);
    assert.ok(!inline[0]!.worker && !inline[1]!.worker);
    const strip = (o: { worker: boolean }[]): unknown => o.map(({ worker: _w, ...rest }) => rest);
    assert.deepEqual(strip(inWorker), strip(inline));
    assert.deepEqual(strip(inline), [
      {
        own: { from: "first" },
        list: [{ key: "k", value: { from: "first" } }],
        readOnly: "MEMORY_READ_ONLY",
        notKv: "MEMORY_NOT_KV",
        unknown: "MEMORY_UNKNOWN_STORE",
        notAllowed: "MEMORY_NOT_ALLOWED",
        badValue: "MEMORY_VALUE_INVALID",
        badKey: "MEMORY_KEY_INVALID",
      },
      { k: { from: "first" }, x: 1, missing: null },
    ]);
  });
});

describe("context profiles naming kv stores", () => {
  it("the context holds each entry as { store, key, value }, as of the stage's start, with the static items in profile order", async () => {
    const workflow = `
nodes:
  - { id: s, kind: deterministic, role: start }
  - { id: a, kind: deterministic, role: linear }
  - { id: b, kind: deterministic, role: linear, context: mem }
  - { id: e, kind: deterministic, role: exit }
edges:
  - { from: s, to: a }
  - { from: a, to: b }
  - { from: b, to: e }
`;
    const handlers: Record<string, NodeHandler> = {
      a: (_i, ctx) => {
        ctx.memory.put("facts", "tier", "gold");
        ctx.memory.put("scratch", "step", 1);
        return null;
      },
      b: (_i, ctx) => ctx.context,
    };
    await withEngine({ "workflow.yaml": workflow, "memory.yaml": MEMORY }, { handlers }, async (engine) => {
      const r = await engine.run({});
      assert.equal(r.status, "success", JSON.stringify(r.error));
      assert.deepEqual(r.output, {
        profile: "mem",
        items: ["Speak plainly.", { store: "facts", key: "tier", value: "gold" }, { store: "scratch", key: "step", value: 1 }],
      });
      const assembled = engine.getEvents({ type: "context.assembled" })[0]!;
      assert.equal((assembled.payload as { items: number }).items, 3);
    });
  });
});

describe("ctx.memory: bad input is a coded error", () => {
  it("unknown store, read-only store, non-kv read, non-JSON value, bad keys, a node not among the writers, a put after the stage ended", async () => {
    const codes: Record<string, string> = {};
    let late: (() => void) | undefined;
    const attempt = async (name: string, f: () => unknown): Promise<void> => {
      try {
        await f();
        codes[name] = "ok";
      } catch (err) {
        codes[name] = (err as { code?: string }).code ?? String(err);
      }
    };
    const handlers: Record<string, NodeHandler> = {
      a: async (_i, ctx) => {
        await attempt("unknown", () => ctx.memory.get("nope", "k"));
        await attempt("unknownPut", () => ctx.memory.put("nope", "k", 1));
        await attempt("readOnly", () => ctx.memory.put("voice", "k", 1));
        await attempt("notKv", () => ctx.memory.get("voice", "k"));
        await attempt("notKvList", () => ctx.memory.list("voice"));
        await attempt("fn", () => ctx.memory.put("facts", "k", () => 1));
        await attempt("nan", () => ctx.memory.put("facts", "k", Number.NaN));
        await attempt("undef", () => ctx.memory.put("facts", "k", undefined));
        await attempt("cycle", () => {
          const o: Record<string, unknown> = {};
          o["o"] = o;
          ctx.memory.put("facts", "k", o);
        });
        await attempt("emptyKey", () => ctx.memory.put("facts", "", 1));
        await attempt("numKey", () => ctx.memory.get("facts", 7 as unknown as string));
        await attempt("longKey", () => ctx.memory.put("facts", "k".repeat(1023), 1));
        await attempt("maxKey", () => ctx.memory.put("facts", "k".repeat(1022), 1));
        await attempt("allowed", () => ctx.memory.put("guarded", "k", 1));
        late = () => ctx.memory.put("facts", "late", 1);
        return null;
      },
      b: async (_i, ctx) => {
        await attempt("notWriter", () => ctx.memory.put("guarded", "k", 2));
        await attempt("late", () => late!());
        return null;
      },
    };
    const memory = `${MEMORY.replace("profiles:", "  - { id: guarded, kind: kv, scope: project, writers: [a] }\nprofiles:")}`;
    await withEngine({ "workflow.yaml": LINEAR, "memory.yaml": memory }, { handlers }, async (engine) => {
      const r = await engine.run({});
      assert.equal(r.status, "success", JSON.stringify(r.error));
    });
    assert.deepEqual(codes, {
      unknown: "MEMORY_UNKNOWN_STORE",
      unknownPut: "MEMORY_UNKNOWN_STORE",
      readOnly: "MEMORY_READ_ONLY",
      notKv: "MEMORY_NOT_KV",
      notKvList: "MEMORY_NOT_KV",
      fn: "MEMORY_VALUE_INVALID",
      nan: "MEMORY_VALUE_INVALID",
      undef: "MEMORY_VALUE_INVALID",
      cycle: "MEMORY_VALUE_INVALID",
      emptyKey: "MEMORY_KEY_INVALID",
      numKey: "MEMORY_KEY_INVALID",
      longKey: "MEMORY_KEY_INVALID",
      maxKey: "ok",
      allowed: "ok",
      notWriter: "MEMORY_NOT_ALLOWED",
      late: "MEMORY_NOT_ALLOWED",
    });
  });

  it("an uncaught memory error fails the node with its code; without kv stores ctx.memory says so", async () => {
    const handlers: Record<string, NodeHandler> = { a: (_i, ctx) => ctx.memory.put("voice", "k", 1) };
    await withEngine({ "workflow.yaml": LINEAR, "memory.yaml": MEMORY }, { handlers }, async (engine) => {
      const r = await engine.run({});
      assert.equal(r.status, "failure");
      assert.equal(r.error?.code, "MEMORY_READ_ONLY");
      assert.match(r.error!.message, /voice.*read-only/);
    });
    await withEngine({ "workflow.yaml": LINEAR }, { handlers: { a: (_i, ctx) => ctx.memory.get("facts", "k") } }, async (engine) => {
      const r = await engine.run({});
      assert.equal(r.error?.code, "MEMORY_UNKNOWN_STORE");
      assert.match(r.error!.message, /declares no kv store/);
    });
  });

  it("a custom run store without memory methods is refused at engine creation for project/global stores", async () => {
    const dir = await writeConfigDir({ "workflow.yaml": LINEAR, "memory.yaml": MEMORY });
    try {
      const store = { durable: false, createRun() {}, append() {}, update() {}, load: () => undefined, list: () => [], acquire: () => true, release() {}, close() {} };
      await assert.rejects(Engine.fromConfigDir(dir, { logger: silentLogger, store }), (err: Error & { code?: string }) => err.code === "INVALID_OPTION" && /keeps no memory/.test(err.message));
    } finally {
      await removeDir(dir);
    }
  });
});

describe("memory.yaml: kv stores are validated with file, path and line", () => {
  it("reports every problem at once", async () => {
    const memory = `stores:
  - { id: a, kind: kv }
  - { id: b, kind: kv, scope: task, items: [1], path: ./x.json }
  - { id: c, kind: static, items: [], scope: project, writers: [s] }
  - { id: d, kind: kv, scope: project, writers: [nobody, ag] }
  - { id: e, kind: kv, scope: galaxy }
`;
    const workflow = `
nodes:
  - { id: s, kind: deterministic, role: start }
  - { id: ag, kind: agent, role: linear, agent: helper }
  - { id: e, kind: deterministic, role: exit }
edges:
  - { from: s, to: ag }
  - { from: ag, to: e }
`;
    const agents = `
default_provider: offline
providers:
  - { id: offline, type: scripted, rules: [{ agent: helper, response: "hi" }] }
agents:
  - { id: helper, model: m, prompt: "x" }
`;
    const dir = await writeConfigDir({ "workflow.yaml": workflow, "memory.yaml": memory, "agents.yaml": agents });
    try {
      const err = await Engine.fromConfigDir(dir, { logger: silentLogger }).then(
        () => assert.fail("expected a ConfigError"),
        (e: unknown) => e,
      );
      assert.ok(err instanceof ConfigError, String(err));
      const got = err.details.map((d) => `${d.code} ${d.path} L${d.line ?? "?"}`);
      assert.deepEqual(got.sort(), [
        "CONFIG_SCHEMA /stores/0 L2",
        "CONFIG_SCHEMA /stores/1/items L3",
        "CONFIG_SCHEMA /stores/1/path L3",
        "CONFIG_SCHEMA /stores/2/scope L4",
        "CONFIG_SCHEMA /stores/2/writers L4",
        "CONFIG_SCHEMA /stores/3/writers/1 L5",
        "CONFIG_SCHEMA /stores/4/scope L6",
        "CONFIG_UNKNOWN_REF /stores/3/writers/0 L5",
      ].sort());
      for (const d of err.details) assert.ok(d.file?.endsWith("memory.yaml"), d.file);
      assert.match(err.details.find((d) => d.path === "/stores/0")!.message, /needs `scope`/);
      assert.match(err.details.find((d) => d.path === "/stores/3/writers/1")!.message, /agent node/);
    } finally {
      await removeDir(dir);
    }
  });

  it("the memory.written stream is identical under both scheduling modes for the fork scenario", async () => {
    const streams: unknown[] = [];
    for (const scheduling of SCHEDULINGS) {
      const dir = await writeConfigDir({ "workflow.yaml": FORKS, "memory.yaml": MEMORY });
      try {
        const engine = await Engine.fromConfigDir(dir, {
          logger: silentLogger,
          scheduling,
          handlers: {
            init: (_i, ctx) => {
              ctx.memory.put("facts", "n", 0);
              return null;
            },
            join: () => [1, 2, 3],
            work: async (input, ctx) => {
              await tick(3 - Number(input));
              ctx.memory.put("facts", `item${String(input)}`, ((await ctx.memory.get("facts", "n")) as number) + Number(input));
              return input;
            },
          },
        });
        await engine.run({});
        streams.push(normalizeEvents(engine.getEvents().filter((e) => e.type === "memory.written" || e.type === "node.completed")));
        await engine.shutdown();
      } finally {
        await removeDir(dir);
      }
    }
    assert.deepEqual(streams[0], streams[1]);
  });
});

const THREE = `
nodes:
  - { id: s, kind: deterministic, role: start }
  - { id: a, kind: deterministic, role: linear }
  - { id: b, kind: deterministic, role: linear }
  - { id: c, kind: deterministic, role: linear }
  - { id: e, kind: deterministic, role: exit }
edges:
  - { from: s, to: a }
  - { from: a, to: b }
  - { from: b, to: c }
  - { from: c, to: e }
`;

/** memory.written payloads as JSON, `node:payload`. */
const writes = (engine: Engine, taskId?: string): string[] =>
  engine.getEvents(taskId === undefined ? { type: "memory.written" } : { type: "memory.written", taskId }).map((e) => `${e.nodeId ?? ""}:${JSON.stringify(e.payload)}`);

describe("ctx.memory.delete", () => {
  for (const scheduling of SCHEDULINGS) {
    it(`removes a key of every scope at the commit: later stages and runs do not see it, the stage sees its own deletes, put/delete of one key collapse to the last (${scheduling})`, async () => {
      const handlers: Record<string, NodeHandler> = {
        a: async (_i, ctx) => {
          const before = { facts: await ctx.memory.list("facts"), g: (await ctx.memory.get("prefs", "g")) ?? null };
          ctx.memory.put("facts", "k1", 1);
          ctx.memory.put("facts", "k2", 2);
          ctx.memory.put("prefs", "g", "G");
          ctx.memory.put("scratch", "t1", 1);
          ctx.memory.put("scratch", "t2", 2);
          return before;
        },
        b: async (_i, ctx) => {
          const seen = { k1: await ctx.memory.get("facts", "k1"), t1: await ctx.memory.get("scratch", "t1") };
          const r1: unknown = ctx.memory.delete("facts", "k1");
          ctx.memory.delete("prefs", "g");
          ctx.memory.delete("scratch", "t1");
          ctx.memory.delete("facts", "missing"); // no value: no error
          ctx.memory.put("facts", "pd", "x");
          ctx.memory.delete("facts", "pd"); // the delete wins
          ctx.memory.delete("facts", "dp");
          ctx.memory.put("facts", "dp", "y"); // the put wins
          return {
            seen,
            r1: r1 === undefined,
            own: { k1: (await ctx.memory.get("facts", "k1")) ?? null, g: (await ctx.memory.get("prefs", "g")) ?? null, t1: (await ctx.memory.get("scratch", "t1")) ?? null, pd: (await ctx.memory.get("facts", "pd")) ?? null },
            facts: await ctx.memory.list("facts"),
            scratch: await ctx.memory.list("scratch"),
          };
        },
        c: async (input, ctx) => ({
          b: input,
          k1: (await ctx.memory.get("facts", "k1")) ?? null,
          g: (await ctx.memory.get("prefs", "g")) ?? null,
          t1: (await ctx.memory.get("scratch", "t1")) ?? null,
          facts: await ctx.memory.list("facts"),
          prefs: await ctx.memory.list("prefs"),
          scratch: await ctx.memory.list("scratch"),
        }),
      };
      await withEngine({ "workflow.yaml": THREE, "memory.yaml": MEMORY }, { handlers, scheduling }, async (engine) => {
        const first = await engine.run({});
        assert.equal(first.status, "success", JSON.stringify(first.error));
        const after = { facts: [{ key: "dp", value: "y" }, { key: "k2", value: 2 }], scratch: [{ key: "t2", value: 2 }] };
        assert.deepEqual(first.output, {
          b: { seen: { k1: 1, t1: 1 }, r1: true, own: { k1: null, g: null, t1: null, pd: null }, ...after },
          k1: null,
          g: null,
          t1: null,
          ...after,
          prefs: [],
        });
        assert.deepEqual(first.history.find((h) => h.nodeId === "a")!.output, { facts: [], g: null });
        // One event per key, at its first position; a put's payload has no `deleted` field.
        assert.deepEqual(writes(engine, first.taskId), [
          'a:{"store":"facts","scope":"project","key":"k1"}',
          'a:{"store":"facts","scope":"project","key":"k2"}',
          'a:{"store":"prefs","scope":"global","key":"g"}',
          'a:{"store":"scratch","scope":"task","key":"t1"}',
          'a:{"store":"scratch","scope":"task","key":"t2"}',
          'b:{"store":"facts","scope":"project","key":"k1","deleted":true}',
          'b:{"store":"prefs","scope":"global","key":"g","deleted":true}',
          'b:{"store":"scratch","scope":"task","key":"t1","deleted":true}',
          'b:{"store":"facts","scope":"project","key":"missing","deleted":true}',
          'b:{"store":"facts","scope":"project","key":"pd","deleted":true}',
          'b:{"store":"facts","scope":"project","key":"dp"}',
        ]);
        // The next run reads the run store without the deleted keys.
        const second = await engine.run({});
        assert.deepEqual(second.history.find((h) => h.nodeId === "a")!.output, { facts: [{ key: "dp", value: "y" }, { key: "k2", value: 2 }], g: null });
      });
    });
  }

  it("a failed stage's deletes are discarded, as its puts are", async () => {
    const handlers: Record<string, NodeHandler> = {
      a: (_i, ctx) => {
        ctx.memory.put("facts", "k", 1);
        ctx.memory.put("scratch", "k", 1);
        return null;
      },
      b: (_i, ctx) => {
        ctx.memory.delete("facts", "k");
        ctx.memory.delete("scratch", "k");
        throw new Error("boom");
      },
      c: async (_i, ctx) => ({ facts: await ctx.memory.list("facts"), scratch: await ctx.memory.list("scratch") }),
    };
    const workflow = THREE.replace("{ id: b, kind: deterministic, role: linear }", "{ id: b, kind: deterministic, role: linear, continue_on_failure: true }");
    await withEngine({ "workflow.yaml": workflow, "memory.yaml": MEMORY }, { handlers }, async (engine) => {
      const r = await engine.run({});
      assert.equal(r.status, "partial");
      assert.deepEqual(r.output, { facts: [{ key: "k", value: 1 }], scratch: [{ key: "k", value: 1 }] });
      assert.deepEqual(writes(engine), ['a:{"store":"facts","scope":"project","key":"k"}', 'a:{"store":"scratch","scope":"task","key":"k"}']);
    });
  });

  it("bad deletes throw the coded errors synchronously: unknown store, read-only store, a node not among the writers, bad keys, after the stage ended, no kv stores", async () => {
    const codes: Record<string, string> = {};
    let late: (() => void) | undefined;
    const sync = (name: string, f: () => unknown): void => {
      try {
        const r = f();
        codes[name] = r === undefined ? "ok" : "returned something";
      } catch (err) {
        codes[name] = (err as { code?: string }).code ?? String(err);
      }
    };
    const handlers: Record<string, NodeHandler> = {
      a: (_i, ctx) => {
        sync("unknown", () => ctx.memory.delete("nope", "k"));
        sync("notString", () => ctx.memory.delete(3 as unknown as string, "k"));
        sync("readOnly", () => ctx.memory.delete("voice", "k"));
        sync("emptyKey", () => ctx.memory.delete("facts", ""));
        sync("numKey", () => ctx.memory.delete("facts", 7 as unknown as string));
        sync("longKey", () => ctx.memory.delete("facts", "k".repeat(1023)));
        sync("allowed", () => ctx.memory.delete("guarded", "k"));
        sync("missing", () => ctx.memory.delete("facts", "never-written"));
        late = () => ctx.memory.delete("facts", "late");
        return null;
      },
      b: (_i, ctx) => {
        sync("notWriter", () => ctx.memory.delete("guarded", "k"));
        sync("late", () => late!());
        return null;
      },
    };
    const memory = `${MEMORY.replace("profiles:", "  - { id: guarded, kind: kv, scope: project, writers: [a] }\nprofiles:")}`;
    await withEngine({ "workflow.yaml": LINEAR, "memory.yaml": memory }, { handlers }, async (engine) => {
      const r = await engine.run({});
      assert.equal(r.status, "success", JSON.stringify(r.error));
    });
    assert.deepEqual(codes, {
      unknown: "MEMORY_UNKNOWN_STORE",
      notString: "MEMORY_UNKNOWN_STORE",
      readOnly: "MEMORY_READ_ONLY",
      emptyKey: "MEMORY_KEY_INVALID",
      numKey: "MEMORY_KEY_INVALID",
      longKey: "MEMORY_KEY_INVALID",
      allowed: "ok",
      missing: "ok",
      notWriter: "MEMORY_NOT_ALLOWED",
      late: "MEMORY_NOT_ALLOWED",
    });
    // Uncaught: the node fails with the code; the message names the call.
    await withEngine({ "workflow.yaml": LINEAR, "memory.yaml": memory }, { handlers: { b: (_i, ctx) => ctx.memory.delete("guarded", "k") } }, async (engine) => {
      const r = await engine.run({});
      assert.equal(r.error?.code, "MEMORY_NOT_ALLOWED");
      assert.match(r.error!.message, /ctx\.memory\.delete: node "b" may not write kv store "guarded"/);
    });
    await withEngine({ "workflow.yaml": LINEAR }, { handlers: { a: (_i, ctx) => ctx.memory.delete("facts", "k") } }, async (engine) => {
      const r = await engine.run({});
      assert.equal(r.error?.code, "MEMORY_UNKNOWN_STORE");
      assert.match(r.error!.message, /ctx\.memory\.delete: .*declares no kv store/);
    });
  });

  for (const scheduling of SCHEDULINGS) {
    it(`task scope: a clone's delete changes its own copy only (not its sibling's, not the parent's the merge continues with) (${scheduling})`, async () => {
      const workflow = `
nodes:
  - { id: s, kind: deterministic, role: start }
  - { id: init, kind: deterministic, role: linear }
  - { id: br, kind: deterministic, role: branch }
  - { id: left1, kind: deterministic, role: linear }
  - { id: left2, kind: deterministic, role: linear }
  - { id: right, kind: deterministic, role: linear }
  - { id: join, kind: deterministic, role: merge }
  - { id: sp, kind: deterministic, role: split }
  - { id: work, kind: deterministic, role: linear }
  - { id: gather, kind: deterministic, role: merge }
  - { id: e, kind: deterministic, role: exit }
edges:
  - { from: s, to: init }
  - { from: init, to: br }
  - { from: br, to: left1 }
  - { from: br, to: right }
  - { from: left1, to: left2 }
  - { from: left2, to: join }
  - { from: right, to: join }
  - { from: join, to: sp }
  - { from: sp, to: work }
  - { from: work, to: gather }
  - { from: gather, to: e }
`;
      const seen: Record<string, unknown> = {};
      const handlers: Record<string, NodeHandler> = {
        init: (_i, ctx) => {
          ctx.memory.put("scratch", "k", "root");
          ctx.memory.put("scratch", "keep", 1);
          return null;
        },
        left1: (_i, ctx) => {
          ctx.memory.delete("scratch", "k");
          return null;
        },
        left2: async (_i, ctx) => {
          seen["left2"] = { k: (await ctx.memory.get("scratch", "k")) ?? null, list: await ctx.memory.list("scratch") };
          return null;
        },
        right: async (_i, ctx) => {
          await tick(5);
          seen["right"] = (await ctx.memory.get("scratch", "k")) ?? null;
          return null;
        },
        join: async (_i, ctx) => {
          seen["join"] = await ctx.memory.list("scratch");
          return [1, 2, 3];
        },
        sp: (input) => input,
        work: async (input, ctx) => {
          if (input === 2) ctx.memory.delete("scratch", "k");
          await tick(Number(input) % 2);
          return (await ctx.memory.get("scratch", "k")) ?? null;
        },
        gather: async (input, ctx) => ({ k: (await ctx.memory.get("scratch", "k")) ?? null, items: input }),
      };
      await withEngine({ "workflow.yaml": workflow, "memory.yaml": MEMORY }, { handlers, scheduling }, async (engine) => {
        const r = await engine.run({});
        assert.equal(r.status, "success", JSON.stringify(r.error));
        assert.deepEqual(seen["left2"], { k: null, list: [{ key: "keep", value: 1 }] });
        assert.equal(seen["right"], "root");
        assert.deepEqual(seen["join"], [
          { key: "k", value: "root" },
          { key: "keep", value: 1 },
        ]);
        const works = r.children.filter((c) => c.history.some((h) => h.nodeId === "work")).map((c) => c.history.at(-1)!.output);
        assert.deepEqual(works, ["root", null, "root"]);
        assert.equal((r.output as { k: string }).k, "root");
      });
    });
  }

  it("a reader running ahead uses an earlier stage's known delete once its order is known (eager equals waves)", { timeout: 60_000 }, async () => {
    // The loop is held at `slow` (wave 4). Meanwhile w1 (put x) and w2 (delete k and j) of wave 4
    // have their outcomes, and r2 (wave 5) reads: it must see w2's deletes, not seed's values.
    const workflow = `
nodes:
  - { id: s, kind: deterministic, role: start }
  - { id: seed, kind: deterministic, role: linear }
  - { id: br, kind: deterministic, role: branch }
  - { id: slow, kind: deterministic, role: linear }
  - { id: w1, kind: deterministic, role: linear }
  - { id: w2, kind: deterministic, role: linear }
  - { id: r1, kind: deterministic, role: linear }
  - { id: r2, kind: deterministic, role: linear }
  - { id: join, kind: deterministic, role: merge }
  - { id: e, kind: deterministic, role: exit }
edges:
  - { from: s, to: seed }
  - { from: seed, to: br }
  - { from: br, to: slow }
  - { from: br, to: w1 }
  - { from: br, to: w2 }
  - { from: br, to: r1 }
  - { from: r1, to: r2 }
  - { from: slow, to: join }
  - { from: w1, to: join }
  - { from: w2, to: join }
  - { from: r2, to: join }
  - { from: join, to: e }
`;
    const memory = `
stores:
  - { id: facts, kind: kv, scope: project, writers: [seed, w1, w2] }
`;
    const results: unknown[] = [];
    for (const options of [{ scheduling: "waves" }, { scheduling: "eager" }, { scheduling: "eager", maxConcurrency: 2 }] as const) {
      let r2Done = false;
      const handlers: Record<string, NodeHandler> = {
        seed: (_i, ctx) => {
          ctx.memory.put("facts", "k", "seed");
          ctx.memory.put("facts", "j", "seed");
          return null;
        },
        slow: async () => {
          await tick(60);
          return r2Done;
        },
        w1: (_i, ctx) => {
          ctx.memory.put("facts", "x", "w1");
          return null;
        },
        w2: (_i, ctx) => {
          ctx.memory.delete("facts", "k");
          ctx.memory.delete("facts", "j");
          return null;
        },
        r2: async (_i, ctx) => {
          const out = { k: (await ctx.memory.get("facts", "k")) ?? null, j: (await ctx.memory.get("facts", "j")) ?? null, all: await ctx.memory.list("facts") };
          r2Done = true;
          return out;
        },
      };
      await withEngine({ "workflow.yaml": workflow, "memory.yaml": memory }, { handlers, ...options }, async (engine) => {
        const r = await engine.run({});
        assert.equal(r.status, "success", JSON.stringify(r.error));
        const outputs = Object.fromEntries(r.children.flatMap((c) => c.history).map((h) => [h.nodeId, h.output]));
        // Under eager scheduling r2 really ran ahead: it was done before `slow` returned.
        if (options.scheduling === "eager" && !("maxConcurrency" in options)) assert.equal(outputs["slow"], true);
        results.push(outputs["r2"]);
      });
    }
    assert.deepEqual(results[0], { k: null, j: null, all: [{ key: "x", value: "w1" }] });
    for (const r of results.slice(1)) assert.deepEqual(r, results[0]);
  });
});

describe("ctx.memory.delete in isolation: worker handlers", () => {
  it("works as inline: checked in the worker with the same coded errors (synchronously), carried out by the engine, own deletes visible", { timeout: 60_000 }, async () => {
    const module = `
import { threadId } from "node:worker_threads";
const code = (f) => { try { const r = f(); return r === undefined ? "ok" : "returned"; } catch (e) { return e.code; } };
export async function first(input, ctx) {
  ctx.memory.put("facts", "k", 1);
  ctx.memory.put("facts", "j", 2);
  ctx.memory.put("scratch", "x", 3);
  return { worker: threadId > 0 };
}
export async function second(input, ctx) {
  const errors = {
    readOnly: code(() => ctx.memory.delete("voice", "k")),
    unknown: code(() => ctx.memory.delete("nope", "k")),
    notAllowed: code(() => ctx.memory.delete("guarded", "k")),
    badKey: code(() => ctx.memory.delete("facts", "")),
    missing: code(() => ctx.memory.delete("facts", "zz")),
  };
  ctx.memory.delete("facts", "k");
  ctx.memory.delete("scratch", "x");
  return { errors, k: (await ctx.memory.get("facts", "k")) ?? null, facts: await ctx.memory.list("facts"), scratch: await ctx.memory.list("scratch"), worker: threadId > 0 };
}
export async function third(input, ctx) {
  return { k: (await ctx.memory.get("facts", "k")) ?? null, x: (await ctx.memory.get("scratch", "x")) ?? null, facts: await ctx.memory.list("facts"), worker: threadId > 0 };
}
`;
    const workflow = (isolation: string): string => `
nodes:
  - { id: s, kind: deterministic, role: start }
  - { id: a, kind: deterministic, role: linear, handler: "./h.mjs#first"${isolation} }
  - { id: b, kind: deterministic, role: linear, handler: "./h.mjs#second"${isolation} }
  - { id: c, kind: deterministic, role: linear, handler: "./h.mjs#third"${isolation} }
  - { id: e, kind: deterministic, role: exit }
edges:
  - { from: s, to: a }
  - { from: a, to: b }
  - { from: b, to: c }
  - { from: c, to: e }
`;
    const memory = `${MEMORY.replace("profiles:", "  - { id: guarded, kind: kv, scope: project, writers: [a] }\nprofiles:")}`;
    const outputs: unknown[] = [];
    const streams: unknown[] = [];
    for (const isolation of [", isolation: worker", ""]) {
      await withEngine({ "workflow.yaml": workflow(isolation), "memory.yaml": memory, "h.mjs": module }, {}, async (engine) => {
        const r = await engine.run({});
        assert.equal(r.status, "success", JSON.stringify(r.error));
        outputs.push(["a", "b", "c"].map((id) => r.history.find((h) => h.nodeId === id)!.output));
        streams.push(writes(engine));
      });
    }
    const [inWorker, inline] = outputs as [{ worker: boolean }[], { worker: boolean }[]];
    assert.ok(inWorker.every((o) => o.worker));
    assert.ok(inline.every((o) => !o.worker));
    const strip = (o: { worker: boolean }[]): unknown => o.map(({ worker: _w, ...rest }) => rest);
    assert.deepEqual(strip(inWorker), strip(inline));
    assert.deepEqual(strip(inline), [
      {},
      {
        errors: { readOnly: "MEMORY_READ_ONLY", unknown: "MEMORY_UNKNOWN_STORE", notAllowed: "MEMORY_NOT_ALLOWED", badKey: "MEMORY_KEY_INVALID", missing: "ok" },
        k: null,
        facts: [{ key: "j", value: 2 }],
        scratch: [],
      },
      { k: null, x: null, facts: [{ key: "j", value: 2 }] },
    ]);
    assert.deepEqual(streams[0], streams[1]);
    assert.deepEqual(streams[0], [
      'a:{"store":"facts","scope":"project","key":"k"}',
      'a:{"store":"facts","scope":"project","key":"j"}',
      'a:{"store":"scratch","scope":"task","key":"x"}',
      'b:{"store":"facts","scope":"project","key":"zz","deleted":true}',
      'b:{"store":"facts","scope":"project","key":"k","deleted":true}',
      'b:{"store":"scratch","scope":"task","key":"x","deleted":true}',
    ]);
  });
});

describe("ctx.memory.delete: durability", () => {
  it("a delete is journaled with its commit: a run cut short at every commit point resumes to the same result and memory, each write (puts and deletes) applied once", { timeout: 120_000 }, async () => {
    const memory = `
stores:
  - { id: facts, kind: kv, scope: project }
  - { id: prefs, kind: kv, scope: global }
  - { id: scratch, kind: kv, scope: task }
`;
    const handlers = (executed: string[]): Record<string, NodeHandler> => ({
      a: (_i, ctx) => {
        executed.push("a");
        ctx.memory.put("facts", "k", 1);
        ctx.memory.put("facts", "stay", 1);
        ctx.memory.put("prefs", "g", 1);
        ctx.memory.put("scratch", "t", 1);
        return null;
      },
      b: (_i, ctx) => {
        executed.push("b");
        ctx.memory.delete("facts", "k");
        ctx.memory.delete("prefs", "g");
        ctx.memory.delete("scratch", "t");
        return null;
      },
      c: async (_i, ctx) => {
        executed.push("c");
        return { k: (await ctx.memory.get("facts", "k")) ?? null, g: (await ctx.memory.get("prefs", "g")) ?? null, t: (await ctx.memory.get("scratch", "t")) ?? null, facts: await ctx.memory.list("facts") };
      },
    });
    const dir = await writeConfigDir({ "workflow.yaml": THREE, "memory.yaml": memory });
    const runOn = async (store: CrashingStore, executed: string[], resume?: string): Promise<RunResult> => {
      const engine = await Engine.fromConfigDir(dir, { logger: silentLogger, handlers: handlers(executed), store });
      try {
        return resume === undefined ? await engine.run({}) : await engine.resume(resume);
      } finally {
        await engine.shutdown();
      }
    };
    try {
      const whole = new CrashingStore(Number.POSITIVE_INFINITY);
      const reference = await runOn(whole, []);
      const expected = { k: null, g: null, t: null, facts: [{ key: "stay", value: 1 }] };
      assert.deepEqual(reference.output, expected);
      assert.deepEqual(whole.applied, ["facts/k=1", "facts/stay=1", "prefs/g=1", "facts/k deleted", "prefs/g deleted"]);
      assert.deepEqual([...whole.memory.keys()], [`project|${dir}|facts|stay`]);
      // The journal carries the delete: b's outcome and the record's shared writes.
      const bRecord = whole.records.find((r) => r.outcomes.some((o) => o.key.includes("\u0000b\u0000")))!;
      assert.deepEqual(bRecord.outcomes.find((o) => o.key.includes("\u0000b\u0000"))!.outcome.writes, [
        { store: "facts", scope: "project", key: "k", deleted: true },
        { store: "prefs", scope: "global", key: "g", deleted: true },
        { store: "scratch", scope: "task", key: "t", deleted: true },
      ]);
      let cutAfterDelete = 0;
      for (let at = 0; at < whole.records.length; at++) {
        const store = new CrashingStore(at);
        const first = await runOn(store, []);
        assert.ok(store.killed, `commit point ${at} was not reached`);
        const survivor = store.survivor();
        const committed = new Set(survivor.outcomeKeys(first.runId).map((k) => k.split("\u0000")[1]));
        if (committed.has("b")) cutAfterDelete++;
        const executed: string[] = [];
        const resumed = await runOn(survivor, executed, first.runId);
        assert.equal(resumed.status, "success", `cut at ${at}: ${JSON.stringify(resumed.error)}`);
        assert.deepEqual(resumed.output, expected, `cut at ${at}`);
        for (const id of executed) assert.ok(!committed.has(id), `cut at ${at}: committed stage ${id} ran again`);
        assert.deepEqual([...survivor.memory].sort(), [...whole.memory].sort(), `cut at ${at}: final memory differs`);
        assert.deepEqual(survivor.applied, whole.applied, `cut at ${at}: a write lost or applied twice`);
      }
      assert.ok(cutAfterDelete > 0, "some cut falls after the delete was committed");
    } finally {
      await removeDir(dir);
    }
  });
});

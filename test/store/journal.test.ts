/**
 * The journal's promise to plugins (CONTRACT §11): with a durable store, an event reaches plugins
 * only once the commit that emitted it is stored. Checked from inside a plugin with a second,
 * independent connection to the same SQLite file. And group commit: commits that follow each
 * other without a wait share one transaction (a linear chain of awaited stages costs one store
 * commit per stage, not two).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, test } from "node:test";
import Database from "better-sqlite3";
import type { JsonValue } from "../../src/json.js";
import { PluginBase } from "../../src/plugins/PluginBase.js";
import { Engine } from "../../src/runtime/Engine.js";
import type { NodeHandler } from "../../src/runtime/types.js";
import { EngineRunStore } from "../../src/store/EngineRunStore.js";
import { openStore } from "../../src/store/index.js";
import type { EngineEvent } from "../../src/telemetry/events.js";
import { silentLogger } from "../../src/telemetry/logger.js";
import { removeDir, writeConfigDir } from "../helpers.js";

const CHAIN = `
nodes:
  - { id: n0, kind: deterministic, role: start }
${Array.from({ length: 8 }, (_, i) => `  - { id: n${i + 1}, kind: deterministic, role: linear }`).join("\n")}
  - { id: n9, kind: deterministic, role: exit }
edges:
${Array.from({ length: 9 }, (_, i) => `  - { from: n${i}, to: n${i + 1} }`).join("\n")}
`;

const FAN = `
nodes:
  - { id: begin, kind: deterministic, role: start }
  - { id: fan, kind: deterministic, role: branch }
  - { id: a, kind: deterministic, role: linear }
  - { id: b, kind: deterministic, role: linear }
  - { id: join, kind: deterministic, role: merge }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: begin, to: fan }
  - { from: fan, to: a }
  - { from: fan, to: b }
  - { from: a, to: join }
  - { from: b, to: join }
  - { from: join, to: done }
`;

/** Checks, on every event, that the journal in the file already holds at least as many events as were delivered. */
class JournalWitness extends PluginBase {
  delivered = 0;
  readonly problems: string[] = [];
  private db: Database.Database | undefined;
  constructor(private readonly path: string) {
    super("witness");
  }
  onEvent(event: Readonly<EngineEvent>): void {
    this.delivered++;
    this.db ??= new Database(this.path, { readonly: true, fileMustExist: true });
    const stored = (this.db.prepare("SELECT count(*) AS n FROM ae_events").get() as { n: number }).n;
    if (stored < this.delivered) this.problems.push(`event ${this.delivered} (${event.type}${event.nodeId ? ` at ${event.nodeId}` : ""}) delivered with ${stored} events stored`);
  }
  override onShutdown(): void {
    this.db?.close();
  }
}

async function check(workflow: string, handlers: Record<string, NodeHandler>, maxCommits: number): Promise<void> {
  const dir = await writeConfigDir({ "workflow.yaml": workflow });
  const path = join(dir, "runs.db");
  try {
    const store = new EngineRunStore(await openStore(`sqlite:${path}`));
    let commits = 0;
    const inner = store.store;
    const commit = inner.commit.bind(inner);
    inner.commit = (runId, batch) => {
      if (batch.events.length > 0) commits++;
      return commit(runId, batch);
    };
    const witness = new JournalWitness(path);
    const engine = await Engine.fromConfigDir(dir, { logger: silentLogger, store, plugins: [witness], handlers });
    try {
      const r = await engine.run({ n: 0 });
      assert.equal(r.status, "success", JSON.stringify(r.error));
      assert.equal(witness.delivered, engine.getEvents().length);
      assert.deepEqual(witness.problems, []);
      assert.ok(commits <= maxCommits, `${commits} store commits with events, expected at most ${maxCommits}`);
    } finally {
      await engine.shutdown();
    }
  } finally {
    await removeDir(dir);
  }
}

const step = (i: number): NodeHandler => (input) => ({ ...(input as Record<string, JsonValue>), n: i });
const later = (h: NodeHandler): NodeHandler => (input, ctx) => new Promise((resolve) => setImmediate(() => resolve(h(input, ctx))));

describe("journal: events reach plugins only once stored; group commit", () => {
  test("linear chain of awaited handlers: one store commit per stage", () =>
    check(CHAIN, Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`n${i}`, later(step(i))])), 11));

  test("linear chain of synchronous handlers: at most one store commit per wave", () =>
    check(CHAIN, Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`n${i}`, step(i)])), 11));

  test("branch and merge with awaited handlers", () =>
    check(FAN, { begin: later(step(0)), fan: later(step(1)), a: later(step(2)), b: later(step(3)), join: later(() => ({ joined: true })), done: later((i) => i) }, 7));
});

/**
 * `agent-engine runs` and the store's bad input, through the real CLI (CONTRACT §11, issue 11):
 * retention (`--prune --older-than`, finished runs only unless `--include-unfinished`), the
 * journal export equal to what `run --events` wrote, a damaged or newer-schema database refused
 * with a coded error and left untouched, and an answer to a run that waits for none.
 */
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import Database from "better-sqlite3";
import { SCHEMA_VERSION } from "../../src/store/index.js";
import { removeDir, writeConfigDir } from "../helpers.js";
import { KILL_PLUGIN, cli, hasStackTrace } from "./harness.js";

const WORKFLOW = `
nodes:
  - { id: begin, kind: deterministic, role: start }
  - { id: check, kind: deterministic, role: linear, handler: ./h.mjs#check }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: begin, to: check }
  - { from: check, to: done }
`;
// `{"ask": true}` makes the run wait for an answer.
const HANDLERS = `export function check(input, ctx) { return input.ask ? { answer: ctx.interrupt("ok?") } : { checked: true }; }\n`;

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map(removeDir));
});
async function project(extra: Record<string, string> = {}): Promise<{ dir: string; store: string; path: string }> {
  const dir = await writeConfigDir({ "workflow.yaml": WORKFLOW, "h.mjs": HANDLERS, ...extra });
  dirs.push(dir);
  const path = join(dir, "runs.db");
  return { dir, store: `sqlite:${path}`, path };
}

interface Listed {
  readonly id: string;
  readonly status: string;
}

async function list(dir: string, store: string): Promise<Listed[]> {
  const out = await cli(["runs", dir, "--store", store, "--json"]);
  assert.equal(out.code, 0, out.stderr);
  return JSON.parse(out.stdout) as Listed[];
}

describe("runs: retention and export", () => {
  test("--export prints the journal as the JSONL that run --events wrote", async () => {
    const { dir, store } = await project();
    const run = await cli(["run", dir, "--store", store, "--quiet", "--events", join(dir, "events.jsonl"), "--input", "{}"]);
    assert.equal(run.code, 0, run.stderr);
    const runId = (JSON.parse(run.stdout) as { runId: string }).runId;
    const exported = await cli(["runs", dir, "--store", store, "--export", runId]);
    assert.equal(exported.code, 0, exported.stderr);
    assert.equal(exported.stdout, await readFile(join(dir, "events.jsonl"), "utf8"));
  });

  test("--prune --older-than removes finished runs (journal included), keeps waiting ones unless --include-unfinished", async () => {
    const { dir, store } = await project();
    const done = JSON.parse((await cli(["run", dir, "--store", store, "--quiet", "--input", "{}"])).stdout) as { runId: string };
    const waiting = await cli(["run", dir, "--store", store, "--quiet", "--input", '{"ask":true}']);
    assert.equal(waiting.code, 3);
    assert.equal((await list(dir, store)).length, 2);

    const old = await cli(["runs", dir, "--store", store, "--prune", "--older-than", "30d"]);
    assert.equal(old.code, 0, old.stderr);
    assert.match(old.stderr, /pruned 0 runs last updated more than 30d ago/);
    assert.equal((await list(dir, store)).length, 2);

    const now = await cli(["runs", dir, "--store", store, "--prune", "--older-than", "0s"]);
    assert.equal(now.code, 0, now.stderr);
    assert.match(now.stderr, /pruned 1 run /);
    assert.deepEqual((await list(dir, store)).map((r) => r.status), ["interrupted"]);
    const gone = await cli(["runs", dir, "--store", store, "--export", done.runId]);
    assert.equal(gone.code, 2);
    assert.match(gone.stderr, /RUN_NOT_FOUND/);

    const all = await cli(["runs", dir, "--store", store, "--prune", "--older-than", "0s", "--include-unfinished"]);
    assert.equal(all.code, 0, all.stderr);
    assert.deepEqual(await list(dir, store), []);
  });

  test("--prune without --older-than, or with an age that is not one, is a usage error (exit 2) and deletes nothing", async () => {
    const { dir, store } = await project();
    await cli(["run", dir, "--store", store, "--quiet", "--input", "{}"]);
    for (const args of [["--prune"], ["--prune", "--older-than", "a month"], ["--prune", "--older-than", "30"]]) {
      const out = await cli(["runs", dir, "--store", store, ...args]);
      assert.equal(out.code, 2, args.join(" "));
      assert.match(out.stderr, /CLI_USAGE/);
    }
    assert.equal((await list(dir, store)).length, 1);
  });
});

describe("run store bad input, from the CLI", () => {
  test("a file that is not a SQLite database: run, resume and runs exit 2 with STORE_CORRUPT; the file is not touched", async () => {
    const { dir, store, path } = await project();
    const bytes = Buffer.from("notes, not a database ".repeat(300));
    await writeFile(path, bytes);
    for (const args of [["run", dir, "--store", store, "--quiet"], ["resume", dir, "run-x", "--store", store, "--quiet"], ["runs", dir, "--store", store]]) {
      const out = await cli(args);
      assert.equal(out.code, 2, `${args[0]}: ${out.stderr}`);
      assert.match(out.stderr, /\[STORE_CORRUPT\]/, args[0]);
      assert.ok(!hasStackTrace(out.stderr), out.stderr);
    }
    assert.deepEqual(await readFile(path), bytes);
  });

  test("a database written by a newer agent-engine: STORE_SCHEMA_TOO_NEW naming both versions; its runs are untouched", async () => {
    const { dir, store, path } = await project();
    const first = await cli(["run", dir, "--store", store, "--quiet", "--input", '{"ask":true}']);
    assert.equal(first.code, 3);
    const db = new Database(path);
    db.prepare("INSERT INTO ae_schema_version (version, description, applied_at) VALUES (?, 'from the future', 0)").run(SCHEMA_VERSION + 1);
    const before = db.prepare("SELECT id, status, last_seq FROM ae_runs").all();
    db.close();
    const runId = (JSON.parse(first.stdout) as { runId: string }).runId;
    for (const args of [["run", dir, "--store", store, "--quiet"], ["resume", dir, runId, "--store", store, "--quiet", "--answer", "true"], ["runs", dir, "--store", store]]) {
      const out = await cli(args);
      assert.equal(out.code, 2, `${args[0]}: ${out.stderr}`);
      assert.match(out.stderr, new RegExp(`\\[STORE_SCHEMA_TOO_NEW\\].*version ${SCHEMA_VERSION + 1}`), args[0]);
    }
    const check = new Database(path, { readonly: true });
    assert.deepEqual(check.prepare("SELECT id, status, last_seq FROM ae_runs").all(), before);
    check.close();
  });

  test("an answer to a run that was cut short (not interrupted) is INTERRUPT_UNKNOWN; resumed without one, it completes", async () => {
    const { dir, store } = await project(KILL_PLUGIN);
    const killed = await cli(["run", dir, "--store", store, "--quiet", "--input", "{}"], { env: { AE_KILL_AT: "node.completed:begin" } });
    assert.equal(killed.signal, "SIGKILL");
    const [row] = await list(dir, store);
    assert.equal(row!.status, "running");
    const answered = await cli(["resume", dir, row!.id, "--store", store, "--quiet", "--answer", '"yes"']);
    assert.equal(answered.code, 2);
    assert.match(answered.stderr, /\[INTERRUPT_UNKNOWN\].*waits for no answer/);
    assert.equal((await list(dir, store))[0]!.status, "running");
    const resumed = await cli(["resume", dir, row!.id, "--store", store, "--quiet", "--output-only"]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.deepEqual(JSON.parse(resumed.stdout), { checked: true });
  });
});

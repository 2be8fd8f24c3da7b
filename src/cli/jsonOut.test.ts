import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import type { RunResult } from "../runtime/types.js";
import { stringifyResult, writeJsonFile } from "./jsonOut.js";
import type { CliIO } from "./output.js";
import { printResult } from "./run.js";

function deep(depth: number): unknown {
  let v: unknown = { leaf: true };
  for (let i = 0; i < depth; i++) v = { v };
  return v;
}

test("writeJsonFile writes what JSON.stringify would, for any JSON value", async () => {
  const dir = await mkdtemp(join(tmpdir(), "agent-engine-json-"));
  try {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), async (value) => {
        const path = join(dir, "v.json");
        writeJsonFile(path, value);
        assert.equal((await readFile(path, "utf8")).trimEnd(), JSON.stringify(value));
      }),
      { numRuns: 200 },
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a result too deep for JSON.stringify is a coded error on stderr, saved whole to a file, nothing on stdout", async () => {
  const value = deep(200_000);
  assert.equal(stringifyResult(value, false).ok, false);
  const out: string[] = [];
  const err: string[] = [];
  const io = { stdout: (s: string) => out.push(s), stderr: (s: string) => err.push(s) } as unknown as CliIO;
  const result = { taskId: "t", status: "success", output: value, input: null, history: [], lineage: [], children: [] } as unknown as RunResult;
  assert.equal(printResult(result, { outputOnly: true }, io), false);
  assert.deepEqual(out, []);
  const text = err.join("");
  assert.match(text, /\[CLI_RESULT_NOT_PRINTABLE\] the output \(task status success\) cannot be printed as JSON because it is nested too deeply for JSON.stringify; it was saved to (\S+) \(\d+ bytes\)/);
  const path = /saved to (\S+)/.exec(text)![1]!;
  const saved = await readFile(path, "utf8");
  assert.ok(saved.startsWith('{"v":{"v":'));
  assert.ok(saved.trimEnd().endsWith(`{"leaf":true${"}".repeat(200_001)}`));
  assert.doesNotMatch(text, /internal error/i);
  await rm(join(path, ".."), { recursive: true, force: true });
});

/**
 * A child process of the store race tests: opens the store named in argv[2], says "ready",
 * waits for "go" on stdin, then, as owner argv[4] of run argv[3]: in mode `lease` (argv[5]),
 * races for the lease and commits seq 1 only if it got it (as a resuming engine does); in mode
 * `commit`, commits seq 1 without any lease (only the seq compare-and-set protects the run).
 * Prints one JSON line with what happened.
 */
import { createInterface } from "node:readline";
import { StoreError, openStore } from "../../src/store/index.js";

const [url, runId, owner, mode] = process.argv.slice(2) as [string, string, string, "lease" | "commit"];
const store = await openStore(url);
process.stdout.write("ready\n");
const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  if (line.trim() !== "go") continue;
  const lease = mode === "lease" ? await store.acquireLease(runId, owner, 60_000) : { acquired: false, owner: null };
  let commit = "skipped";
  if (mode === "commit" || lease.acquired) {
    try {
      await store.commit(runId, { fromSeq: 1, toSeq: 1, events: [{ seq: 1, type: "run.started", by: owner }], ...(lease.acquired ? { leaseOwner: owner } : {}) });
      commit = "ok";
    } catch (err) {
      commit = err instanceof StoreError ? err.code : String(err);
    }
  }
  process.stdout.write(`${JSON.stringify({ owner, acquired: lease.acquired, holder: lease.owner, commit })}\n`);
  break;
}
rl.close();
await store.close();

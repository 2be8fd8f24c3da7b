/**
 * run_command with real child processes: allow-list, no shell, timeout kills the whole process
 * group, output cap.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { EngineError } from "../errors.js";
import { attempt, makeRegistry, makeScope } from "../../test/tools/harness.js";
import type { ToolRegistry } from "./ToolRegistry.js";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits until `pid` is gone (an orphan is reaped by init shortly after its group is killed). */
async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if (!alive(pid)) return true;
    await sleep(50);
  }
  return false;
}

describe("run_command", () => {
  let dir: string;
  let reg: ToolRegistry;
  const node = process.execPath;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "ae-cmd-"));
    reg = await makeRegistry(
      [
        { id: "sh", type: "run_command", permissions: { allow_shell: true, allowed_programs: [node], filesystem_root: ".", timeout_ms: 1500, max_output_bytes: 1000 } },
        { id: "long", type: "run_command", permissions: { allow_shell: true, allowed_programs: [node], timeout_ms: 120_000 } },
      ],
      dir,
    );
  });
  after(async () => {
    await reg.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("runs an allowed program with arguments and returns exit code, stdout and stderr", async () => {
    const r = await reg.call("sh", { program: node, args: ["-e", "console.log('out:' + process.cwd()); console.error('err'); process.exit(3)"] }, makeScope());
    assert.deepEqual(r, { exitCode: 3, signal: null, stdout: `out:${dir}\n`, stderr: "err\n" });
  });

  it("never goes through a shell: metacharacters are plain arguments", async () => {
    const marker = join(dir, "pwned");
    const arg = `$(touch ${marker}); touch ${marker} && echo hi \`touch ${marker}\``;
    const r = (await reg.call("sh", { program: node, args: ["-e", "process.stdout.write(process.argv[1])", arg] }, makeScope())) as { stdout: string };
    assert.equal(r.stdout, arg);
    assert.equal(existsSync(marker), false);
  });

  it("refuses a program not in allowed_programs and runs nothing", async () => {
    const marker = join(dir, "touched");
    for (const program of ["touch", "/usr/bin/touch", `${node} `, "sh"]) {
      const scope = makeScope();
      const r = await attempt(reg, "sh", { program, args: [marker] }, scope);
      assert.equal(!r.ok && r.code, "TOOL_PERMISSION_DENIED", program);
      assert.deepEqual(scope.events.map((e) => e.type), ["tool.invoked", "tool.failed"]);
    }
    assert.equal(existsSync(marker), false);
  });

  it("kills the whole process group at the timeout (the grandchild too)", async () => {
    const pidFile = join(dir, "grandchild.pid");
    const script = `
      const { spawn } = require("node:child_process");
      const c = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
      require("node:fs").writeFileSync(${JSON.stringify(pidFile)}, String(c.pid));
      setInterval(() => {}, 1000);`;
    const r = await attempt(reg, "sh", { program: node, args: ["-e", script] });
    assert.equal(!r.ok && r.code, "TOOL_FAILED");
    assert.match(!r.ok ? r.message : "", /timeout_ms.*process group was killed/);
    const pid = Number(await readFile(pidFile, "utf8"));
    assert.ok(pid > 0);
    assert.equal(await gone(pid), true, `grandchild ${pid} still running`);
  });

  it("kills the whole process group when the node is cancelled (its signal aborts)", async () => {
    const pidFile = join(dir, "cancel.pid");
    const script = `
      const { spawn } = require("node:child_process");
      const c = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
      require("node:fs").writeFileSync(${JSON.stringify(pidFile)}, process.pid + " " + c.pid);
      setInterval(() => {}, 1000);`;
    const ctl = new AbortController();
    const pending = attempt(reg, "long", { program: node, args: ["-e", script] }, makeScope(ctl.signal));
    while (!existsSync(pidFile)) await sleep(20);
    const pids = (await readFile(pidFile, "utf8")).split(" ").map(Number);
    ctl.abort();
    const r = await pending;
    assert.equal(!r.ok && r.code, "TOOL_FAILED");
    assert.match(!r.ok ? r.message : "", /cancelled.*process group was killed/);
    for (const pid of pids) assert.equal(await gone(pid), true, `${pid} still running after cancellation`);
  });

  it("kills what the program left running in its group when it exits", async () => {
    const pidFile = join(dir, "bg.pid");
    const script = `
      const { spawn } = require("node:child_process");
      const c = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
      c.unref();
      require("node:fs").writeFileSync(${JSON.stringify(pidFile)}, String(c.pid));
      console.log("done");`;
    const r = (await reg.call("sh", { program: node, args: ["-e", script] }, makeScope())) as { exitCode: number; stdout: string };
    assert.deepEqual([r.exitCode, r.stdout], [0, "done\n"]);
    assert.equal(await gone(Number(await readFile(pidFile, "utf8"))), true);
  });

  it("caps stdout and stderr at max_output_bytes with a marker", async () => {
    const r = (await reg.call("sh", { program: node, args: ["-e", "process.stdout.write('a'.repeat(50000)); process.stderr.write('b'.repeat(1200))"] }, makeScope())) as { exitCode: number; stdout: string; stderr: string };
    assert.equal(r.exitCode, 0);
    assert.equal(r.stdout.slice(0, 1000), "a".repeat(1000));
    assert.match(r.stdout.slice(1000), /^\n\[output truncated: 49000 more bytes over max_output_bytes 1000\]$/);
    assert.match(r.stderr.slice(1000), /^\n\[output truncated: 200 more bytes/);
  });

  it("the program gets only a small set of environment variables", async () => {
    process.env.AGENT_ENGINE_TEST_SECRET = "leak";
    try {
      const r = (await reg.call("sh", { program: node, args: ["-e", "process.stdout.write(String(process.env.AGENT_ENGINE_TEST_SECRET))"] }, makeScope())) as { stdout: string };
      assert.equal(r.stdout, "undefined");
    } finally {
      delete process.env.AGENT_ENGINE_TEST_SECRET;
    }
  });

  it("load time: run_command without allow_shell: true or allowed_programs is a config error naming the tool", async () => {
    await assert.rejects(makeRegistry([{ id: "git", type: "run_command", permissions: { allowed_programs: ["git"] } }, { id: "any", type: "run_command", permissions: { allow_shell: true } }], dir), (err: unknown) => {
      assert.ok(err instanceof EngineError);
      assert.deepEqual(err.details.map((d) => [d.code, d.path]), [
        ["CONFIG_TOOL_PERMISSION", "/tools/0/permissions/allow_shell"],
        ["CONFIG_TOOL_PERMISSION", "/tools/1/permissions/allowed_programs"],
      ]);
      assert.match(err.details[0]!.message, /tool "git".*allow_shell: true/);
      return true;
    });
  });
});

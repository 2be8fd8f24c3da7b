/**
 * `run_command {program, args}` -> `{exitCode, signal, stdout, stderr}`.
 *
 * The program must be one of `allowed_programs` (exactly as listed: a name looked up in PATH,
 * or an absolute path). It is spawned without a shell (no globbing, no `;`, no `$(...)`), in a
 * process group of its own, with stdin closed, in `filesystem_root` if the tool has one (else
 * the config dir). At `timeout_ms` the whole group is killed (SIGKILL), and so is anything the
 * program left running in its group when it exits. stdout and stderr are each kept up to
 * `max_output_bytes`; the rest is discarded and a marker says so.
 *
 * @module
 */
import { spawn } from "node:child_process";
import { denied, failed, ToolError } from "./ToolError.js";

/** `run_command`'s permissions, resolved at engine start. */
export interface CommandPermissions {
  readonly toolId: string;
  readonly allowedPrograms: readonly string[];
  readonly timeoutMs: number;
  readonly maxOutputBytes: number;
  /** Working directory of the program. */
  readonly cwd: string;
}

/** Result of `run_command`. */
export interface CommandResult {
  /** The exit code, or `null` when a signal ended the program. */
  exitCode: number | null;
  /** The signal that ended the program, or `null`. */
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** Environment variables passed on to programs (nothing else of the engine's environment). */
export const INHERITED_ENV = Object.freeze(["PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "USER", "LOGNAME", "SHELL", "TERM"]);

function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const k of INHERITED_ENV) if (process.env[k] !== undefined) env[k] = process.env[k];
  return env;
}

class CappedBuffer {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  dropped = 0;
  constructor(private readonly cap: number) {}
  push(b: Buffer): void {
    const room = this.cap - this.size;
    if (room >= b.length) {
      this.chunks.push(b);
      this.size += b.length;
    } else {
      if (room > 0) this.chunks.push(b.subarray(0, room));
      this.size += Math.max(room, 0);
      this.dropped += b.length - Math.max(room, 0);
    }
  }
  text(): string {
    const s = Buffer.concat(this.chunks).toString("utf8");
    return this.dropped > 0 ? `${s}\n[output truncated: ${this.dropped} more bytes over max_output_bytes ${this.cap}]` : s;
  }
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // the group is already gone
  }
}

/** Runs the program; see the module comment. */
export async function runCommandTool(perms: CommandPermissions, args: { program: string; args?: readonly string[] }, signal: AbortSignal): Promise<CommandResult> {
  if (typeof args.program !== "string" || !perms.allowedPrograms.includes(args.program)) {
    throw denied(perms.toolId, `program ${JSON.stringify(args.program)} is not in allowed_programs (${perms.allowedPrograms.join(", ")})`);
  }
  const argv = args.args ?? [];
  if (!Array.isArray(argv) || argv.some((a) => typeof a !== "string" || a.includes("\0"))) {
    throw new ToolError("TOOL_FAILED", `tool "${perms.toolId}": argument "args" must be a list of strings without NUL bytes`);
  }
  if (signal.aborted) throw failed(perms.toolId, "the node was cancelled");
  return new Promise<CommandResult>((resolvePromise, reject) => {
    const child = spawn(args.program, argv, { shell: false, detached: true, cwd: perms.cwd, env: childEnv(), stdio: ["ignore", "pipe", "pipe"], windowsHide: true });
    const stdout = new CappedBuffer(perms.maxOutputBytes);
    const stderr = new CappedBuffer(perms.maxOutputBytes);
    let timedOut = false;
    let cancelled = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, perms.timeoutMs);
    const onAbort = (): void => {
      cancelled = true;
      killGroup(child.pid);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
    };
    child.stdout.on("data", (b: Buffer) => stdout.push(b));
    child.stderr.on("data", (b: Buffer) => stderr.push(b));
    child.on("error", (err: NodeJS.ErrnoException) => {
      done();
      reject(failed(perms.toolId, err.code === "ENOENT" ? `program ${JSON.stringify(args.program)} was not found (PATH=${process.env.PATH ?? ""})` : `could not start ${JSON.stringify(args.program)}: ${err.message}`, err));
    });
    // The leader exited: kill what it left in its group, so the pipes close and nothing lingers.
    child.on("exit", () => killGroup(child.pid));
    child.on("close", (code, sig) => {
      done();
      if (timedOut) reject(failed(perms.toolId, `${args.program} did not finish within ${perms.timeoutMs} ms (permissions.timeout_ms); its process group was killed`));
      else if (cancelled) reject(failed(perms.toolId, `the node was cancelled; ${args.program}'s process group was killed`));
      else resolvePromise({ exitCode: code, signal: sig, stdout: stdout.text(), stderr: stderr.text() });
    });
  });
}

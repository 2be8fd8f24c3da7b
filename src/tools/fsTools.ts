/**
 * `read_file`, `write_file` and `list_dir`: confined to a root directory.
 *
 * Every call checks the path twice. First lexically: no NUL, not absolute, no `..` that climbs
 * above the root. Then on the real file system at call time: the target's real path (symlinks
 * resolved) must be inside the root's real path; the target is opened with `O_NOFOLLOW` (a
 * symlink swapped in for the last component fails), and the opened descriptor's own path
 * (`/proc/self/fd/N` on Linux) is checked again before a byte is read, so a directory swapped
 * for a symlink between the check and the open is caught too. Writes go to a temporary file in
 * the verified directory (through its descriptor), then `rename` over the target: readers see
 * the old content or the new, never half of it.
 *
 * @module
 */
import { randomBytes } from "node:crypto";
import { constants, existsSync } from "node:fs";
import { open, opendir, readlink, realpath, rename, stat, unlink, type FileHandle } from "node:fs/promises";
import { basename, dirname, isAbsolute, join, normalize, resolve, sep } from "node:path";
import { denied, failed, ToolError } from "./ToolError.js";

/** A file tool's confinement, resolved at engine start. */
export interface FsConfinement {
  readonly toolId: string;
  /** Real path of `filesystem_root` (symlinks resolved). */
  readonly root: string;
  /** `filesystem_root` as written in tools.yaml, for messages. */
  readonly label: string;
  /** `write_file`: largest content; `read_file`: largest file. */
  readonly maxBytes: number;
}

const HAS_PROC_FD = process.platform === "linux" && existsSync("/proc/self/fd");

/**
 * Resolves `filesystem_root` against the config dir to its real path.
 *
 * @throws Error with a user-facing message when it does not exist or is not a directory.
 */
export async function resolveRoot(configDir: string, root: string): Promise<string> {
  const abs = resolve(configDir, root);
  let real: string;
  try {
    real = await realpath(abs);
  } catch {
    throw new Error(`filesystem_root ${root} (${abs}) does not exist; create the directory or fix the path (relative to the config dir)`);
  }
  if (!(await stat(real)).isDirectory()) throw new Error(`filesystem_root ${root} (${abs}) is not a directory`);
  return real;
}

/** True when `p` is `root` or inside it (both real, absolute paths). */
export function isInside(root: string, p: string): boolean {
  if (p === root) return true;
  return p.startsWith(root.endsWith(sep) ? root : root + sep);
}

/**
 * The lexical check: returns the normalized relative path (`.` for the root itself) or throws
 * `TOOL_PERMISSION_DENIED` for a path that is not a string, contains NUL, is absolute or climbs
 * above the root with `..`.
 */
export function checkRelativePath(conf: Pick<FsConfinement, "toolId" | "label">, path: unknown): string {
  if (typeof path !== "string") throw new ToolError("TOOL_FAILED", `tool "${conf.toolId}": argument "path" must be a string`);
  if (path.includes("\0")) throw denied(conf.toolId, `path ${JSON.stringify(path)} contains a NUL byte`);
  if (isAbsolute(path) || /^[A-Za-z]:[\\/]/.test(path) || path.startsWith("\\")) throw denied(conf.toolId, `path ${JSON.stringify(path)} is absolute; give a path relative to filesystem_root ${conf.label}`);
  const rel = normalize(path === "" ? "." : path);
  if (rel === ".." || rel.startsWith(`..${sep}`)) throw denied(conf.toolId, `path ${JSON.stringify(path)} leaves filesystem_root ${conf.label}`);
  return rel.endsWith(sep) && rel.length > 1 ? rel.slice(0, -1) : rel;
}

/**
 * Resolves a relative path to the real path of an existing file or directory inside the root.
 * Throws `TOOL_PERMISSION_DENIED` when it leaves the root (through `..`, an absolute path or a
 * symlink), `TOOL_FAILED` when it does not exist.
 */
export async function resolveInside(conf: FsConfinement, path: unknown): Promise<string> {
  const rel = checkRelativePath(conf, path);
  let real: string;
  try {
    real = await realpath(join(conf.root, rel));
  } catch (err) {
    throw fsFailure(conf, String(path), err);
  }
  if (!isInside(conf.root, real)) throw denied(conf.toolId, `path ${JSON.stringify(path)} resolves outside filesystem_root ${conf.label} (through a symlink)`);
  return real;
}

/** Opens `real` without following a final symlink and checks where the descriptor really is. */
async function openVerified(conf: FsConfinement, path: string, real: string, flags: number): Promise<FileHandle> {
  let fh: FileHandle;
  try {
    fh = await open(real, flags | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ELOOP") throw denied(conf.toolId, `path ${JSON.stringify(path)} became a symlink while being opened`);
    throw fsFailure(conf, path, err);
  }
  try {
    const actual = HAS_PROC_FD ? await readlink(`/proc/self/fd/${fh.fd}`) : await realpath(real);
    if (!isInside(conf.root, actual)) throw denied(conf.toolId, `path ${JSON.stringify(path)} resolves outside filesystem_root ${conf.label}`);
    if (!HAS_PROC_FD) {
      const [a, b] = await Promise.all([fh.stat(), stat(actual)]);
      if (a.ino !== b.ino || a.dev !== b.dev) throw denied(conf.toolId, `path ${JSON.stringify(path)} changed while being opened`);
    }
  } catch (err) {
    await fh.close();
    throw err;
  }
  return fh;
}

function fsFailure(conf: FsConfinement, path: string, err: unknown): ToolError {
  const code = (err as NodeJS.ErrnoException).code;
  const what =
    code === "ENOENT" ? `${JSON.stringify(path)} does not exist under ${conf.label}` :
    code === "ENOTDIR" ? `a parent of ${JSON.stringify(path)} is not a directory` :
    code === "EISDIR" ? `${JSON.stringify(path)} is a directory` :
    code === "EACCES" || code === "EPERM" ? `the operating system refused access to ${JSON.stringify(path)} (${code})` :
    `${JSON.stringify(path)}: ${(err as Error).message}`;
  return failed(conf.toolId, what, err);
}

/** `read_file {path}` -> `{content}` (UTF-8). */
export async function readFileTool(conf: FsConfinement, args: { path: string }): Promise<{ content: string }> {
  const real = await resolveInside(conf, args.path);
  const fh = await openVerified(conf, args.path, real, constants.O_RDONLY);
  try {
    const st = await fh.stat();
    if (st.isDirectory()) throw failed(conf.toolId, `${JSON.stringify(args.path)} is a directory; use a list_dir tool`);
    if (!st.isFile()) throw failed(conf.toolId, `${JSON.stringify(args.path)} is not a regular file`);
    if (st.size > conf.maxBytes) throw failed(conf.toolId, `${JSON.stringify(args.path)} is ${st.size} bytes, over the limit of ${conf.maxBytes} (permissions.max_bytes)`);
    const buf = Buffer.alloc(Math.min(st.size, conf.maxBytes) + 1);
    let n = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n === buf.length) {
        if (n > conf.maxBytes) throw failed(conf.toolId, `${JSON.stringify(args.path)} grew over the limit of ${conf.maxBytes} bytes (permissions.max_bytes) while being read`);
        break;
      }
    }
    return { content: buf.subarray(0, n).toString("utf8") };
  } finally {
    await fh.close();
  }
}

/** Type of a directory entry as `list_dir` reports it. */
export type EntryType = "file" | "directory" | "symlink" | "other";

/**
 * `list_dir {path}` -> `{entries: [{name, type}]}`, sorted by name. The listing is read entry by
 * entry and stops once its JSON would pass `max_bytes` (a directory of millions of files fails
 * with `TOOL_FAILED` instead of filling memory and the model's context).
 */
export async function listDirTool(conf: FsConfinement, args: { path: string }): Promise<{ entries: { name: string; type: EntryType }[] }> {
  const real = await resolveInside(conf, args.path);
  const fh = await openVerified(conf, args.path, real, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    const dir = await opendir(HAS_PROC_FD ? `/proc/self/fd/${fh.fd}` : real);
    const entries: { name: string; type: EntryType }[] = [];
    let bytes = 13; // {"entries":[]}
    try {
      for await (const d of dir) {
        const type: EntryType = d.isFile() ? "file" : d.isDirectory() ? "directory" : d.isSymbolicLink() ? "symlink" : "other";
        bytes += Buffer.byteLength(JSON.stringify(d.name)) + type.length + 20; // {"name":...,"type":"..."},
        if (bytes > conf.maxBytes) {
          throw failed(conf.toolId, `the listing of ${JSON.stringify(args.path)} is over the limit of ${conf.maxBytes} bytes (permissions.max_bytes) after ${entries.length} entries`);
        }
        entries.push({ name: d.name, type });
      }
    } finally {
      // for await closes the directory when it completes; an early throw must close it too.
      await dir.close().catch(() => undefined);
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return { entries };
  } catch (err) {
    if (err instanceof ToolError) throw err;
    throw fsFailure(conf, args.path, err);
  } finally {
    await fh.close();
  }
}

/**
 * `write_file {path, content}` -> `{bytes}`: the parent directory must exist inside the root;
 * the content goes to a temporary file there, then replaces the target with one `rename`.
 */
export async function writeFileTool(conf: FsConfinement, args: { path: string; content: string }): Promise<{ bytes: number }> {
  if (typeof args.content !== "string") throw new ToolError("TOOL_FAILED", `tool "${conf.toolId}": argument "content" must be a string`);
  const data = Buffer.from(args.content, "utf8");
  if (data.length > conf.maxBytes) throw denied(conf.toolId, `content is ${data.length} bytes, over max_bytes ${conf.maxBytes}`);
  const rel = checkRelativePath(conf, args.path);
  const name = basename(rel);
  if (rel === "." || name === "" || name === "." || name === "..") throw failed(conf.toolId, `${JSON.stringify(args.path)} names a directory, not a file`);
  const parentReal = await resolveInside(conf, dirname(rel));
  const dir = await openVerified(conf, dirname(rel), parentReal, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    const base = HAS_PROC_FD ? `/proc/self/fd/${dir.fd}` : parentReal;
    const tmp = join(base, `.${name}.${randomBytes(6).toString("hex")}.tmp`);
    let fh: FileHandle | undefined;
    try {
      fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
      await fh.writeFile(data);
      await fh.sync();
      await fh.close();
      fh = undefined;
      await rename(tmp, join(base, name));
    } catch (err) {
      await fh?.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
      throw fsFailure(conf, args.path, err);
    }
  } finally {
    await dir.close();
  }
  return { bytes: data.length };
}

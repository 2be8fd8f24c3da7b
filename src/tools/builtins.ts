/**
 * The built-in tools: their argument schemas and descriptions, and the implementation bound to
 * a tool's resolved permissions.
 *
 * @module
 */
import { resolve } from "node:path";
import type { ToolManifest } from "../config/types.js";
import type { ErrorDetail } from "../errors.js";
import type { ToolContext } from "../runtime/types.js";
import { runCommandTool } from "./commandTool.js";
import { listDirTool, readFileTool, resolveRoot, writeFileTool } from "./fsTools.js";
import { httpRequestTool, normalizeHostEntry } from "./httpTool.js";
import { checkToolManifests, isBuiltinType, PERMISSION_DEFAULTS, type BuiltinToolType, type ToolsFileLocator } from "./permissions.js";

const path = { type: "string", description: "Path relative to the tool's filesystem_root (no .., not absolute)." };

/** JSON Schemas of the built-in tools' arguments. */
export const BUILTIN_SCHEMAS: Readonly<Record<BuiltinToolType, Readonly<Record<string, unknown>>>> = Object.freeze({
  read_file: { type: "object", properties: { path }, required: ["path"], additionalProperties: false },
  write_file: { type: "object", properties: { path, content: { type: "string", description: "UTF-8 text to write; replaces the file atomically." } }, required: ["path", "content"], additionalProperties: false },
  list_dir: { type: "object", properties: { path: { ...path, description: `${path.description} "." lists the root.` } }, required: ["path"], additionalProperties: false },
  http_request: {
    type: "object",
    properties: {
      method: { type: "string", enum: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "get", "head", "post", "put", "patch", "delete", "options"] },
      url: { type: "string", description: "http(s) URL on an allowed host." },
      headers: { type: "object", additionalProperties: { type: "string" } },
      body: { type: "string" },
    },
    required: ["method", "url"],
    additionalProperties: false,
  },
  run_command: {
    type: "object",
    properties: { program: { type: "string", description: "An allowed program." }, args: { type: "array", items: { type: "string" } } },
    required: ["program"],
    additionalProperties: false,
  },
});

/** Default descriptions (shown to models when tools.yaml gives none). */
export const BUILTIN_DESCRIPTIONS: Readonly<Record<BuiltinToolType, string>> = Object.freeze({
  read_file: "Read a UTF-8 text file. Returns {content}.",
  write_file: "Write a UTF-8 text file (replaces it). Returns {bytes}.",
  list_dir: "List a directory. Returns {entries: [{name, type}]}.",
  http_request: "Send an HTTP request to an allowed host. Returns {status, headers, body}.",
  run_command: "Run an allowed program with arguments (no shell). Returns {exitCode, signal, stdout, stderr}.",
});

/** A built-in tool bound to its permissions. */
export type BuiltinImpl = (args: never, ctx: ToolContext) => Promise<unknown>;

/**
 * Binds a built-in to the permissions in its manifest (already statically checked). Returns
 * the implementation, or problems (`CONFIG_TOOL_PERMISSION`) such as a missing root directory.
 */
export async function createBuiltin(type: BuiltinToolType, m: ToolManifest, configDir: string, at: Omit<ErrorDetail, "code" | "message">): Promise<BuiltinImpl | ErrorDetail> {
  const p = m.permissions ?? {};
  const problem = (field: string, message: string): ErrorDetail => ({ ...at, code: "CONFIG_TOOL_PERMISSION", path: `${at.path ?? ""}/permissions/${field}`, message: `tool "${m.id}" (type ${type}): ${message}` });
  switch (type) {
    case "read_file":
    case "write_file":
    case "list_dir": {
      let root: string;
      try {
        root = await resolveRoot(configDir, p.filesystem_root ?? ".");
      } catch (err) {
        return problem("filesystem_root", (err as Error).message);
      }
      const conf = { toolId: m.id, root, label: p.filesystem_root ?? ".", maxBytes: p.max_bytes ?? PERMISSION_DEFAULTS.max_bytes };
      if (type === "read_file") return (args: { path: string }) => readFileTool(conf, args);
      if (type === "list_dir") return (args: { path: string }) => listDirTool(conf, args);
      return (args: { path: string; content: string }) => writeFileTool(conf, args);
    }
    case "http_request": {
      const perms = {
        toolId: m.id,
        allowedHosts: Object.freeze((p.allowed_hosts ?? []).map(normalizeHostEntry)),
        maxResponseBytes: p.max_response_bytes ?? PERMISSION_DEFAULTS.max_response_bytes,
        maxRedirects: p.max_redirects ?? PERMISSION_DEFAULTS.max_redirects,
        timeoutMs: p.timeout_ms ?? PERMISSION_DEFAULTS.timeout_ms,
      };
      return (args: { method: string; url: string; headers?: Record<string, string>; body?: string }, ctx: ToolContext) => httpRequestTool(perms, args, ctx.signal);
    }
    case "run_command": {
      let cwd = configDir;
      if (p.filesystem_root !== undefined) {
        try {
          cwd = await resolveRoot(configDir, p.filesystem_root);
        } catch (err) {
          return problem("filesystem_root", (err as Error).message);
        }
      }
      const perms = {
        toolId: m.id,
        allowedPrograms: Object.freeze([...(p.allowed_programs ?? [])]),
        timeoutMs: p.timeout_ms ?? PERMISSION_DEFAULTS.timeout_ms,
        maxOutputBytes: p.max_output_bytes ?? PERMISSION_DEFAULTS.max_output_bytes,
        cwd: resolve(cwd),
      };
      return (args: { program: string; args?: string[] }, ctx: ToolContext) => runCommandTool(perms, args, ctx.signal);
    }
  }
}

/**
 * Everything about tools.yaml's built-in tools and MCP server entries that can be checked
 * without importing a module or starting a server (what `validate --static` reports): the
 * permissions each built-in needs ({@link checkToolManifests}), and that every
 * `filesystem_root` exists and is a directory (resolved against `configDir`, as at engine
 * start). Returns `CONFIG_TOOL_PERMISSION` and `CONFIG_SCHEMA` problems.
 */
export async function checkToolsStatically(tools: readonly ToolManifest[], configDir: string, where: ToolsFileLocator = {}): Promise<ErrorDetail[]> {
  const problems = checkToolManifests(tools, where);
  for (const [i, t] of tools.entries()) {
    if (t.handler !== undefined || !isBuiltinType(t.type) || problems.some((p) => p.path?.startsWith(`/tools/${i}/`))) continue;
    const loc = where.locate?.(`/tools/${i}`);
    const made = await createBuiltin(t.type, t, configDir, { ...(where.file ? { file: where.file } : {}), ...(loc ? { line: loc.line, column: loc.column } : {}), path: `/tools/${i}` });
    if (typeof made !== "function") problems.push(made);
  }
  return problems;
}

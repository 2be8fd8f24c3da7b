/**
 * Load-time checks of tools.yaml's built-in tools and MCP servers: every built-in declares the
 * permission it needs (`filesystem_root`, `allow_network: true` + `allowed_hosts`,
 * `allow_shell: true` + `allowed_programs`), with defaults for the limits.
 *
 * @module
 */
import type { ToolManifest, ToolPermissions } from "../config/types.js";
import type { ErrorDetail } from "../errors.js";

/** Types of the built-in tools. */
export const BUILTIN_TOOL_TYPES = Object.freeze(["read_file", "write_file", "list_dir", "http_request", "run_command"] as const);

/** A built-in tool type. */
export type BuiltinToolType = (typeof BUILTIN_TOOL_TYPES)[number];

/** True for the built-in tool types. */
export function isBuiltinType(type: string | undefined): type is BuiltinToolType {
  return type !== undefined && (BUILTIN_TOOL_TYPES as readonly string[]).includes(type);
}

/** Defaults of the limits in `permissions:`. */
export const PERMISSION_DEFAULTS = Object.freeze({
  max_bytes: 10 * 1024 * 1024,
  max_response_bytes: 1024 * 1024,
  max_redirects: 5,
  timeout_ms: 30_000,
  max_output_bytes: 1024 * 1024,
});

const MCP_ONLY_KEYS = ["command", "url", "env", "cwd", "headers", "timeout_ms", "max_result_bytes"] as const;

/** Where a problem is in tools.yaml: file and line of a JSON pointer. */
export interface ToolsFileLocator {
  readonly file?: string | undefined;
  locate?(path: string): { line: number; column: number } | undefined;
}

/**
 * Static checks of the built-in tools and MCP servers in tools.yaml that the JSON Schema cannot
 * express with a useful message: the permission each built-in needs (`CONFIG_TOOL_PERMISSION`), and
 * the shape of MCP server entries (`CONFIG_SCHEMA`: exactly one of `command`/`url`, no `.` in the
 * id, MCP-only keys on MCP servers only). `overridden` holds ids of tools whose implementation
 * comes from `EngineOptions.tools` (their permissions are not checked: the built-in is not used).
 *
 * @example
 * ```ts
 * const problems = checkToolManifests(config.tools?.tools ?? [], { file: config.files.tools });
 * ```
 */
export function checkToolManifests(tools: readonly ToolManifest[], where: ToolsFileLocator = {}, overridden: ReadonlySet<string> = new Set()): ErrorDetail[] {
  const problems: ErrorDetail[] = [];
  tools.forEach((t, i) => {
    const at = (path: string): Omit<ErrorDetail, "code" | "message"> => {
      const loc = where.locate?.(path);
      return { ...(where.file ? { file: where.file } : {}), ...(loc ? { line: loc.line, column: loc.column } : {}), path };
    };
    if (t.type === "mcp") {
      if ((t.command === undefined) === (t.url === undefined)) problems.push({ code: "CONFIG_SCHEMA", ...at(`/tools/${i}`), message: `MCP server "${t.id}" needs exactly one of command: [program, ...args] (stdio) or url: (Streamable HTTP)` });
      if (t.id.includes(".")) problems.push({ code: "CONFIG_SCHEMA", ...at(`/tools/${i}/id`), message: `MCP server id "${t.id}" may not contain "." (its tools are named "<id>.<tool>")` });
      if (t.permissions !== undefined) problems.push({ code: "CONFIG_SCHEMA", ...at(`/tools/${i}/permissions`), message: `MCP server "${t.id}": permissions: apply to built-in tools only; an MCP server's tools run with the server's own rights (docs/tools.md)` });
      return;
    }
    for (const key of MCP_ONLY_KEYS) {
      if (t[key] !== undefined) problems.push({ code: "CONFIG_SCHEMA", ...at(`/tools/${i}/${key}`), message: `tool "${t.id}": \`${key}\` is only for MCP servers (type: mcp); remove it` });
    }
    if (overridden.has(t.id) || t.handler !== undefined || !isBuiltinType(t.type)) return;
    const p: ToolPermissions = t.permissions ?? {};
    const add = (field: string, message: string): void => {
      const path = t.permissions === undefined ? `/tools/${i}` : `/tools/${i}/permissions`;
      const loc = where.locate?.(path);
      problems.push({ code: "CONFIG_TOOL_PERMISSION", ...(where.file ? { file: where.file } : {}), ...(loc ? { line: loc.line, column: loc.column } : {}), path: `${path}${t.permissions === undefined ? "/permissions" : ""}/${field}`, message: `tool "${t.id}" (type ${t.type}) ${message}` });
    };
    switch (t.type) {
      case "read_file":
      case "write_file":
      case "list_dir":
        if (p.filesystem_root === undefined) add("filesystem_root", "needs permissions.filesystem_root: the directory it is confined to, relative to the config dir (e.g. permissions: { filesystem_root: ./data })");
        break;
      case "http_request":
        if (p.allow_network !== true) add("allow_network", "needs permissions.allow_network: true (and allowed_hosts) to send requests");
        if (!p.allowed_hosts || p.allowed_hosts.length === 0) add("allowed_hosts", "needs permissions.allowed_hosts: the host names it may reach (e.g. [api.example.com])");
        break;
      case "run_command":
        if (p.allow_shell !== true) add("allow_shell", "needs permissions.allow_shell: true (and allowed_programs) to run programs");
        if (!p.allowed_programs || p.allowed_programs.length === 0) add("allowed_programs", "needs permissions.allowed_programs: the programs it may run (e.g. [git])");
        break;
    }
  });
  return problems;
}

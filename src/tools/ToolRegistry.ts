/**
 * Tools: implementations resolved once at engine start (from `EngineOptions.tools` by id or
 * type, the `handler:` module in tools.yaml, a built-in type, or the tools an MCP server
 * lists), argument validation, permission errors, and `tool.*` events.
 *
 * @module
 */
import type { ToolManifest } from "../config/types.js";
import type { CompiledSchema, GraphNode } from "../dag/types.js";
import { EngineError, errorMessage, type ErrorDetail } from "../errors.js";
import { isInstance, settleOnce } from "../guard.js";
import type { NotJsonError } from "../json.js";
import { freezeShell, sealJson, type JsonValue } from "../json.js";
import type { ErrorInfo, EventPayloads } from "../telemetry/events.js";
import type { ToolCallRecord, ToolContext, ToolHandler } from "../runtime/types.js";
import { BUILTIN_DESCRIPTIONS, BUILTIN_SCHEMAS, createBuiltin } from "./builtins.js";
import { connectMcpServer, loadMcpSdk, type McpConnection } from "./mcp.js";
import { checkToolManifests, isBuiltinType } from "./permissions.js";
import { expandAllowList } from "./allowList.js";
import { ToolError } from "./ToolError.js";

/** Where tool events go while a node runs (the runtime's stage scope). */
export interface ToolEventScope {
  readonly taskId: string;
  readonly nodeId: string;
  readonly signal: AbortSignal;
  readonly toolCalls: ToolCallRecord[];
  nextCallId(): string;
  emit<T extends "tool.invoked" | "tool.completed" | "tool.failed">(type: T, payload: EventPayloads[T]): void;
}

/** What an agent declares to a model about a tool: {@link ToolRegistry.describe}. */
export interface ToolDescription {
  readonly id: string;
  readonly description: string;
  /** JSON Schema object of the arguments (`{ type: "object" }` when the tool declares none). */
  readonly schema: Readonly<Record<string, unknown>>;
}

interface ToolEntry {
  readonly id: string;
  readonly impl: ToolHandler;
  readonly config: Readonly<Record<string, unknown>>;
  readonly description: string;
  readonly jsonSchema: Readonly<Record<string, unknown>>;
  readonly schema?: CompiledSchema | undefined;
}

/** Loads a `handler:` reference; injected so this layer does not import the runtime's loader. */
export type ExportLoader = (ref: string, path: string, toolId: string) => Promise<unknown>;

/** Extra inputs of {@link ToolRegistry.create}. */
export interface ToolRegistryOptions {
  /** The config directory (`filesystem_root`, MCP `command` and `cwd` are relative to it). Default: the process's cwd. */
  readonly configDir?: string;
  /** Line and column of a JSON pointer in tools.yaml, for error messages. */
  readonly locate?: (path: string) => { line: number; column: number } | undefined;
}

/** Strings longer than this are cut in `tool.*` event payloads. */
export const EVENT_STRING_CAP = 2000;

/**
 * A copy of `value` for an event payload: strings over `cap` characters are cut and end with a
 * marker saying how long they were. Returns `value` itself when nothing is cut.
 */
export function capForEvent(value: JsonValue, cap: number = EVENT_STRING_CAP): JsonValue {
  const out = capValue(value, cap);
  return out === value ? value : sealJson(out);
}

function capValue(value: JsonValue, cap: number): JsonValue {
  return needsCap(value, cap) ? capCopy(value, cap) : value;
}

/** Whether some string inside `value` is longer than `cap` (walks without allocating). */
function needsCap(value: JsonValue, cap: number): boolean {
  if (typeof value === "string") return value.length > cap;
  if (value === null || typeof value !== "object") return false;
  if (Array.isArray(value)) {
    for (const v of value as readonly JsonValue[]) if (needsCap(v, cap)) return true;
    return false;
  }
  for (const k in value) if (Object.hasOwn(value, k) && needsCap((value as Record<string, JsonValue>)[k]!, cap)) return true;
  return false;
}

function capCopy(value: JsonValue, cap: number): JsonValue {
  if (typeof value === "string") return value.length > cap ? `${value.slice(0, cap)}…[truncated: ${value.length} chars]` : value;
  if (Array.isArray(value)) return (value as readonly JsonValue[]).map((v) => capCopy(v, cap));
  if (value !== null && typeof value === "object") {
    const obj: Record<string, JsonValue> = {};
    for (const [k, v] of Object.entries(value)) {
      // A "__proto__" key (JSON.parse makes it an own key) is copied as data, not as the prototype.
      if (k === "__proto__") Object.defineProperty(obj, k, { value: capCopy(v, cap), enumerable: true, writable: true, configurable: true });
      else obj[k] = capCopy(v, cap);
    }
    return obj;
  }
  return value;
}

/** The engine's tools. */
export class ToolRegistry {
  private closed: Promise<void> | undefined;

  private constructor(
    private readonly tools: ReadonlyMap<string, ToolEntry>,
    private readonly servers: ReadonlyMap<string, McpConnection>,
  ) {}

  /**
   * Resolves an implementation for every tool in tools.yaml, binds built-ins to their
   * permissions and starts or connects every MCP server (listing their tools).
   *
   * @throws EngineError `TOOL_NOT_FOUND` for tools without an implementation,
   *   `CONFIG_TOOL_PERMISSION` for a built-in missing a permission, `MCP_SDK_MISSING` when an MCP
   *   server is declared but `@modelcontextprotocol/sdk` is not installed, `MCP_SERVER_FAILED`
   *   naming each server that cannot be started or reached. Every problem at once; servers
   *   already started are closed before it throws.
   */
  static async create(
    manifests: readonly ToolManifest[],
    provided: Readonly<Record<string, ToolHandler>>,
    loadExport: ExportLoader,
    compileSchema: (schema: ToolManifest["schema"], path: string) => CompiledSchema | undefined,
    file?: string,
    options: ToolRegistryOptions = {},
  ): Promise<ToolRegistry> {
    const configDir = options.configDir ?? process.cwd();
    const map = new Map<string, ToolEntry>();
    const at = (path: string): Omit<ErrorDetail, "code" | "message"> => {
      const loc = options.locate?.(path);
      return { ...(file ? { file } : {}), ...(loc ? { line: loc.line, column: loc.column } : {}), path };
    };
    const overridden = new Set(manifests.filter((m) => provided[m.id] !== undefined || (m.type !== undefined && provided[m.type] !== undefined)).map((m) => m.id));
    const problems: ErrorDetail[] = checkToolManifests(manifests, { file, ...(options.locate ? { locate: options.locate } : {}) }, overridden);
    const servers: { m: ToolManifest; index: number }[] = [];
    for (const [i, m] of manifests.entries()) {
      const userSchema = m.schema === undefined ? undefined : compileSchema(m.schema, `/tools/${i}/schema`);
      const config = Object.freeze({ ...(m.config ?? {}) });
      if (!overridden.has(m.id) && m.handler === undefined) {
        if (m.type === "mcp") {
          servers.push({ m, index: i });
          continue;
        }
        if (isBuiltinType(m.type)) {
          const type = m.type;
          if (problems.some((p) => p.path?.startsWith(`/tools/${i}/`))) continue;
          const made = await createBuiltin(type, m, configDir, at(`/tools/${i}`));
          if (typeof made !== "function") {
            problems.push(made);
            continue;
          }
          const jsonSchema = (userSchema?.schema as Record<string, unknown> | undefined) ?? BUILTIN_SCHEMAS[type];
          map.set(m.id, { id: m.id, impl: made as ToolHandler, config, description: m.description ?? BUILTIN_DESCRIPTIONS[type], jsonSchema, schema: userSchema ?? compileSchema(BUILTIN_SCHEMAS[type], `/tools/${i}`) });
          continue;
        }
      }
      let impl: unknown = provided[m.id] ?? (m.type !== undefined ? provided[m.type] : undefined);
      if (impl === undefined && m.handler) {
        try {
          impl = await loadExport(m.handler, `/tools/${i}/handler`, m.id);
        } catch (err) {
          if (err instanceof EngineError) problems.push(...err.details);
          else problems.push({ code: "TOOL_NOT_FOUND", ...at(`/tools/${i}/handler`), message: errorMessage(err) });
          continue;
        }
      }
      if (typeof impl !== "function") {
        problems.push({
          code: "TOOL_NOT_FOUND",
          ...at(`/tools/${i}`),
          message:
            impl === undefined
              ? `tool "${m.id}" has no implementation: use a built-in type (read_file, write_file, list_dir, http_request, run_command, mcp), pass options.tools["${m.type ?? m.id}"] to Engine.fromConfigDir, or set handler: ./tools.js#${m.id} in tools.yaml`
              : `the implementation of tool "${m.id}" is ${typeof impl}, not a function`,
        });
        continue;
      }
      map.set(m.id, { id: m.id, impl: impl as ToolHandler, config, description: m.description ?? "", jsonSchema: (userSchema?.schema as Record<string, unknown> | undefined) ?? { type: "object" }, schema: userSchema });
    }
    if (problems.length > 0) throw new EngineError(problems);

    const connections = new Map<string, McpConnection>();
    if (servers.length > 0) {
      const sdk = await loadMcpSdk(file);
      const results = await Promise.allSettled(servers.map(({ m }) => connectMcpServer(sdk, m, configDir)));
      results.forEach((r, k) => {
        const { m, index } = servers[k]!;
        if (r.status === "fulfilled") connections.set(m.id, r.value);
        else {
          const how = m.command ? `command ${JSON.stringify(m.command)}` : `url ${m.url ?? ""}`;
          problems.push({ code: "MCP_SERVER_FAILED", ...at(`/tools/${index}`), message: `MCP server "${m.id}" (${how}): ${errorMessage(r.reason)}` });
        }
      });
      for (const { m, index } of servers) {
        const conn = connections.get(m.id);
        if (!conn) continue;
        for (const t of conn.tools) {
          const id = `${m.id}.${t.name}`;
          if (map.has(id)) {
            problems.push({ code: "CONFIG_DUPLICATE_ID", ...at(`/tools/${index}`), message: `MCP server "${m.id}" offers tool "${t.name}", but "${id}" is already declared in tools.yaml; rename one of them` });
            continue;
          }
          let schema: CompiledSchema | undefined;
          try {
            schema = compileSchema(t.inputSchema as ToolManifest["schema"], `/tools/${index}`);
          } catch {
            schema = undefined; // the server validates its own arguments
          }
          const impl: ToolHandler = (args: JsonValue, ctx: ToolContext) => conn.call(t.name, (args ?? {}) as Record<string, unknown>, ctx.signal);
          map.set(id, { id, impl, config: Object.freeze({ ...(m.config ?? {}) }), description: t.description ?? m.description ?? "", jsonSchema: t.inputSchema, schema });
        }
      }
      if (problems.length > 0) {
        await Promise.all([...connections.values()].map((c) => c.close()));
        throw new EngineError(problems);
      }
    }
    return new ToolRegistry(map, connections);
  }

  /** Tool ids, in declaration order (an MCP server's tools as `<server>.<tool>`, after the declared tools). */
  ids(): string[] {
    return [...this.tools.keys()];
  }

  /** Ids of the MCP servers (tools.yaml ids of `type: mcp`). */
  serverIds(): string[] {
    return [...this.servers.keys()];
  }

  /** Process id of a stdio MCP server, if it runs. */
  serverPid(serverId: string): number | undefined {
    return this.servers.get(serverId)?.pid;
  }

  /** What to declare to a model about a tool; `undefined` for an unknown id. */
  describe(toolId: string): ToolDescription | undefined {
    const e = this.tools.get(toolId);
    return e ? { id: e.id, description: e.description, schema: e.jsonSchema } : undefined;
  }

  /** The concrete tool ids an allow-list names (`<server>.*` expanded), in list order, without duplicates. */
  expand(allowList: readonly string[]): string[] {
    return expandAllowList(allowList, [...this.tools.keys()]).filter((id) => this.tools.has(id));
  }

  /**
   * Checks allow-lists against the tools known after MCP servers listed theirs: a server id alone
   * (list `<id>.*` or `<id>.<tool>`), `<server>.<tool>` the server does not offer, `<id>.*` for a
   * tool that is not an MCP server. Returns `DAG_UNKNOWN_TOOL` problems.
   */
  checkAllowList(allowList: readonly string[], at: Omit<ErrorDetail, "code" | "message">): ErrorDetail[] {
    const problems: ErrorDetail[] = [];
    allowList.forEach((t, k) => {
      const where = { ...at, ...(at.path !== undefined ? { path: `${at.path}/${k}` } : {}) };
      if (this.servers.has(t)) {
        problems.push({ code: "DAG_UNKNOWN_TOOL", ...where, message: `"${t}" is an MCP server; list its tools as "${t}.*" or "${t}.<tool>" (it offers: ${this.serverTools(t)})` });
        return;
      }
      const dot = t.indexOf(".");
      const server = dot > 0 ? t.slice(0, dot) : undefined;
      if (server === undefined || !this.servers.has(server) || this.tools.has(t)) return;
      if (t === `${server}.*`) return;
      problems.push({ code: "DAG_UNKNOWN_TOOL", ...where, message: `MCP server "${server}" offers no tool "${t.slice(dot + 1)}" (it offers: ${this.serverTools(server)})` });
    });
    return problems;
  }

  private serverTools(server: string): string {
    const names = this.servers.get(server)?.tools.map((x) => x.name) ?? [];
    return names.length > 0 ? names.join(", ") : "no tools";
  }

  /** Checks every node's `tools:` list; see {@link checkAllowList}. */
  checkNodes(nodes: readonly GraphNode[], file?: string): ErrorDetail[] {
    return nodes.flatMap((n) => this.checkAllowList(n.tools, { ...(file ? { file } : {}), nodeId: n.id, path: `/nodes/${n.index}/tools` }));
  }

  /** Closes every MCP server (stdio processes end). Idempotent; never rejects. */
  close(): Promise<void> {
    this.closed ??= Promise.all([...this.servers.values()].map((s) => s.close())).then(() => undefined);
    return this.closed;
  }

  /** Calls a tool; records the call and its events in `scope`. Rejects with a coded error on failure. */
  async call(toolId: string, args: unknown, scope: ToolEventScope): Promise<JsonValue> {
    const callId = scope.nextCallId();
    const entry = this.tools.get(toolId);
    let sealedArgs: JsonValue;
    try {
      sealedArgs = args === undefined ? null : sealJson(args);
    } catch (err) {
      return this.fail(scope, toolId, callId, null, { code: "TOOL_FAILED", message: `arguments for tool "${toolId}" are not JSON: ${(err as NotJsonError).message}` }, 0);
    }
    scope.emit("tool.invoked", { tool: toolId, callId, args: capForEvent(sealedArgs) });
    const started = performance.now();
    if (!entry) return this.fail(scope, toolId, callId, sealedArgs, { code: "TOOL_NOT_FOUND", message: `tool "${toolId}" is not declared in tools.yaml` }, 0);
    if (this.closed) return this.fail(scope, toolId, callId, sealedArgs, { code: "ENGINE_SHUT_DOWN", message: `tool "${toolId}": the engine was shut down` }, 0);
    if (entry.schema) {
      const problems = entry.schema.validate(sealedArgs);
      if (problems.length > 0) return this.fail(scope, toolId, callId, sealedArgs, { code: "TOOL_FAILED", message: `arguments for tool "${toolId}" do not match its schema: ${problems.join("; ")}` }, 0);
    }
    const ctx: ToolContext = { taskId: scope.taskId, nodeId: scope.nodeId, toolId, config: entry.config, signal: scope.signal };
    let result: JsonValue;
    try {
      // settleOnce, not await: a thenable that resolves with itself must not spin the microtask
      // queue (no timer, the node's timeout included, could fire again).
      result = sealJson((await settleOnce(entry.impl(sealedArgs, ctx))).value);
    } catch (err) {
      return this.fail(scope, toolId, callId, sealedArgs, toolFailure(toolId, err), performance.now() - started);
    }
    const durationMs = performance.now() - started;
    scope.emit("tool.completed", { tool: toolId, callId, result: capForEvent(result), durationMs });
    scope.toolCalls.push(freezeShell({ callId, tool: toolId, args: sealedArgs, status: "success" as const, result }));
    return result;
  }

  private fail(scope: ToolEventScope, tool: string, callId: string, args: JsonValue, e: { code: string; message: string }, durationMs: number): Promise<never> {
    const error: ErrorInfo = freezeShell({ code: e.code, message: e.message });
    scope.emit("tool.failed", { tool, callId, error, durationMs });
    scope.toolCalls.push(freezeShell({ callId, tool, args, status: "failure" as const, error }));
    return Promise.reject(Object.assign(new Error(e.message), { code: e.code }));
  }
}

/** The recorded error of a tool call that threw `err` (a tool's own value: read totally). */
function toolFailure(toolId: string, err: unknown): { code: string; message: string } {
  if (isInstance(err, ToolError)) {
    try {
      const e = err as ToolError;
      return { code: e.code, message: e.details[0]?.message ?? e.message };
    } catch {
      // a Proxy posing as a ToolError: a foreign value
    }
  }
  return { code: "TOOL_FAILED", message: `tool "${toolId}" failed: ${errorMessage(err)}` };
}

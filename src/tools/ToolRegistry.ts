/**
 * Tools: implementations resolved once at engine start (from `EngineOptions.tools` by id or
 * type, else the `handler:` module in tools.yaml), argument validation, and `tool.*` events.
 *
 * @module
 */
import type { ToolManifest } from "../config/types.js";
import type { CompiledSchema } from "../dag/types.js";
import { EngineError, errorMessage, type ErrorDetail } from "../errors.js";
import type { NotJsonError} from "../json.js";
import { freezeShell, sealJson, type JsonValue } from "../json.js";
import type { ErrorInfo, EventPayloads } from "../telemetry/events.js";
import type { ToolCallRecord, ToolContext, ToolHandler } from "../runtime/types.js";

/** Where tool events go while a node runs (the runtime's stage scope). */
export interface ToolEventScope {
  readonly taskId: string;
  readonly nodeId: string;
  readonly signal: AbortSignal;
  readonly toolCalls: ToolCallRecord[];
  nextCallId(): string;
  emit<T extends "tool.invoked" | "tool.completed" | "tool.failed">(type: T, payload: EventPayloads[T]): void;
}

interface ToolEntry {
  readonly manifest: ToolManifest;
  readonly impl: ToolHandler;
  readonly config: Readonly<Record<string, unknown>>;
  readonly schema?: CompiledSchema;
}

/** Loads a `handler:` reference; injected so this layer does not import the runtime's loader. */
export type ExportLoader = (ref: string, path: string, toolId: string) => Promise<unknown>;

/** The engine's tools. */
export class ToolRegistry {
  private constructor(private readonly tools: ReadonlyMap<string, ToolEntry>) {}

  /**
   * Resolves an implementation for every tool in tools.yaml.
   *
   * @throws EngineError `TOOL_NOT_FOUND` listing every tool without one.
   */
  static async create(
    manifests: readonly ToolManifest[],
    provided: Readonly<Record<string, ToolHandler>>,
    loadExport: ExportLoader,
    compileSchema: (schema: ToolManifest["schema"], path: string) => CompiledSchema | undefined,
    file?: string,
  ): Promise<ToolRegistry> {
    const map = new Map<string, ToolEntry>();
    const problems: ErrorDetail[] = [];
    for (const [i, m] of manifests.entries()) {
      let impl: unknown = provided[m.id] ?? (m.type !== undefined ? provided[m.type] : undefined);
      if (impl === undefined && m.handler) {
        try {
          impl = await loadExport(m.handler, `/tools/${i}/handler`, m.id);
        } catch (err) {
          if (err instanceof EngineError) problems.push(...err.details);
          else problems.push({ code: "TOOL_NOT_FOUND", file, path: `/tools/${i}/handler`, message: errorMessage(err) });
          continue;
        }
      }
      if (typeof impl !== "function") {
        problems.push({
          code: "TOOL_NOT_FOUND",
          ...(file ? { file } : {}),
          path: `/tools/${i}`,
          message:
            impl === undefined
              ? `tool "${m.id}" has no implementation: pass options.tools["${m.type ?? m.id}"] to Engine.fromConfigDir, or set handler: ./tools.js#${m.id} in tools.yaml`
              : `the implementation of tool "${m.id}" is ${typeof impl}, not a function`,
        });
        continue;
      }
      const schema = m.schema === undefined ? undefined : compileSchema(m.schema, `/tools/${i}/schema`);
      map.set(m.id, { manifest: m, impl: impl as ToolHandler, config: Object.freeze({ ...(m.config ?? {}) }), ...(schema ? { schema } : {}) });
    }
    if (problems.length > 0) throw new EngineError(problems);
    return new ToolRegistry(map);
  }

  /** Tool ids, in declaration order. */
  ids(): string[] {
    return [...this.tools.keys()];
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
    scope.emit("tool.invoked", { tool: toolId, callId, args: sealedArgs });
    const started = performance.now();
    if (!entry) return this.fail(scope, toolId, callId, sealedArgs, { code: "TOOL_NOT_FOUND", message: `tool "${toolId}" is not declared in tools.yaml` }, 0);
    if (entry.schema) {
      const problems = entry.schema.validate(sealedArgs);
      if (problems.length > 0) return this.fail(scope, toolId, callId, sealedArgs, { code: "TOOL_FAILED", message: `arguments for tool "${toolId}" do not match its schema: ${problems.join("; ")}` }, 0);
    }
    const ctx: ToolContext = { taskId: scope.taskId, nodeId: scope.nodeId, toolId, config: entry.config, signal: scope.signal };
    let result: JsonValue;
    try {
      result = sealJson(await entry.impl(sealedArgs, ctx));
    } catch (err) {
      return this.fail(scope, toolId, callId, sealedArgs, { code: "TOOL_FAILED", message: `tool "${toolId}" failed: ${errorMessage(err)}` }, performance.now() - started);
    }
    const durationMs = performance.now() - started;
    scope.emit("tool.completed", { tool: toolId, callId, result, durationMs });
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

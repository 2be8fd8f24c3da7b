/**
 * Typed manifests, exactly as they appear in the YAML files (snake_case keys), after JSON Schema
 * validation. Defaults are NOT applied here; the DAG layer applies them.
 *
 * @module
 */
import type { NodeKind, NodeRole } from "../telemetry/events.js";

/** A JSON Schema object (draft 2020-12 or draft-07). */
export type JsonSchema = Readonly<Record<string, unknown>> | boolean;

/** Merge failure policy. */
export type MergeOnFailure = "fail_on_any" | "ignore_failures" | "partial";

/** One entry of `workflow.yaml#/nodes`. */
export interface NodeManifest {
  readonly id: string;
  readonly kind: NodeKind;
  readonly role: NodeRole;
  readonly description?: string;
  /** Only on start nodes: the start used when `run()` is given none. */
  readonly default?: boolean;
  /** `./module.js#export` relative to the config dir, or `package#export`. Deterministic nodes only. */
  readonly handler?: string;
  /** Agent id in agents.yaml. Agent nodes only. */
  readonly agent?: string;
  /** Schema stem in `schemas/`, or an inline JSON Schema object. */
  readonly schema_in?: string | Readonly<Record<string, unknown>>;
  readonly schema_out?: string | Readonly<Record<string, unknown>>;
  /** Context profile id from memory.yaml, `global`, or `none` (default). */
  readonly context?: string;
  /** Tool ids this node may call. */
  readonly tools?: readonly string[];
  readonly continue_on_failure?: boolean;
  readonly merge?: { readonly on_failure?: MergeOnFailure };
  /** Exit nodes only: end the task with `failure`. */
  readonly always_fail?: boolean;
  /** Per-node timeout for the handler or agent call, in milliseconds. */
  readonly timeout_ms?: number;
  /** Suspend the run for an answer before the node runs or after it produced its output. */
  readonly interrupt?: "before" | "after";
  /** Where the handler runs: `inline` (default, the engine's thread) or `worker` (a worker thread, preemptible). */
  readonly isolation?: "inline" | "worker";
  /** Settings of `isolation: worker`. */
  readonly worker?: NodeWorkerManifest;
}

/** `worker:` of a node with `isolation: worker`. */
export interface NodeWorkerManifest {
  /** Names of environment variables the worker may read; default none. */
  readonly env?: readonly string[];
  /** V8 limits of each worker thread. */
  readonly resource_limits?: WorkerResourceLimitsManifest;
  /** Workers of the handler's module running at once (a bounded pool); default: the number of CPUs. */
  readonly max_workers?: number;
  /** A worker without a call for this long (ms) is terminated; default 60000. */
  readonly idle_timeout_ms?: number;
}

/** `resource_limits:` of a worker (plugins.yaml, a node's `worker:`). */
export interface WorkerResourceLimitsManifest {
  readonly max_old_generation_mb?: number;
  readonly max_young_generation_mb?: number;
  readonly code_range_mb?: number;
  readonly stack_mb?: number;
}

/** One entry of `workflow.yaml#/edges`. */
export interface EdgeManifest {
  readonly from: string;
  readonly to: string;
  readonly label?: string;
}

/** workflow.yaml */
export interface WorkflowManifest {
  readonly name?: string;
  readonly description?: string;
  /** Workflow-wide defaults. */
  readonly defaults?: WorkflowDefaultsManifest;
  readonly nodes: readonly NodeManifest[];
  readonly edges: readonly EdgeManifest[];
}

/** `defaults:` in workflow.yaml. */
export interface WorkflowDefaultsManifest {
  /** Timeout of every node without its own `timeout_ms` (positive integer, milliseconds). */
  readonly timeout_ms?: number;
  /** Cap on stages in flight per run (positive integer); `EngineOptions.maxConcurrency` wins. */
  readonly max_concurrency?: number;
}

/** A scripted tool call (`tool_calls:` of a scripted rule). */
export interface ScriptedToolCallManifest {
  /** Call id; default `call_<n>`. */
  readonly id?: string;
  /** Tool id from tools.yaml (the runner maps it to the name the model sees). */
  readonly name: string;
  readonly args?: unknown;
}

/** A scripted LLM rule: the first rule whose conditions all hold answers. */
export interface ScriptedRuleManifest {
  /** Only for this agent id. */
  readonly agent?: string;
  /** Regular expression (case-insensitive, safe subset) tested against the last user message. */
  readonly match?: string;
  /** Only at this model turn (1 = first request; n = after n-1 tool rounds or repair attempts). */
  readonly step?: number;
  /** Regular expression tested against the last `role: tool` message (a tool result). */
  readonly tool_result?: string;
  /** Reply text: a string as is, any other JSON value as JSON text. Default `""`. */
  readonly response?: unknown;
  /** Tool calls to request. */
  readonly tool_calls?: readonly ScriptedToolCallManifest[];
  /** Finish reason to report; default `tool_calls` with tool calls, else `stop`. */
  readonly finish_reason?: string;
  /** Fail the call instead of answering. */
  readonly error?: { readonly message: string; readonly status?: number; readonly code?: string };
  /** Wait this long before answering (honours cancellation). */
  readonly delay_ms?: number;
  readonly usage?: { readonly input_tokens?: number; readonly output_tokens?: number; readonly cached_input_tokens?: number; readonly reasoning_tokens?: number };
}

/** An LLM provider declared in agents.yaml. */
export interface ProviderManifest {
  readonly id: string;
  /** `scripted` (offline, embedded), `openai` (Chat Completions wire protocol) or `anthropic` (Messages API). */
  readonly type: "scripted" | "openai" | "anthropic";
  /** scripted: rules, in order. */
  readonly rules?: readonly ScriptedRuleManifest[];
  /** scripted: a YAML/JSON file with `rules`, relative to the config dir. */
  readonly script_file?: string;
  /** openai/anthropic: base URL such as `https://api.openai.com/v1`. */
  readonly base_url?: string;
  /** openai/anthropic: environment variable holding the API key. */
  readonly api_key_env?: string;
  /** Retries of retryable failures; default 2. */
  readonly retries?: number;
  readonly timeout_ms?: number;
  /** Cap of requests in flight to this provider. */
  readonly max_concurrency?: number;
  /** Extra HTTP headers. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Largest response body read, in bytes; default 10 MiB. */
  readonly max_response_bytes?: number;
}

/** Prices of a model, USD per million tokens. */
export interface ModelPricing {
  readonly input: number;
  readonly output: number;
  /** Cached input tokens; default `input`. */
  readonly cached_input?: number;
}

/** One entry of `agents.yaml#/agents`. */
export interface AgentManifest {
  readonly id: string;
  readonly description?: string;
  /** Provider id; defaults to `agents.yaml#/default_provider`. */
  readonly provider?: string;
  readonly model: string;
  readonly system?: string;
  /** User message template: `{{input}}`, `{{input.a.b}}`, `{{context}}`, `{{resume}}`; a missing path fails the node. */
  readonly prompt?: string;
  /** Tool ids (tools.yaml) the model may call; `mcp_id.*` for every tool of an MCP server. */
  readonly tools?: readonly string[];
  /** `text` (default): output is the reply string; `json`: the reply is parsed as JSON. */
  readonly output?: "text" | "json";
  /** With `output: json`: schema stem (schemas/) or inline schema; requested as structured output and validated. */
  readonly schema_out?: string | Readonly<Record<string, unknown>>;
  /** Re-asks with the validation errors; default 1. */
  readonly repair_attempts?: number;
  /** Model turns in the tool loop; default 8. */
  readonly max_steps?: number;
  readonly max_tool_calls?: number;
  /** Input + output tokens over all the node's calls. */
  readonly max_tokens_total?: number;
  /** Needs a `pricing:` entry for the model. */
  readonly max_cost_usd?: number;
  readonly temperature?: number;
  readonly max_tokens?: number;
}

/** agents.yaml */
export interface AgentsManifest {
  readonly default_provider?: string;
  readonly providers?: readonly ProviderManifest[];
  /** USD per million tokens, by model name. */
  readonly pricing?: Readonly<Record<string, ModelPricing>>;
  readonly agents: readonly AgentManifest[];
}

/** One entry of `tools.yaml#/tools`. */
export interface ToolManifest {
  readonly id: string;
  /** Implementation key: a built-in type, or a key of `EngineOptions.tools`. Defaults to `id`. */
  readonly type?: string;
  readonly description?: string;
  /** `./module.js#export` (relative to the config dir) or `package#export` implementing the tool; `EngineOptions.tools` wins. */
  readonly handler?: string;
  /** JSON Schema of the tool's arguments (stem or inline). */
  readonly schema?: string | Readonly<Record<string, unknown>>;
  readonly config?: Readonly<Record<string, unknown>>;
  /** What a built-in tool may touch (see docs/tools.md); checked at load time and on every call. */
  readonly permissions?: ToolPermissions;
  /** `type: mcp`, stdio transport: the server's program and arguments (relative paths resolve against the config dir). */
  readonly command?: readonly string[];
  /** `type: mcp`, Streamable HTTP transport: the server's endpoint URL. */
  readonly url?: string;
  /** `type: mcp`, stdio: extra environment variables for the server process. */
  readonly env?: Readonly<Record<string, string>>;
  /** `type: mcp`, stdio: working directory, relative to the config dir (default: the config dir). */
  readonly cwd?: string;
  /** `type: mcp`: HTTP headers sent to a Streamable HTTP server. */
  readonly headers?: Readonly<Record<string, string>>;
  /** `type: mcp`: connect and per-call timeout in ms (default 30,000). */
  readonly timeout_ms?: number;
  /**
   * `type: mcp`: largest result kept, in bytes of its JSON (default 1 MiB); a larger result is a
   * `TOOL_FAILED` (for an agent: an error the model sees), never kept in history or events.
   */
  readonly max_result_bytes?: number;
}

/** `permissions:` of a tool in tools.yaml. */
export interface ToolPermissions {
  /** File tools: the directory they are confined to, relative to the config dir. */
  readonly filesystem_root?: string;
  /** `write_file`: largest content written, in bytes; `read_file`: largest file read (default 10 MB). */
  readonly max_bytes?: number;
  /** `http_request`: must be `true`. */
  readonly allow_network?: boolean;
  /** `http_request`: host names (optionally `host:port`) requests and redirects may go to. */
  readonly allowed_hosts?: readonly string[];
  /** `http_request`: largest response body in bytes (default 1 MB). */
  readonly max_response_bytes?: number;
  /** `http_request`: redirects followed (default 5). */
  readonly max_redirects?: number;
  /** `run_command`: must be `true`. */
  readonly allow_shell?: boolean;
  /** `run_command`: program names (looked up in PATH) or absolute paths that may be run. */
  readonly allowed_programs?: readonly string[];
  /** `run_command` and `http_request`: timeout in ms (default 30,000). */
  readonly timeout_ms?: number;
  /** `run_command`: bytes kept of stdout and of stderr each (default 1 MB). */
  readonly max_output_bytes?: number;
}

/** tools.yaml */
export interface ToolsManifest {
  readonly tools: readonly ToolManifest[];
}

/** Where a writable (`kv`) memory store lives: with the task, the project, or every project. */
export type MemoryScope = "task" | "project" | "global";

/** A memory store in memory.yaml. */
export interface MemoryStoreManifest {
  readonly id: string;
  /**
   * `static`: `items` inline; `file`: a JSON/YAML/text file relative to the config dir (both
   * read-only, for context profiles); `kv`: a writable key-value store (`ctx.memory`).
   */
  readonly kind: "static" | "file" | "kv";
  readonly items?: readonly unknown[];
  readonly path?: string;
  /** kv only (required): `task`, `project` or `global`. */
  readonly scope?: MemoryScope;
  /** kv only: the nodes that may write (put into and delete from) the store (default: every node with a handler). */
  readonly writers?: readonly string[];
}

/** A context profile in memory.yaml. */
export interface ContextProfileManifest {
  readonly id: string;
  readonly stores: readonly string[];
  /** Keep at most this many items (from the end). */
  readonly max_items?: number;
}

/** memory.yaml */
export interface MemoryManifest {
  /** Id of the project for `project`-scope kv stores. Default: the config directory's absolute path. */
  readonly project_id?: string;
  readonly stores?: readonly MemoryStoreManifest[];
  readonly profiles?: readonly ContextProfileManifest[];
  /** Stores that make up the `global` profile. Default: all stores. */
  readonly global?: readonly string[];
}

/** One entry of `plugins.yaml#/plugins`. */
export interface PluginManifest {
  readonly id: string;
  readonly module: string;
  readonly enabled?: boolean;
  readonly required?: boolean;
  readonly events?: readonly string[];
  readonly config?: Readonly<Record<string, unknown>>;
  /** `inline` (default) or `worker`: run the plugin in a worker thread. */
  readonly isolation?: "inline" | "worker";
  /** Worker isolation: queue bound (deliveries waiting); overflow drops the newest. */
  readonly queue_size?: number;
  /** Consecutive failures after which the plugin is switched off. */
  readonly max_failures?: number;
  /** Worker isolation: names of environment variables the worker may see (default none). */
  readonly env?: readonly string[];
  /** Worker isolation: V8 limits of the worker thread. */
  readonly resource_limits?: WorkerResourceLimitsManifest;
}

/** plugins.yaml */
export interface PluginsManifest {
  readonly plugins: readonly PluginManifest[];
}

/** A position in a source file. */
export interface SourceLocation {
  readonly file: string;
  /** 1-based. */
  readonly line: number;
  /** 1-based. */
  readonly column: number;
}

/** Names of the manifest files. */
export type ManifestName = "workflow" | "agents" | "tools" | "memory" | "plugins";

/** A loaded, schema-valid config directory. */
export interface ProjectConfig {
  /** Absolute path of the config directory. */
  readonly dir: string;
  readonly workflow: WorkflowManifest;
  readonly agents?: AgentsManifest;
  readonly tools?: ToolsManifest;
  readonly memory?: MemoryManifest;
  readonly plugins?: PluginsManifest;
  /** JSON Schemas from `schemas/`, by file stem. */
  readonly schemas: ReadonlyMap<string, JsonSchema>;
  /** Absolute file path of each manifest that exists. */
  readonly files: Readonly<Partial<Record<ManifestName, string>>>;
  /**
   * Source position of a JSON-pointer path (e.g. `/nodes/3/role`) inside a manifest, where
   * known; falls back to the nearest existing ancestor.
   */
  locate(manifest: ManifestName, path: string): SourceLocation | undefined;
}

/**
 * agent-engine: a configuration-first orchestration engine for workflows of deterministic code
 * and LLM agents, declared as a DAG in YAML, with a read-only plugin system.
 *
 * @packageDocumentation
 */
export { EngineError, ConfigError, PluginLoadError, StageError, formatDetail, type ErrorCode, type ErrorDetail } from "./errors.js";
export { sealJson, isSealed, thawJson, NotJsonError, type JsonValue, type JsonObject } from "./json.js";
export {
  EVENT_TYPES,
  type EngineEvent,
  type EventType,
  type EventOf,
  type EventPayloads,
  type EventFilter,
  type EventBase,
  type Status,
  type NodeRole,
  type NodeKind,
  type ErrorInfo,
  type EdgeRef,
  type TokenUsage,
} from "./telemetry/events.js";
export { TelemetryBus, DEFAULT_MAX_EVENTS, type TelemetryBusOptions, type EventSink } from "./telemetry/TelemetryBus.js";
export { compileTypeMatcher, type TypeMatcher } from "./telemetry/match.js";
export { createConsoleLogger, silentLogger, MemoryLogger, type Logger, type LogLevel, type LogFields } from "./telemetry/logger.js";
export { Engine, type EngineOptions, type EngineShutdownReport, type ResumeOptions, type RunSummary } from "./runtime/Engine.js";
export { MemoryRunStore, type RunStore, type StoredRun, type StoredRunStatus, type LoadedRun } from "./runtime/runStore.js";
export type { JournalRecord, RecordedOutcome, Answer } from "./runtime/journal.js";
export { MAX_MEMORY_KEY_LENGTH, type MemoryAccess, type KvEntry, type KvWrite, type KvPut, type KvDelete, type KvBase, type MemoryBackend, type MemoryScope } from "./runtime/memory.js";
export type { NodeHandler, HandlerContext, ToolHandler, ToolContext, ToolCallRecord, HistoryEntry, TaskResult, RunResult, RunOptions, InterruptInfo } from "./runtime/types.js";
export { BUILTIN_TOOL_TYPES, checkToolManifests, type BuiltinToolType } from "./tools/permissions.js";
export { isToolAllowed } from "./tools/allowList.js";
export type { ToolDescription } from "./tools/ToolRegistry.js";
export type { LoadPolicy } from "./modules.js";
export { selectDecisionEdge, selectedName, splitEdgeFor, compareArrivals, type DecisionSelection, type ArrivalKey } from "./runtime/router.js";
export type { LlmProvider, LlmRequest, LlmResponse, ChatMessage, ToolCall, ToolSpec, RetryInfo, CallHooks } from "./agents/types.js";
export { ScriptedProvider, type ScriptedRule } from "./agents/ScriptedProvider.js";
export { Recorder, canonicalJson, requestKey, type RecordingOptions, type RecordingLine } from "./agents/recording.js";
export { AgentOutputError, type RunUsage } from "./agents/AgentRunner.js";
export { createHttpProvider, secretsOf, redact, LlmError, PROVIDER_DEFAULTS, type ProviderConfig, type ProviderSource, type HttpProviderOptions, type LlmFailureKind } from "./agents/providers/index.js";
export { renderTemplate } from "./agents/render.js";
export { loadConfigDir, createProjectConfig, type ProjectConfigInput } from "./config/loadConfigDir.js";
export { JsonSchemaError } from "./config/jsonSchema.js";
export { buildGraph, loadProject, type LoadedProject } from "./dag/buildGraph.js";
export { validateProject, validateWorkflow, validateReferences, ROLE_EDGE_RULES } from "./dag/validateProject.js";
export { compileSchema } from "./dag/compileSchema.js";
export type {
  ProjectConfig,
  WorkflowManifest,
  NodeManifest,
  EdgeManifest,
  AgentsManifest,
  AgentManifest,
  ProviderManifest,
  ToolsManifest,
  ToolManifest,
  ToolPermissions,
  MemoryManifest,
  PluginsManifest,
  PluginManifest,
  ScriptedRuleManifest,
  MemoryStoreManifest,
  ContextProfileManifest,
  ManifestName,
  SourceLocation,
  JsonSchema,
  MergeOnFailure,
} from "./config/types.js";
export type { WorkflowGraph, GraphNode, GraphEdge, CompiledSchema, WorkflowDefaults } from "./dag/types.js";
export { DEFAULT_NODE_TIMEOUT_MS } from "./dag/types.js";
export {
  PluginBase,
  definePlugin,
  isPlugin,
  isPluginClass,
  isPluginDefinition,
  type Plugin,
  type PluginDefinition,
  type PluginContext,
  type HookResult,
  type DefinedPlugin,
  type DefinedPluginClass,
  type PluginClass,
} from "./plugins/PluginBase.js";
export {
  PluginRegistry,
  PluginTimeoutError,
  DEFAULT_MAX_FAILURES,
  DEFAULT_SHUTDOWN_TIMEOUT_MS,
  type PluginRegistryOptions,
  type PluginStats,
  type PluginState,
  type RegisterOptions,
  type ShutdownReport,
  type PluginShutdownResult,
} from "./plugins/PluginRegistry.js";
export { loadPlugins, inspectPlugins, type PluginLoadFailure, type PluginStatus, type LoadPluginsResult, type LoadPluginsOptions, type LoadedPlugin } from "./plugins/loader.js";
export { WorkerPlugin, type WorkerPluginOptions } from "./plugins/WorkerPlugin.js";
export { JsonlEventLog, ConsoleLogger, formatEventLine, type JsonlEventLogConfig, type ConsoleLoggerConfig } from "./plugins/builtins/index.js";
// Durable store layer (src/store): the engine-facing RunStore of runtime/runStore.ts is a
// different interface, so these are exported under Durable* names.
export {
  openStore,
  openEngineStore,
  EngineRunStore,
  defaultStoreUrl,
  MemoryStore,
  StoreError,
  redactUrl,
  SCHEMA_VERSION,
  type OpenStoreOptions,
  type RunStore as DurableRunStore,
  type StoredMemoryScope,
  type CreateRunOptions,
  type StateDelta,
  type MemoryWrite,
  type MemoryPut,
  type MemoryDelete,
  type StoredEvent,
  type CommitBatch,
  type StoredRun as DurableRun,
  type LoadedRun as LoadedDurableRun,
  type RunListing,
  type ListRunsOptions,
  type PruneOptions,
  type LeaseResult,
  type MemoryEntry,
} from "./store/index.js";

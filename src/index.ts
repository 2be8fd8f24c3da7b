/**
 * agent-engine: a configuration-first orchestration engine for workflows of deterministic code
 * and LLM agents, declared as a DAG in YAML, with a read-only plugin system.
 *
 * @packageDocumentation
 */
export { EngineError, ConfigError, PluginLoadError, formatDetail, type ErrorCode, type ErrorDetail } from "./errors.js";
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

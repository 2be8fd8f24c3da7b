/**
 * Built-in plugins, reachable from plugins.yaml as `agent-engine/plugins#<Name>`.
 *
 * @module
 */
export { JsonlEventLog, type JsonlEventLogConfig } from "./JsonlEventLog.js";
export { ConsoleLogger, formatEventLine, type ConsoleLoggerConfig } from "./ConsoleLogger.js";

/**
 * Built-in plugins, reachable from plugins.yaml as `agent-engine/plugins#<Name>`.
 *
 * @module
 */
export { JsonlEventLog, type JsonlEventLogConfig } from "./JsonlEventLog.js";
export { ConsoleLogger, formatEventLine, type ConsoleLoggerConfig } from "./ConsoleLogger.js";
export { OtelTracer, OTEL_TRACER_PACKAGES, type OtelTracerConfig } from "./OtelTracer.js";
export { PrometheusMetrics, PROMETHEUS_METRICS_PACKAGES, type PrometheusMetricsConfig, type MetricsRegistry } from "./PrometheusMetrics.js";
export { HtmlReport, type HtmlReportConfig } from "./HtmlReport.js";

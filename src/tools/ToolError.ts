/**
 * The error built-in tools throw: a stable engine code (`TOOL_PERMISSION_DENIED`, `TOOL_FAILED`)
 * that {@link ToolRegistry.call} keeps in `tool.failed` and in the call's rejection.
 *
 * @module
 */
import { EngineError, type ErrorCode } from "../errors.js";

/** A tool call refused or failed with an engine code. */
export class ToolError extends EngineError {
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super({ code, message }, options);
    this.name = "ToolError";
  }
}

/** A call refused by the tool's permissions: nothing was read, written, sent or run. */
export function denied(toolId: string, what: string): ToolError {
  return new ToolError("TOOL_PERMISSION_DENIED", `tool "${toolId}": permission denied: ${what}`);
}

/** A call that was allowed but failed. */
export function failed(toolId: string, what: string, cause?: unknown): ToolError {
  return new ToolError("TOOL_FAILED", `tool "${toolId}" failed: ${what}`, cause === undefined ? undefined : { cause });
}

/**
 * Record and replay of LLM and tool calls (`EngineOptions.recording`). A recording is JSONL, one
 * line per call: `{ kind: "llm" | "tool", key, request, response }`, where `key` is the SHA-256
 * of the canonical JSON (object keys sorted, no whitespace) of `request`. LLM requests are
 * `{ provider, model, messages, tools, params }`; tool requests `{ tool, args }`.
 *
 * Replay answers every call from the file: no network, no tool side effects. Several lines with
 * the same key are answered in file order, the last one repeating. A request that is not in the
 * file is a `REPLAY_MISS` naming the fields in which it differs from the closest recorded one.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { appendFileSync, mkdirSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { EngineError, StageError, errorMessage, type ErrorCode } from "../errors.js";
import { freezeShell, sealJson, type JsonValue } from "../json.js";
import { capForEvent, type ToolEventScope } from "../tools/ToolRegistry.js";
import { redact } from "./providers/index.js";

/** `EngineOptions.recording`. */
export interface RecordingOptions {
  /** `record`: run normally and write every LLM and tool call; `replay`: answer every call from the file. */
  readonly mode: "record" | "replay";
  /** The JSONL file (created or truncated by `record`). */
  readonly path: string;
}

/** One line of a recording. */
export interface RecordingLine {
  readonly kind: "llm" | "tool";
  readonly key: string;
  readonly request: JsonValue;
  readonly response: JsonValue;
}

/** JSON with object keys sorted and no whitespace: equal data, equal text. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(",")}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(",")}}`;
}

/** SHA-256 (hex) of the canonical JSON of a request. */
export function requestKey(request: JsonValue): string {
  return createHash("sha256").update(canonicalJson(request)).digest("hex");
}

/** Replaces every secret value in `text` with `[REDACTED]` (see the providers' `redact`). */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  return redact(text, secrets);
}

/** Outcome of {@link Recorder.lookup}. */
export type ReplayLookup = { readonly found: true; readonly response: JsonValue } | { readonly found: false; readonly message: string };

/** Reads or writes one recording file. */
export class Recorder {
  private readonly byKey = new Map<string, { lines: RecordingLine[]; next: number }>();
  private readonly lines: RecordingLine[] = [];

  private constructor(
    /** `record` or `replay`. */
    readonly mode: "record" | "replay",
    /** Absolute path of the file. */
    readonly path: string,
    private readonly secrets: readonly string[],
  ) {}

  /**
   * Opens a recording: `record` truncates (creates) the file, `replay` reads it.
   *
   * @throws {@link EngineError} `INVALID_OPTION` for a bad mode, `RECORDING_INVALID` for an unreadable file or a bad line.
   */
  static async open(options: RecordingOptions, secrets: readonly string[] = []): Promise<Recorder> {
    const mode: unknown = options?.mode;
    if (mode !== "record" && mode !== "replay") {
      throw new EngineError({ code: "INVALID_OPTION", path: "recording.mode", message: `recording.mode must be "record" or "replay", got ${JSON.stringify(mode)}` });
    }
    if (typeof options.path !== "string" || options.path.length === 0) {
      throw new EngineError({ code: "INVALID_OPTION", path: "recording.path", message: "recording.path must be the path of a .jsonl file" });
    }
    const path = resolve(options.path);
    const rec = new Recorder(mode, path, secrets);
    if (mode === "record") {
      try {
        mkdirSync(dirname(path), { recursive: true });
        writeFileSync(path, "");
      } catch (err) {
        throw new EngineError({ code: "RECORDING_INVALID", file: path, message: `cannot write the recording ${path}: ${errorMessage(err)}` });
      }
      return rec;
    }
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (err) {
      throw new EngineError({ code: "RECORDING_INVALID", file: path, message: `cannot read the recording ${path}: ${errorMessage(err)}; record one first with recording: { mode: "record" } (CLI: --record)` });
    }
    const problems: { line: number; message: string }[] = [];
    text.split("\n").forEach((raw, i) => {
      if (raw.trim() === "") return;
      let v: unknown;
      try {
        v = JSON.parse(raw);
      } catch (err) {
        problems.push({ line: i + 1, message: `not JSON: ${errorMessage(err)}` });
        return;
      }
      const l = v as Partial<RecordingLine> | null;
      if (!l || typeof l !== "object" || (l.kind !== "llm" && l.kind !== "tool") || typeof l.key !== "string" || !("request" in l) || !("response" in l)) {
        problems.push({ line: i + 1, message: `expected { kind: "llm" | "tool", key, request, response }` });
        return;
      }
      rec.add(l as RecordingLine);
    });
    if (problems.length > 0) {
      throw new EngineError(problems.map((p) => ({ code: "RECORDING_INVALID" as const, file: path, line: p.line, message: `recording line ${p.line}: ${p.message}` })));
    }
    return rec;
  }

  private add(line: RecordingLine): void {
    this.lines.push(line);
    const slot = this.byKey.get(line.key);
    if (slot) slot.lines.push(line);
    else this.byKey.set(line.key, { lines: [line], next: 0 });
  }

  /** Appends one call to the file (record mode), secrets redacted. */
  record(kind: "llm" | "tool", request: JsonValue, response: JsonValue): void {
    const line = { kind, key: requestKey(request), request, response };
    appendFileSync(this.path, `${redactSecrets(JSON.stringify(line), this.secrets)}\n`);
  }

  /** The recorded response to `request` (replay mode), or why there is none. */
  lookup(kind: "llm" | "tool", request: JsonValue): ReplayLookup {
    const slot = this.byKey.get(requestKey(request));
    const hit = slot?.lines.filter((l) => l.kind === kind);
    if (slot && hit && hit.length > 0) {
      const line = hit[Math.min(slot.next, hit.length - 1)]!;
      slot.next++;
      return { found: true, response: line.response };
    }
    let best: { diff: string[] } | undefined;
    for (const l of this.lines) {
      if (l.kind !== kind) continue;
      const diff: string[] = [];
      diffPaths(l.request, request, "", diff, 50);
      if (!best || diff.length < best.diff.length) best = { diff };
    }
    const what = kind === "llm" ? "LLM request" : "tool call";
    const message = best
      ? `${what} not in the recording ${this.path}; the closest recorded one differs in: ${best.diff.slice(0, 8).join(", ")}${best.diff.length > 8 ? ", ..." : ""}`
      : `${what} not in the recording ${this.path}, which has no ${kind} calls at all`;
    return { found: false, message };
  }
}

/** Paths where `a` and `b` differ (first difference per array), at most `limit`. */
function diffPaths(a: unknown, b: unknown, path: string, out: string[], limit: number): void {
  if (out.length >= limit) return;
  if (a === b) return;
  const aObj = a !== null && typeof a === "object";
  const bObj = b !== null && typeof b === "object";
  if (!aObj || !bObj || Array.isArray(a) !== Array.isArray(b)) {
    out.push(path || "(request)");
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    const n = Math.max(a.length, b.length);
    for (let i = 0; i < n; i++) {
      const before = out.length;
      if (i >= a.length || i >= b.length) out.push(`${path}[${i}]`);
      else diffPaths(a[i], b[i], `${path}[${i}]`, out, limit);
      if (out.length > before) return;
    }
    return;
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  for (const k of new Set([...Object.keys(ao), ...Object.keys(bo)])) {
    const p = path ? `${path}.${k}` : k;
    if (!(k in ao) || !(k in bo)) out.push(p);
    else diffPaths(ao[k], bo[k], p, out, limit);
  }
}

/** A tool call through the engine's tool path. */
export type ToolCaller = (toolId: string, args: unknown, scope: ToolEventScope) => Promise<JsonValue>;

/**
 * Wraps the engine's tool path: `record` records each call's result or error; `replay` answers
 * from the recording (emitting the same `tool.*` events, with `durationMs` 0) and never runs the
 * tool; a call not in the recording rejects with `REPLAY_MISS`.
 */
export function recordedTools(recorder: Recorder, call: ToolCaller): ToolCaller {
  if (recorder.mode === "record") {
    return async (toolId, args, scope) => {
      const request = sealJson({ tool: toolId, args: args === undefined ? null : safeJson(args) });
      try {
        const result = await call(toolId, args, scope);
        recorder.record("tool", request, sealJson({ result }));
        return result;
      } catch (err) {
        const code = (err as { code?: unknown } | null)?.code;
        recorder.record("tool", request, sealJson({ error: { code: typeof code === "string" ? code : "TOOL_FAILED", message: errorMessage(err) } }));
        throw err;
      }
    };
  }
  return (toolId, args, scope) => {
    const sealedArgs = args === undefined ? null : safeJson(args);
    const hit = recorder.lookup("tool", sealJson({ tool: toolId, args: sealedArgs }));
    if (!hit.found) return Promise.reject(new StageError("REPLAY_MISS", `tool "${toolId}" (node "${scope.nodeId}"): ${hit.message}`));
    const callId = scope.nextCallId();
    // Capped as the live path caps them (ToolRegistry.call), so a replay has the recorded events.
    scope.emit("tool.invoked", { tool: toolId, callId, args: capForEvent(sealedArgs) });
    const rec = hit.response as { result?: JsonValue; error?: { code: string; message: string } };
    if (rec.error) {
      const error = freezeShell({ code: rec.error.code, message: rec.error.message });
      scope.emit("tool.failed", { tool: toolId, callId, error, durationMs: 0 });
      scope.toolCalls.push(freezeShell({ callId, tool: toolId, args: sealedArgs, status: "failure" as const, error }));
      const code = /^[A-Z][A-Z0-9_]+$/.test(rec.error.code) ? (rec.error.code as ErrorCode) : "TOOL_FAILED";
      return Promise.reject(new StageError(code, rec.error.message));
    }
    const result = sealJson(rec.result ?? null);
    scope.emit("tool.completed", { tool: toolId, callId, result: capForEvent(result), durationMs: 0 });
    scope.toolCalls.push(freezeShell({ callId, tool: toolId, args: sealedArgs, status: "success" as const, result }));
    return Promise.resolve(result);
  };
}

function safeJson(v: unknown): JsonValue {
  try {
    return sealJson(v);
  } catch {
    return String(v);
  }
}

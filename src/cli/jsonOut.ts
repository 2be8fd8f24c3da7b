/**
 * Writing results as JSON: `JSON.stringify` when it can, and a non-recursive writer to a file
 * when it cannot (a result nested deeper than the stack allows, or larger than a string can be).
 *
 * @module
 */
import { closeSync, fsyncSync, openSync, writeSync } from "node:fs";

/** Outcome of {@link stringifyResult}. */
export type StringifyOutcome = { readonly ok: true; readonly text: string } | { readonly ok: false; readonly reason: string };

/** `JSON.stringify` that reports failure (too deep, too large, cycles) instead of throwing. */
export function stringifyResult(value: unknown, compact: boolean): StringifyOutcome {
  try {
    const text = compact ? JSON.stringify(value) : JSON.stringify(value, null, 2);
    return { ok: true, text: text ?? "null" };
  } catch (err) {
    let reason: string;
    try {
      reason = err instanceof RangeError && /call stack/i.test(err.message) ? "it is nested too deeply for JSON.stringify" : err instanceof RangeError ? "it is too large for one string" : String((err as Error).message);
    } catch {
      reason = "it cannot be stringified";
    }
    return { ok: false, reason };
  }
}

/**
 * Writes `value` as compact JSON to `path` without recursion and without building one big string
 * (chunks of 64 KiB), so any depth and any size that fits on disk can be saved. Cycles are
 * written as `null`. Returns the number of bytes written.
 */
export function writeJsonFile(path: string, value: unknown): number {
  const fd = openSync(path, "w");
  let buf = "";
  let bytes = 0;
  const flush = (): void => {
    if (buf.length === 0) return;
    const data = Buffer.from(buf, "utf8");
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off);
    bytes += data.length;
    buf = "";
  };
  const put = (s: string): void => {
    buf += s;
    if (buf.length >= 65536) flush();
  };
  type Frame = { kind: "array"; items: readonly unknown[]; i: number; obj: object } | { kind: "object"; keys: string[]; rec: Record<string, unknown>; i: number; first: boolean; obj: object };
  const stack: Frame[] = [];
  const open = new Set<object>();
  const scalar = (v: unknown): string | undefined => {
    if (v === null) return "null";
    switch (typeof v) {
      case "string":
        return JSON.stringify(v);
      case "number":
        return Number.isFinite(v) ? String(v) : "null";
      case "boolean":
        return String(v);
      case "bigint":
        return JSON.stringify(String(v));
      case "undefined":
      case "function":
      case "symbol":
        return undefined;
      default:
        return undefined;
    }
  };
  // Emits a value; containers push a frame. `inArray` decides how unrepresentable values print.
  const emit = (v: unknown, inArray: boolean): void => {
    if (v !== null && typeof v === "object") {
      if (open.has(v)) {
        put("null");
        return;
      }
      open.add(v);
      if (Array.isArray(v)) {
        put("[");
        stack.push({ kind: "array", items: v, i: 0, obj: v });
      } else {
        put("{");
        stack.push({ kind: "object", keys: Object.keys(v), rec: v as Record<string, unknown>, i: 0, first: true, obj: v });
      }
      return;
    }
    const s = scalar(v);
    put(s ?? (inArray ? "null" : "null"));
  };
  try {
    emit(value, true);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      if (top.kind === "array") {
        if (top.i >= top.items.length) {
          put("]");
          open.delete(top.obj);
          stack.pop();
          continue;
        }
        if (top.i > 0) put(",");
        emit(top.items[top.i++], true);
      } else {
        if (top.i >= top.keys.length) {
          put("}");
          open.delete(top.obj);
          stack.pop();
          continue;
        }
        const k = top.keys[top.i++]!;
        const v = top.rec[k];
        if (v === undefined || typeof v === "function" || typeof v === "symbol") continue;
        put(`${top.first ? "" : ","}${JSON.stringify(k)}:`);
        top.first = false;
        emit(v, false);
      }
    }
    put("\n");
    flush();
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return bytes;
}

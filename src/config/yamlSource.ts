/**
 * YAML (and JSON) sources parsed with positions kept, so any JSON pointer into the parsed value
 * can be mapped back to a line and column.
 *
 * @module
 */
import { LineCounter, isAlias, isMap, isPair, isScalar, isSeq, parseDocument } from "yaml";
import type { Document, Node as YamlNode } from "yaml";
import type { ErrorDetail } from "../errors.js";
import type { SourceLocation } from "./types.js";

/** A parsed source file. */
export interface ParsedSource {
  /** Absolute path. */
  readonly file: string;
  /** The parsed value (`undefined` when the file had syntax errors). */
  readonly value: unknown;
  /** Syntax problems (empty when the file parsed). */
  readonly errors: readonly ErrorDetail[];
  /**
   * Position of the node at `pointer`, or of its nearest existing ancestor. With `key: true`,
   * the position of the mapping key naming the last segment, where there is one.
   */
  locate(pointer: string, options?: { key?: boolean }): SourceLocation | undefined;
}

/** Splits a JSON pointer (`/a/b~1c`) into unescaped segments. */
export function pointerSegments(pointer: string): string[] {
  if (pointer === "" || pointer === "/") return [];
  return pointer
    .replace(/^\//, "")
    .split("/")
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
}

const YAML_MESSAGES: Record<string, string> = {
  DUPLICATE_KEY: "duplicate key: each key may appear only once in a mapping; remove or rename the repeated one",
  BAD_INDENT: "bad indentation: align sibling keys and list items at the same column",
  MISSING_CHAR: "missing character (an unclosed quote, bracket or brace?)",
  TAB_AS_INDENT: "tabs are not allowed for indentation in YAML; indent with spaces",
  MULTIPLE_DOCS: "only one YAML document is allowed per file; remove the `---` separators",
};

/**
 * Parses `text` as YAML 1.2 (JSON is a subset) keeping node positions. Duplicate keys and
 * multiple documents are syntax errors. Never throws.
 */
export function parseSource(file: string, text: string): ParsedSource {
  const lineCounter = new LineCounter();
  let doc: Document.Parsed | undefined;
  const errors: ErrorDetail[] = [];
  try {
    doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, keepSourceTokens: false });
  } catch (err) {
    errors.push({ code: "CONFIG_YAML_SYNTAX", file, message: `cannot parse: ${String(err)}` });
  }
  if (doc) {
    for (const e of doc.errors) {
      const pos = lineCounter.linePos(e.pos[0]);
      const raw = e.message.split("\n")[0] ?? e.message;
      const known = YAML_MESSAGES[e.code];
      errors.push({
        code: "CONFIG_YAML_SYNTAX",
        file,
        line: pos.line,
        column: pos.col,
        message: known ? `${known} (${raw})` : `YAML syntax error: ${raw}; fix the syntax at this position`,
      });
    }
  }
  let value: unknown;
  if (doc && errors.length === 0) {
    try {
      value = doc.toJS({ maxAliasCount: 1000 });
    } catch (err) {
      errors.push({ code: "CONFIG_YAML_SYNTAX", file, line: 1, column: 1, message: `cannot convert the YAML document: ${err instanceof Error ? err.message : String(err)}` });
    }
  }
  const parsed = doc;
  return {
    file,
    value: errors.length === 0 ? value : undefined,
    errors,
    locate(pointer, options) {
      if (!parsed) return undefined;
      const offset = findOffset(parsed, pointerSegments(pointer), options?.key === true);
      if (offset === undefined) return { file, line: 1, column: 1 };
      const p = lineCounter.linePos(offset);
      return { file, line: p.line, column: p.col };
    },
  };
}

function start(node: unknown): number | undefined {
  if (node && typeof node === "object" && "range" in node) {
    const r = (node as { range?: readonly number[] | null }).range;
    if (r && typeof r[0] === "number") return r[0];
  }
  return undefined;
}

function findOffset(doc: Document.Parsed, segments: readonly string[], wantKey: boolean): number | undefined {
  let current: unknown = doc.contents;
  let best = start(current);
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i] ?? "";
    const last = i === segments.length - 1;
    let guard = 0;
    while (isAlias(current) && guard++ < 100) current = current.resolve(doc);
    if (isMap(current)) {
      const pair = current.items.find((p) => isPair(p) && keyString(p.key) === seg);
      if (!pair) return best;
      const keyPos = start(pair.key);
      if (last && wantKey && keyPos !== undefined) return keyPos;
      const valuePos = start(pair.value);
      // `key:` with no value: the null scalar's range is empty at the end of the line; point at the key.
      const empty = isScalar(pair.value) && pair.value.value === null && pair.value.range?.[0] === pair.value.range?.[1];
      best = valuePos !== undefined && !empty ? valuePos : (keyPos ?? best);
      current = pair.value;
    } else if (isSeq(current)) {
      if (!/^(0|[1-9]\d*)$/.test(seg)) return best;
      const item: unknown = current.items[Number(seg)];
      if (item === undefined) return best;
      best = start(item) ?? best;
      current = item;
    } else {
      return best;
    }
  }
  return best;
}

function keyString(key: unknown): string | undefined {
  if (isScalar(key)) return String(key.value);
  if (key === null || key === undefined) return undefined;
  return String(key as YamlNode);
}

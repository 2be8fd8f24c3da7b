/**
 * Prompt templates: `{{input}}` is the node input as JSON, `{{input.a.b}}` a field of it
 * (strings inserted as is, other values as JSON), `{{context}}` the assembled context.
 *
 * @module
 */
import type { JsonValue } from "../json.js";

const PLACEHOLDER = /\{\{\s*([a-zA-Z_][\w]*(?:\.[\w-]+)*)\s*\}\}/g;

/** Renders a template against named JSON values. Unknown paths render as an empty string. */
export function renderTemplate(template: string, values: Readonly<Record<string, JsonValue>>): string {
  return template.replace(PLACEHOLDER, (_m, path: string) => {
    const [head, ...rest] = path.split(".");
    let v: JsonValue | undefined = head === undefined ? undefined : values[head];
    for (const key of rest) {
      if (v === null || typeof v !== "object") {
        v = undefined;
        break;
      }
      v = Array.isArray(v) ? (v as readonly JsonValue[])[Number(key)] : (v as Record<string, JsonValue>)[key];
    }
    if (v === undefined) return "";
    return typeof v === "string" ? v : JSON.stringify(v);
  });
}

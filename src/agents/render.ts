/**
 * Prompt templates: `{{input}}` is the node input (strings as is, other values as JSON),
 * `{{input.a.b}}` a field of it (array items by index: `{{input.items.0}}`), `{{context}}` the
 * assembled context, `{{resume}}` the answer to an interrupt. Templates are strict: an unknown
 * root is a load error ({@link templateProblems}), a path missing at run time throws
 * `TEMPLATE_MISSING_VALUE` naming the path.
 *
 * @module
 */
import { EngineError } from "../errors.js";
import type { JsonValue } from "../json.js";

const PLACEHOLDER = /\{\{\s*([a-zA-Z_][\w]*(?:\.[\w-]+)*)\s*\}\}/g;
const ANY_BRACES = /\{\{([^}]*)\}\}/g;

/** Roots a template may reference. */
export const TEMPLATE_ROOTS: readonly string[] = Object.freeze(["input", "context", "resume"]);

/**
 * Problems of a template, checked at load time: `{{...}}` that is not a dotted path, or whose
 * root is not one of {@link TEMPLATE_ROOTS}. Empty when the template is fine.
 */
export function templateProblems(template: string, roots: readonly string[] = TEMPLATE_ROOTS): string[] {
  const out: string[] = [];
  for (const m of template.matchAll(ANY_BRACES)) {
    const body = (m[1] ?? "").trim();
    if (!/^[a-zA-Z_][\w]*(?:\.[\w-]+)*$/.test(body)) {
      out.push(`"{{${m[1] ?? ""}}}" is not a placeholder; write {{input}}, {{input.field}}, {{context}} or {{resume}}`);
      continue;
    }
    const root = body.split(".")[0]!;
    if (!roots.includes(root)) out.push(`unknown template root "${root}" in "{{${body}}}"; use one of: ${roots.join(", ")}`);
  }
  return out;
}

/**
 * Renders a template against named JSON values.
 *
 * @param where - names the template in errors, e.g. `prompt of agent "triager"`.
 * @throws {@link EngineError} `TEMPLATE_MISSING_VALUE` naming the first path with no value.
 */
export function renderTemplate(template: string, values: Readonly<Record<string, JsonValue | undefined>>, where = "template"): string {
  return template.replace(PLACEHOLDER, (_m, path: string) => {
    const [head, ...rest] = path.split(".");
    let v: JsonValue | undefined = head === undefined || !Object.hasOwn(values, head) ? undefined : values[head];
    let missingAt = v === undefined ? head : undefined;
    for (const key of rest) {
      if (v === undefined) break;
      if (v === null || typeof v !== "object") v = undefined;
      else if (Array.isArray(v)) v = /^\d+$/.test(key) ? (v as readonly JsonValue[])[Number(key)] : undefined;
      else v = Object.hasOwn(v, key) ? (v as Record<string, JsonValue>)[key] : undefined;
      if (v === undefined) missingAt ??= key;
    }
    if (v === undefined) {
      throw new EngineError({
        code: "TEMPLATE_MISSING_VALUE",
        message: `${where}: {{${path}}} has no value (nothing at "${missingAt ?? path}"); check the field name against the node input, or remove the placeholder`,
      });
    }
    return typeof v === "string" ? v : JSON.stringify(v);
  });
}

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

/** A template parsed once: {@link compileTemplate}. */
export type CompiledTemplate = (values: Readonly<Record<string, JsonValue | undefined>>) => string;

/**
 * Parses a template once into literal text and placeholder paths; the returned function renders
 * it against named JSON values (as {@link renderTemplate} does) without scanning the text again.
 *
 * @param where - names the template in errors, e.g. `prompt of agent "triager"`.
 */
export function compileTemplate(template: string, where = "template"): CompiledTemplate {
  const literals: string[] = [];
  const paths: (readonly string[])[] = [];
  let last = 0;
  for (const m of template.matchAll(PLACEHOLDER)) {
    literals.push(template.slice(last, m.index));
    paths.push(m[1]!.split("."));
    last = m.index + m[0].length;
  }
  const tail = template.slice(last);
  if (paths.length === 0) return () => tail;
  return (values) => {
    let out = "";
    for (let i = 0; i < paths.length; i++) out += literals[i]! + valueText(paths[i]!, values, where);
    return out + tail;
  };
}

function valueText(path: readonly string[], values: Readonly<Record<string, JsonValue | undefined>>, where: string): string {
  const head = path[0]!;
  let v: JsonValue | undefined = Object.hasOwn(values, head) ? values[head] : undefined;
  let missingAt = v === undefined ? head : undefined;
  for (let i = 1; i < path.length && v !== undefined; i++) {
    const key = path[i]!;
    if (v === null || typeof v !== "object") v = undefined;
    else if (Array.isArray(v)) v = /^\d+$/.test(key) ? (v as readonly JsonValue[])[Number(key)] : undefined;
    else v = Object.hasOwn(v, key) ? (v as Record<string, JsonValue>)[key] : undefined;
    if (v === undefined) missingAt ??= key;
  }
  if (v === undefined) {
    const dotted = path.join(".");
    const fix =
      head === "resume" && missingAt === "resume"
        ? "{{resume}} has a value only when the node runs after an interrupt was answered (interrupt: before, then resume with { answer })"
        : "check the field name against the node input, or remove the placeholder";
    throw new EngineError({
      code: "TEMPLATE_MISSING_VALUE",
      message: `${where}: {{${dotted}}} has no value (nothing at "${missingAt ?? dotted}"); ${fix}`,
    });
  }
  return typeof v === "string" ? v : JSON.stringify(v);
}

/**
 * Renders a template against named JSON values.
 *
 * @param where - names the template in errors, e.g. `prompt of agent "triager"`.
 * @throws {@link EngineError} `TEMPLATE_MISSING_VALUE` naming the first path with no value.
 */
export function renderTemplate(template: string, values: Readonly<Record<string, JsonValue | undefined>>, where = "template"): string {
  return compileTemplate(template, where)(values);
}

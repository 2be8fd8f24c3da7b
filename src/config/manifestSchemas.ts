/**
 * Validation of manifests against the JSON Schemas shipped in the package's `schemas/` folder,
 * with Ajv errors turned into located, actionable {@link ErrorDetail}s.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv2020 } from "ajv/dist/2020.js";
import type { ErrorObject, ValidateFunction } from "ajv/dist/2020.js";
import type { ErrorDetail } from "../errors.js";
import { didYouMean } from "./didYouMean.js";
import { schemasDir } from "./packageRoot.js";
import type { ManifestName } from "./types.js";
import type { ParsedSource } from "./yamlSource.js";
import { pointerSegments } from "./yamlSource.js";

/** Every manifest name, in the order files are checked. */
export const MANIFEST_NAMES: readonly ManifestName[] = Object.freeze(["workflow", "agents", "tools", "memory", "plugins"]);

let ajv: Ajv2020 | undefined;
const validators = new Map<ManifestName, ValidateFunction>();

/** The JSON Schema object shipped for a manifest (read from `schemas/<name>.schema.json`). */
export function manifestSchema(name: ManifestName): Record<string, unknown> {
  const file = join(schemasDir(), `${name}.schema.json`);
  return JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
}

function validatorFor(name: ManifestName): ValidateFunction {
  let v = validators.get(name);
  if (!v) {
    ajv ??= new Ajv2020({ allErrors: true, verbose: true, allowUnionTypes: true, strict: true });
    v = ajv.compile(manifestSchema(name));
    validators.set(name, v);
  }
  return v;
}

/**
 * Validates a parsed manifest against its shipped schema. Returns one detail per problem, each
 * with file, path, line/column and (under `/nodes/N` or `/plugins/N`) the node or plugin id.
 */
export function validateManifest(name: ManifestName, source: ParsedSource): ErrorDetail[] {
  const validate = validatorFor(name);
  if (validate(source.value)) return [];
  const out: ErrorDetail[] = [];
  const seen = new Set<string>();
  for (const err of validate.errors ?? []) {
    const d = convertAjvError(name, err, source);
    const key = `${d.code}|${d.path ?? ""}|${d.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(d);
  }
  return out;
}

/** Renders a value briefly for messages. */
export function show(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (typeof value === "string") return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return String(value);
}

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  if (typeof value === "number") return Number.isInteger(value) ? `the number ${value}` : `the number ${value}`;
  if (typeof value === "string") return `the string ${show(value)}`;
  return `${typeof value} ${String(value)}`;
}

const TYPE_WORDS: Record<string, string> = {
  object: "a mapping (key: value pairs)",
  array: "a list",
  string: "a string",
  integer: "an integer",
  number: "a number",
  boolean: "true or false",
  null: "null",
};

function expectedTypes(t: unknown): string {
  const list = Array.isArray(t) ? t.map(String) : [String(t)];
  return list.map((x) => TYPE_WORDS[x] ?? x).join(" or ");
}

function valueAt(root: unknown, pointer: string): unknown {
  let cur = root;
  for (const seg of pointerSegments(pointer)) {
    if (Array.isArray(cur)) cur = cur[Number(seg)];
    else if (cur && typeof cur === "object") cur = (cur as Record<string, unknown>)[seg];
    else return undefined;
  }
  return cur;
}

/** Adds nodeId / pluginId for paths under `/nodes/N` or `/plugins/N`. */
export function subjectOf(name: ManifestName, root: unknown, path: string): { nodeId?: string; pluginId?: string } {
  const segs = pointerSegments(path);
  if (segs.length < 2) return {};
  if (name === "workflow" && segs[0] === "nodes") {
    const id = valueAt(root, `/nodes/${segs[1]}/id`);
    return typeof id === "string" ? { nodeId: id } : {};
  }
  if (name === "plugins" && segs[0] === "plugins") {
    const id = valueAt(root, `/plugins/${segs[1]}/id`);
    return typeof id === "string" ? { pluginId: id } : {};
  }
  return {};
}

function fileLabel(name: ManifestName): string {
  return `${name}.yaml`;
}

/** Converts one Ajv error into a located detail whose message says what to do. */
function convertAjvError(name: ManifestName, err: ErrorObject, source: ParsedSource): ErrorDetail {
  const base = err.instancePath;
  const params = err.params as Record<string, unknown>;
  const where = base === "" ? `the top level of ${fileLabel(name)}` : `\`${base}\``;
  let code: ErrorDetail["code"] = "CONFIG_SCHEMA";
  let path = base;
  let message: string;
  let hint: string | undefined;
  let useKey = false;
  switch (err.keyword) {
    case "additionalProperties": {
      const prop = String(params.additionalProperty);
      path = `${base}/${prop.replace(/~/g, "~0").replace(/\//g, "~1")}`;
      useKey = true;
      code = "CONFIG_UNKNOWN_KEY";
      const props = Object.keys(((err.parentSchema as Record<string, unknown> | undefined)?.properties as Record<string, unknown> | undefined) ?? {});
      hint = didYouMean(prop, props);
      message = `unknown key \`${prop}\` in ${where}; remove it or use one of: ${props.map((p) => `\`${p}\``).join(", ")}`;
      break;
    }
    case "required": {
      const prop = String(params.missingProperty);
      path = `${base}/${prop}`;
      message = `missing required key \`${prop}\` in ${where}; add it`;
      break;
    }
    case "type":
      message = `must be ${expectedTypes(params.type)}, found ${typeName(err.data)}; change the value`;
      if (base === "") message = `${fileLabel(name)} must be ${expectedTypes(params.type)} at the top level, found ${err.data === null ? "an empty document" : typeName(err.data)}`;
      break;
    case "enum": {
      const allowed = (params.allowedValues as unknown[] | undefined) ?? [];
      message = `invalid value ${show(err.data)}; use one of: ${allowed.map((a) => `\`${String(a)}\``).join(", ")}`;
      if (typeof err.data === "string") hint = didYouMean(err.data, allowed.map(String));
      break;
    }
    case "const":
      message = `must be \`${String(params.allowedValue)}\`, found ${show(err.data)}`;
      break;
    case "pattern": {
      const desc = (err.parentSchema as { description?: unknown } | undefined)?.description;
      message = `invalid value ${show(err.data)}: must match /${String(params.pattern)}/${typeof desc === "string" ? ` (${desc})` : ""}`;
      break;
    }
    case "minItems":
      message = `must list at least ${String(params.limit)} item${params.limit === 1 ? "" : "s"}; add ${params.limit === 1 ? "one" : "more"}`;
      break;
    case "minLength":
      message = `must not be empty; give a value`;
      break;
    case "minimum":
    case "maximum":
    case "exclusiveMinimum":
    case "exclusiveMaximum":
      message = `value ${show(err.data)} ${err.message ?? "is out of range"}; change it`;
      break;
    case "uniqueItems":
      message = `lists the same item twice (items ${String(params.j)} and ${String(params.i)}); remove the duplicate`;
      break;
    default:
      message = `${err.message ?? "is invalid"} (JSON Schema keyword \`${err.keyword}\`)`;
  }
  const loc = source.locate(path, { key: useKey });
  return {
    code,
    message,
    file: source.file,
    path: path === "" ? "/" : path,
    ...(loc ? { line: loc.line, column: loc.column } : {}),
    ...subjectOf(name, source.value, path),
    ...(hint ? { hint } : {}),
  };
}

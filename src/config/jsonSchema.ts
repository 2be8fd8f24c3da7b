/**
 * The one shared Ajv instance that compiles user JSON Schemas (files in `schemas/` and inline
 * `schema_in` / `schema_out` / tool schemas). Draft 2020-12 by default; draft-07 schemas work
 * when they say so with `$schema`. Formats from ajv-formats are enabled.
 *
 * @module
 */
import { createRequire } from "node:module";
import { Ajv2020 } from "ajv/dist/2020.js";
import type { AnySchema, AnySchemaObject, ErrorObject, ValidateFunction } from "ajv/dist/2020.js";
import * as formatsModule from "ajv-formats";

type FormatsPlugin = (ajv: Ajv2020) => Ajv2020;

function newAjv(): Ajv2020 {
  const ajv = new Ajv2020({ allErrors: true, strict: false, allowUnionTypes: true });
  const mod = formatsModule as unknown as { default?: FormatsPlugin | { default?: FormatsPlugin } };
  const plugin = typeof mod.default === "function" ? mod.default : mod.default?.default;
  plugin?.(ajv);
  try {
    const require = createRequire(import.meta.url);
    ajv.addMetaSchema(require("ajv/dist/refs/json-schema-draft-07.json") as AnySchemaObject);
  } catch {
    // draft-07 meta-schema unavailable: only 2020-12 schemas are accepted
  }
  return ajv;
}

let shared: Ajv2020 | undefined;
const cache = new Map<string, ValidateFunction>();

/** The shared Ajv instance for user schemas (allErrors, formats, non-strict keywords). */
export function sharedAjv(): Ajv2020 {
  shared ??= newAjv();
  return shared;
}

/**
 * Compiles a user JSON Schema (cached by its JSON text, so loading the same project twice
 * compiles once).
 *
 * @throws {@link JsonSchemaError} when the schema is invalid.
 */
export function compileJsonSchema(schema: unknown): ValidateFunction {
  if (typeof schema !== "boolean" && (schema === null || typeof schema !== "object" || Array.isArray(schema))) {
    throw new JsonSchemaError("a JSON Schema must be a mapping (or true/false)", "");
  }
  const key = JSON.stringify(schema);
  const hit = cache.get(key);
  if (hit) return hit;
  const ajv = sharedAjv();
  if (!ajv.validateSchema(schema as AnySchema)) {
    throw describeSchemaErrors(ajv.errors ?? []);
  }
  let fn: ValidateFunction;
  try {
    fn = ajv.compile(schema as AnySchema);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    if (!/already exists/.test(msg)) throw new JsonSchemaError(msg, "");
    // Another project loaded a different schema with the same $id: compile it in its own instance.
    fn = newAjv().compile(schema as AnySchema);
  }
  cache.set(key, fn);
  return fn;
}

/** Thrown by {@link compileJsonSchema}: what is wrong and where inside the schema. */
export class JsonSchemaError extends Error {
  constructor(
    message: string,
    /** JSON pointer inside the schema of the first problem (`""` for the root). */
    readonly pointer: string,
  ) {
    super(message);
    this.name = "JsonSchemaError";
  }
}

/** The most specific meta-schema violation per location, as `path: message` text. */
function describeSchemaErrors(errors: readonly ErrorObject[]): JsonSchemaError {
  if (errors.length === 0) return new JsonSchemaError("the schema does not match the JSON Schema meta-schema", "");
  const deepest = Math.max(...errors.map((e) => e.instancePath.split("/").length));
  const byPath = new Map<string, ErrorObject>();
  for (const e of errors) {
    if (e.instancePath.split("/").length !== deepest) continue;
    const prev = byPath.get(e.instancePath);
    if (!prev || (e.keyword === "enum" && prev.keyword !== "enum")) byPath.set(e.instancePath, e);
  }
  const picked = [...byPath.values()].slice(0, 3);
  const text = picked
    .map((e) => {
      const extra = e.keyword === "enum" ? `: ${((e.params as { allowedValues?: unknown[] }).allowedValues ?? []).map(String).join(", ")}` : "";
      return `${e.instancePath || "/"} ${e.message ?? "is invalid"}${extra}`;
    })
    .join("; ");
  return new JsonSchemaError(text, picked[0]?.instancePath ?? "");
}

/** Formats Ajv validation errors as `"/field: must be string"` lines. */
export function formatValidationErrors(errors: readonly ErrorObject[] | null | undefined): string[] {
  const out: string[] = [];
  for (const e of errors ?? []) {
    const p = e.params as Record<string, unknown>;
    let msg = e.message ?? "is invalid";
    if (e.keyword === "additionalProperties") msg += ` (\`${String(p.additionalProperty)}\`)`;
    else if (e.keyword === "enum") msg += `: ${((p.allowedValues as unknown[] | undefined) ?? []).map((v) => JSON.stringify(v)).join(", ")}`;
    out.push(`${e.instancePath || "/"}: ${msg}`);
  }
  return out;
}

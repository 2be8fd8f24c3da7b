/**
 * {@link CompiledSchema}s backed by the shared Ajv 2020 instance.
 *
 * @module
 */
import { compileJsonSchema, formatValidationErrors } from "../config/jsonSchema.js";
import type { CompiledSchema } from "./types.js";

/**
 * Compiles `schema` (a user JSON Schema) into a {@link CompiledSchema} named `name` (a stem of
 * `schemas/`, or `inline`). `validate` returns `[]` for valid values, else messages such as
 * `"/field: must be string"`.
 *
 * @throws `JsonSchemaError` when the schema is invalid.
 */
export function compileSchema(name: string, schema: unknown): CompiledSchema {
  const fn = compileJsonSchema(schema);
  return Object.freeze({
    name,
    schema,
    validate(value: unknown): readonly string[] {
      if (fn(value)) return EMPTY;
      return Object.freeze(formatValidationErrors(fn.errors));
    },
  });
}

const EMPTY: readonly string[] = Object.freeze([]);

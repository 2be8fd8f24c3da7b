import { test } from "node:test";
import assert from "node:assert/strict";
import { JsonSchemaError, compileJsonSchema, formatValidationErrors } from "./jsonSchema.js";

test("compiles 2020-12 and draft-07 schemas, with formats", () => {
  const v = compileJsonSchema({ type: "object", properties: { id: { type: "string", format: "uuid" } } });
  assert.equal(v({ id: "not-a-uuid" }), false);
  assert.deepEqual(formatValidationErrors(v.errors), ['/id: must match format "uuid"']);
  const d7 = compileJsonSchema({ $schema: "http://json-schema.org/draft-07/schema#", type: "array", items: { type: "number" } });
  assert.equal(d7([1, 2]), true);
  assert.equal(d7(["x"]), false);
});

test("same schema text compiles once; different schemas sharing an $id both work", () => {
  const a = compileJsonSchema({ $id: "https://example.test/s.json", type: "string" });
  assert.equal(compileJsonSchema({ $id: "https://example.test/s.json", type: "string" }), a);
  const b = compileJsonSchema({ $id: "https://example.test/s.json", type: "number" });
  assert.equal(a("x"), true);
  assert.equal(b(1), true);
  assert.equal(b("x"), false);
});

test("invalid schemas throw JsonSchemaError with a pointer into the schema", () => {
  assert.throws(() => compileJsonSchema({ properties: { a: { type: "strng" } } }), (err: unknown) => {
    assert.ok(err instanceof JsonSchemaError);
    assert.equal(err.pointer, "/properties/a/type");
    assert.match(err.message, /allowed values/);
    return true;
  });
  assert.throws(() => compileJsonSchema("nope"), JsonSchemaError);
  assert.throws(() => compileJsonSchema({ $ref: "#/$defs/missing" }), JsonSchemaError);
});

import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { redact, redactJson, REDACTED } from "./redact.js";
import { secretsOf } from "./config.js";

test("redact replaces every occurrence, and URL-encoded and JSON-escaped forms", () => {
  assert.equal(redact("a sk-1 b sk-1", ["sk-1"]), `a ${REDACTED} b ${REDACTED}`);
  assert.equal(redact("q=k%2By%2F", ["k+y/"]), `q=${REDACTED}`);
  assert.equal(redact(JSON.stringify({ k: 'a"b\\c' }), ['a"b\\c']), `{"k":"${REDACTED}"}`);
  assert.equal(redact("nothing here", []), "nothing here");
  assert.equal(redact("x", [""]), "x");
  // longer secrets first, so a secret containing another leaves no tail behind
  assert.equal(redact("key-abc-long", ["key-abc", "key-abc-long"]), REDACTED);
});

test("property: no secret survives redaction, wherever it is put", () => {
  fc.assert(
    // secrets drawn from characters that "[REDACTED]" does not use, as real keys are
    fc.property(fc.stringMatching(/^[a-z0-9_-]{4,40}$/), fc.array(fc.string(), { minLength: 2 }), (secret, parts) => {
      const out = redact(parts.join(secret), [secret]);
      return !out.includes(secret) && !JSON.stringify(out).includes(secret) && out.split(REDACTED).length >= parts.length;
    }),
  );
});

test("redactJson walks keys and values", () => {
  assert.deepEqual(redactJson({ a: ["s3cr3t", 1, null, { s3cr3t: true }] }, ["s3cr3t"]), { a: [REDACTED, 1, null, { [REDACTED]: true }] });
});

test("secretsOf: the key and secret-looking header values", () => {
  const s = secretsOf({ id: "p", type: "openai", api_key_env: "K", headers: { Authorization: "Bearer tok1", "X-Api-Key": "k2", "OpenAI-Organization": "org" } }, { K: " sk-9 " });
  assert.deepEqual(s.sort(), [" sk-9 ", "Bearer tok1", "k2", "sk-9", "tok1"].sort());
  assert.deepEqual(secretsOf({ id: "p", type: "openai" }, {}), []);
});

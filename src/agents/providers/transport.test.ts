/**
 * Retries, timeouts, aborts, concurrency, size cap and redaction, for both wire protocols, over
 * real HTTP against the fake servers in test/llm-servers.
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startFakeAnthropic, startFakeOpenAi, type FakeLlmServer, type FakeReply, type FakeServerOptions } from "../../../test/llm-servers/fakeLlmServer.js";
import { EngineError } from "../../errors.js";
import type { LlmRequest, RetryInfo } from "./contract.js";
import { createHttpProvider, LlmError, type ProviderConfig } from "./index.js";
import { backoffMs, retryAfterMs } from "./transport.js";

const KEY = "sk-test-SECRET-0123456789abcdef";
const env = { FAKE_KEY: KEY };

const protocols = [
  { type: "openai" as const, start: startFakeOpenAi },
  { type: "anthropic" as const, start: startFakeAnthropic },
];

function request(extra: Partial<LlmRequest> = {}): LlmRequest {
  return { agent: "a", model: "m-1", messages: [{ role: "user", content: "hi" }], signal: new AbortController().signal, ...extra };
}

/** Collects onRetry calls and backoff sleeps (no real waiting unless `realSleep`). */
function recorder(): { retries: RetryInfo[]; sleeps: number[]; hooks: { onRetry(i: RetryInfo): void }; internals: { random: () => number; sleep: (ms: number) => Promise<void> } } {
  const retries: RetryInfo[] = [];
  const sleeps: number[] = [];
  return {
    retries,
    sleeps,
    hooks: { onRetry: (i) => retries.push(i) },
    internals: { random: () => 0.5, sleep: async (ms) => void sleeps.push(ms) },
  };
}

async function rejects(p: Promise<unknown>): Promise<LlmError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof LlmError, `expected an LlmError, got ${String(err)}`);
    return err;
  }
  assert.fail("expected a rejection");
}

/** Every string form of an error must be free of the key. */
function assertNoKey(err: unknown): void {
  const forms = [String(err), (err as Error).stack ?? "", JSON.stringify(err), JSON.stringify((err as EngineError).details), String((err as Error).cause ?? ""), ((err as Error).cause as Error | undefined)?.stack ?? ""];
  for (const f of forms) assert.ok(!f.includes(KEY) && !f.includes("SECRET"), `key leaked in: ${f}`);
}

for (const proto of protocols) {
  describe(`${proto.type} transport`, () => {
    const servers: FakeLlmServer[] = [];
    after(async () => {
      await Promise.all(servers.map((s) => s.close()));
    });
    async function server(replies: FakeReply[] | FakeServerOptions["replies"]): Promise<FakeLlmServer> {
      const s = await proto.start({ replies });
      servers.push(s);
      return s;
    }
    function provider(s: FakeLlmServer, cfg: Partial<ProviderConfig> = {}, internals?: ReturnType<typeof recorder>["internals"]) {
      return createHttpProvider({ id: `p-${proto.type}`, type: proto.type, base_url: s.url, api_key_env: "FAKE_KEY", ...cfg }, env, internals ? { internals } : {});
    }

    test("429 with Retry-After in seconds is retried after that delay, then succeeds", async () => {
      const s = await server([{ type: "error", status: 429, message: "slow down", retryAfter: "3" }, { type: "text", text: "done" }]);
      const r = recorder();
      const res = await provider(s, {}, r.internals).complete(request(), r.hooks);
      assert.equal(res.content, "done");
      assert.equal(s.requests.length, 2);
      assert.deepEqual(r.sleeps, [3000]);
      assert.equal(r.retries.length, 1);
      const info = r.retries[0]!;
      assert.equal(info.attempt, 2);
      assert.equal(info.delayMs, 3000);
      assert.equal(info.error.code, "HTTP_ERROR");
      assert.equal(info.error.status, 429);
      assert.match(info.error.message, /HTTP 429: slow down/);
    });

    test("Retry-After as an HTTP date, retry-after-ms, and the 60 s cap", async () => {
      const s = await server([
        { type: "error", status: 429, retryAfter: new Date(Date.now() + 3_600_000).toUTCString() },
        { type: "error", status: 503, retryAfter: "Thu, 01 Jan 1970 00:00:00 GMT" },
        { type: "error", status: 429, retryAfterMs: "1500", retryAfter: "9" },
        { type: "error", status: 429, retryAfter: "7200" },
        { type: "text", text: "ok" },
      ]);
      const r = recorder();
      await provider(s, { retries: 4 }, r.internals).complete(request(), r.hooks);
      assert.deepEqual(r.sleeps, [60_000, 0, 1500, 60_000]);
      assert.deepEqual(r.retries.map((i) => i.attempt), [2, 3, 4, 5]);
    });

    test("500, 408 and 409 are retried with exponential backoff and jitter", async () => {
      const s = await server([{ type: "error", status: 500 }, { type: "error", status: 408 }, { type: "error", status: 409 }, { type: "text", text: "ok" }]);
      const r = recorder();
      await provider(s, { retries: 3 }, r.internals).complete(request(), r.hooks);
      // base 500 ms doubled per retry, jitter 0.5 -> 75 %
      assert.deepEqual(r.sleeps, [375, 750, 1500]);
      assert.deepEqual(r.retries.map((i) => i.error.status), [500, 408, 409]);
    });

    test("exhausted retries: LLM_FAILED naming provider, model, status and the server's message", async () => {
      const s = await server([{ type: "error", status: 502, message: "upstream exploded" }, { type: "error", status: 502, message: "upstream exploded" }]);
      const r = recorder();
      const err = await rejects(provider(s, { retries: 1 }, r.internals).complete(request(), r.hooks));
      assert.equal(err.code, "LLM_FAILED");
      assert.equal(err.status, 502);
      assert.equal(err.provider, `p-${proto.type}`);
      assert.equal(err.model, "m-1");
      assert.equal(err.attempts, 2);
      assert.equal(err.kind, "http");
      assert.match(err.message, new RegExp(`provider "p-${proto.type}"`));
      assert.match(err.message, /model "m-1"/);
      assert.match(err.message, /HTTP 502: upstream exploded/);
      assert.match(err.message, /after 2 attempts/);
      assert.equal(s.requests.length, 2);
      assert.equal(r.retries.length, 1);
    });

    test("400 and 401 fail at once, without retry", async () => {
      for (const status of [400, 401, 403, 404, 422]) {
        const s = await server([{ type: "error", status, message: `nope ${status}` }]);
        const r = recorder();
        const err = await rejects(provider(s, {}, r.internals).complete(request(), r.hooks));
        assert.equal(err.code, "LLM_FAILED");
        assert.equal(err.status, status);
        assert.equal(err.attempts, 1);
        assert.match(err.message, new RegExp(`HTTP ${status}: nope ${status}`));
        assert.equal(s.requests.length, 1);
        assert.equal(r.retries.length, 0);
      }
    });

    test("a key echoed back by the server is redacted from errors and retry infos", async () => {
      const s = await server([
        { type: "error", status: 500, echoKey: true, message: "oops" },
        { type: "error", status: 401, echoKey: true, message: "invalid key" },
      ]);
      const r = recorder();
      const err = await rejects(provider(s, { retries: 1 }, r.internals).complete(request(), r.hooks));
      assert.equal(err.status, 401);
      assert.match(err.message, /invalid key \(received key: (Bearer )?\[REDACTED\]\)/);
      assertNoKey(err);
      assert.equal(r.retries.length, 1);
      assert.match(r.retries[0]!.error.message, /\[REDACTED\]/);
      assert.ok(!JSON.stringify(r.retries).includes(KEY));
      // the key did go out on the wire
      const sent = proto.type === "openai" ? s.requests[0]!.headers.authorization : s.requests[0]!.headers["x-api-key"];
      assert.ok(String(sent).includes(KEY));
    });

    test("a key echoed in a successful reply is redacted from the returned value", async () => {
      const s = await server([{ type: "tools", text: `your key is ${KEY}`, calls: [{ name: "t", args: { k: KEY, [KEY]: 1 } }] }]);
      const res = await provider(s).complete(request());
      assert.ok(!JSON.stringify(res).includes(KEY));
      assert.equal(res.content, "your key is [REDACTED]");
      assert.deepEqual(res.toolCalls?.[0]?.args, { k: "[REDACTED]", "[REDACTED]": 1 });
    });

    test("a redirect is not followed and fails at once, naming the Location", async () => {
      const s = await server([{ type: "raw", status: 307, headers: { location: "http://127.0.0.1:1/elsewhere" }, body: "" }]);
      const r = recorder();
      const err = await rejects(provider(s, {}, r.internals).complete(request(), r.hooks));
      assert.equal(err.status, 307);
      assert.match(err.message, /redirects are not followed.*Location: http:\/\/127\.0\.0\.1:1\/elsewhere/);
      assert.equal(r.retries.length, 0);
      assert.equal(s.requests.length, 1);
    });

    test("a 200 body that is not JSON fails at once with LLM_FAILED", async () => {
      const s = await server([{ type: "malformed" }]);
      const r = recorder();
      const err = await rejects(provider(s, {}, r.internals).complete(request(), r.hooks));
      assert.equal(err.code, "LLM_FAILED");
      assert.equal(err.kind, "response");
      assert.match(err.message, /response body is not JSON/);
      assert.equal(s.requests.length, 1);
      assert.equal(r.retries.length, 0);
    });

    test("a 200 JSON body of the wrong shape fails with LLM_FAILED", async () => {
      const s = await server([{ type: "raw", status: 200, headers: { "content-type": "application/json" }, body: '{"hello": "world"}' }]);
      const err = await rejects(provider(s).complete(request()));
      assert.equal(err.kind, "response");
      assert.match(err.message, /unexpected response/);
    });

    test("a server hanging past timeout_ms is retried, then LLM_FAILED names the timeout", async () => {
      const s = await server([{ type: "hang" }, { type: "hang" }]);
      const r = recorder();
      const err = await rejects(provider(s, { timeout_ms: 100, retries: 1 }, r.internals).complete(request(), r.hooks));
      assert.equal(err.code, "LLM_FAILED");
      assert.equal(err.kind, "timeout");
      assert.match(err.message, /timed out after 100 ms \(timeout_ms\)/);
      assert.equal(s.requests.length, 2);
      assert.equal(r.retries.length, 1);
      assert.equal(r.retries[0]!.error.code, "TIMEOUT");
      assert.equal(r.retries[0]!.error.status, undefined);
    });

    test("a body that stalls past timeout_ms is a timeout too (the limit covers reading)", async () => {
      const s = await server([{ type: "stall" }, { type: "text", text: "second try" }]);
      const r = recorder();
      const res = await provider(s, { timeout_ms: 100, retries: 1 }, r.internals).complete(request(), r.hooks);
      assert.equal(res.content, "second try");
      assert.equal(r.retries.length, 1);
      assert.equal(r.retries[0]!.error.code, "TIMEOUT");
      assert.match(r.retries[0]!.error.message, /while reading the response/);
    });

    test("aborting the request's signal stops at once, without retry", async () => {
      const s = await server([{ type: "hang" }]);
      const r = recorder();
      const ac = new AbortController();
      const p = provider(s, { retries: 3 }, r.internals).complete(request({ signal: ac.signal }), r.hooks);
      await s.waitForRequests(1);
      ac.abort(new Error("run cancelled"));
      const err = await rejects(p);
      assert.equal(err.code, "ABORTED");
      assert.equal(err.kind, "aborted");
      assert.match(err.message, /call aborted: run cancelled/);
      assert.equal(s.requests.length, 1);
      assert.equal(r.retries.length, 0);
    });

    test("a node timeout reason gives NODE_TIMEOUT", async () => {
      const s = await server([{ type: "hang" }]);
      const ac = new AbortController();
      const p = provider(s).complete(request({ signal: ac.signal }));
      await s.waitForRequests(1);
      ac.abort({ code: "NODE_TIMEOUT", message: 'node "n" exceeded timeout_ms 5' });
      const err = await rejects(p);
      assert.equal(err.code, "NODE_TIMEOUT");
      assert.match(err.message, /call aborted: node "n" exceeded timeout_ms 5$/);
    });

    test("an abort during the backoff wait stops at once (real sleep)", async () => {
      const s = await server([{ type: "error", status: 429, retryAfter: "50" }]);
      const ac = new AbortController();
      const err = await rejects(provider(s).complete(request({ signal: ac.signal }), { onRetry: () => ac.abort() }));
      assert.equal(err.code, "ABORTED");
      assert.equal(s.requests.length, 1);
    });

    test("an already aborted signal sends nothing", async () => {
      const s = await server([]);
      const err = await rejects(provider(s).complete(request({ signal: AbortSignal.abort() })));
      assert.equal(err.code, "ABORTED");
      assert.equal(s.requests.length, 0);
    });

    test("network errors (connection refused) are retried, then LLM_FAILED", async () => {
      const s = await proto.start();
      await s.close();
      const r = recorder();
      const err = await rejects(provider(s, { retries: 2 }, r.internals).complete(request(), r.hooks));
      assert.equal(err.code, "LLM_FAILED");
      assert.equal(err.kind, "network");
      assert.match(err.message, /ECONNREFUSED/);
      assert.equal(err.attempts, 3);
      assert.deepEqual(r.retries.map((i) => i.error.code), ["NETWORK_ERROR", "NETWORK_ERROR"]);
    });

    test("max_concurrency holds requests in a FIFO queue", async () => {
      const s = await server(() => ({ type: "gate" }));
      const p = provider(s, { max_concurrency: 2 });
      const calls = [1, 2, 3, 4, 5].map((i) => p.complete(request({ messages: [{ role: "user", content: `q${i}` }] })));
      await s.waitForInFlight(2);
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(s.requests.length, 2, "no third request while two are in flight");
      s.release();
      const res = await Promise.all(calls);
      assert.equal(res.length, 5);
      assert.equal(s.maxInFlight, 2);
      const order = s.requests.map((q) => JSON.stringify(q.body).match(/q(\d)/)?.[1]);
      assert.deepEqual(order, ["1", "2", "3", "4", "5"]);
    });

    test("an abort while queued for a slot leaves the queue", async () => {
      const s = await server((_req, i) => (i === 0 ? { type: "gate" } : { type: "text", text: "second" }));
      const p = provider(s, { max_concurrency: 1 });
      const first = p.complete(request());
      await s.waitForInFlight(1);
      const ac = new AbortController();
      const queued = p.complete(request({ signal: ac.signal }));
      ac.abort();
      assert.equal((await rejects(queued)).code, "ABORTED");
      s.release();
      await first;
      assert.equal((await p.complete(request())).content, "second");
      assert.equal(s.requests.length, 2);
    });

    test("a body over max_response_bytes stops reading and fails (content-length and chunked)", async () => {
      for (const chunked of [false, true]) {
        const s = await server([{ type: "big", bytes: 3 * 1024 * 1024, chunked }]);
        const r = recorder();
        const err = await rejects(provider(s, { max_response_bytes: 1024 * 1024 }, r.internals).complete(request(), r.hooks));
        assert.equal(err.code, "LLM_FAILED");
        assert.equal(err.kind, "too_large");
        assert.match(err.message, /exceeds max_response_bytes \(1048576 bytes\)/);
        assert.equal(r.retries.length, 0);
      }
    });

    test("an unset api_key_env is a load error naming the variable", () => {
      assert.throws(
        () => createHttpProvider({ id: "p", type: proto.type, api_key_env: "NO_SUCH_KEY_VAR" }, {}, { file: "/cfg/agents.yaml", path: "/providers/2" }),
        (err: unknown) => {
          assert.ok(err instanceof EngineError);
          assert.equal(err.code, "CONFIG_PROVIDER_KEY_MISSING");
          assert.match(err.message, /NO_SUCH_KEY_VAR/);
          assert.equal(err.details[0]?.file, "/cfg/agents.yaml");
          assert.equal(err.details[0]?.path, "/providers/2/api_key_env");
          return true;
        },
      );
      assert.throws(() => createHttpProvider({ id: "p", type: proto.type, api_key_env: "EMPTY" }, { EMPTY: "  " }), { code: "CONFIG_PROVIDER_KEY_MISSING" });
    });

    test("a secret header value is redacted like the key", async () => {
      const s = await server([{ type: "error", status: 400, message: "hdr was tok-HEADER-SECRET-42" }]);
      const err = await rejects(provider(s, { headers: { "X-Proxy-Token": "tok-HEADER-SECRET-42" } }).complete(request()));
      assert.ok(!err.message.includes("tok-HEADER-SECRET-42"));
      assert.match(err.message, /hdr was \[REDACTED\]/);
      assert.equal(s.requests[0]!.headers["x-proxy-token"], "tok-HEADER-SECRET-42");
    });
  });
}

describe("config checks", () => {
  test("bad numbers and URLs are CONFIG_SCHEMA errors with the field path", () => {
    const bad: [Partial<ProviderConfig>, string][] = [
      [{ retries: -1 }, "/providers/0/retries"],
      [{ timeout_ms: 0 }, "/providers/0/timeout_ms"],
      [{ timeout_ms: 2_147_483_648 }, "/providers/0/timeout_ms"],
      [{ max_concurrency: 1.5 }, "/providers/0/max_concurrency"],
      [{ max_response_bytes: 0 }, "/providers/0/max_response_bytes"],
      [{ base_url: "ftp://x" }, "/providers/0/base_url"],
      [{ base_url: "not a url" }, "/providers/0/base_url"],
    ];
    for (const [cfg, path] of bad) {
      assert.throws(() => createHttpProvider({ id: "p", type: "openai", ...cfg }, {}, { path: "/providers/0" }), (err: unknown) => {
        assert.ok(err instanceof EngineError);
        assert.equal(err.code, "CONFIG_SCHEMA");
        assert.equal(err.details[0]?.path, path);
        return true;
      });
    }
  });

  test("anthropic needs api_key_env; openai does not", () => {
    assert.throws(() => createHttpProvider({ id: "c", type: "anthropic" }, {}), { code: "CONFIG_SCHEMA" });
    assert.equal(createHttpProvider({ id: "local", type: "openai", base_url: "http://127.0.0.1:11434/v1" }, {}).name, "local");
  });
});

describe("retry arithmetic", () => {
  test("backoff doubles, caps at 8 s, and jitters within 50-100 %", () => {
    assert.deepEqual([1, 2, 3, 4, 5, 6].map((n) => backoffMs(n, () => 0)), [250, 500, 1000, 2000, 4000, 4000]);
    assert.deepEqual([1, 2, 5, 9].map((n) => backoffMs(n, () => 0.999999)), [500, 1000, 8000, 8000]);
  });

  test("Retry-After parsing", () => {
    const h = (o: Record<string, string>): Headers => new Headers(o);
    assert.equal(retryAfterMs(h({})), undefined);
    assert.equal(retryAfterMs(h({ "retry-after": "2" })), 2000);
    assert.equal(retryAfterMs(h({ "retry-after": "0.5" })), 500);
    assert.equal(retryAfterMs(h({ "retry-after": "soon" })), undefined);
    assert.equal(retryAfterMs(h({ "retry-after": "Wed, 21 Oct 2015 07:28:10 GMT" }), Date.parse("Wed, 21 Oct 2015 07:28:00 GMT")), 10_000);
    assert.equal(retryAfterMs(h({ "retry-after-ms": "250", "retry-after": "9" })), 250);
    assert.equal(retryAfterMs(h({ "retry-after": "86400" })), 60_000);
  });
});

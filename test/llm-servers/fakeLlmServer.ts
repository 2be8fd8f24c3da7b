/**
 * Fake LLM servers on 127.0.0.1 speaking the OpenAI Chat Completions and Anthropic Messages wire
 * protocols, with scripted replies: text, tool calls (parallel too), usage, malformed JSON,
 * error statuses with `Retry-After`, a hang, a gate (held until released), an oversized body,
 * and errors that echo the caller's `Authorization` / `x-api-key` header back.
 *
 * They check the requests the way the real APIs do where it catches encoding bugs (a
 * `tool`/`tool_result` must answer a tool call of the previous assistant turn; Anthropic needs
 * `max_tokens`, `anthropic-version` and alternating roles), answering 400 otherwise.
 *
 * @example
 * ```ts
 * const srv = await startFakeOpenAi({ replies: [{ type: "tools", calls: [{ name: "docs", args: { q: "x" } }] }, { type: "text", text: "done" }] });
 * // providers: [{ id: p, type: openai, base_url: srv.url }]
 * await srv.close();
 * ```
 *
 * @module
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** Token counts to report; `input` includes `cached`. */
export interface FakeUsage {
  readonly input: number;
  readonly output: number;
  readonly cached?: number;
  readonly reasoning?: number;
}

/** One tool call to script. `rawArgs` is sent verbatim (e.g. malformed JSON) instead of `args`. */
export interface FakeToolCall {
  readonly id?: string;
  readonly name: string;
  readonly args?: unknown;
  readonly rawArgs?: string;
}

/** One scripted reply. */
export type FakeReply =
  | { readonly type: "text"; readonly text: string; readonly usage?: FakeUsage; readonly finishReason?: string; readonly model?: string }
  | { readonly type: "tools"; readonly calls: readonly FakeToolCall[]; readonly text?: string; readonly usage?: FakeUsage; readonly finishReason?: string }
  | {
      readonly type: "error";
      readonly status: number;
      readonly message?: string;
      /** `Retry-After` header value (seconds or an HTTP date). */
      readonly retryAfter?: string;
      /** `retry-after-ms` header value. */
      readonly retryAfterMs?: string;
      /** Append the received key header value to the error message (as a careless server does). */
      readonly echoKey?: boolean;
    }
  /** 200 with a body that is not JSON. */
  | { readonly type: "malformed"; readonly body?: string }
  /** Never answers; the connection is dropped when the server closes. */
  | { readonly type: "hang" }
  /** Sends 200 headers and the start of a body, then stalls (a timeout while reading the body). */
  | { readonly type: "stall" }
  /** Held until {@link FakeLlmServer.release}, then answered with `then` (default a text "ok"). */
  | { readonly type: "gate"; readonly then?: FakeReply }
  /** 200 with a body of `bytes` bytes; `chunked` omits content-length. */
  | { readonly type: "big"; readonly bytes: number; readonly chunked?: boolean }
  /** Anything else. */
  | { readonly type: "raw"; readonly status: number; readonly headers?: Readonly<Record<string, string>>; readonly body: string };

/** A request as received. */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  /** Parsed JSON body, or the raw text when it is not JSON. */
  readonly body: unknown;
}

/** Options of {@link startFakeOpenAi} / {@link startFakeAnthropic}. */
export interface FakeServerOptions {
  /** Replies in order, one per request; or a function of the request and its 0-based index. */
  readonly replies?: readonly FakeReply[] | ((req: RecordedRequest, index: number) => FakeReply);
  /** Model name reported. Default `fake-model`. */
  readonly model?: string;
}

/** A running fake server. */
export interface FakeLlmServer {
  /** The `base_url` to configure (`http://127.0.0.1:PORT/v1` for openai, `http://127.0.0.1:PORT` for anthropic). */
  readonly url: string;
  /** Requests received, in order. */
  readonly requests: RecordedRequest[];
  /** Requests being answered now, and the most ever at once. */
  readonly inFlight: number;
  readonly maxInFlight: number;
  /** Appends replies to the script. */
  push(...replies: FakeReply[]): void;
  /** Answers every request held by a `gate` reply (and future ones at once). */
  release(): void;
  /** Resolves once `n` requests have been received. */
  waitForRequests(n: number): Promise<void>;
  /** Resolves once `n` requests are in flight at the same time. */
  waitForInFlight(n: number): Promise<void>;
  /** Drops hanging connections and stops. */
  close(): Promise<void>;
}

type Protocol = "openai" | "anthropic";

/** Starts a fake OpenAI Chat Completions server (`POST /v1/chat/completions`). */
export function startFakeOpenAi(options: FakeServerOptions = {}): Promise<FakeLlmServer> {
  return start("openai", options);
}

/** Starts a fake Anthropic Messages server (`POST /v1/messages`). */
export function startFakeAnthropic(options: FakeServerOptions = {}): Promise<FakeLlmServer> {
  return start("anthropic", options);
}

async function start(protocol: Protocol, options: FakeServerOptions): Promise<FakeLlmServer> {
  const script: FakeReply[] = Array.isArray(options.replies) ? [...(options.replies as FakeReply[])] : [];
  const fn = typeof options.replies === "function" ? options.replies : undefined;
  const model = options.model ?? "fake-model";
  const requests: RecordedRequest[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let released = false;
  const gated: (() => void)[] = [];
  let waiters: { check: () => boolean; resolve: () => void }[] = [];
  const poke = (): void => {
    waiters = waiters.filter((w) => {
      if (!w.check()) return true;
      w.resolve();
      return false;
    });
  };
  const waitFor = (check: () => boolean): Promise<void> =>
    new Promise((resolve) => {
      if (check()) resolve();
      else waiters.push({ check, resolve });
    });

  const server = createServer((req, res) => {
    void handle(req, res);
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
    const rec: RecordedRequest = { method: req.method ?? "", path: req.url ?? "", headers: req.headers, body };
    const index = requests.length;
    requests.push(rec);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    res.on("close", () => {
      inFlight--;
      poke();
    });
    poke();
    const wantPath = protocol === "openai" ? "/v1/chat/completions" : "/v1/messages";
    if (rec.method !== "POST" || rec.path !== wantPath) {
      send(res, 404, errorBody(protocol, `no route ${rec.method} ${rec.path}`, "not_found_error"));
      return;
    }
    const problem = protocol === "openai" ? checkOpenAi(rec) : checkAnthropic(rec);
    if (problem) {
      send(res, 400, errorBody(protocol, `fake server: ${problem}`, "invalid_request_error"));
      return;
    }
    const reply = fn ? fn(rec, index) : script.shift();
    if (!reply) {
      send(res, 400, errorBody(protocol, `fake server: no scripted reply left for request #${index + 1}`, "invalid_request_error"));
      return;
    }
    await answer(res, rec, reply);
  }

  async function answer(res: ServerResponse, rec: RecordedRequest, reply: FakeReply): Promise<void> {
    switch (reply.type) {
      case "text":
      case "tools":
        send(res, 200, protocol === "openai" ? openAiCompletion(reply, model) : anthropicMessage(reply, model));
        return;
      case "error": {
        const key = protocol === "openai" ? rec.headers.authorization : rec.headers["x-api-key"];
        const msg = `${reply.message ?? `error ${reply.status}`}${reply.echoKey ? ` (received key: ${String(key)})` : ""}`;
        const headers: Record<string, string> = {};
        if (reply.retryAfter !== undefined) headers["retry-after"] = reply.retryAfter;
        if (reply.retryAfterMs !== undefined) headers["retry-after-ms"] = reply.retryAfterMs;
        send(res, reply.status, errorBody(protocol, msg, reply.status === 429 ? "rate_limit_error" : reply.status === 401 ? "authentication_error" : "api_error"), headers);
        return;
      }
      case "malformed":
        res.writeHead(200, { "content-type": "application/json" });
        res.end(reply.body ?? '{"choices": [ {"message": ');
        return;
      case "hang":
        return;
      case "stall":
        res.writeHead(200, { "content-type": "application/json" });
        res.write('{"choices": [');
        return;
      case "gate":
        if (!released) await new Promise<void>((resolve) => gated.push(resolve));
        await answer(res, rec, reply.then ?? { type: "text", text: "ok" });
        return;
      case "big": {
        const chunk = Buffer.alloc(64 * 1024, "a");
        res.writeHead(200, { "content-type": "application/json", ...(reply.chunked ? {} : { "content-length": String(reply.bytes) }) });
        let left = reply.bytes;
        while (left > 0 && !res.destroyed) {
          const part = chunk.subarray(0, Math.min(left, chunk.length));
          left -= part.length;
          if (!res.write(part)) await new Promise<void>((resolve) => {
            res.once("drain", resolve);
            res.once("close", resolve);
          });
        }
        res.end();
        return;
      }
      case "raw":
        res.writeHead(reply.status, { ...(reply.headers ?? {}) });
        res.end(reply.body);
        return;
    }
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: protocol === "openai" ? `http://127.0.0.1:${port}/v1` : `http://127.0.0.1:${port}`,
    requests,
    get inFlight() {
      return inFlight;
    },
    get maxInFlight() {
      return maxInFlight;
    },
    push: (...replies) => {
      script.push(...replies);
    },
    release: () => {
      released = true;
      for (const g of gated.splice(0)) g();
    },
    waitForRequests: (n) => waitFor(() => requests.length >= n),
    waitForInFlight: (n) => waitFor(() => inFlight >= n),
    close: () =>
      new Promise<void>((resolve) => {
        released = true;
        for (const g of gated.splice(0)) g();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

function errorBody(protocol: Protocol, message: string, type: string): unknown {
  return protocol === "openai" ? { error: { message, type, code: null } } : { type: "error", error: { type, message } };
}

function openAiCompletion(reply: Extract<FakeReply, { type: "text" | "tools" }>, model: string): unknown {
  const calls = reply.type === "tools" ? reply.calls : [];
  const u = reply.usage;
  return {
    id: "chatcmpl-fake",
    object: "chat.completion",
    created: 0,
    model: reply.type === "text" && reply.model ? reply.model : model,
    choices: [
      {
        index: 0,
        message: {
          role: "assistant",
          content: reply.type === "text" ? reply.text : (reply.text ?? null),
          ...(calls.length > 0
            ? { tool_calls: calls.map((c, i) => ({ id: c.id ?? `call_${i + 1}`, type: "function", function: { name: c.name, arguments: c.rawArgs ?? JSON.stringify(c.args ?? {}) } })) }
            : {}),
        },
        finish_reason: reply.finishReason ?? (calls.length > 0 ? "tool_calls" : "stop"),
      },
    ],
    ...(u
      ? {
          usage: {
            prompt_tokens: u.input,
            completion_tokens: u.output,
            total_tokens: u.input + u.output,
            ...(u.cached === undefined ? {} : { prompt_tokens_details: { cached_tokens: u.cached } }),
            ...(u.reasoning === undefined ? {} : { completion_tokens_details: { reasoning_tokens: u.reasoning } }),
          },
        }
      : {}),
  };
}

function anthropicMessage(reply: Extract<FakeReply, { type: "text" | "tools" }>, model: string): unknown {
  const calls = reply.type === "tools" ? reply.calls : [];
  const text = reply.type === "text" ? reply.text : reply.text;
  const u = reply.usage;
  return {
    id: "msg_fake",
    type: "message",
    role: "assistant",
    model: reply.type === "text" && reply.model ? reply.model : model,
    content: [
      ...(text ? [{ type: "text", text }] : []),
      ...calls.map((c, i) => ({ type: "tool_use", id: c.id ?? `toolu_${i + 1}`, name: c.name, input: c.rawArgs !== undefined ? { _raw: c.rawArgs } : (c.args ?? {}) })),
    ],
    stop_reason: reply.finishReason ?? (calls.length > 0 ? "tool_use" : "end_turn"),
    stop_sequence: null,
    ...(u
      ? {
          usage: {
            input_tokens: u.input - (u.cached ?? 0),
            output_tokens: u.output,
            ...(u.cached === undefined ? {} : { cache_read_input_tokens: u.cached, cache_creation_input_tokens: 0 }),
          },
        }
      : {}),
  };
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === "object" && !Array.isArray(v);

function checkOpenAi(rec: RecordedRequest): string | undefined {
  const b = rec.body;
  if (!isObj(b)) return "body is not a JSON object";
  if (typeof b.model !== "string") return "model is required";
  if (!Array.isArray(b.messages) || b.messages.length === 0) return "messages must be a non-empty array";
  let pending = new Set<string>();
  for (const [i, m] of (b.messages as unknown[]).entries()) {
    if (!isObj(m)) return `messages[${i}] is not an object`;
    if (m.role === "tool") {
      if (typeof m.tool_call_id !== "string" || !pending.has(m.tool_call_id)) return `messages[${i}]: tool_call_id ${JSON.stringify(m.tool_call_id)} answers no tool call of the previous assistant message`;
      if (typeof m.content !== "string") return `messages[${i}]: content must be a string`;
      continue;
    }
    pending = new Set();
    if (m.role === "assistant" && Array.isArray(m.tool_calls)) {
      for (const c of m.tool_calls as unknown[]) {
        if (!isObj(c) || typeof c.id !== "string" || c.type !== "function" || !isObj(c.function) || typeof c.function.arguments !== "string") return `messages[${i}].tool_calls has a malformed entry`;
        pending.add(c.id);
      }
    } else if (!["system", "user", "assistant", "developer"].includes(String(m.role))) return `messages[${i}]: unknown role ${JSON.stringify(m.role)}`;
  }
  if (b.tools !== undefined) {
    if (!Array.isArray(b.tools)) return "tools must be an array";
    for (const t of b.tools as unknown[]) if (!isObj(t) || t.type !== "function" || !isObj(t.function) || typeof t.function.name !== "string") return "tools entries must be {type: function, function: {name, parameters}}";
  }
  return undefined;
}

function checkAnthropic(rec: RecordedRequest): string | undefined {
  if (rec.headers["anthropic-version"] === undefined) return "anthropic-version header is required";
  const b = rec.body;
  if (!isObj(b)) return "body is not a JSON object";
  if (typeof b.model !== "string") return "model is required";
  if (typeof b.max_tokens !== "number") return "max_tokens: Field required";
  if (b.system !== undefined && typeof b.system !== "string" && !Array.isArray(b.system)) return "system must be a string or blocks";
  if (!Array.isArray(b.messages) || b.messages.length === 0) return "messages must be a non-empty array";
  let prevRole: unknown;
  let pending = new Set<string>();
  for (const [i, m] of (b.messages as unknown[]).entries()) {
    if (!isObj(m)) return `messages.${i} is not an object`;
    if (m.role !== "user" && m.role !== "assistant") return `messages.${i}: role must be user or assistant`;
    if (i === 0 && m.role !== "user") return "messages: first message must use the user role";
    if (m.role === prevRole) return `messages.${i}: roles must alternate between user and assistant`;
    prevRole = m.role;
    const blocks: unknown[] = typeof m.content === "string" ? [{ type: "text", text: m.content }] : Array.isArray(m.content) ? m.content : [];
    if (blocks.length === 0) return `messages.${i}: content must not be empty`;
    const uses = new Set<string>();
    for (const [j, blk] of blocks.entries()) {
      if (!isObj(blk)) return `messages.${i}.content.${j} is not an object`;
      if (blk.type === "text" && (typeof blk.text !== "string" || blk.text === "")) return `messages.${i}.content.${j}: text content blocks must be non-empty`;
      if (blk.type === "tool_use") {
        if (m.role !== "assistant" || typeof blk.id !== "string" || !isObj(blk.input)) return `messages.${i}.content.${j}: malformed tool_use`;
        uses.add(blk.id);
      }
      if (blk.type === "tool_result") {
        if (m.role !== "user" || typeof blk.tool_use_id !== "string" || !pending.has(blk.tool_use_id)) return `messages.${i}.content.${j}: tool_result ${JSON.stringify(blk.tool_use_id)} answers no tool_use of the previous message`;
        pending.delete(blk.tool_use_id);
      }
    }
    if (m.role === "user" && pending.size > 0) return `messages.${i}: tool_use ids without tool_result: ${[...pending].join(", ")}`;
    pending = uses;
  }
  if (b.tools !== undefined) {
    if (!Array.isArray(b.tools)) return "tools must be an array";
    for (const t of b.tools as unknown[]) if (!isObj(t) || typeof t.name !== "string" || !isObj(t.input_schema)) return "tools entries must be {name, description?, input_schema}";
  }
  return undefined;
}

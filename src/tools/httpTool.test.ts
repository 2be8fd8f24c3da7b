/**
 * http_request against real HTTP servers on 127.0.0.1: a second server proves that a request
 * to a host outside allowed_hosts (directly or through a redirect) never arrives.
 */
import assert from "node:assert/strict";
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { EngineError } from "../errors.js";
import { attempt, makeRegistry, makeScope } from "../../test/tools/harness.js";
import type { ToolRegistry } from "./ToolRegistry.js";

interface Recorder {
  server: Server;
  port: number;
  hits: { method: string; url: string; headers: IncomingHttpHeaders; body: string }[];
}

async function start(handler: (url: string, res: ServerResponse, rec: Recorder) => void): Promise<Recorder> {
  const rec: Recorder = { server: undefined as unknown as Server, port: 0, hits: [] };
  rec.server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      rec.hits.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
      handler(req.url ?? "/", res, rec);
    });
  });
  await new Promise<void>((r) => rec.server.listen(0, "127.0.0.1", r));
  rec.port = (rec.server.address() as AddressInfo).port;
  return rec;
}

describe("http_request", () => {
  let allowed: Recorder;
  let other: Recorder;
  let forbidden: Recorder;
  let reg: ToolRegistry;
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "ae-http-"));
    forbidden = await start((_u, res) => res.end("you should never see this"));
    other = await start((_u, res) => res.end("other"));
    allowed = await start((url, res) => {
      if (url === "/hello") {
        res.setHeader("x-test", "yes");
        res.end("hello world");
      } else if (url === "/echo") {
        res.end(allowed.hits.at(-1)!.body);
      } else if (url === "/to-forbidden") {
        res.writeHead(302, { location: `http://127.0.0.1:${forbidden.port}/secret` }).end();
      } else if (url === "/to-hello") {
        res.writeHead(301, { location: "/hello" }).end();
      } else if (url === "/post-303") {
        res.writeHead(303, { location: "/hello" }).end();
      } else if (url === "/to-other") {
        res.writeHead(307, { location: `http://127.0.0.1:${other.port}/x` }).end();
      } else if (url === "/to-file") {
        res.writeHead(302, { location: "file:///etc/passwd" }).end();
      } else if (url === "/loop") {
        res.writeHead(302, { location: "/loop" }).end();
      } else if (url === "/big") {
        res.end("x".repeat(5000));
      } else if (url === "/big-chunked") {
        res.write("y".repeat(3000));
        res.end("y".repeat(3000));
      } else if (url === "/hang") {
        // never answers
      } else res.writeHead(404).end("not found");
    });
    reg = await makeRegistry(
      [
        { id: "fetch", type: "http_request", permissions: { allow_network: true, allowed_hosts: [`127.0.0.1:${allowed.port}`, `127.0.0.1:${other.port}`], max_response_bytes: 4096, max_redirects: 3, timeout_ms: 300 } },
      ],
      dir,
    );
  });
  after(async () => {
    await reg.close();
    for (const s of [allowed, other, forbidden]) {
      s.server.closeAllConnections();
      await new Promise((r) => s.server.close(r));
    }
    await rm(dir, { recursive: true, force: true });
  });

  const url = (path: string) => `http://127.0.0.1:${allowed.port}${path}`;

  it("sends to an allowed host and returns status, headers and body", async () => {
    const r = (await reg.call("fetch", { method: "GET", url: url("/hello") }, makeScope())) as { status: number; headers: Record<string, string>; body: string };
    assert.equal(r.status, 200);
    assert.equal(r.headers["x-test"], "yes");
    assert.equal(r.body, "hello world");
    const p = (await reg.call("fetch", { method: "POST", url: url("/echo"), headers: { "content-type": "text/plain" }, body: "payload" }, makeScope())) as { body: string };
    assert.equal(p.body, "payload");
  });

  it("refuses a host outside allowed_hosts before sending anything", async () => {
    const scope = makeScope();
    const r = await attempt(reg, "fetch", { method: "GET", url: `http://127.0.0.1:${forbidden.port}/secret` }, scope);
    assert.equal(!r.ok && r.code, "TOOL_PERMISSION_DENIED");
    assert.match(!r.ok ? r.message : "", /not in allowed_hosts/);
    assert.equal(forbidden.hits.length, 0);
    assert.deepEqual(scope.events.map((e) => e.type), ["tool.invoked", "tool.failed"]);
  });

  it("refuses a redirect to a host outside the list: the second server never receives it", async () => {
    const before = allowed.hits.length;
    const r = await attempt(reg, "fetch", { method: "GET", url: url("/to-forbidden") });
    assert.equal(!r.ok && r.code, "TOOL_PERMISSION_DENIED");
    assert.equal(allowed.hits.length, before + 1);
    assert.equal(forbidden.hits.length, 0);
    const f = await attempt(reg, "fetch", { method: "GET", url: url("/to-file") });
    assert.equal(!f.ok && f.code, "TOOL_PERMISSION_DENIED");
  });

  it("follows redirects inside the list (303 turns POST into GET; credentials dropped across hosts)", async () => {
    const r = (await reg.call("fetch", { method: "GET", url: url("/to-hello") }, makeScope())) as { status: number; body: string };
    assert.deepEqual([r.status, r.body], [200, "hello world"]);
    const p = (await reg.call("fetch", { method: "POST", url: url("/post-303"), body: "b" }, makeScope())) as { body: string };
    assert.equal(p.body, "hello world");
    assert.equal(allowed.hits.at(-1)!.method, "GET");
    const o = (await reg.call("fetch", { method: "GET", url: url("/to-other"), headers: { authorization: "Bearer s3cret", "x-keep": "1" } }, makeScope())) as { body: string };
    assert.equal(o.body, "other");
    assert.equal(other.hits.at(-1)!.headers.authorization, undefined);
    assert.equal(other.hits.at(-1)!.headers["x-keep"], "1");
  });

  it("stops after max_redirects, over max_response_bytes, and at the timeout", async () => {
    const loop = await attempt(reg, "fetch", { method: "GET", url: url("/loop") });
    assert.equal(!loop.ok && loop.code, "TOOL_FAILED");
    assert.match(!loop.ok ? loop.message : "", /redirects/);
    for (const path of ["/big", "/big-chunked"]) {
      const big = await attempt(reg, "fetch", { method: "GET", url: url(path) });
      assert.equal(!big.ok && big.code, "TOOL_FAILED");
      assert.match(!big.ok ? big.message : "", /max_response_bytes/);
    }
    const hang = await attempt(reg, "fetch", { method: "GET", url: url("/hang") });
    assert.equal(!hang.ok && hang.code, "TOOL_FAILED");
    assert.match(!hang.ok ? hang.message : "", /timeout_ms/);
  });

  it("a host header from the caller does not change the host the request names (no virtual-host hop)", async () => {
    await reg.call("fetch", { method: "GET", url: url("/hello"), headers: { host: "admin.internal", Host: "admin.internal" } }, makeScope());
    assert.equal(allowed.hits.at(-1)!.headers.host, `127.0.0.1:${allowed.port}`);
  });

  it("refuses non-http schemes and URLs with credentials", async () => {
    for (const u of ["file:///etc/passwd", `ftp://127.0.0.1:${allowed.port}/`, `http://u:p@127.0.0.1:${allowed.port}/hello`]) {
      const r = await attempt(reg, "fetch", { method: "GET", url: u });
      assert.equal(!r.ok && r.code, "TOOL_PERMISSION_DENIED", u);
    }
  });

  it("load time: http_request without allow_network: true or allowed_hosts is a config error naming the tool", async () => {
    await assert.rejects(makeRegistry([{ id: "web", type: "http_request", permissions: { allowed_hosts: ["a.example"] } }, { id: "web2", type: "http_request", permissions: { allow_network: true } }], dir), (err: unknown) => {
      assert.ok(err instanceof EngineError);
      assert.deepEqual(err.details.map((d) => [d.code, d.path]), [
        ["CONFIG_TOOL_PERMISSION", "/tools/0/permissions/allow_network"],
        ["CONFIG_TOOL_PERMISSION", "/tools/1/permissions/allowed_hosts"],
      ]);
      assert.match(err.details[0]!.message, /tool "web".*allow_network: true/);
      return true;
    });
  });
});

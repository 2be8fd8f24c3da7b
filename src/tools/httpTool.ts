/**
 * `http_request {method, url, headers?, body?}` -> `{status, headers, body}`.
 *
 * Only `http:` and `https:` URLs whose host is in `allowed_hosts`. Redirects are followed by
 * hand (at most `max_redirects`), and each new location is checked against the list before
 * anything is sent to it; credentials (`authorization`, `cookie`) are dropped when a redirect
 * changes the host. The response body is read up to `max_response_bytes`; the whole exchange is
 * bounded by `timeout_ms`.
 *
 * @module
 */
import { denied, failed, ToolError } from "./ToolError.js";

/** `http_request`'s permissions, resolved at engine start. */
export interface HttpPermissions {
  readonly toolId: string;
  /** Lower-case `host` or `host:port` entries. */
  readonly allowedHosts: readonly string[];
  readonly maxResponseBytes: number;
  readonly maxRedirects: number;
  readonly timeoutMs: number;
}

/** Arguments of `http_request`. */
export interface HttpArgs {
  readonly method: string;
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
}

/** Result of `http_request`. */
export interface HttpResult {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Normalizes one `allowed_hosts` entry (lower case; IPv6 without brackets). */
export function normalizeHostEntry(entry: string): string {
  return entry.trim().toLowerCase();
}

/** True when `url`'s host (and port, if the entry names one) is in the list. */
export function hostAllowed(url: URL, allowed: readonly string[]): boolean {
  const host = url.hostname.toLowerCase();
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  return allowed.some((e) => e === host || e === `${host}:${port}` || (host.startsWith("[") && e === host.slice(1, -1)));
}

function parseUrl(perms: HttpPermissions, raw: string, base?: URL): URL {
  let url: URL;
  try {
    url = base ? new URL(raw, base) : new URL(raw);
  } catch {
    throw new ToolError("TOOL_FAILED", `tool "${perms.toolId}": ${JSON.stringify(raw)} is not a valid URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw denied(perms.toolId, `${url.protocol} URLs are not allowed (only http: and https:)`);
  if (url.username || url.password) throw denied(perms.toolId, "URLs with credentials (user:password@) are not allowed; send an authorization header instead");
  if (!hostAllowed(url, perms.allowedHosts)) throw denied(perms.toolId, `host ${url.host} is not in allowed_hosts (${perms.allowedHosts.join(", ")})`);
  return url;
}

const CREDENTIAL_HEADERS = new Set(["authorization", "cookie", "proxy-authorization"]);

/** Sends the request; see the module comment for what is checked. */
export async function httpRequestTool(perms: HttpPermissions, args: HttpArgs, signal: AbortSignal): Promise<HttpResult> {
  let url = parseUrl(perms, args.url);
  let method = args.method.toUpperCase();
  let body = args.body;
  // The request names the URL's host: a caller's `host` header (a hop to another virtual host
  // behind an allowed address) is dropped here, not left to the HTTP client.
  let headers: Record<string, string> = Object.fromEntries(Object.entries(args.headers ?? {}).filter(([k]) => k.toLowerCase() !== "host"));
  const ctl = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    ctl.abort();
  }, perms.timeoutMs);
  const onAbort = (): void => ctl.abort();
  signal.addEventListener("abort", onAbort, { once: true });
  if (signal.aborted) ctl.abort();
  const combined = ctl.signal;
  try {
    for (let redirects = 0; ; redirects++) {
      const res = await fetch(url, { method, headers, ...(body !== undefined && method !== "GET" && method !== "HEAD" ? { body } : {}), redirect: "manual", signal: combined });
      const location = res.headers.get("location");
      if (res.status >= 300 && res.status < 400 && location !== null) {
        await res.body?.cancel().catch(() => undefined);
        if (redirects >= perms.maxRedirects) throw failed(perms.toolId, `more than ${perms.maxRedirects} redirects (permissions.max_redirects)`);
        const next = parseUrl(perms, location, url);
        if (next.host !== url.host) headers = Object.fromEntries(Object.entries(headers).filter(([k]) => !CREDENTIAL_HEADERS.has(k.toLowerCase())));
        if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === "POST")) {
          method = method === "HEAD" ? "HEAD" : "GET";
          body = undefined;
          headers = Object.fromEntries(Object.entries(headers).filter(([k]) => !/^content-/i.test(k)));
        }
        url = next;
        continue;
      }
      const text = await readCapped(perms, res);
      const out: Record<string, string> = {};
      res.headers.forEach((v, k) => {
        out[k] = v;
      });
      return { status: res.status, headers: out, body: text };
    }
  } catch (err) {
    if (err instanceof ToolError) throw err;
    if (timedOut) throw failed(perms.toolId, `no complete response from ${url.host} within ${perms.timeoutMs} ms (permissions.timeout_ms)`);
    if (signal.aborted) throw failed(perms.toolId, "the node was cancelled");
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw failed(perms.toolId, `${method} ${url.origin}${url.pathname}: ${cause?.code ?? cause?.message ?? (err as Error).message}`, err);
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", onAbort);
  }
}

async function readCapped(perms: HttpPermissions, res: Response): Promise<string> {
  const declared = Number(res.headers.get("content-length") ?? "NaN");
  if (declared > perms.maxResponseBytes) {
    await res.body?.cancel().catch(() => undefined);
    throw failed(perms.toolId, `the response is ${declared} bytes, over max_response_bytes ${perms.maxResponseBytes}`);
  }
  if (!res.body) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > perms.maxResponseBytes) {
      await reader.cancel().catch(() => undefined);
      throw failed(perms.toolId, `the response is over max_response_bytes ${perms.maxResponseBytes}`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * MCP servers as tool sources, through the official `@modelcontextprotocol/sdk` (an optional
 * peer dependency, imported only when tools.yaml declares `type: mcp`).
 *
 * A server is started (stdio: `command: [program, ...args]`) or connected (Streamable HTTP:
 * `url:`) at engine start; its tools are listed once and become `<server id>.<tool name>` with
 * the input schemas the server declares. Closing a connection ends the server process (stdio)
 * or the session (HTTP).
 *
 * @module
 */
import { isAbsolute, resolve } from "node:path";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { ToolManifest } from "../config/types.js";
import { EngineError, errorMessage } from "../errors.js";
import { failed } from "./ToolError.js";

/** A tool offered by an MCP server. */
export interface McpToolInfo {
  /** The server's own name of the tool. */
  readonly name: string;
  readonly description?: string;
  /** JSON Schema of its arguments, as the server declares it. */
  readonly inputSchema: Readonly<Record<string, unknown>>;
}

/** A connected MCP server. */
export interface McpConnection {
  /** The server's id in tools.yaml. */
  readonly id: string;
  readonly tools: readonly McpToolInfo[];
  /** Process id of a stdio server (undefined for HTTP). */
  readonly pid: number | undefined;
  /** Calls one of its tools; rejects with a `TOOL_FAILED` ToolError when the server reports an error. */
  call(name: string, args: Record<string, unknown>, signal: AbortSignal): Promise<unknown>;
  /** Ends the session and (stdio) the server process. Never rejects. */
  close(): Promise<void>;
}

interface Sdk {
  readonly Client: typeof Client;
  readonly StdioClientTransport: typeof StdioClientTransport;
  readonly StreamableHTTPClientTransport: typeof StreamableHTTPClientTransport;
}

/** The package users install to use MCP servers. */
export const MCP_SDK_PACKAGE = "@modelcontextprotocol/sdk";

let sdkPromise: Promise<Sdk> | undefined;

/**
 * Imports the MCP SDK (once).
 *
 * @throws EngineError `MCP_SDK_MISSING` naming the package to install.
 */
export async function loadMcpSdk(file?: string): Promise<Sdk> {
  sdkPromise ??= (async () => {
    const [c, s, h] = await Promise.all([
      import("@modelcontextprotocol/sdk/client/index.js"),
      import("@modelcontextprotocol/sdk/client/stdio.js"),
      import("@modelcontextprotocol/sdk/client/streamableHttp.js"),
    ]);
    return { Client: c.Client, StdioClientTransport: s.StdioClientTransport, StreamableHTTPClientTransport: h.StreamableHTTPClientTransport };
  })();
  try {
    return await sdkPromise;
  } catch (err) {
    sdkPromise = undefined;
    const code = (err as NodeJS.ErrnoException).code;
    throw new EngineError({
      code: "MCP_SDK_MISSING",
      ...(file ? { file } : {}),
      message:
        code === "ERR_MODULE_NOT_FOUND"
          ? `tools.yaml declares an MCP server (type: mcp), which needs the optional package ${MCP_SDK_PACKAGE}; install it: npm install ${MCP_SDK_PACKAGE}`
          : `could not load ${MCP_SDK_PACKAGE}: ${errorMessage(err)}; reinstall it: npm install ${MCP_SDK_PACKAGE}`,
    }, { cause: err });
  }
}

/** Pages of `tools/list` read from one server at most. */
export const MCP_MAX_TOOL_PAGES = 100;

/** Tools read from one server at most. */
export const MCP_MAX_TOOLS = 10_000;

/** Default connect and call timeout. */
export const MCP_DEFAULT_TIMEOUT_MS = 30_000;

/** Default `max_result_bytes`: the largest result (bytes of its JSON) a call may return. */
export const MCP_DEFAULT_MAX_RESULT_BYTES = 1024 * 1024;

/**
 * Starts or connects one server and lists its tools.
 *
 * @throws Error whose message says why (the caller turns it into `MCP_SERVER_FAILED`).
 */
export async function connectMcpServer(sdk: Sdk, m: ToolManifest, configDir: string): Promise<McpConnection> {
  const timeout = m.timeout_ms ?? MCP_DEFAULT_TIMEOUT_MS;
  const maxResultBytes = m.max_result_bytes ?? MCP_DEFAULT_MAX_RESULT_BYTES;
  const client: Client = new sdk.Client({ name: "agent-engine", version: "1" }, { capabilities: {} });
  let stderrTail = "";
  let pid: () => number | undefined = () => undefined;
  let endSession: () => Promise<void> = () => Promise.resolve();
  if (m.command) {
    const [program, ...args] = m.command;
    const cwd = resolve(configDir, m.cwd ?? ".");
    const transport = new sdk.StdioClientTransport({
      command: program !== undefined && !isAbsolute(program) && (program.startsWith("./") || program.startsWith("../")) ? resolve(configDir, program) : program ?? "",
      args,
      cwd,
      ...(m.env ? { env: { ...m.env } } : {}),
      stderr: "pipe",
    });
    transport.stderr?.on("data", (b: Buffer) => {
      stderrTail = (stderrTail + b.toString("utf8")).slice(-2000);
    });
    pid = () => transport.pid ?? undefined;
    await connectOrClose(client, transport, timeout, () => (stderrTail.trim() ? `; its stderr: ${stderrTail.trim()}` : ""));
  } else if (m.url) {
    const transport = new sdk.StreamableHTTPClientTransport(new URL(m.url), m.headers ? { requestInit: { headers: { ...m.headers } } } : undefined);
    endSession = () => transport.terminateSession().catch(() => undefined);
    await connectOrClose(client, transport, timeout, () => "");
  } else {
    throw new Error("needs command: [program, ...args] (stdio) or url: (Streamable HTTP)");
  }
  let tools: McpToolInfo[];
  try {
    tools = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      // Bounded: a server whose pages never end (or repeat) cannot hold the engine's start forever.
      if (++pages > MCP_MAX_TOOL_PAGES || tools.length > MCP_MAX_TOOLS) {
        throw new Error(`it listed ${tools.length} tools in ${pages - 1} pages and the list did not end (at most ${MCP_MAX_TOOL_PAGES} pages and ${MCP_MAX_TOOLS} tools are read)`);
      }
      const page = await client.listTools(cursor === undefined ? undefined : { cursor }, { timeout });
      for (const t of page.tools) tools.push(Object.freeze({ name: t.name, ...(t.description !== undefined ? { description: t.description } : {}), inputSchema: t.inputSchema as Record<string, unknown> }));
      cursor = page.nextCursor;
    } while (cursor !== undefined);
  } catch (err) {
    await client.close().catch(() => undefined);
    throw new Error(`listing its tools failed: ${errorMessage(err)}`, { cause: err });
  }
  let closed: Promise<void> | undefined;
  return {
    id: m.id,
    tools: Object.freeze(tools),
    get pid() {
      return pid();
    },
    async call(name, args, signal) {
      let res;
      try {
        res = await client.callTool({ name, arguments: args }, undefined, { timeout, signal });
      } catch (err) {
        throw failed(`${m.id}.${name}`, `MCP server "${m.id}": ${errorMessage(err)}`, err);
      }
      const content = (res.content ?? []) as unknown[];
      if (res.isError === true) {
        const text = content.map((c) => (c && typeof c === "object" && (c as { type?: unknown }).type === "text" ? String((c as { text?: unknown }).text) : "")).filter(Boolean).join("\n");
        throw failed(`${m.id}.${name}`, `MCP server "${m.id}" reported an error: ${text || "(no message)"}`);
      }
      const result = { content, ...(res.structuredContent !== undefined ? { structuredContent: res.structuredContent } : {}) };
      // The SDK has parsed the whole message by now; what is bounded is what the run keeps (the
      // agent's history sent on every later request, the result in events and outputs).
      const bytes = Buffer.byteLength(JSON.stringify(result));
      if (bytes > maxResultBytes) throw failed(`${m.id}.${name}`, `MCP server "${m.id}": the result of ${name} is ${bytes} bytes of JSON, over max_result_bytes ${maxResultBytes}`);
      return result;
    },
    close() {
      closed ??= (async () => {
        await endSession();
        await client.close().catch(() => undefined);
      })();
      return closed;
    },
  };
}

async function connectOrClose(client: Client, transport: Parameters<Client["connect"]>[0], timeout: number, extra: () => string): Promise<void> {
  try {
    await client.connect(transport, { timeout });
  } catch (err) {
    await client.close().catch(() => undefined);
    await transport.close().catch(() => undefined);
    throw new Error(`could not connect: ${errorMessage(err)}${extra()}`, { cause: err });
  }
}

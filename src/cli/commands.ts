/**
 * `agent-engine plugins`.
 *
 * @module
 */
import { resolve } from "node:path";
import { loadProject } from "../dag/buildGraph.js";
import { EngineError, formatDetail } from "../errors.js";
import { inspectPlugins } from "../plugins/loader.js";
import { parseAllow } from "./allow.js";
import { CliExit, printEngineError, type CliIO } from "./output.js";

export type { CliIO } from "./output.js";

/** `agent-engine plugins` */
export async function pluginsCommand(configDir: string, opts: { json?: boolean; allow?: string }, io: CliIO): Promise<void> {
  io.guardStdout();
  const allow = parseAllow(opts.allow, io);
  let config;
  try {
    ({ config } = await loadProject(resolve(io.cwd(), configDir)));
  } catch (err) {
    if (err instanceof EngineError) throw new CliExit(printEngineError(err, io, `invalid config directory ${configDir}`));
    throw err;
  }
  const list = await inspectPlugins(config.plugins, { configDir: config.dir, file: config.files.plugins ?? resolve(config.dir, "plugins.yaml"), locate: (p) => config.locate("plugins", p), ...(allow ? { allow } : {}) });
  if (opts.json) {
    io.stdout(`${JSON.stringify(list, null, 2)}\n`);
  } else if (list.length === 0) {
    io.stdout(`no plugins (${config.files.plugins ? "plugins.yaml lists none" : "no plugins.yaml"})\n`);
  } else {
    for (const p of list) {
      const flags = [p.status, p.required ? "required" : "optional", p.isolation].join(", ");
      io.stdout(`${p.id}  ${p.module}  [${flags}]${p.events ? `  events: ${p.events.join(" ")}` : ""}\n`);
      if (p.error) io.stdout(`    ${formatDetail(p.error)}\n`);
    }
  }
  if (list.some((p) => p.status === "failed" && p.required)) throw new CliExit(2);
}

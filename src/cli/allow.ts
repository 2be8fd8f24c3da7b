/**
 * `--allow <list>`: the operator's opt-in to load what configuration alone may not
 * (`EngineOptions.allow`, see docs/config-and-dag.md "Loading code and data").
 *
 * @module
 */
import type { LoadPolicy } from "../modules.js";
import { CliExit, cliError, type CliIO } from "./output.js";

/** The names `--allow` takes, and the {@link LoadPolicy} field each sets. */
export const ALLOW_NAMES: Readonly<Record<string, keyof LoadPolicy>> = Object.freeze({
  "builtin-modules": "builtinModules",
  "url-modules": "urlModules",
  "outside-config-dir": "outsideConfigDir",
});

/** Help text of the `--allow` option. */
export const ALLOW_HELP = `let configuration load more than files of the config dir and installed packages; comma-separated: ${Object.keys(ALLOW_NAMES).join(", ")}`;

/**
 * Parses `--allow a,b`. Undefined when the option was not given; exits 2 (`CLI_USAGE`) naming
 * the accepted values for anything else.
 */
export function parseAllow(value: string | undefined, io: CliIO): LoadPolicy | undefined {
  if (value === undefined) return undefined;
  const policy: Record<string, boolean> = {};
  for (const raw of value.split(",")) {
    const name = raw.trim();
    if (name === "") continue;
    const field = ALLOW_NAMES[name];
    if (field === undefined || !Object.hasOwn(ALLOW_NAMES, name)) {
      cliError(io, "CLI_USAGE", `--allow: unknown value "${name}"`, `use one or more of ${Object.keys(ALLOW_NAMES).join(", ")}, comma-separated`);
      throw new CliExit(2);
    }
    policy[field] = true;
  }
  return policy as LoadPolicy;
}

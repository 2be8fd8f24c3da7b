/**
 * `specifier#export` references from manifests (node handlers, tools, plugins), resolved the way
 * Node resolves an `import` written in a file inside the config directory.
 *
 * @module
 */
import { existsSync, realpathSync, statSync } from "node:fs";
import { isAbsolute, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { resolve as resolveImport } from "import-meta-resolve";

/** A parsed `specifier#export`. */
export interface ExportRef {
  readonly specifier: string;
  /** Undefined when the reference has no `#export` (the default export is meant). */
  readonly exportName: string | undefined;
}

/**
 * Splits `./file.js#name` into its parts. The last `#` after the first character separates the
 * export (a leading `#` is a package-internal import specifier, kept whole).
 */
export function parseExportRef(ref: string): ExportRef {
  const hash = ref.lastIndexOf("#");
  if (hash <= 0) return { specifier: ref, exportName: undefined };
  const exportName = ref.slice(hash + 1);
  return { specifier: ref.slice(0, hash), exportName: exportName.length > 0 ? exportName : undefined };
}

/**
 * Resolves `specifier` as an `import` in a module of `baseDir` would: relative paths against
 * it, bare specifiers through `node_modules` and package `exports` (ESM conditions), `node:`
 * builtins as is. Uses `import-meta-resolve`, Node's own algorithm, since Node 20's
 * `import.meta.resolve` cannot take another parent without a flag.
 *
 * @returns an importable URL string.
 * @throws Node's resolution errors (`ERR_MODULE_NOT_FOUND`, `ERR_PACKAGE_PATH_NOT_EXPORTED`, ...).
 */
export function resolveSpecifier(specifier: string, baseDir: string): string {
  const url = resolveImport(specifier, pathToFileURL(join(baseDir, "__agent_engine__.js")).href);
  // Relative and absolute paths resolve without touching the disk; check them here so a missing
  // file is reported as not found, not as a failure inside the import.
  if (url.startsWith("file:")) {
    const path = fileURLToPath(url);
    if (!existsSync(path) || statSync(path).isDirectory()) {
      throw Object.assign(new Error(`no file at ${path}`), { code: "ERR_MODULE_NOT_FOUND" });
    }
  }
  return url;
}

/**
 * A hint for an error thrown while importing a user module, for the common mistakes: ESM syntax
 * in a file Node treats as CommonJS, and a dependency that is not installed.
 */
export function importFailureHint(err: unknown): string {
  const message = err instanceof Error ? err.message : "";
  if (err instanceof SyntaxError && /Unexpected token 'export'|Cannot use import statement outside a module/.test(message)) {
    return 'the file uses ESM syntax but Node loads it as CommonJS: name it .mjs, or add "type": "module" to the nearest package.json';
  }
  const pkg = /Cannot find package '([^']+)'/.exec(message);
  if (pkg) return `install ${pkg[1]} where the config directory can see it (npm install ${pkg[1]})`;
  return "the module itself (or something it imports) threw while loading";
}

/**
 * What code and data outside the config directory the engine may load. Everything is refused by
 * default: a handler, tool or plugin named in YAML is a file of the config directory or a
 * package it can resolve, and a memory `file` store is a file of the config directory. The
 * opt-in belongs to whoever runs the engine (`EngineOptions.allow`), never to the config
 * directory itself: a YAML edit alone must not be able to run `node:child_process` or read
 * `/etc/passwd`.
 */
export interface LoadPolicy {
  /** Allow `node:` builtins (and bare builtin names such as `fs`) as handler, tool or plugin modules. */
  readonly builtinModules?: boolean;
  /** Allow `data:`, `http:` and `https:` URLs as handler, tool or plugin modules. */
  readonly urlModules?: boolean;
  /**
   * Allow handler, tool and plugin files, and memory `file` stores, outside the config directory
   * (`../x.js`, absolute paths, `file:` URLs, symlinks leading out).
   */
  readonly outsideConfigDir?: boolean;
}

/** A reference refused by the {@link LoadPolicy}: the message and what to do. */
export interface LoadRefusal {
  readonly message: string;
  readonly hint: string;
}

const URL_SCHEMES = /^(data|https?):/i;

/** True for `./x`, `../x`, absolute paths and `file:` URLs: files named directly, not packages. */
export function isPathReference(specifier: string): boolean {
  return specifier.startsWith("./") || specifier.startsWith("../") || specifier === "." || specifier === ".." || isAbsolute(specifier) || /^file:/i.test(specifier);
}

/**
 * Refuses a module reference before it is resolved: `node:` builtins and `data:` / `http(s):`
 * URLs unless the policy allows them. Returns undefined when the reference may be resolved.
 */
export function refuseSpecifier(specifier: string, policy: LoadPolicy = {}): LoadRefusal | undefined {
  if (/^node:/i.test(specifier) && policy.builtinModules !== true) {
    return { message: `"${specifier}" is a Node.js builtin module; builtins are not loaded from configuration`, hint: "wrap what you need in a module of the config directory, or let the host allow it (EngineOptions.allow.builtinModules)" };
  }
  if (URL_SCHEMES.test(specifier) && policy.urlModules !== true) {
    return { message: `"${specifier.slice(0, 40)}${specifier.length > 40 ? "..." : ""}" is a URL; modules are loaded from files of the config directory or installed packages only`, hint: "save the module as a file in the config directory, or let the host allow it (EngineOptions.allow.urlModules)" };
  }
  return undefined;
}

/**
 * Checks where a reference resolved to: a builtin (a bare name such as `fs`), a URL, or a file
 * outside the config directory named by a path reference. Packages found through `node_modules`
 * may live anywhere. Returns undefined when allowed.
 */
export function refuseResolved(specifier: string, url: string, configDir: string, policy: LoadPolicy = {}): LoadRefusal | undefined {
  const early = refuseSpecifier(url, policy);
  if (early) return early;
  if (policy.outsideConfigDir === true || !isPathReference(specifier) || !url.startsWith("file:")) return undefined;
  const path = fileURLToPath(url);
  if (isInsideDir(path, configDir)) return undefined;
  return {
    message: `"${specifier}" resolves to ${path}, outside the config directory ${configDir}`,
    hint: "move the file into the config directory (or publish it as a package and install it), or let the host allow it (EngineOptions.allow.outsideConfigDir)",
  };
}

/**
 * True when `path` is inside `dir` once symlinks are followed (a missing path is judged by its
 * nearest existing ancestor's real path).
 */
export function isInsideDir(path: string, dir: string): boolean {
  const real = (p: string): string => {
    let cur = resolve(p);
    const rest: string[] = [];
    for (;;) {
      try {
        return join(realpathSync(cur), ...rest.reverse());
      } catch {
        const parent = resolve(cur, "..");
        if (parent === cur) return join(cur, ...rest.reverse());
        rest.push(cur.slice(parent.length).replace(/^[/\\]/, ""));
        cur = parent;
      }
    }
  };
  const rel = relative(real(dir), real(path));
  return rel === "" || (rel !== ".." && !rel.startsWith("../") && !rel.startsWith("..\\") && !isAbsolute(rel));
}

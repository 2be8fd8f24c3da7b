/**
 * Reads a config directory: manifests (YAML, positions kept), JSON Schemas in `schemas/`, each
 * manifest validated against its shipped schema. Every problem across every file is collected
 * before one {@link ConfigError} is thrown.
 *
 * @module
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { extname, join, resolve } from "node:path";
import { ConfigError } from "../errors.js";
import type { ErrorDetail } from "../errors.js";
import { JsonSchemaError, compileJsonSchema } from "./jsonSchema.js";
import { MANIFEST_NAMES, validateManifest } from "./manifestSchemas.js";
import type {
  AgentsManifest,
  JsonSchema,
  ManifestName,
  MemoryManifest,
  PluginsManifest,
  ProjectConfig,
  SourceLocation,
  ToolsManifest,
  WorkflowManifest,
} from "./types.js";
import { parseSource } from "./yamlSource.js";
import type { ParsedSource } from "./yamlSource.js";

/** What {@link readConfigDir} found: a best-effort config plus every problem. */
export interface ConfigReadResult {
  /**
   * The config. When `details` is non-empty, manifests may not match their types: a manifest
   * that failed its schema is present as parsed (check before trusting), one that failed to
   * parse is absent (workflow: `{ nodes: [], edges: [] }`).
   */
  readonly config: ProjectConfig;
  /** Every problem found, in file order. */
  readonly details: readonly ErrorDetail[];
  /** True when workflow.yaml exists and parsed as YAML (it may still have failed its schema). */
  readonly workflowParsed: boolean;
  /** Manifests that exist, parsed and passed their schema. */
  readonly valid: ReadonlySet<ManifestName>;
}

/** Deeply freezes plain data in place and returns it. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

async function readText(file: string, details: ErrorDetail[]): Promise<string | undefined> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    details.push({ code: "CONFIG_FILE_UNREADABLE", file, message: `cannot read the file (${(err as NodeJS.ErrnoException).code ?? String(err)}); check its permissions` });
    return undefined;
  }
}

/** Finds `<name>.yaml` or `<name>.yml`; both present is an error. */
async function findManifest(dir: string, name: string, details: ErrorDetail[]): Promise<string | undefined> {
  const yaml = join(dir, `${name}.yaml`);
  const yml = join(dir, `${name}.yml`);
  const [hasYaml, hasYml] = await Promise.all([isFile(yaml), isFile(yml)]);
  if (hasYaml && hasYml) {
    details.push({ code: "CONFIG_AMBIGUOUS_FILE", file: yml, message: `both ${name}.yaml and ${name}.yml exist; keep one (${name}.yaml is used)` });
  }
  return hasYaml ? yaml : hasYml ? yml : undefined;
}

const SCHEMA_EXTS = new Set([".json", ".yaml", ".yml"]);

async function readSchemas(dir: string, details: ErrorDetail[]): Promise<Map<string, JsonSchema>> {
  const schemas = new Map<string, JsonSchema>();
  const schemaDir = join(dir, "schemas");
  let entries: string[];
  try {
    if (!(await stat(schemaDir)).isDirectory()) return schemas;
    entries = (await readdir(schemaDir)).sort();
  } catch {
    return schemas;
  }
  const origin = new Map<string, string>();
  for (const entry of entries) {
    const ext = extname(entry).toLowerCase();
    if (!SCHEMA_EXTS.has(ext)) continue;
    const file = join(schemaDir, entry);
    if (!(await isFile(file))) continue;
    const stem = entry.slice(0, entry.length - ext.length);
    const text = await readText(file, details);
    if (text === undefined) continue;
    const source = parseSource(file, text);
    if (source.errors.length > 0) {
      details.push(...source.errors);
      continue;
    }
    const previous = origin.get(stem);
    if (previous !== undefined) {
      details.push({ code: "CONFIG_INVALID_JSON_SCHEMA", file, line: 1, column: 1, message: `schema \`${stem}\` is also defined by ${previous}; keep one file per stem` });
      continue;
    }
    const value = source.value;
    try {
      compileJsonSchema(value);
    } catch (err) {
      const pointer = err instanceof JsonSchemaError ? err.pointer : "";
      const loc = source.locate(pointer);
      details.push({
        code: "CONFIG_INVALID_JSON_SCHEMA",
        file,
        ...(loc ? { line: loc.line, column: loc.column } : {}),
        path: pointer || "/",
        message: `schema \`${stem}\` is not a valid JSON Schema: ${err instanceof Error ? err.message : String(err)}; fix it (draft 2020-12, or declare $schema)`,
      });
      continue;
    }
    origin.set(stem, entry);
    schemas.set(stem, deepFreeze(value as JsonSchema));
  }
  return schemas;
}

/**
 * Reads and schema-validates a config directory without throwing for config problems: returns
 * the best-effort config and every problem found. Used by {@link loadConfigDir} and by
 * `loadProject`, which adds DAG checks before throwing.
 */
export async function readConfigDir(dir: string): Promise<ConfigReadResult> {
  const abs = resolve(dir);
  const details: ErrorDetail[] = [];
  const sources = new Map<ManifestName, ParsedSource>();
  const files: Partial<Record<ManifestName, string>> = {};
  const values: Partial<Record<ManifestName, unknown>> = {};
  const valid = new Set<ManifestName>();
  let dirOk = false;
  try {
    dirOk = (await stat(abs)).isDirectory();
  } catch {
    dirOk = false;
  }
  if (!dirOk) {
    details.push({ code: "CONFIG_DIR_NOT_FOUND", file: abs, message: `config directory ${abs} does not exist or is not a directory; pass the folder holding workflow.yaml` });
  } else {
    for (const name of MANIFEST_NAMES) {
      const file = await findManifest(abs, name, details);
      if (file === undefined) {
        if (name === "workflow") {
          details.push({ code: "CONFIG_FILE_MISSING", file: join(abs, "workflow.yaml"), message: `workflow.yaml is missing in ${abs}; create it with \`nodes\` and \`edges\`` });
        }
        continue;
      }
      files[name] = file;
      const text = await readText(file, details);
      if (text === undefined) continue;
      const source = parseSource(file, text);
      sources.set(name, source);
      if (source.errors.length > 0) {
        details.push(...source.errors);
        continue;
      }
      values[name] = deepFreeze(source.value);
      const problems = validateManifest(name, source);
      details.push(...problems);
      if (problems.length === 0) valid.add(name);
    }
  }
  const schemas = dirOk ? await readSchemas(abs, details) : new Map<string, JsonSchema>();
  const config = makeConfig(abs, values, schemas, files, (manifest, pointer) => sources.get(manifest)?.locate(pointer));
  return { config, details, workflowParsed: values.workflow !== undefined, valid };
}

function makeConfig(
  dir: string,
  values: Partial<Record<ManifestName, unknown>>,
  schemas: ReadonlyMap<string, JsonSchema>,
  files: Partial<Record<ManifestName, string>>,
  locate: (manifest: ManifestName, pointer: string) => SourceLocation | undefined,
): ProjectConfig {
  const config: ProjectConfig = {
    dir,
    workflow: (values.workflow ?? deepFreeze({ nodes: [], edges: [] })) as WorkflowManifest,
    ...(values.agents !== undefined ? { agents: values.agents as AgentsManifest } : {}),
    ...(values.tools !== undefined ? { tools: values.tools as ToolsManifest } : {}),
    ...(values.memory !== undefined ? { memory: values.memory as MemoryManifest } : {}),
    ...(values.plugins !== undefined ? { plugins: values.plugins as PluginsManifest } : {}),
    schemas,
    files: Object.freeze({ ...files }),
    locate(manifest, pointer) {
      return locate(manifest, pointer);
    },
  };
  return Object.freeze(config);
}

/**
 * Loads a config directory: `workflow.yaml` (required), `agents.yaml`, `tools.yaml`,
 * `memory.yaml`, `plugins.yaml` (optional; `.yml` accepted) and `schemas/*.json|yaml|yml`.
 * Each manifest is validated against the JSON Schema shipped in the package. DAG rules are not
 * checked here; see `buildGraph` / `loadProject`.
 *
 * @example
 * ```ts
 * const config = await loadConfigDir("./configs");
 * config.workflow.nodes.length;
 * config.locate("workflow", "/nodes/0/role"); // { file, line, column }
 * ```
 * @throws {@link ConfigError} listing every problem in every file.
 */
export async function loadConfigDir(dir: string): Promise<ProjectConfig> {
  const { config, details } = await readConfigDir(dir);
  if (details.length > 0) throw new ConfigError(details);
  return config;
}

/** In-memory manifests for {@link createProjectConfig}. */
export interface ProjectConfigInput {
  /** Config directory (default: the current directory); file paths in errors are inside it. */
  readonly dir?: string;
  readonly workflow: WorkflowManifest;
  readonly agents?: AgentsManifest;
  readonly tools?: ToolsManifest;
  readonly memory?: MemoryManifest;
  readonly plugins?: PluginsManifest;
  /** JSON Schemas by stem. */
  readonly schemas?: ReadonlyMap<string, JsonSchema> | Readonly<Record<string, JsonSchema>>;
}

/**
 * Builds a {@link ProjectConfig} from in-memory manifests (no files, no positions; not
 * schema-validated). Useful for tests and programmatic workflows: pass it to `buildGraph`,
 * which checks the DAG rules.
 */
export function createProjectConfig(input: ProjectConfigInput): ProjectConfig {
  const dir = resolve(input.dir ?? ".");
  const values: Partial<Record<ManifestName, unknown>> = {};
  const files: Partial<Record<ManifestName, string>> = {};
  for (const name of MANIFEST_NAMES) {
    const v = input[name];
    if (v === undefined) continue;
    values[name] = deepFreeze(structuredClone(v));
    files[name] = join(dir, `${name}.yaml`);
  }
  const raw = input.schemas;
  const schemas = new Map<string, JsonSchema>(raw === undefined ? [] : raw instanceof Map ? [...(raw as ReadonlyMap<string, JsonSchema>)] : Object.entries(raw));
  return makeConfig(dir, values, schemas, files, () => undefined);
}

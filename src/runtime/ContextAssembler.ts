/**
 * Context assembly from memory.yaml: stores (inline items or a file read once at engine start)
 * combined by profiles. A node's `context:` names a profile, `global` (all stores, or the
 * `global:` list) or `none`. The assembled value is `{ profile, items }`.
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import { extname, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import type { MemoryManifest } from "../config/types.js";
import { EngineError, errorMessage, type ErrorDetail } from "../errors.js";
import { freezeShell, sealJson, type JsonValue } from "../json.js";
import { isInsideDir, type LoadPolicy } from "../modules.js";

/** Assembles contexts; immutable after creation, so assembly is deterministic. */
export class ContextAssembler {
  private readonly cache = new Map<string, JsonValue>();

  private constructor(
    private readonly stores: ReadonlyMap<string, readonly JsonValue[]>,
    private readonly profiles: ReadonlyMap<string, { stores: readonly string[]; maxItems?: number }>,
    private readonly globalStores: readonly string[],
  ) {}

  /**
   * Reads file stores and validates references. A `file` store must be a file of the config
   * directory (symlinks followed) unless `allow.outsideConfigDir` is set.
   *
   * @throws EngineError `CONFIG_FILE_OUTSIDE_DIR` / `CONFIG_FILE_UNREADABLE`, every store at once.
   */
  static async create(manifest: MemoryManifest | undefined, configDir: string, file?: string, allow: LoadPolicy = {}): Promise<ContextAssembler> {
    const stores = new Map<string, readonly JsonValue[]>();
    const problems: ErrorDetail[] = [];
    for (const [i, s] of (manifest?.stores ?? []).entries()) {
      try {
        if (s.kind === "file") {
          const path = resolve(configDir, s.path ?? "");
          if (allow.outsideConfigDir !== true && !isInsideDir(path, configDir)) {
            problems.push({
              code: "CONFIG_FILE_OUTSIDE_DIR",
              ...(file ? { file } : {}),
              path: `/stores/${i}/path`,
              message: `memory store "${s.id}": ${s.path ?? ""} resolves to ${path}, outside the config directory ${configDir}`,
              hint: "copy the file into the config directory, or let the host allow it (EngineOptions.allow.outsideConfigDir)",
            });
            continue;
          }
          const text = await readFile(path, "utf8");
          const ext = extname(path).toLowerCase();
          const data: unknown = ext === ".json" ? JSON.parse(text) : ext === ".yaml" || ext === ".yml" ? parseYaml(text) : text.split(/\r?\n/).filter((l) => l.trim() !== "");
          stores.set(s.id, sealJson(Array.isArray(data) ? data : [data]) as readonly JsonValue[]);
        } else {
          stores.set(s.id, sealJson(s.items ?? []) as readonly JsonValue[]);
        }
      } catch (err) {
        problems.push({ code: "CONFIG_FILE_UNREADABLE", ...(file ? { file } : {}), path: `/stores/${i}`, message: `memory store "${s.id}": ${errorMessage(err)}` });
      }
    }
    if (problems.length > 0) throw new EngineError(problems);
    const profiles = new Map((manifest?.profiles ?? []).map((p) => [p.id, { stores: p.stores, ...(p.max_items === undefined ? {} : { maxItems: p.max_items }) }]));
    return new ContextAssembler(stores, profiles, manifest?.global ?? [...stores.keys()]);
  }

  /** The context for a profile id, `global`, or `none` (null). */
  assemble(profile: string): JsonValue {
    if (profile === "none") return null;
    const hit = this.cache.get(profile);
    if (hit !== undefined) return hit;
    const def = profile === "global" ? { stores: this.globalStores } : this.profiles.get(profile);
    if (!def) throw Object.assign(new Error(`context profile "${profile}" is not defined in memory.yaml`), { code: "CONTEXT_FAILED" });
    let items: JsonValue[] = [];
    for (const id of def.stores) {
      const store = this.stores.get(id);
      if (!store) throw Object.assign(new Error(`context profile "${profile}" uses unknown store "${id}"`), { code: "CONTEXT_FAILED" });
      items = items.concat(store);
    }
    const max = (def as { maxItems?: number }).maxItems;
    if (max !== undefined && items.length > max) items = items.slice(items.length - max);
    const value = freezeShell({ profile, items: freezeShell(items) });
    this.cache.set(profile, value);
    return value;
  }
}

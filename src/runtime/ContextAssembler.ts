/**
 * Context assembly from memory.yaml: stores (inline items or a file read once at engine start)
 * combined by profiles. A node's `context:` names a profile, `global` (all stores, or the
 * `global:` list) or `none`. The assembled value is `{ profile, items }`. A profile may name kv
 * stores: each entry becomes an item `{ store, key, value }`, as the stage sees the store when it
 * starts (so those contexts are assembled per stage, see {@link ContextAssembler.assembleWith}).
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
  private readonly kvOf = new Map<string, readonly string[] | undefined>();

  private constructor(
    private readonly stores: ReadonlyMap<string, readonly JsonValue[]>,
    private readonly profiles: ReadonlyMap<string, { stores: readonly string[]; maxItems?: number }>,
    private readonly globalStores: readonly string[],
    private readonly kv: ReadonlySet<string>,
  ) {}

  /**
   * Reads file stores and validates references. A `file` store must be a file of the config
   * directory (symlinks followed) unless `allow.outsideConfigDir` is set.
   *
   * @throws EngineError `CONFIG_FILE_OUTSIDE_DIR` / `CONFIG_FILE_UNREADABLE`, every store at once.
   */
  static async create(manifest: MemoryManifest | undefined, configDir: string, file?: string, allow: LoadPolicy = {}): Promise<ContextAssembler> {
    const stores = new Map<string, readonly JsonValue[]>();
    const kv = new Set<string>();
    const problems: ErrorDetail[] = [];
    for (const [i, s] of (manifest?.stores ?? []).entries()) {
      if (s.kind === "kv") {
        kv.add(s.id);
        continue;
      }
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
    return new ContextAssembler(stores, profiles, manifest?.global ?? (manifest?.stores ?? []).map((s) => s.id), kv);
  }

  /** The kv stores a profile names, in order; undefined when it names none (its context is static). */
  kvStoresOf(profile: string): readonly string[] | undefined {
    if (this.kv.size === 0 || profile === "none") return undefined;
    if (this.kvOf.has(profile)) return this.kvOf.get(profile);
    const def = profile === "global" ? { stores: this.globalStores } : this.profiles.get(profile);
    const ids = def?.stores.filter((id) => this.kv.has(id));
    const out = ids !== undefined && ids.length > 0 ? Object.freeze(ids) : undefined;
    this.kvOf.set(profile, out);
    return out;
  }

  /** The context of a profile naming kv stores, given their entries as the stage sees them. */
  assembleWith(profile: string, entries: ReadonlyMap<string, readonly { readonly key: string; readonly value: JsonValue }[]>): JsonValue {
    const def = profile === "global" ? { stores: this.globalStores } : this.profiles.get(profile);
    if (!def) throw Object.assign(new Error(`context profile "${profile}" is not defined in memory.yaml`), { code: "CONTEXT_FAILED" });
    let items: JsonValue[] = [];
    for (const id of def.stores) {
      const kv = entries.get(id);
      if (kv !== undefined) items = items.concat(kv.map((e) => freezeShell({ store: id, key: e.key, value: e.value })));
      else items = items.concat(this.stores.get(id) ?? []);
    }
    const max = (def as { maxItems?: number }).maxItems;
    if (max !== undefined && items.length > max) items = items.slice(items.length - max);
    return freezeShell({ profile, items: freezeShell(items) });
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

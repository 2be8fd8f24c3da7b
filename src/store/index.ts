/**
 * Durable run stores: `memory`, `sqlite:<path>`, `postgres://...`. See `docs/durability.md`.
 *
 * @module
 */
export { openStore, defaultStoreUrl, type OpenStoreOptions } from "./openStore.js";
export { MemoryStore } from "./MemoryStore.js";
export { EngineRunStore, openEngineStore } from "./EngineRunStore.js";
export { StoreError, redactUrl, MAX_KEY_LENGTH } from "./StoreError.js";
export { SCHEMA_VERSION } from "./migrations.js";
export {
  TERMINAL_STATUSES,
  type RunStore,
  type StoredRunStatus,
  type StoredMemoryScope,
  type CreateRunOptions,
  type StateDelta,
  type MemoryWrite,
  type MemoryPut,
  type MemoryDelete,
  type StoredEvent,
  type CommitBatch,
  type StoredRun,
  type LoadedRun,
  type RunListing,
  type ListRunsOptions,
  type PruneOptions,
  type LeaseResult,
  type MemoryEntry,
} from "./types.js";

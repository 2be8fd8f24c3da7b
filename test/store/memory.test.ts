import { MemoryStore, openStore } from "../../src/store/index.js";
import { conformance } from "./conformance.js";

conformance({ name: "memory", open: async () => openStore("memory") });
conformance({ name: "MemoryStore (direct)", open: async () => new MemoryStore() });

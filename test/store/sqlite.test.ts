import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { openStore } from "../../src/store/index.js";
import { conformance } from "./conformance.js";

const dir = mkdtempSync(join(tmpdir(), "ae-sqlite-conf-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

conformance({ name: "sqlite (file, WAL)", open: () => openStore(`sqlite:${join(dir, `conf-${++n}.db`)}`) });
conformance({ name: "sqlite (:memory:)", open: () => openStore("sqlite::memory:") });

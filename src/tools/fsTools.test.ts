/**
 * read_file, write_file, list_dir: real files and symlinks in temp dirs; refusals touch nothing.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { lstat, mkdir, mkdtemp, readdir, readFile, realpath, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join, normalize } from "node:path";
import { spawn } from "node:child_process";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { EngineError } from "../errors.js";
import { attempt, makeRegistry, makeScope } from "../../test/tools/harness.js";
import type { ToolRegistry } from "./ToolRegistry.js";
import { isInside, resolveInside } from "./fsTools.js";

const SECRET = "TOP-SECRET-OUTSIDE";

describe("file tools", () => {
  let base: string;
  let cfg: string;
  let reg: ToolRegistry;

  before(async () => {
    base = await mkdtemp(join(tmpdir(), "ae-fs-"));
    cfg = join(base, "cfg");
    await mkdir(join(cfg, "data", "sub"), { recursive: true });
    await mkdir(join(cfg, "out", "nested"), { recursive: true });
    await mkdir(join(base, "outside"), { recursive: true });
    await writeFile(join(base, "outside", "secret.txt"), SECRET);
    await writeFile(join(cfg, "data", "a.txt"), "inside A");
    await writeFile(join(cfg, "data", "sub", "b.txt"), "inside B");
    await writeFile(join(cfg, "data", "ünï cødé.txt"), "unicode inside");
    await symlink("a.txt", join(cfg, "data", "link_in"));
    await symlink("../../outside/secret.txt", join(cfg, "data", "link_out"));
    await symlink("../../outside", join(cfg, "data", "dir_out"));
    await symlink(join(base, "outside", "secret.txt"), join(cfg, "data", "abs_link_out"));
    await symlink("../../outside", join(cfg, "out", "dir_out"));
    await symlink("../../outside/secret.txt", join(cfg, "out", "link_out"));
    reg = await makeRegistry(
      [
        { id: "docs", type: "read_file", permissions: { filesystem_root: "./data" } },
        { id: "small", type: "read_file", permissions: { filesystem_root: "./data", max_bytes: 4 } },
        { id: "ls", type: "list_dir", permissions: { filesystem_root: "./data" } },
        { id: "notes", type: "write_file", permissions: { filesystem_root: "./out", max_bytes: 20 } },
      ],
      cfg,
    );
  });
  after(async () => {
    await reg.close();
    await rm(base, { recursive: true, force: true });
  });

  it("reads files under the root, through symlinks that stay inside, and unicode names", async () => {
    assert.deepEqual(await reg.call("docs", { path: "a.txt" }, makeScope()), { content: "inside A" });
    assert.deepEqual(await reg.call("docs", { path: "sub/../sub/./b.txt" }, makeScope()), { content: "inside B" });
    assert.deepEqual(await reg.call("docs", { path: "link_in" }, makeScope()), { content: "inside A" });
    assert.deepEqual(await reg.call("docs", { path: "ünï cødé.txt" }, makeScope()), { content: "unicode inside" });
  });

  for (const [what, path] of [
    ["..", "../../outside/secret.txt"],
    ["a .. that climbs after descending", "sub/../../data/../../outside/secret.txt"],
    ["an absolute path", "ABS_SECRET"],
    ["an absolute path to /etc", "/etc/passwd"],
    ["a symlink to a file outside", "link_out"],
    ["an absolute symlink outside", "abs_link_out"],
    ["a symlinked directory outside", "dir_out/secret.txt"],
    ["a NUL byte", "a.txt\0../../outside/secret.txt"],
  ] as const) {
    it(`refuses ${what} with TOOL_PERMISSION_DENIED and reads nothing`, async () => {
      const scope = makeScope();
      const r = await attempt(reg, "docs", { path: path === "ABS_SECRET" ? join(base, "outside", "secret.txt") : path }, scope);
      assert.equal(r.ok, false);
      assert.equal(!r.ok && r.code, "TOOL_PERMISSION_DENIED");
      assert.deepEqual(scope.events.map((e) => e.type), ["tool.invoked", "tool.failed"]);
      assert.equal((scope.events[1]!.payload as { error: { code: string } }).error.code, "TOOL_PERMISSION_DENIED");
      assert.ok(!JSON.stringify(scope.events).includes(SECRET));
      assert.equal(scope.toolCalls[0]!.status, "failure");
    });
  }

  it("a missing file is TOOL_FAILED, not a permission error; a file over max_bytes is refused", async () => {
    const r = await attempt(reg, "docs", { path: "nope.txt" });
    assert.equal(!r.ok && r.code, "TOOL_FAILED");
    assert.match(!r.ok ? r.message : "", /does not exist/);
    const big = await attempt(reg, "small", { path: "a.txt" });
    assert.equal(!big.ok && big.code, "TOOL_FAILED");
    assert.match(!big.ok ? big.message : "", /max_bytes/);
  });

  it("arguments are checked against the built-in schema", async () => {
    const r = await attempt(reg, "docs", { file: "a.txt" });
    assert.equal(!r.ok && r.code, "TOOL_FAILED");
    assert.match(!r.ok ? r.message : "", /schema/);
  });

  it("lists a directory sorted, with entry types; refuses to list outside", async () => {
    const r = (await reg.call("ls", { path: "." }, makeScope())) as { entries: { name: string; type: string }[] };
    assert.deepEqual(r.entries, [
      { name: "a.txt", type: "file" },
      { name: "abs_link_out", type: "symlink" },
      { name: "dir_out", type: "symlink" },
      { name: "link_in", type: "symlink" },
      { name: "link_out", type: "symlink" },
      { name: "sub", type: "directory" },
      { name: "ünï cødé.txt", type: "file" },
    ]);
    assert.deepEqual(await reg.call("ls", { path: "sub" }, makeScope()), { entries: [{ name: "b.txt", type: "file" }] });
    for (const path of ["..", "dir_out", "/"]) {
      const d = await attempt(reg, "ls", { path });
      assert.equal(!d.ok && d.code, "TOOL_PERMISSION_DENIED", path);
    }
  });

  it("regression: a listing over max_bytes fails TOOL_FAILED instead of returning (and holding) every entry", async () => {
    await mkdir(join(cfg, "data", "many"));
    for (let i = 0; i < 200; i++) await writeFile(join(cfg, "data", "many", `file-${String(i).padStart(4, "0")}.txt`), "");
    const tight = await makeRegistry([{ id: "tight", type: "list_dir", permissions: { filesystem_root: "./data", max_bytes: 1000 } }], cfg);
    try {
      const r = await attempt(tight, "tight", { path: "many" });
      assert.equal(r.ok, false);
      assert.equal(!r.ok && r.code, "TOOL_FAILED");
      assert.match(!r.ok ? r.message : "", /listing of "many" is over the limit of 1000 bytes \(permissions\.max_bytes\) after \d+ entries/);
      // Under the limit the same tool lists as before, and the default limit (10 MB) lists all 200.
      assert.deepEqual(await tight.call("tight", { path: "sub" }, makeScope()), { entries: [{ name: "b.txt", type: "file" }] });
      const all = (await reg.call("ls", { path: "many" }, makeScope())) as { entries: unknown[] };
      assert.equal(all.entries.length, 200);
    } finally {
      await tight.close();
    }
  });

  it("writes atomically (no temp file left), replaces existing content and reports bytes", async () => {
    assert.deepEqual(await reg.call("notes", { path: "n.txt", content: "héllo" }, makeScope()), { bytes: 6 });
    assert.deepEqual(await reg.call("notes", { path: "nested/n.txt", content: "second" }, makeScope()), { bytes: 6 });
    assert.deepEqual(await reg.call("notes", { path: "n.txt", content: "replaced" }, makeScope()), { bytes: 8 });
    assert.equal(await readFile(join(cfg, "out", "n.txt"), "utf8"), "replaced");
    assert.equal(await readFile(join(cfg, "out", "nested", "n.txt"), "utf8"), "second");
    assert.deepEqual((await readdir(join(cfg, "out"))).filter((n) => n.endsWith(".tmp")), []);
  });

  it("refuses writes over max_bytes, outside the root or through a symlinked directory, and writes nothing", async () => {
    const over = await attempt(reg, "notes", { path: "big.txt", content: "x".repeat(21) });
    assert.equal(!over.ok && over.code, "TOOL_PERMISSION_DENIED");
    assert.equal(existsSync(join(cfg, "out", "big.txt")), false);
    for (const path of ["../outside.txt", "../../outside/new.txt", "dir_out/new.txt", join(base, "outside", "new.txt")]) {
      const r = await attempt(reg, "notes", { path, content: "pwned" });
      assert.equal(!r.ok && r.code, "TOOL_PERMISSION_DENIED", path);
    }
    assert.deepEqual((await readdir(join(base, "outside"))).sort(), ["secret.txt"]);
    assert.equal(existsSync(join(cfg, "outside.txt")), false);
  });

  it("writing over a symlink replaces the link itself, never the file it points to", async () => {
    assert.deepEqual(await reg.call("notes", { path: "link_out", content: "mine" }, makeScope()), { bytes: 4 });
    assert.equal(await readFile(join(base, "outside", "secret.txt"), "utf8"), SECRET);
    assert.equal((await lstat(join(cfg, "out", "link_out"))).isFile(), true);
  });

  it("property: random relative paths (.., ., symlinks, unicode, NUL) never read outside the root", async () => {
    const segment = fc.constantFrom("..", ".", "", "a.txt", "sub", "b.txt", "link_in", "link_out", "dir_out", "abs_link_out", "secret.txt", "outside", "data", "ünï cødé.txt", "x\0y", "\u202e", "…", "%2e%2e");
    const relPath = fc.array(segment, { minLength: 1, maxLength: 8 }).map((parts) => parts.join("/"));
    await fc.assert(
      fc.asyncProperty(relPath, fc.boolean(), async (p, leadingSlash) => {
        const path = leadingSlash ? `/${p}` : p;
        const scope = makeScope();
        const r = await attempt(reg, "docs", { path }, scope);
        if (r.ok) {
          const content = (r.value as { content: string }).content;
          assert.ok(["inside A", "inside B", "unicode inside"].includes(content), `read ${JSON.stringify(content)} for ${JSON.stringify(path)}`);
        } else {
          assert.ok(["TOOL_PERMISSION_DENIED", "TOOL_FAILED"].includes(r.code), r.code);
        }
        assert.ok(!JSON.stringify(scope.events).includes(SECRET));
        const l = await attempt(reg, "ls", { path });
        if (l.ok) assert.ok(!JSON.stringify(l.value).includes("secret.txt"), `listed outside for ${JSON.stringify(path)}`);
      }),
      { numRuns: 300 },
    );
  });

  it("property: any string as a path (any code point, separators, NUL) resolves inside the root or is refused", async () => {
    const conf = { toolId: "docs", root: await realpath(join(cfg, "data")), label: "./data", maxBytes: 1000 };
    const known = fc.constantFrom("..", ".", "", "sub", "link_in", "link_out", "dir_out", "abs_link_out", "a.txt", "\\..", "..\\..", "C:", "~");
    const segment = fc.oneof(known, fc.string({ unit: "binary", maxLength: 6 }));
    const path = fc.array(segment, { minLength: 1, maxLength: 6 }).map((parts) => parts.join("/"));
    await fc.assert(
      fc.asyncProperty(fc.oneof(path, fc.string({ unit: "binary" })), async (p) => {
        let real: string;
        try {
          real = await resolveInside(conf, p);
        } catch (err) {
          assert.ok(err instanceof EngineError);
          assert.ok(["TOOL_PERMISSION_DENIED", "TOOL_FAILED"].includes(err.code), err.code);
          return;
        }
        assert.ok(isInside(conf.root, real), `${JSON.stringify(p)} resolved to ${real}`);
      }),
      { numRuns: 1000 },
    );
  });

  it("property: random paths never write outside the root (through .., symlinks or absolute paths)", async () => {
    const root = join(cfg, "wprop");
    await mkdir(join(root, "sub", "ünï"), { recursive: true });
    await symlink("../../outside", join(root, "dir_out"));
    await symlink("../../outside/secret.txt", join(root, "link_out"));
    await symlink(join(base, "outside"), join(root, "sub", "abs_dir_out"));
    await symlink("..", join(root, "sub", "up"));
    const w = await makeRegistry([{ id: "w", type: "write_file", permissions: { filesystem_root: "./wprop" } }], cfg);
    const segment = fc.oneof(fc.constantFrom("..", ".", "", "sub", "ünï", "dir_out", "link_out", "abs_dir_out", "up", "outside", "secret.txt", "new.txt", "x\0y"), fc.string({ unit: "binary", minLength: 1, maxLength: 4 }));
    const relPath = fc.array(segment, { minLength: 1, maxLength: 6 }).map((parts) => parts.join("/"));
    const outsideBefore = (await readdir(join(base, "outside"))).sort();
    const realRoot = await realpath(root);
    const outcomes: Record<string, number> = {};
    try {
      await fc.assert(
        fc.asyncProperty(relPath, fc.boolean(), async (p, leadingSlash) => {
          const path = leadingSlash ? `/${p}` : p;
          const r = await attempt(w, "w", { path, content: "property" });
          outcomes[r.ok ? "written" : r.code] = (outcomes[r.ok ? "written" : r.code] ?? 0) + 1;
          if (r.ok) {
            // Written: the parent directory of the path as the tool normalizes it (lexically, so
            // "a/b/.." is "a"), resolved now, is inside the root.
            const rel = normalize(path);
            const written = join(await realpath(join(root, dirname(rel))), basename(rel));
            assert.ok(isInside(realRoot, written), `${JSON.stringify(path)} wrote ${written}`);
          } else assert.ok(["TOOL_PERMISSION_DENIED", "TOOL_FAILED"].includes(r.code), r.code);
          assert.deepEqual((await readdir(join(base, "outside"))).sort(), outsideBefore);
          assert.equal(await readFile(join(base, "outside", "secret.txt"), "utf8"), SECRET);
        }),
        { numRuns: 300 },
      );
      // Not vacuous: some paths were written inside, some refused.
      assert.ok((outcomes["written"] ?? 0) > 0 && (outcomes["TOOL_PERMISSION_DENIED"] ?? 0) > 0, JSON.stringify(outcomes));
    } finally {
      await w.close();
    }
  });

  it("race: a directory swapped for a symlink to outside while reading never yields the outside file", async () => {
    const root = join(cfg, "race");
    await mkdir(join(root, "swap"), { recursive: true });
    await writeFile(join(root, "swap", "f.txt"), "inside");
    await mkdir(join(base, "outside-race"), { recursive: true });
    await writeFile(join(base, "outside-race", "f.txt"), SECRET);
    const race = await makeRegistry([{ id: "r", type: "read_file", permissions: { filesystem_root: "./race" } }, { id: "l", type: "list_dir", permissions: { filesystem_root: "./race" } }, { id: "w", type: "write_file", permissions: { filesystem_root: "./race" } }], cfg);
    // Another process swaps race/swap between the real directory and a symlink to outside-race.
    const swapper = spawn(process.execPath, ["-e", `
      const fs = require("node:fs");
      const [dir, parked, outside] = process.argv.slice(1);
      for (let i = 0; i < 4000; i++) {
        fs.renameSync(dir, parked); fs.symlinkSync(outside, dir);
        fs.unlinkSync(dir); fs.renameSync(parked, dir);
      }`, join(root, "swap"), join(root, "parked"), join(base, "outside-race")], { stdio: "ignore" });
    const exited = new Promise((r) => swapper.on("exit", r));
    let ok = 0;
    let refused = 0;
    try {
      while (swapper.exitCode === null) {
        const scope = makeScope();
        const [r, l] = await Promise.all([attempt(race, "r", { path: "swap/f.txt" }, scope), attempt(race, "l", { path: "swap" }), attempt(race, "w", { path: "swap/w.txt", content: "written" })]);
        if (r.ok) {
          assert.deepEqual(r.value, { content: "inside" });
          ok++;
        } else refused++;
        assert.ok(!JSON.stringify(scope.events).includes(SECRET));
        if (l.ok) assert.ok(!JSON.stringify(l.value).includes("secret"));
      }
    } finally {
      await exited;
      await race.close();
    }
    assert.ok(ok + refused > 0);
    assert.deepEqual(await readdir(join(base, "outside-race")), ["f.txt"]);
  });

  it("load time: a file tool without filesystem_root, or with a missing root, is a config error naming tool and permission", async () => {
    await assert.rejects(
      makeRegistry([{ id: "docs", type: "read_file" }, { id: "gone", type: "list_dir", permissions: { filesystem_root: "./nope" } }], cfg),
      (err: unknown) => {
        assert.ok(err instanceof EngineError);
        assert.deepEqual(err.details.map((d) => [d.code, d.path]), [
          ["CONFIG_TOOL_PERMISSION", "/tools/0/permissions/filesystem_root"],
          ["CONFIG_TOOL_PERMISSION", "/tools/1/permissions/filesystem_root"],
        ]);
        assert.match(err.details[0]!.message, /tool "docs".*filesystem_root/);
        assert.match(err.details[1]!.message, /tool "gone".*does not exist/);
        return true;
      },
    );
  });
});

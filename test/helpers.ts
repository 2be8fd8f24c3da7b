/**
 * Shared test helpers: real config directories written to temp folders.
 */
import { mkdtemp, mkdir, writeFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** Repository root (tests run from dist/test/...). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Path of a committed fixture under test/fixtures. */
export function fixture(...parts: string[]): string {
  return join(repoRoot, "test", "fixtures", ...parts);
}

/** Path of a committed example under examples/. */
export function example(...parts: string[]): string {
  return join(repoRoot, "examples", ...parts);
}

/**
 * Writes `files` (relative path -> content) into a fresh temp directory and returns its path.
 * Remove it with {@link removeDir}.
 */
export async function writeConfigDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "agent-engine-test-"));
  for (const [rel, content] of Object.entries(files)) {
    const full = join(dir, rel);
    await mkdir(dirname(full), { recursive: true });
    await writeFile(full, content);
  }
  return dir;
}

/** Removes a temp directory made by {@link writeConfigDir}. */
export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** The linter/formatter and the type checker run with the suite, so CI fails on either. */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { describe, expect, it } from "vitest";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

describe("static checks", () => {
  it("biome check (lint + format) is clean", async () => {
    const r = await execa("npx", ["biome", "check", "."], { cwd: ROOT, reject: false });
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0);
  });
  it("tsc --noEmit (strict) is clean", async () => {
    const r = await execa("npx", ["tsc", "--noEmit", "-p", "tsconfig.json"], { cwd: ROOT, reject: false });
    expect(r.exitCode, r.stdout).toBe(0);
  });
  it("tsc --noEmit (strict) is clean for the console (browser code, DOM types)", async () => {
    const r = await execa("npx", ["tsc", "--noEmit", "-p", "packages/console/tsconfig.json"], { cwd: ROOT, reject: false });
    expect(r.exitCode, r.stdout).toBe(0);
  });
});

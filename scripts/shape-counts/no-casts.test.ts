/**
 * Issue 22's "one shape per thing": product code holds no `as unknown as`, `as any`, `as never` or
 * `@ts-expect-error` (measure.ts says what counts and what is product code). A value that does not fit its
 * type gets a type guard or a narrower structural type, not a cast.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { casts, isProductFile } from "./measure";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "../..");

/** The product's TypeScript files, tracked or new (not ignored). */
function productFiles(): { path: string; text: string }[] {
  const listed = execFileSync("git", ["ls-files", "-co", "--exclude-standard", "--", "*.ts"], { cwd: ROOT, encoding: "utf8" });
  return listed
    .split("\n")
    .filter((p) => isProductFile(p) && existsSync(join(ROOT, p)))
    .map((path) => ({ path, text: readFileSync(join(ROOT, path), "utf8") }));
}

describe("product code", () => {
  it("has no casts (`as unknown as`, `as any`, `as never`, @ts-expect-error)", () => {
    const files = productFiles();
    expect(files.length).toBeGreaterThan(100);
    const found = files.flatMap(casts).map((f) => `${f.path}:${f.line} [${f.kind}] ${f.text}`);
    expect(found).toEqual([]);
  });
});

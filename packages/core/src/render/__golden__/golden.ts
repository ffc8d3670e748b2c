import { readFileSync, writeFileSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { expect } from "vitest";

/**
 * Expect `actual` to be exactly the golden file `file` (a name in this directory, or an absolute path).
 * Regenerate with UPDATE_GOLDEN=1 after an intended change.
 */
export function golden(file: string, actual: string): void {
  const path = isAbsolute(file) ? file : join(__dirname, file);
  if (process.env.UPDATE_GOLDEN) writeFileSync(path, actual);
  expect(actual).toBe(readFileSync(path, "utf8"));
}

/**
 * A network type is one driver: nothing outside the drivers asks which type a network is. This test reads the
 * product code (core, the worker, the API, the CLI) and fails on a type-name literal ("nat", "isolated",
 * "bridge", "sriov"), a switch on a type, a map keyed by type, or a feature probe that stands in for a type
 * (isRouted, `spec.pf !== undefined`, `"dhcp" in spec`) outside:
 *   - the drivers: packages/core/src/drivers/ (pure halves, the type registry) and apps/worker/src/drivers/;
 *   - the contract's per-type schema files (packages/core/src/schemas/types/: one body schema per type).
 * What counts and where it may stand is scripts/shape-counts/measure.ts's (`typeSwitches`, `isTypeHome`): the
 * test runs those same functions, so it fails exactly when `npm run counts` prints more than 0. Sites not moved
 * yet are listed in REMAINING with their count: the list may only shrink (a count that drops must be lowered
 * here, a new site anywhere fails). A literal that is not a network type (a link kind, the nft family "bridge")
 * is marked on its line, or on a comment line right above, with `not-a-network-type: <what it is>`. Two values
 * compared (`n.type !== q.type`, a list filtered by the type asked for) are no switch: they pick no behaviour.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { isProductFile, isTypeHome, PRODUCT_ROOTS, typeSwitches } from "../../../../scripts/shape-counts/measure";

const ROOT = join(__dirname, "../../../..");

/**
 * Sites not moved into a driver yet (file -> count of matches). Shrink only: none are left, keep it so (a new
 * type switch goes into the type's driver or its schema file, not here).
 */
const REMAINING: Record<string, number> = {};

/** The repository-relative paths of the .ts files under `dir` (a PRODUCT_ROOTS entry, with its trailing slash). */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const rel = `${dir}${e.name}`;
    if (e.isDirectory()) {
      if (e.name !== "node_modules") out.push(...filesUnder(`${rel}/`));
    } else if (e.name.endsWith(".ts")) out.push(rel);
  }
  return out;
}

/** Every type switch in the product code outside the type homes: file -> "file:line: kind: text". */
function findSites(): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const path of PRODUCT_ROOTS.flatMap(filesUnder)) {
    if (!isProductFile(path) || isTypeHome(path)) continue;
    const sites = typeSwitches({ path, text: readFileSync(join(ROOT, path), "utf8") });
    if (sites.length > 0)
      found.set(
        path,
        sites.map((f) => `${f.path}:${f.line}: ${f.kind}: ${f.text}`),
      );
  }
  return found;
}

describe("network types stay in their drivers", () => {
  const found = findSites();

  it("no type switch outside the drivers, the registry and the per-type schemas, beyond the listed remaining sites", () => {
    const fresh: string[] = [];
    for (const [file, sites] of found) {
      const allowed = REMAINING[file] ?? 0;
      if (sites.length > allowed) fresh.push(...sites, `  (${file}: ${sites.length} found, ${allowed} allowed)`);
    }
    expect(fresh, "ask the network's driver (packages/core/src/drivers/, apps/worker/src/drivers/) instead").toEqual([]);
  });

  it("the list of remaining sites only shrinks (lower a count when a site moves into a driver)", () => {
    const stale = Object.entries(REMAINING)
      .filter(([file, n]) => (found.get(file)?.length ?? 0) < n)
      .map(([file, n]) => `${file}: ${found.get(file)?.length ?? 0} found, ${n} listed`);
    expect(stale).toEqual([]);
  });

  it("finds what it looks for (the patterns match the shapes they name)", () => {
    const samples = [
      'if (spec.type === "nat") x();',
      "switch (net.type) { default: }",
      "const M: Record<NetworkType, string> = {};",
      "const M: { [T in NetworkType]: number } = x;",
      "if (isRouted(spec)) x();",
      "if (spec.pf !== undefined) x();",
      'if ("dhcp" in spec) x();',
    ];
    for (const s of samples) expect(typeSwitches({ path: "x.ts", text: s }).length, s).toBeGreaterThan(0);
    for (const s of [
      '/** a "nat" network */',
      'type P = Omit<NetworkSpec, "bridge"> & { start: boolean };',
      'const FAMILY = "bridge"; // not-a-network-type: nft family',
      "if (n.type !== q.type) continue;",
    ]) {
      expect(typeSwitches({ path: "x.ts", text: s }), s).toEqual([]);
    }
  });
});

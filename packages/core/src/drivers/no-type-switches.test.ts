/**
 * A network type is one driver: nothing outside the drivers asks which type a network is. This test reads the
 * product code (core, the worker, the API, the CLI) and fails on a type-name literal ("nat", "isolated",
 * "bridge", "sriov"), a switch on a type, a map keyed by type, or a feature probe that stands in for a type
 * (isRouted, `spec.pf !== undefined`, `"dhcp" in spec`) outside:
 *   - the drivers: packages/core/src/drivers/ (pure halves, the type registry) and apps/worker/src/drivers/;
 *   - the contract's per-type schema file (packages/core/src/schemas/network.ts: one body schema per type).
 * Sites not moved yet are listed in REMAINING with their count: the list may only shrink (a count that drops
 * must be lowered here, a new site anywhere fails). A literal that is not a network type (a link kind, the nft
 * family "bridge") is marked on its line, or on a comment line right above, with `not-a-network-type: <what it is>`.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(__dirname, "../../../..");
const SCANNED = ["packages/core/src", "apps/worker/src", "apps/api/src", "packages/cli/src"];
const EXEMPT = ["packages/core/src/drivers/", "apps/worker/src/drivers/", "packages/core/src/schemas/network.ts"];

/** What counts as asking for a type. */
const PATTERNS: { what: string; re: RegExp }[] = [
  { what: "type-name literal", re: /(["'`])(nat|isolated|bridge|sriov)\1/g },
  { what: "switch on a type", re: /switch\s*\(\s*[\w.?]*\btype\s*\)/g },
  { what: "map keyed by type", re: /Record<\s*(NetworkType|NetSpec\["type"\])|\[\s*\w+\s+in\s+(NetworkType|NetSpec\["type"\])\s*\]/g },
  { what: "feature probe for a type", re: /\bisRouted\(|\.pf\s*[!=]==?\s*undefined|["'](dhcp|pf|cidr|interface)["']\s+in\s+\w/g },
];

/**
 * Sites not moved into a driver yet (file -> count of matches). Shrink only. Why each is left:
 * - render/nft.ts, render/nft-bridge.ts, worker firewall/foreign-rules.ts and legacy-nat.ts: the host table's
 *   renderer and its checks switch on FirewallNetwork.type (masquerade and forwards for nat, reject for
 *   isolated); next: the routed drivers give their firewall part as capabilities (masquerade, isolate) the
 *   renderer reads, golden files unchanged.
 * - render/network-xml.ts: the metadata parser picks the type's spec reader (rendering is the drivers' now).
 * - planner/network-spec.ts: the NetSpec union, one interface per type (each could move to its driver's file).
 * - schemas/payload-parse.ts: a create payload back to its body, by type (the contract's).
 * - api actions/create-network.ts: the subnet pool check applies to the bodies that carry a subnet.
 */
const REMAINING: Record<string, number> = {
  "packages/core/src/render/network-xml.ts": 6,
  "packages/core/src/render/nft.ts": 10,
  "packages/core/src/render/nft-bridge.ts": 2,
  "packages/core/src/schemas/payload-parse.ts": 4,
  "apps/api/src/actions/create-network.ts": 1,
  "packages/core/src/planner/network-spec.ts": 4,
  "apps/worker/src/firewall/foreign-rules.ts": 3,
  "apps/worker/src/firewall/legacy-nat.ts": 1,
};

function productFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) {
      if (e.name === "__golden__" || e.name === "__fixtures__" || e.name === "node_modules") continue;
      out.push(...productFiles(rel));
    } else if (e.name.endsWith(".ts") && !e.name.endsWith(".test.ts") && !e.name.endsWith(".d.ts")) {
      out.push(rel);
    }
  }
  return out;
}

/**
 * The code of a line: comments dropped (a line of a block comment, a trailing // comment), and the field
 * names of Pick<>/Omit<> types (`Omit<NetworkSpec, "bridge">` names a field, not a type).
 */
function codeOf(line: string): string {
  const t = line.trim();
  if (t.startsWith("*") || t.startsWith("//") || t.startsWith("/*")) return "";
  const at = line.search(/\s\/\/\s/);
  const code = at >= 0 ? line.slice(0, at) : line;
  return code.replace(/\b(Pick|Omit)<[^<>]*>/g, "");
}

/** Every match of PATTERNS in the product code outside the exempt places: file -> lines. */
function findSites(): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const dir of SCANNED) {
    for (const file of productFiles(dir)) {
      if (EXEMPT.some((x) => file.startsWith(x))) continue;
      const lines = readFileSync(join(ROOT, file), "utf8").split("\n");
      lines.forEach((line, i) => {
        // Marked on the line itself, or by a comment line right above it.
        const above = lines[i - 1]?.trim() ?? "";
        if (line.includes("not-a-network-type:") || (above.startsWith("//") && above.includes("not-a-network-type:"))) return;
        const code = codeOf(line);
        for (const p of PATTERNS) {
          for (const m of code.matchAll(p.re)) {
            const list = found.get(file) ?? [];
            list.push(`${file}:${i + 1}: ${p.what}: ${m[0]}`);
            found.set(file, list);
          }
        }
      });
    }
  }
  return found;
}

describe("network types stay in their drivers", () => {
  const found = findSites();

  it("no type switch outside the drivers, the registry and the per-type schemas, beyond the listed remaining sites", () => {
    const fresh: string[] = [];
    for (const [file, sites] of found) {
      const allowed = REMAINING[relative(".", file)] ?? 0;
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
      "switch (net.type) {",
      "const M: Record<NetworkType, string> = {};",
      "const M: { [T in NetworkType]: number } = x;",
      "if (isRouted(spec)) x();",
      "if (spec.pf !== undefined) x();",
      'if ("dhcp" in spec) x();',
    ];
    for (const s of samples)
      expect(
        PATTERNS.some((p) => [...codeOf(s).matchAll(p.re)].length > 0),
        s,
      ).toBe(true);
    for (const s of [' * a "nat" network', 'type P = Omit<NetworkSpec, "bridge"> & { start: boolean };']) {
      expect(
        PATTERNS.some((p) => [...codeOf(s).matchAll(p.re)].length > 0),
        s,
      ).toBe(false);
    }
  });
});

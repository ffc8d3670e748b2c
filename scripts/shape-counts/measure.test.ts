/** The shape counts on a small fixture repository: what each count counts, and what it leaves alone. */
import { describe, expect, it } from "vitest";
import {
  actionNames,
  actionSpread,
  casts,
  countAll,
  type Finding,
  internalImports,
  isProductFile,
  isTypeHome,
  KNOWN_ACTIONS,
  redisInBundle,
  resolveRelative,
  type SourceFile,
  typeSwitches,
} from "./measure";

const file = (path: string, ...lines: string[]): SourceFile => ({ path, text: lines.join("\n") });

/** A small repository: a contract, a worker with a driver, an API, a CLI and tests. */
const REPO: SourceFile[] = [
  file(
    "packages/core/src/api-contract.ts",
    "export const ACTIONS = {",
    '  "create-network": { kind: "job", role: "operator" },',
    '  "list-networks": { kind: "query", role: "viewer" },',
    "} as const satisfies Record<string, unknown>;",
  ),
  file(
    "packages/core/src/render/xml.ts",
    '// a comment naming nat, bridge and "sriov" is no switch',
    "const RENDER = { nat: a, isolated: a, bridge: b, sriov: c };",
    'export const isL2 = (s: Spec) => s.type === "bridge" || s.type === "sriov";',
    "export function f(s: Spec) {",
    "  switch (s.type) {",
    '    case "nat":',
    "      return 1;",
    "  }",
    "  if (s.pf !== undefined) return 2;",
    '  if ("l2" in s) return 3;',
    "  if (o.type !== n.type) return 4;",
    '  if (event.type === "progress") return 5;',
    "  const dev = { name: n.name, bridge: n.bridge };",
    '  return driverFor(s.type ?? "nat");',
    "}",
    "type ByType = Record<NetworkType, number>;",
  ),
  file("apps/worker/src/drivers/nat.ts", 'export const natDriver = { type: "nat" }; if (t === "nat") go();'),
  file("packages/core/src/drivers/registry.ts", 'export const DRIVERS = { nat: 1, isolated: 2 }; if (t === "sriov") go();'),
  file("packages/core/src/schemas/types/sriov.ts", 'export const SriovBody = z.object({ type: z.literal("sriov") });'),
  file("packages/core/src/schemas/nat.ts", 'export const NatBody = z.object({ type: z.literal("nat") });'),
  file(
    "apps/api/src/job-preparers.ts",
    "export const JOB_PREPARERS = {",
    '  "create-network": prepareCreate,',
    "};",
    "function prepareCreate(p: unknown) {",
    '  if (action === "create-network") return p as unknown as Payload;',
    "  return (p as any) ?? (p as never);",
    "}",
    "// @ts-expect-error: on purpose",
    "const x: number = 'a';",
    "const y = p as unknown;",
  ),
  file("apps/api/src/routes/networks.ts", 'app.post("list-networks", h); app.get("create-network", h);'),
  file("packages/cli/src/commands.ts", 'export const COMMANDS = ["create-network", "list-networks"];'),
  file("apps/api/src/job-preparers.test.ts", 'expect(t === "nat").toBe(true); const z = p as unknown as Q; "create-network";'),
  file("apps/worker/src/firewall/__fixtures__/fake.ts", 'export const web = { type: "nat" };'),
  file("apps/worker/src/testing.ts", 'export { webNetwork } from "./firewall/__fixtures__/fake"; const n = "nat";'),
  file("packages/devstack/src/env.ts", 'const t = "bridge";'),
  file(
    "test/worker.test.ts",
    'import { createWorker } from "@netforge/worker";',
    'import { HostFirewall } from "@netforge/worker/testing";',
    'import { Virsh } from "../apps/worker/src/host/virsh";',
    'import type { JobContext } from "../apps/worker/src/context";',
    'import { render } from "@netforge/core/src/render";',
    'import { sim } from "./support/fake-host";',
    'import { bench } from "../bench/simulated-host";',
    'const lazy = await import("../packages/cli/src/client");',
  ),
  file("test/support/fake-host.ts", 'import { commandFailed } from "../../apps/worker/src/host/command-runner";'),
];

const EXPORTS: Record<string, string[]> = { worker: [".", "./testing"], core: ["."], cli: ["."], api: [".", "./openapi"] };
const exportsOf = (pkg: string) => EXPORTS[pkg] ?? null;
const at = (x: Finding) => `${x.line} ${x.kind}`;
const byPath = (p: string) => REPO.find((f) => f.path === p) as SourceFile;

describe("which files count", () => {
  it("product code is the shipped packages' sources, without tests, fixtures and testing entries", () => {
    expect(REPO.filter((f) => isProductFile(f.path)).map((f) => f.path)).toEqual([
      "packages/core/src/api-contract.ts",
      "packages/core/src/render/xml.ts",
      "apps/worker/src/drivers/nat.ts",
      "packages/core/src/drivers/registry.ts",
      "packages/core/src/schemas/types/sriov.ts",
      "packages/core/src/schemas/nat.ts",
      "apps/api/src/job-preparers.ts",
      "apps/api/src/routes/networks.ts",
      "packages/cli/src/commands.ts",
    ]);
  });

  it("type names belong in the drivers (worker's and core's) and the per-type schema files", () => {
    expect(isTypeHome("apps/worker/src/drivers/nat.ts")).toBe(true);
    expect(isTypeHome("packages/core/src/drivers/registry.ts")).toBe(true);
    expect(isTypeHome("packages/core/src/model/drivers/bridge.ts")).toBe(true);
    expect(isTypeHome("packages/core/src/schemas/types/sriov.ts")).toBe(true);
    expect(isTypeHome("packages/core/src/contract/schemas/bridge.ts")).toBe(true);
    expect(isTypeHome("packages/core/src/schemas/nat.ts")).toBe(true);
    expect(isTypeHome("packages/core/src/schemas/network.ts")).toBe(false);
    expect(isTypeHome("apps/worker/src/handlers/create-network.ts")).toBe(false);
    expect(isTypeHome("apps/api/src/drivers.ts")).toBe(false);
  });
});

describe("type switches", () => {
  it("count literals, comparisons, switches, cases, maps by type and feature probes; not comments, other types, a `bridge` field or two values compared", () => {
    expect(typeSwitches(byPath("packages/core/src/render/xml.ts")).map(at)).toEqual([
      "2 map",
      "3 compare",
      "3 compare",
      "5 switch",
      "6 case",
      "9 probe",
      "10 probe",
      "14 literal",
      "16 map",
    ]);
  });

  it("a map's entries are still looked at", () => {
    const f = file("apps/api/src/x.ts", 'const M = { nat: () => t === "sriov", bridge: 1 };');
    expect(typeSwitches(f).map((x) => x.kind)).toEqual(["map", "compare"]);
  });

  it("a line marked not-a-network-type (on it or on a comment line above) is not counted", () => {
    const f = file(
      "apps/api/src/x.ts",
      'const FAMILY = "bridge"; // not-a-network-type: nft family',
      "// not-a-network-type: a PF read",
      'if ("pf" in info) x();',
      'if ("pf" in info) y();',
    );
    expect(typeSwitches(f).map(at)).toEqual(["4 probe"]);
  });

  it("the keys of Pick<> and Omit<> name fields, not types", () => {
    const f = file("apps/api/src/x.ts", 'type P = Omit<NetworkSpec, "bridge"> & Pick<Q, "nat">;', 'type R = Foo<"nat">;');
    expect(typeSwitches(f).map(at)).toEqual(["2 literal"]);
  });

  it("the routed guard and the probes of routed fields are probes", () => {
    const f = file("apps/api/src/x.ts", "if (isRouted(spec)) x();", 'if ("cidr" in body) y();', 'if ("dhcp" in spec) z();');
    expect(typeSwitches(f).map(at)).toEqual(["1 probe", "2 probe", "3 probe"]);
  });

  it("a mapped type over the network types is a map", () => {
    const f = file("apps/api/src/x.ts", "type M = { [T in NetworkType]: Driver<T> };");
    expect(typeSwitches(f).map((x) => x.kind)).toEqual(["map"]);
  });

  it("are counted outside the type homes only, and in product code only", () => {
    const c = countAll(REPO, exportsOf);
    expect([...new Set(c.typeSwitches.map((f) => f.path))]).toEqual(["packages/core/src/render/xml.ts"]);
    expect(c.typeSwitches).toHaveLength(9);
  });
});

describe("casts", () => {
  it("count `as unknown as` once, `as any`, `as never` and @ts-expect-error; not `as unknown` alone", () => {
    const f = byPath("apps/api/src/job-preparers.ts");
    expect(casts(f).map((x) => `${x.line} ${x.kind}`)).toEqual(["5 as unknown as", "6 as any", "6 as never", "8 @ts-expect-error"]);
  });

  it("tests are not product code", () => {
    expect(countAll(REPO, exportsOf).casts.map((x) => x.path)).toEqual([
      "apps/api/src/job-preparers.ts",
      "apps/api/src/job-preparers.ts",
      "apps/api/src/job-preparers.ts",
      "apps/api/src/job-preparers.ts",
    ]);
  });
});

describe("actions", () => {
  it("are the keys of the ACTIONS object, else the contract's known list", () => {
    expect(actionNames(REPO)).toEqual(["create-network", "list-networks"]);
    expect(actionNames([byPath("apps/api/src/job-preparers.ts")])).toEqual([...KNOWN_ACTIONS]);
  });

  it("one list per top-level statement naming the action, and the files", () => {
    const product = REPO.filter((f) => isProductFile(f.path));
    const spread = actionSpread(product, ["create-network", "list-networks"]);
    const create = spread.find((s) => s.action === "create-network");
    // ACTIONS; JOB_PREPARERS; prepareCreate's check; the route statement; the CLI's list (the test file is no product)
    expect(create?.lists.map((l) => `${l.path}:${l.line}`)).toEqual([
      "packages/core/src/api-contract.ts:1",
      "apps/api/src/job-preparers.ts:1",
      "apps/api/src/job-preparers.ts:4",
      "apps/api/src/routes/networks.ts:1",
      "packages/cli/src/commands.ts:1",
    ]);
    expect(create?.files).toHaveLength(4);
    expect(spread.find((s) => s.action === "list-networks")?.lists).toHaveLength(3);
  });
});

describe("system tests importing internals", () => {
  it("relative paths into apps/ or packages/, and subpaths a package does not export", () => {
    const found = internalImports(byPath("test/worker.test.ts"), exportsOf).map((f) => `${f.line} ${f.text}`);
    expect(found).toEqual([
      "3 ../apps/worker/src/host/virsh",
      "4 ../apps/worker/src/context",
      "5 @netforge/core/src/render",
      "8 ../packages/cli/src/client",
    ]);
    expect(internalImports(byPath("test/support/fake-host.ts"), exportsOf)).toHaveLength(1);
  });

  it("joins relative paths", () => {
    expect(resolveRelative("test/support/a.ts", "../../apps/worker/src/x")).toBe("apps/worker/src/x");
    expect(resolveRelative("test/a.ts", "./support/b")).toBe("test/support/b");
  });
});

describe("the CLI bundle", () => {
  it("holds Redis code when a module of ioredis/bullmq is bundled in or imported as external", () => {
    expect(
      redisInBundle({
        inputs: { "packages/cli/src/main.ts": {} },
        outputs: { "main.js": { imports: [{ path: "commander", external: true }] } },
      }),
    ).toEqual([]);
    expect(
      redisInBundle({
        inputs: { "packages/cli/src/main.ts": {}, "node_modules/bullmq/dist/esm/index.js": {} },
        outputs: {
          "main.js": {
            imports: [
              { path: "ioredis", external: true },
              { path: "zod", external: true },
            ],
          },
        },
      }),
    ).toEqual(["ioredis", "node_modules/bullmq/dist/esm/index.js"]);
  });
});

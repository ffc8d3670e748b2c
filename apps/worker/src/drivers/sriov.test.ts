import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type NetSpec, parseNetworkXml, renderNetworkXml, type SriovNetSpec, sriovModel } from "@netforge/core/model";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { JobContext } from "../context";
import type { CatalogEntry } from "../host/network-catalog";
import { hostPortOf, runPhase } from "../plan-executor";
import { Revert } from "../revert";
import { sriovDriver } from "./sriov";

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "nf-sriov-"));
  mkdirSync(join(root, "class", "net"), { recursive: true });
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function pf(name: string, total: number, num: number) {
  const dev = join(root, "class", "net", name, "device");
  mkdirSync(dev, { recursive: true });
  writeFileSync(join(dev, "sriov_totalvfs"), `${total}\n`);
  writeFileSync(join(dev, "sriov_numvfs"), `${num}\n`);
}
const numvfs = (name: string) => readFileSync(join(root, "class", "net", name, "device", "sriov_numvfs"), "utf8");

/** Only what the driver touches: host id, sysfs root, revert stack, and virsh's domain listing. */
function ctx(
  domains: { domain: string; ifname: string | null; source: string; mac: string }[] = [],
  foreign: CatalogEntry[] = [],
  xmls: Record<string, string> = {},
) {
  const revert = new Revert();
  const c = {
    hostId: "h1",
    sysfsRoot: root,
    revert,
    virsh: { runningDomainSources: async () => domains },
    catalog: { list: async () => foreign, xmlOf: (n: string) => xmls[n] },
  };
  return c as unknown as JobContext & { revert: Revert };
}
const payload = (vfs: number | null) =>
  ({
    name: "fast",
    type: "sriov",
    uuid: "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d",
    host: "h1",
    description: "",
    cidr: null,
    gateway: null,
    dhcp: { enabled: false, start: null, end: null, leaseTime: null },
    autostart: true,
    start: true,
    createdAt: "2026-11-29T00:00:00.000Z",
    l2: { kind: "sriov", pf: "enp3s0f0", vfs, vlan: 100 },
  }) as const;
const snapshot = (catalog: CatalogEntry[] = []) => ({ links: [], routes: [], catalog });
const entry = (spec: NetSpec, active = true): CatalogEntry => ({
  name: spec.name,
  active,
  autostart: true,
  persistent: true,
  def: parseNetworkXml(renderNetworkXml(spec)),
});

/** The host setup a create or start runs: the model's planned steps on the driver's facts, through the executor. */
async function setUpHost(c: JobContext, spec: SriovNetSpec): Promise<void> {
  const hostSteps = sriovModel.hostSteps?.setUp(spec, await sriovDriver.hostFacts(c, spec), c.hostId) ?? [];
  await runPhase(hostPortOf(c), c.revert, { step: "defining network", hostSteps }, sriovDriver.executeOptions?.(c, spec));
}

describe("sriov driver over a fake sysfs", () => {
  it("no SR-IOV: SRIOV_UNAVAILABLE naming the PF and the reason, before anything", () => {
    expect(() => sriovDriver.prepare(ctx(), { ...payload(2) }, snapshot())).toThrow(
      "SR-IOV PF enp3s0f0 on host h1 is unavailable: no interface enp3s0f0 on this host",
    );
  });
  it("prepare: the spec of the pool; refuses a PF another network of the host uses", () => {
    pf("enp3s0f0", 8, 0);
    const spec = sriovDriver.prepare(ctx(), { ...payload(2) }, snapshot()) as SriovNetSpec;
    expect(spec).toMatchObject({ type: "sriov", pf: "enp3s0f0", vfs: 2, vlan: 100 });
    expect(() => sriovDriver.prepare(ctx(), { ...payload(2) }, snapshot([entry({ ...spec, name: "other" })]))).toThrow(
      "SR-IOV PF enp3s0f0 on host h1 is already used by network 'other'",
    );
  });
  it("a PF another tool's libvirt network names (its hostdev pool) is NOT_ALLOWED, at prepare and again before writing", async () => {
    pf("enp3s0f0", 8, 0);
    const xml = "<network><name>sriov-pool</name><forward mode='hostdev' managed='yes'><pf dev='enp3s0f0'/></forward></network>";
    const foreign: CatalogEntry = { name: "sriov-pool", active: true, autostart: true, persistent: true, def: parseNetworkXml(xml) };
    expect(foreign.def.managed).toBe(false);
    const c = ctx([], [foreign], { "sriov-pool": xml });
    expect(() => sriovDriver.prepare(c, { ...payload(2) }, snapshot([foreign]))).toThrow(
      "SR-IOV PF enp3s0f0 on host h1 is named by libvirt network 'sriov-pool', which is not netforge's",
    );
    // It appeared after prepare (the job's read): setUpHost re-reads the catalog and writes nothing.
    const spec = sriovDriver.prepare(ctx(), { ...payload(2) }, snapshot());
    await expect(setUpHost(c, spec)).rejects.toMatchObject({ code: "NOT_ALLOWED" });
    expect(numvfs("enp3s0f0")).toBe("0\n");
  });
  it("setUpHost writes the count and the revert writes the original back (through 0)", async () => {
    pf("enp3s0f0", 8, 2);
    const c = ctx();
    const spec = sriovDriver.prepare(c, { ...payload(4) }, snapshot());
    await setUpHost(c, spec);
    expect(numvfs("enp3s0f0")).toBe("4\n");
    await c.revert.run();
    expect(numvfs("enp3s0f0")).toBe("2\n");
  });
  it("setUpHost writes nothing when the count matches (and registers no undo)", async () => {
    pf("enp3s0f0", 8, 4);
    const c = ctx();
    await setUpHost(c, sriovDriver.prepare(c, { ...payload(4) }, snapshot()));
    const r = await c.revert.run();
    expect(r.undone).toEqual([]);
    expect(numvfs("enp3s0f0")).toBe("4\n");
  });
  it("attachments: the running domains whose interface source is the pool (libvirt's allocations), hostdev rows included", async () => {
    pf("enp3s0f0", 8, 4);
    const spec = sriovDriver.prepare(ctx(), { ...payload(4) }, snapshot());
    const c = ctx([
      { domain: "vm1", ifname: null, source: "fast", mac: "52:54:00:00:00:01" },
      { domain: "vm2", ifname: "vnet3", source: "other", mac: "52:54:00:00:00:02" },
    ]);
    expect(await sriovDriver.attachments(c, entry(spec))).toEqual([{ kind: "domain", name: "vm1", interface: "VF" }]);
    expect(await sriovDriver.attachments(c, entry(spec, false))).toEqual([]);
  });
  it("DHCP and static IPs are UNSUPPORTED_FOR_TYPE", () => {
    pf("enp3s0f0", 8, 4);
    const spec = sriovDriver.prepare(ctx(), { ...payload(4) }, snapshot());
    expect(() =>
      sriovDriver.model.planChange(spec, { kind: "release-ip", mac: "52:54:00:00:00:01" }, { active: true, leases: [] }),
    ).toThrow(/type sriov: no static IPs here; VMs of an SR-IOV network own their VF/);
  });
});

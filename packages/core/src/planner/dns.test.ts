import { describe, expect, it } from "vitest";
import type { AppError } from "../errors";
import { parseNetworkXml, renderDnsHost, renderRoutedXml } from "../render/network-xml";
import { planChange } from "../drivers/registry";
import { changeOfBody } from "./__fixtures__/change-of-body";
import type { BridgeNetSpec, RoutedNetSpec } from "./network-spec";

const spec: RoutedNetSpec = {
  type: "nat",
  name: "web",
  uuid: "3e3fce45-4f53-4fa7-bb32-11f34168329c",
  description: "",
  createdAt: "2026-11-28T00:00:00.000Z",
  bridge: "nf-web",
  cidr: "10.1.0.0/24",
  gateway: "10.1.0.1",
  dhcp: { enabled: true, start: "10.1.0.100", end: "10.1.0.200", leaseTime: 3600 },
  reservations: [],
  dnsHosts: [{ ip: "10.1.0.10", names: ["db", "db.internal"] }],
};
const up = { active: true, leases: [] };
const DB = "<host ip='10.1.0.10'><hostname>db</hostname><hostname>db.internal</hostname></host>";

describe("DNS host records in the definition", () => {
  it("render as libvirt's <dns><host> and the spec's metadata, and parse back to the same spec and native records", () => {
    const xml = renderRoutedXml(spec);
    expect(xml).toContain(`  <dns>\n    ${DB}\n  </dns>\n  <ip address='10.1.0.1' prefix='24'>`);
    expect(xml).toContain("<nf:dnsHost ip='10.1.0.10' names='db db.internal'/>");
    const parsed = parseNetworkXml(xml);
    expect(parsed.spec).toEqual(spec);
    expect(parsed.dnsHosts).toEqual([{ ip: "10.1.0.10", names: ["db", "db.internal"] }]);
  });
  it("a spec without records renders no <dns> and no record metadata (definitions written before are unchanged)", () => {
    const { dnsHosts: _none, ...without } = spec;
    const xml = renderRoutedXml(without);
    expect(xml).not.toContain("<dns>");
    expect(xml).not.toContain("dnsHost");
    expect(parseNetworkXml(xml).spec).toEqual(without);
    expect(parseNetworkXml(xml).dnsHosts).toEqual([]);
  });
  it("one name: libvirt's single <hostname> is still a list", () => {
    expect(parseNetworkXml(renderRoutedXml({ ...spec, dnsHosts: [{ ip: "10.1.0.11", names: ["one"] }] })).dnsHosts).toEqual([
      { ip: "10.1.0.11", names: ["one"] },
    ]);
    expect(renderDnsHost({ ip: "10.1.0.11", names: ["one"] })).toBe("<host ip='10.1.0.11'><hostname>one</hostname></host>");
  });
});

describe("planChange: configure-network-dns", () => {
  const dns = (hosts: { ip: string; names: string[] }[], host: Parameters<typeof planChange>[2] = up) =>
    planChange(spec, { kind: "dns", hosts }, host);

  it("deletes the records that go and adds the new ones, live, then writes the spec; each with its undo", () => {
    const p = dns([{ ip: "10.1.0.20", names: ["cache"] }]);
    const CACHE = "<host ip='10.1.0.20'><hostname>cache</hostname></host>";
    expect(p.steps.map((s) => s.virsh)).toEqual([
      ["net-update", "web", "delete", "dns-host", DB, "--live"],
      ["net-update", "web", "add", "dns-host", CACHE, "--live"],
      ["net-define", "<file>"],
    ]);
    expect(p.steps.map((s) => s.undo?.virsh)).toEqual([
      ["net-update", "web", "add", "dns-host", DB, "--live"],
      ["net-update", "web", "delete", "dns-host", CACHE, "--live"],
      ["net-define", "<file>"],
    ]);
    expect(p.steps.map((s) => s.name)).toEqual([
      "delete DNS record db db.internal -> 10.1.0.10",
      "add DNS record cache -> 10.1.0.20",
      "write spec",
    ]);
    expect((p.spec as RoutedNetSpec).dnsHosts).toEqual([{ ip: "10.1.0.20", names: ["cache"] }]);
    expect(p.changed).toEqual(["DNS cache -> 10.1.0.20", "DNS record db db.internal -> 10.1.0.10 removed"]);
    expect(p.libvirtXml).toContain("<hostname>cache</hostname>");
    expect(p.libvirtXml).not.toContain("<hostname>db</hostname>");
  });

  it("keeps a record given again unchanged; a record of the same address with other names is replaced", () => {
    const p = dns([
      { ip: "10.1.0.10", names: ["db", "db.internal"] },
      { ip: "10.1.0.30", names: ["web"] },
    ]);
    expect(p.steps.map((s) => s.virsh.slice(2, 4))).toEqual([["add", "dns-host"], []]);
    const renamed = dns([{ ip: "10.1.0.10", names: ["database"] }]);
    expect(renamed.steps.map((s) => s.virsh.slice(2))).toEqual([
      ["delete", "dns-host", DB, "--live"],
      ["add", "dns-host", "<host ip='10.1.0.10'><hostname>database</hostname></host>", "--live"],
      [],
    ]);
  });

  it("the same records, in any order, plan nothing; [] removes them all and the spec drops the field", () => {
    expect(dns([{ ip: "10.1.0.10", names: ["db", "db.internal"] }]).steps).toEqual([]);
    const two = { ...spec, dnsHosts: [...(spec.dnsHosts ?? []), { ip: "10.1.0.20", names: ["cache"] }] };
    expect(planChange(two, { kind: "dns", hosts: [{ ip: "10.1.0.20", names: ["cache"] }, ...(spec.dnsHosts ?? [])] }, up).steps).toEqual(
      [],
    );
    const none = dns([]);
    expect(none.steps.map((s) => s.virsh.slice(2, 3))).toEqual([["delete"], []]);
    expect("dnsHosts" in none.spec).toBe(false);
  });

  it("a stopped network: the persistent definition only (--config), said not live", () => {
    const p = dns([{ ip: "10.1.0.20", names: ["cache"] }], { active: false, leases: [] });
    expect(p.steps.slice(0, 2).map((s) => s.virsh.at(-1))).toEqual(["--config", "--config"]);
    expect(p.notLive).toEqual(["network is not running: the change takes effect when it starts"]);
  });

  it("refuses an address or a name in two records, naming each place (VALIDATION_FAILED)", () => {
    let err: AppError | undefined;
    try {
      dns([
        { ip: "10.1.0.20", names: ["a", "b"] },
        { ip: "10.1.0.20", names: ["c"] },
        { ip: "10.1.0.21", names: ["b"] },
      ]);
    } catch (e) {
      err = e as AppError;
    }
    expect(err?.code).toBe("VALIDATION_FAILED");
    expect(err?.details.issues).toEqual([
      { path: "hosts.1.ip", message: "10.1.0.20 is in record 0 too: give its names in one record" },
      { path: "hosts.2.names.0", message: "b is in record 0 too: a name resolves to one address" },
    ]);
  });

  it("a retried job converges: records libvirt already has are not added again, ones it lacks not deleted", () => {
    const native = { hosts: [], range: { start: "10.1.0.100", end: "10.1.0.200", leaseTime: 3600 } };
    const cache = { ip: "10.1.0.20", names: ["cache"] };
    // The first attempt deleted db and added cache, then died before writing the spec.
    const p = dns([cache], { ...up, native: { ...native, dnsHosts: [cache] } });
    expect(p.steps.map((s) => s.virsh[0])).toEqual(["net-define"]);
  });

  it("the body's names are kept in lower case, in their order (the definition's change)", () => {
    expect(
      changeOfBody("configure-network-dns", { name: "web", hosts: [{ ip: "10.1.0.20", names: ["Cache", "cache.Internal"] }] }),
    ).toEqual({
      kind: "dns",
      hosts: [{ ip: "10.1.0.20", names: ["cache", "cache.internal"] }],
    });
  });

  it("a type without netforge's addressing refuses it, naming DNS records (UNSUPPORTED_FOR_TYPE)", () => {
    const bridge: BridgeNetSpec = {
      type: "bridge",
      name: "lan",
      uuid: spec.uuid,
      description: "",
      createdAt: spec.createdAt,
      bridge: "br0",
      interface: null,
      created: null,
    };
    let err: AppError | undefined;
    try {
      planChange(bridge, { kind: "dns", hosts: [] }, up);
    } catch (e) {
      err = e as AppError;
    }
    expect(err?.code).toBe("UNSUPPORTED_FOR_TYPE");
    expect(err?.message).toMatch(/^network 'lan' is of type bridge: no DNS records here; /);
  });
});

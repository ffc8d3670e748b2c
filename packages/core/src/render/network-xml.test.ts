import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { NetworkSpec } from "../schemas/network";
import { type NetSpec, specFromCreate } from "../spec/network-spec";
import { bridgeNameFor } from "./bridge-name";
import { parseNetworkXml, renderNetworkXml } from "./network-xml";

// Golden files: the exact XML for representative specs. Regenerate with UPDATE_GOLDEN=1 after an intended change.
const golden = (name: string, actual: string) => {
  const file = join(__dirname, "__golden__", name);
  if (process.env.UPDATE_GOLDEN) writeFileSync(file, actual);
  expect(actual).toBe(readFileSync(file, "utf8"));
};

const created: NetworkSpec = {
  name: "web",
  type: "nat",
  uuid: "3e3fce45-4f53-4fa7-bb32-11f34168329c",
  host: "h1",
  description: "frontend VMs",
  cidr: "192.168.100.0/24",
  gateway: "192.168.100.1",
  dhcp: { enabled: true, start: "192.168.100.128", end: "192.168.100.254", leaseTime: 3600 },
  autostart: true,
  bridge: "nf-web",
  createdAt: "2026-11-28T00:00:00.000Z",
};
const base: NetSpec = specFromCreate(created);

describe("renderNetworkXml", () => {
  it("nat with DHCP", () => golden("nat-dhcp.xml", renderNetworkXml(base)));
  it("isolated without DHCP", () =>
    golden(
      "isolated-nodhcp.xml",
      renderNetworkXml({
        ...base,
        name: "backend",
        type: "isolated",
        cidr: "10.0.0.0/16",
        gateway: "10.0.0.1",
        bridge: "nf-backend",
        dhcp: { enabled: false, start: null, end: null, leaseTime: null },
      }),
    ));
  it("nat with DHCP and reservations", () =>
    golden(
      "nat-reservations.xml",
      renderNetworkXml({
        ...base,
        reservations: [
          { mac: "52:54:00:00:00:01", ip: "192.168.100.10", hostname: "db1" },
          { mac: "52:54:00:00:00:02", ip: "192.168.100.11", hostname: null },
        ],
      }),
    ));
  it("reservations without a dynamic range still reach dnsmasq", () => {
    const xml = renderNetworkXml({
      ...base,
      dhcp: { enabled: false, start: null, end: null, leaseTime: null },
      reservations: [{ mac: "52:54:00:00:00:01", ip: "192.168.100.10", hostname: null }],
    });
    expect(xml).toContain("<host mac='52:54:00:00:00:01' ip='192.168.100.10'/>");
    expect(xml).not.toContain("<range");
  });
  it("escapes markup in every text it writes", () => {
    const xml = renderNetworkXml({ ...base, description: "</nf:description><forward mode='open'/>&$(id)" });
    expect(xml).not.toContain("<forward mode='open'/>");
    expect(xml).toContain("&lt;/nf:description&gt;&lt;forward mode=&apos;open&apos;/&gt;&amp;$(id)");
    expect(parseNetworkXml(xml).description).toBe("</nf:description><forward mode='open'/>&$(id)");
  });
  it("refuses types it does not render", () => {
    expect(() => renderNetworkXml({ ...base, type: "sriov" } as unknown as NetSpec)).toThrow();
  });
});

describe("parseNetworkXml", () => {
  it("round-trips what the renderer writes", () => {
    const p = parseNetworkXml(renderNetworkXml(base));
    expect(p).toEqual({
      name: "web",
      uuid: base.uuid,
      managed: true,
      type: "nat",
      description: "frontend VMs",
      createdAt: base.createdAt,
      forwardMode: "nat",
      bridge: "nf-web",
      cidr: "192.168.100.0/24",
      gateway: "192.168.100.1",
      dhcp: { start: "192.168.100.128", end: "192.168.100.254", leaseTime: 3600 },
      hosts: [],
      spec: base,
    });
  });
  it("completes the spec of a network made before the spec was kept whole (legacy metadata)", () => {
    const legacy = readFileSync(join(__dirname, "__golden__", "nat-dhcp.xml"), "utf8")
      .replace(/\s*<nf:(cidr|gateway|bridge)>[^<]*<\/nf:\1>/g, "")
      .replace(/\s*<nf:dhcp [^>]*\/>/, "")
      .replace("</dhcp>", "  <host mac='52:54:00:00:00:09' name='old' ip='192.168.100.9'/>\n    </dhcp>");
    expect(legacy).not.toContain("nf:cidr");
    expect(parseNetworkXml(legacy).spec).toEqual({
      ...base,
      reservations: [{ mac: "52:54:00:00:00:09", ip: "192.168.100.9", hostname: "old" }],
    });
  });
  it("reads libvirt's own rendering of a foreign network (netmask, lease in minutes, no metadata)", () => {
    const p = parseNetworkXml(readFileSync(join(__dirname, "__golden__", "libvirt-default.xml"), "utf8"));
    expect(p).toMatchObject({
      name: "default",
      managed: false,
      type: null,
      forwardMode: "nat",
      bridge: "virbr0",
      cidr: "192.168.122.0/24",
      gateway: "192.168.122.1",
      dhcp: { start: "192.168.122.2", end: "192.168.122.254", leaseTime: 7200 },
    });
  });
});

describe("bridgeNameFor", () => {
  it("uses nf-<name> when it fits 15 characters", () => {
    expect(bridgeNameFor("web")).toBe("nf-web");
    expect(bridgeNameFor("abcdefghijkl")).toBe("nf-abcdefghijkl");
  });
  it("shortens long names with a hash, keeping names with a common head apart", () => {
    const a = bridgeNameFor("production-frontend-a");
    const b = bridgeNameFor("production-frontend-b");
    expect(a.length).toBeLessThanOrEqual(15);
    expect(b.length).toBeLessThanOrEqual(15);
    expect(a).not.toBe(b);
    expect(a).toMatch(/^nf-[a-z0-9-]+$/);
  });
  it("never returns a taken name", () => {
    const first = bridgeNameFor("production-frontend-a");
    const second = bridgeNameFor("production-frontend-a", new Set([first]));
    expect(second).not.toBe(first);
    expect(bridgeNameFor("web", new Set(["nf-web"]))).not.toBe("nf-web");
  });
  it("is within 15 characters for every 32-character name", () => {
    for (let i = 0; i < 200; i++) expect(bridgeNameFor(`n${String(i).padStart(31, "x")}`).length).toBeLessThanOrEqual(15);
  });
});

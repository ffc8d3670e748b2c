import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { cidrOf, formatCidr, formatIPv4, usableRange } from "../net/ipv4";
import { renderNetworkXml } from "../drivers/registry";
import { parseNetworkXml } from "../render/network-xml";
import type { NetSpec as AnySpec, RoutedNetSpec as NetSpec } from "./network-spec";

const verdict = fc.constantFrom("accept" as const, "drop" as const, "reject" as const);

/** Any spec the API can produce: names, texts with markup and quotes, any subnet, DHCP on or off, reservations. */
const specArb: fc.Arbitrary<NetSpec> = fc
  .record({
    type: fc.constantFrom("nat" as const, "isolated" as const),
    name: fc.stringMatching(/^[a-z][a-z0-9-]{0,31}$/),
    uuid: fc.uuid(),
    // Free text: no control characters (the schema refuses them), everything else including <>&'" and spaces.
    description: fc.string({ maxLength: 64, unit: fc.constantFrom("a", "Z", " ", "<", ">", "&", "'", '"', "é", "/", "=", ";", "\u2603") }),
    createdAt: fc.date({ min: new Date(2020, 0, 1), max: new Date(2040, 0, 1), noInvalidDate: true }).map((d) => d.toISOString()),
    bridge: fc.stringMatching(/^nf-[a-z0-9-]{1,12}$/),
    addr: fc.integer({ min: 0x0a000000, max: 0xdfffffff }),
    prefix: fc.integer({ min: 8, max: 30 }),
    dhcpOn: fc.boolean(),
    leaseTime: fc.integer({ min: 120, max: 31_536_000 }),
    picks: fc.array(fc.tuple(fc.nat(), fc.nat(), fc.option(fc.stringMatching(/^[a-z][a-z0-9-]{0,20}[a-z0-9]$/), { nil: null })), {
      maxLength: 5,
    }),
    // Rules and forwards (kept compact in the metadata): any verdicts, optional fields null or set, free-text comments.
    firewall: fc.option(
      fc.record({
        defaultInbound: verdict,
        defaultOutbound: verdict,
        rules: fc.array(
          fc.record({
            direction: fc.constantFrom("inbound" as const, "outbound" as const),
            protocol: fc.constantFrom("tcp" as const, "udp" as const, "icmp" as const, "any" as const),
            source: fc.option(fc.constantFrom("10.0.0.0/8", "192.0.2.0/24", "0.0.0.0/0"), { nil: null }),
            destination: fc.option(fc.constantFrom("10.1.2.0/24", "198.51.100.7/32"), { nil: null }),
            ports: fc.option(fc.constantFrom("22", "8000-8100", "1-65535"), { nil: null }),
            action: verdict,
            comment: fc.option(
              fc.string({ maxLength: 20, unit: fc.constantFrom("a", " ", ",", "-", "%", "<", "&", "'", '"', "é", "\u2603", "\t") }),
              {
                nil: null,
              },
            ),
          }),
          { maxLength: 6 },
        ),
      }),
      { nil: null },
    ),
    forwards: fc.array(
      fc.record({
        protocol: fc.constantFrom("tcp" as const, "udp" as const),
        hostPort: fc.integer({ min: 1, max: 65535 }),
        pick: fc.nat(),
        vmPort: fc.integer({ min: 1, max: 65535 }),
      }),
      { maxLength: 6 },
    ),
  })
  .map((r) => {
    const cidr = cidrOf(r.addr, r.prefix);
    const u = usableRange(cidr);
    const span = u.last - u.first + 1;
    const at = (n: number) => formatIPv4(u.first + (n % span));
    const a = r.picks[0]?.[0] ?? 0;
    const b = r.picks[0]?.[1] ?? 0;
    const [lo, hi] = [Math.min(a % span, b % span), Math.max(a % span, b % span)];
    const reservations = r.picks.map(([i, j, hostname], k) => ({
      mac: `52:54:00:${(j % 256).toString(16).padStart(2, "0")}:00:${k.toString(16).padStart(2, "0")}`,
      ip: at(i),
      hostname,
    }));
    const spec: NetSpec = {
      type: r.type,
      name: r.name,
      uuid: r.uuid,
      description: r.description,
      createdAt: r.createdAt,
      bridge: r.bridge,
      cidr: formatCidr(cidr),
      gateway: formatIPv4(u.first),
      dhcp: r.dhcpOn
        ? { enabled: true, start: formatIPv4(u.first + lo), end: formatIPv4(u.first + hi), leaseTime: r.leaseTime }
        : { enabled: false, start: null, end: null, leaseTime: null },
      reservations,
    };
    if (r.firewall) spec.firewall = r.firewall;
    if (r.forwards.length > 0)
      spec.portForwards = r.forwards.map((f) => ({ protocol: f.protocol, hostPort: f.hostPort, vmIp: at(f.pick), vmPort: f.vmPort }));
    return spec;
  });

describe("the network spec in libvirt's metadata", () => {
  it("round-trips: parse(render(spec)) == spec", () => {
    fc.assert(
      fc.property(specArb, (spec) => {
        expect(parseNetworkXml(renderNetworkXml(spec)).spec).toEqual(spec);
      }),
      { numRuns: 500 },
    );
  });
  it("libvirt's own elements say what the spec says (range, lease, hosts)", () => {
    fc.assert(
      fc.property(specArb, (spec) => {
        const p = parseNetworkXml(renderNetworkXml(spec));
        expect(p.cidr).toBe(spec.cidr);
        expect(p.gateway).toBe(spec.gateway);
        expect(p.bridge).toBe(spec.bridge);
        expect(p.dhcp).toEqual(spec.dhcp.enabled ? { start: spec.dhcp.start, end: spec.dhcp.end, leaseTime: spec.dhcp.leaseTime } : null);
        expect(p.hosts).toEqual(spec.reservations);
      }),
      { numRuns: 200 },
    );
  });
});

/** Any bridge or sriov spec: texts with markup, NIC state with or without a former master, VLAN and VF count or not. */
const text = fc.string({ maxLength: 40, unit: fc.constantFrom("a", " ", "<", "&", "'", '"', "é") });
const ifname = fc.stringMatching(/^[a-z][a-z0-9._-]{0,14}$/);
const metaArb = fc.record({
  name: fc.stringMatching(/^[a-z][a-z0-9-]{0,31}$/),
  uuid: fc.uuid(),
  description: text,
  createdAt: fc.date({ min: new Date(2020, 0, 1), max: new Date(2040, 0, 1), noInvalidDate: true }).map((d) => d.toISOString()),
});
const l2SpecArb: fc.Arbitrary<AnySpec> = fc.oneof(
  fc
    .record({
      meta: metaArb,
      bridge: ifname,
      interface: fc.option(ifname, { nil: null }),
      nic: fc.option(fc.record({ up: fc.boolean(), mtu: fc.integer({ min: 68, max: 65535 }), master: fc.option(ifname, { nil: null }) }), {
        nil: null,
      }),
    })
    .map((r) => ({
      type: "bridge" as const,
      ...r.meta,
      bridge: r.bridge,
      interface: r.nic ? (r.interface ?? "eth1") : r.interface,
      created: r.nic ? { nic: r.nic } : null,
    })),
  fc
    .record({
      meta: metaArb,
      pf: ifname,
      vfs: fc.option(fc.integer({ min: 1, max: 256 }), { nil: null }),
      vlan: fc.option(fc.integer({ min: 1, max: 4094 }), { nil: null }),
    })
    .map((r) => ({ type: "sriov" as const, ...r.meta, pf: r.pf, vfs: r.vfs, vlan: r.vlan })),
);

describe("bridge and sriov specs in libvirt's metadata", () => {
  it("round-trip: parse(render(spec)) == spec, and libvirt's elements carry no address", () => {
    fc.assert(
      fc.property(l2SpecArb, (spec) => {
        const p = parseNetworkXml(renderNetworkXml(spec));
        expect(p.spec).toEqual(spec);
        expect(p.cidr).toBeNull();
        expect(p.dhcp).toBeNull();
        expect(p.forwardMode).toBe(spec.type === "bridge" ? "bridge" : "hostdev");
      }),
      { numRuns: 300 },
    );
  });
});

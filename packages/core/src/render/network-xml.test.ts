import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { golden } from "./__golden__/golden";
import type { NetworkSpec } from "../schemas/network";
import type { FirewallSpec } from "../planner/firewall";
import type { BridgeNetSpec, NetSpec, SriovNetSpec } from "../planner/network-spec";
import { bridgeNameFor } from "./bridge-name";
import { NETFORGE_XMLNS, parseNetworkXml, splitNetforgeMetadata } from "./network-xml";
import { renderNetworkXml } from "../drivers/registry";
import { specFromCreate } from "../drivers/routed";

// Golden files: the exact XML for representative specs.

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
/** The firewall of the golden nat-firewall-forwards*.xml files. */
const sshAndReject: FirewallSpec = {
  defaultInbound: "drop",
  defaultOutbound: "reject",
  rules: [
    {
      direction: "inbound",
      protocol: "tcp",
      source: "10.0.0.0/8",
      destination: null,
      ports: "22",
      action: "accept",
      comment: "ssh & co",
    },
    {
      direction: "outbound",
      protocol: "any",
      source: null,
      destination: "192.0.2.0/24",
      ports: null,
      action: "reject",
      comment: null,
    },
  ],
};

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
    const xml = renderNetworkXml({ ...base, description: "</nf:description><forward mode='route'/>&$(id)" });
    expect(xml).not.toContain("<forward mode='route'/>");
    expect(xml).toContain("&lt;/nf:description&gt;&lt;forward mode=&apos;route&apos;/&gt;&amp;$(id)");
    expect(parseNetworkXml(xml).description).toBe("</nf:description><forward mode='route'/>&$(id)");
  });
  it("refuses types it does not render", () => {
    expect(() => renderNetworkXml({ ...base, type: "vxlan" } as unknown as NetSpec)).toThrow();
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
      managedBy: null,
      forwardMode: "open",
      bridge: "nf-web",
      cidr: "192.168.100.0/24",
      gateway: "192.168.100.1",
      dhcp: { start: "192.168.100.128", end: "192.168.100.254", leaseTime: 3600 },
      hosts: [],
      hosts6: [],
      dnsHosts: [],
      mtu: null,
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

describe("renderNetworkXml, branch by branch", () => {
  it("writes no <dhcp> when DHCP is disabled, even if a range is still stored", () => {
    const xml = renderNetworkXml({ ...base, dhcp: { enabled: false, start: "192.168.100.128", end: "192.168.100.254", leaseTime: 3600 } });
    expect(xml).not.toContain("<dhcp>");
    expect(xml).toContain("  <ip address='192.168.100.1' prefix='24'/>\n");
    expect(parseNetworkXml(xml).dhcp).toBeNull();
  });
  it("writes no <dhcp> for an enabled pool missing an end", () => {
    expect(renderNetworkXml({ ...base, dhcp: { enabled: true, start: "192.168.100.128", end: null, leaseTime: 3600 } })).not.toContain(
      "<dhcp>",
    );
    expect(renderNetworkXml({ ...base, dhcp: { enabled: true, start: null, end: "192.168.100.254", leaseTime: 3600 } })).not.toContain(
      "<dhcp>",
    );
  });
  it("writes the lease in seconds, 3600 when none is stored", () => {
    expect(renderNetworkXml({ ...base, dhcp: { ...base.dhcp, leaseTime: 120 } })).toContain("<lease expiry='120' unit='seconds'/>");
    expect(renderNetworkXml({ ...base, dhcp: { ...base.dhcp, leaseTime: null } })).toContain("<lease expiry='3600' unit='seconds'/>");
  });
  it("nat and isolated are both forward mode 'open' (libvirt writes no rules); the type is in the metadata", () => {
    for (const type of ["nat", "isolated"] as const) {
      const xml = renderNetworkXml({ ...base, type });
      expect(xml).toContain("<forward mode='open'/>");
      expect(parseNetworkXml(xml)).toMatchObject({ type, forwardMode: "open", spec: { type } });
    }
  });
  it("keeps the firewall and port forwards in the metadata, and reads them back", () => {
    const spec: NetSpec = {
      ...base,
      firewall: sshAndReject,
      portForwards: [{ protocol: "udp", hostPort: 5353, vmIp: "192.168.100.10", vmPort: 53 }],
    };
    const xml = renderNetworkXml(spec);
    golden("nat-firewall-forwards.xml", xml);
    expect(xml).toContain("ssh%20%26%20co");
    expect(parseNetworkXml(xml).spec).toEqual(spec);
    // A spec without them reads back without them (older networks: open firewall, no forwards).
    expect(parseNetworkXml(renderNetworkXml(base)).spec).toEqual(base);
  });
  it("keeps the host services the VMs may reach in the firewall's metadata, with or without rules", () => {
    const hostServices = [
      { protocol: "tcp" as const, ports: "8443" },
      { protocol: "udp" as const, ports: "5000-5100" },
    ];
    const withRules: NetSpec = { ...base, firewall: { ...sshAndReject, hostServices } };
    const xml = renderNetworkXml(withRules);
    expect(xml).toContain("        <nf:hostServices>tcp,8443 udp,5000-5100</nf:hostServices>\n      </nf:firewall>");
    expect(parseNetworkXml(xml).spec).toEqual(withRules);
    const alone: NetSpec = { ...base, firewall: { defaultInbound: "accept", defaultOutbound: "accept", rules: [], hostServices } };
    expect(renderNetworkXml(alone)).not.toContain("<nf:rules>");
    expect(parseNetworkXml(renderNetworkXml(alone)).spec).toEqual(alone);
    // None opened: the element is not written, and the spec reads back without the field.
    const none: NetSpec = { ...base, firewall: { ...sshAndReject, hostServices: [] } };
    expect(renderNetworkXml(none)).not.toContain("hostServices");
    expect(parseNetworkXml(renderNetworkXml(none)).spec).toEqual({ ...base, firewall: sshAndReject });
    // Items the parser cannot read as a host service are skipped.
    const odd = renderNetworkXml(alone).replace("tcp,8443 udp,5000-5100", "icmp,1 tcp udp,- tcp,22");
    expect((parseNetworkXml(odd).spec as { firewall: { hostServices: unknown } }).firewall.hostServices).toEqual([
      { protocol: "tcp", ports: "22" },
    ]);
  });
  it("keeps 1,000 forwards and 100 rules as two text nodes, not 1,100 elements", () => {
    const spec: NetSpec = {
      ...base,
      firewall: {
        defaultInbound: "accept",
        defaultOutbound: "accept",
        rules: Array.from({ length: 100 }, (_, j) => ({
          direction: j % 2 ? ("inbound" as const) : ("outbound" as const),
          protocol: "tcp" as const,
          source: `10.${j}.0.0/16`,
          destination: null,
          ports: `${1000 + j}-${2000 + j}`,
          action: "accept" as const,
          comment: j % 5 ? null : "",
        })),
      },
      portForwards: Array.from({ length: 1000 }, (_, k) => ({
        protocol: "tcp" as const,
        hostPort: 20000 + k,
        vmIp: "192.168.100.10",
        vmPort: 80,
      })),
    };
    const xml = renderNetworkXml(spec);
    expect(xml.split("\n").length).toBeLessThan(30);
    expect(parseNetworkXml(xml).spec).toEqual(spec);
  });
  it("reads rules and forwards in the element form of earlier versions (existing networks keep them)", () => {
    const xml = readFileSync(join(__dirname, "__golden__", "nat-firewall-forwards-v1.xml"), "utf8");
    const p = parseNetworkXml(xml);
    expect(p.spec).toMatchObject({
      firewall: sshAndReject,
      portForwards: [
        { protocol: "udp", hostPort: 5353, vmIp: "192.168.100.10", vmPort: 53 },
        { protocol: "tcp", hostPort: 8080, vmIp: "192.168.100.11", vmPort: 80 },
      ],
    });
    // Written again, it is in the compact form and means the same.
    expect(parseNetworkXml(renderNetworkXml(p.spec as NetSpec)).spec).toEqual(p.spec);
    // As libvirt formats it (double quotes, re-indented text).
    const relaid = renderNetworkXml(p.spec as NetSpec)
      .replace(/'/g, '"')
      .replace("<nf:portForwards>", "<nf:portForwards>\n   ")
      .replace(/ tcp,/, "\n\t tcp,");
    expect(parseNetworkXml(relaid).spec).toEqual(p.spec);
  });
  it("percent-encodes what is not plain in a compact field, and refuses what XML cannot carry", () => {
    const rule = {
      direction: "inbound" as const,
      protocol: "any" as const,
      source: null,
      destination: null,
      ports: null,
      action: "drop" as const,
    };
    for (const comment of ["-", "", "a,b c", "100%", "<x> & 'y' \"z\"", "é\u2603", "--"]) {
      const spec: NetSpec = { ...base, firewall: { defaultInbound: "accept", defaultOutbound: "accept", rules: [{ ...rule, comment }] } };
      const xml = renderNetworkXml(spec);
      expect(/<nf:rules>([A-Za-z0-9./:_%,-]*)<\/nf:rules>/.test(xml)).toBe(true);
      expect(parseNetworkXml(xml).spec).toEqual(spec);
    }
    expect(() =>
      renderNetworkXml({
        ...base,
        firewall: { defaultInbound: "accept", defaultOutbound: "accept", rules: [{ ...rule, comment: "a\uD800" }] },
      }),
    ).toThrow("XML 1.0 cannot represent");
  });
  it("names the type it does not render", () => {
    expect(() => renderNetworkXml({ ...base, type: "vxlan" } as unknown as NetSpec)).toThrow(
      "renderNetworkXml: type vxlan is not rendered by this renderer",
    );
  });
  it("refuses text XML cannot carry instead of handing it to libvirt", () => {
    expect(() => renderNetworkXml({ ...base, description: "a\uFFFFb" })).toThrow("text contains U+FFFF, which XML 1.0 cannot represent");
  });
  it("puts netforge's fields in its own namespace", () => {
    expect(renderNetworkXml(base)).toContain(`<nf:network xmlns:nf="${NETFORGE_XMLNS}">`);
    expect(NETFORGE_XMLNS).toBe("https://netforge.dev/xmlns/network/1");
  });
});

describe("parseNetworkXml, what libvirt may write", () => {
  const withLease = (lease: string) =>
    `<network><name>n</name><uuid>u</uuid><bridge name='br9'/><ip address='10.9.0.1' prefix='24'><dhcp><range start='10.9.0.10' end='10.9.0.20'>${lease}</range></dhcp></ip></network>`;
  it("reads a lease in minutes (libvirt's default unit), hours and seconds", () => {
    expect(parseNetworkXml(withLease("<lease expiry='30' unit='minutes'/>")).dhcp?.leaseTime).toBe(1800);
    expect(parseNetworkXml(withLease("<lease expiry='30'/>")).dhcp?.leaseTime).toBe(1800);
    expect(parseNetworkXml(withLease("<lease expiry='2' unit='hours'/>")).dhcp?.leaseTime).toBe(7200);
    expect(parseNetworkXml(withLease("<lease expiry='90' unit='seconds'/>")).dhcp?.leaseTime).toBe(90);
  });
  it("a range without a lease has no lease time", () => {
    expect(parseNetworkXml(withLease("")).dhcp).toEqual({ start: "10.9.0.10", end: "10.9.0.20", leaseTime: null });
    expect(parseNetworkXml(withLease("<lease unit='hours'/>")).dhcp?.leaseTime).toBeNull();
  });
  it("takes the first IPv4 <ip>, skipping IPv6, and reads a netmask", () => {
    const p = parseNetworkXml(
      "<network><name>n</name><ip family='ipv6' address='fd00::1' prefix='64'/><ip family='ipv4' address='172.16.5.1' netmask='255.255.0.0'/></network>",
    );
    expect(p).toMatchObject({ cidr: "172.16.0.0/16", gateway: "172.16.5.1", dhcp: null, bridge: null, forwardMode: null });
  });
  it("leaves the subnet unknown for a netmask that is not one", () => {
    const p = parseNetworkXml("<network><name>n</name><ip address='10.0.0.1' netmask='255.0.255.0'/></network>");
    expect(p.cidr).toBeNull();
    expect(p.gateway).toBe("10.0.0.1");
    expect(parseNetworkXml("<network><name>n</name><ip address='10.0.0.1' netmask='nope'/></network>").cidr).toBeNull();
    expect(parseNetworkXml("<network><name>n</name><ip address='10.0.0.1'/></network>").cidr).toBeNull();
    expect(parseNetworkXml("<network><name>n</name><ip prefix='24'/></network>")).toMatchObject({ cidr: null, gateway: null });
  });
  it("a <forward> without a mode is nat (libvirt's default); another mode is kept", () => {
    expect(parseNetworkXml("<network><name>n</name><forward/></network>").forwardMode).toBe("nat");
    expect(parseNetworkXml("<network><name>n</name><forward mode='route'/></network>").forwardMode).toBe("route");
  });
  it("a network without our metadata is foreign: no type, description or creation time", () => {
    expect(parseNetworkXml("<network><name>n</name><uuid>u-1</uuid></network>")).toEqual({
      name: "n",
      uuid: "u-1",
      managed: false,
      type: null,
      description: "",
      createdAt: null,
      managedBy: null,
      forwardMode: null,
      bridge: null,
      cidr: null,
      gateway: null,
      dhcp: null,
      hosts: [],
      hosts6: [],
      dnsHosts: [],
      mtu: null,
      spec: null,
    });
    expect(parseNetworkXml("<other/>")).toMatchObject({ name: "", uuid: "", managed: false });
  });
  it("reads an empty description and text with attributes", () => {
    const xml = renderNetworkXml({ ...base, description: "" });
    expect(parseNetworkXml(xml)).toMatchObject({ managed: true, description: "", type: "nat" });
    const p = parseNetworkXml(
      `<network><name lang='x'>n</name><metadata><nf:network xmlns:nf='${NETFORGE_XMLNS}'><nf:type>isolated</nf:type></nf:network></metadata></network>`,
    );
    expect(p).toMatchObject({ name: "n", managed: true, type: "isolated", description: "", createdAt: null });
  });
});

describe("whose network it is: our metadata element by its namespace URI, exactly", () => {
  const foreignMeta = (inner: string) =>
    `<network><name>app1</name><uuid>u-2</uuid><metadata>${inner}</metadata><forward mode='nat'/><bridge name='app0'/><ip address='10.9.0.1' prefix='24'/></network>`;
  it("another tool's <app:network> (its own namespace) is not ours, whatever its children say", () => {
    const p = parseNetworkXml(
      foreignMeta(
        `<app:network xmlns:app="https://example.org/app/1"><app:type>nat</app:type><app:description>x</app:description></app:network>`,
      ),
    );
    expect(p).toMatchObject({ managed: false, type: null, spec: null, description: "", createdAt: null, bridge: "app0" });
  });
  it("a namespace that only starts like ours, or a prefix declared as ours on a different prefix, is not ours", () => {
    for (const inner of [
      `<nf:network xmlns:nf="${NETFORGE_XMLNS}/evil"><nf:type>nat</nf:type></nf:network>`,
      `<nf:network xmlns:nf="https://netforge.dev/xmlns/network/"><nf:type>nat</nf:type></nf:network>`,
      `<nf:network xmlns:nx="${NETFORGE_XMLNS}" xmlns:nf="https://example.org/"><nf:type>nat</nf:type></nf:network>`,
      `<network><type>nat</type></network>`,
      `<nf:other xmlns:nf="${NETFORGE_XMLNS}"><nf:type>nat</nf:type></nf:other>`,
      `<app:x xmlns:app="https://example.org/"><nf:network xmlns:nf="${NETFORGE_XMLNS}"><nf:type>nat</nf:type></nf:network></app:x>`,
      `<!-- <nf:network xmlns:nf="${NETFORGE_XMLNS}"><nf:type>nat</nf:type></nf:network> -->`,
    ]) {
      expect(parseNetworkXml(foreignMeta(inner)), inner).toMatchObject({ managed: false, type: null, spec: null });
    }
  });
  it("ours is found beside other tools' elements, with any prefix, single or double quotes, or as the default namespace", () => {
    for (const inner of [
      `<app:network xmlns:app="https://example.org/app/1"><app:type>bridge</app:type><app:description>theirs</app:description></app:network><nf:network xmlns:nf="${NETFORGE_XMLNS}"><nf:type>isolated</nf:type><nf:description> mine </nf:description></nf:network>`,
      `<nf:network xmlns:nf='${NETFORGE_XMLNS}'><nf:type>isolated</nf:type><nf:description> mine </nf:description></nf:network><app:network xmlns:app="https://example.org/app/1"><app:description>theirs</app:description></app:network>`,
      `<netforge:network xmlns:netforge="${NETFORGE_XMLNS}"><netforge:type>isolated</netforge:type><netforge:description> mine </netforge:description></netforge:network>`,
      `<network xmlns="${NETFORGE_XMLNS}"><type>isolated</type><description> mine </description></network>`,
    ]) {
      expect(parseNetworkXml(foreignMeta(inner)), inner).toMatchObject({ managed: true, type: "isolated", description: " mine " });
    }
  });
  it("a self-closing element of ours is ours (with nothing in it), and no <metadata> is nobody's", () => {
    expect(splitNetforgeMetadata(`<network><metadata><nf:network xmlns:nf="${NETFORGE_XMLNS}"/></metadata></network>`)).toEqual({
      own: `<nf:network xmlns:nf="${NETFORGE_XMLNS}"/>`,
      rest: "<network></network>",
    });
    expect(splitNetforgeMetadata("<network><name>n</name></network>")).toEqual({ own: null, rest: "<network><name>n</name></network>" });
  });
  it("what we render round-trips, and the definition without metadata is what the main parse reads", () => {
    const xml = renderNetworkXml(base);
    const { own, rest } = splitNetforgeMetadata(xml);
    expect(own?.startsWith(`<nf:network xmlns:nf="${NETFORGE_XMLNS}">`)).toBe(true);
    expect(own?.endsWith("</nf:network>")).toBe(true);
    expect(rest).not.toContain("metadata");
    expect(parseNetworkXml(xml).spec).toEqual(base);
  });
});

describe("bridgeNameFor, exactly", () => {
  it("hashes the plain name first, then the name with a salt", () => {
    expect(bridgeNameFor("production-frontend-a")).toBe("nf-produc-c763f");
    expect(bridgeNameFor("production-frontend-a", new Set(["nf-produc-c763f"]))).toBe("nf-produc-2bed3");
  });
  it("drops every trailing '-' of the head, and only those", () => {
    expect(bridgeNameFor("abcd--------xyzw")).toBe("nf-abcd-0cf7a");
    expect(bridgeNameFor("ab-cd-ef-gh-ijklmnopq")).toBe("nf-ab-cd-b0541");
  });
  it("gives up after 1000 candidates, naming the network", () => {
    const taken = new Set<string>();
    for (let i = 0; i < 1000; i++) taken.add(bridgeNameFor("production-frontend-a", taken));
    expect(taken.size).toBe(1000);
    expect(() => bridgeNameFor("production-frontend-a", taken)).toThrow("no free bridge name for production-frontend-a");
  });
});

describe("parseNetworkXml, values kept as written", () => {
  it("keeps a description's spaces and digit-only names as text", () => {
    const p = parseNetworkXml(renderNetworkXml({ ...base, name: "0123", bridge: "0123", uuid: "0042", description: "  padded  text " }));
    expect(p).toMatchObject({ name: "0123", bridge: "0123", uuid: "0042", description: "  padded  text " });
  });
  it("a prefix wins over a netmask when libvirt writes both", () => {
    expect(parseNetworkXml("<network><ip address='10.0.0.1' prefix='24' netmask='255.255.0.0'/></network>").cidr).toBe("10.0.0.0/24");
  });
  it("reads the address and prefix as text, lease numbers too", () => {
    const p = parseNetworkXml(
      "<network><ip address='10.0.0.1' prefix='08'><dhcp><range start='10.0.0.010' end='10.0.0.20'><lease expiry='010' unit='seconds'/></range></dhcp></ip></network>",
    );
    expect(p.dhcp).toEqual({ start: "10.0.0.010", end: "10.0.0.20", leaseTime: 10 });
    expect(p.cidr).toBe("10.0.0.0/8");
  });
});

describe("bridge and sriov networks", () => {
  const meta = { name: "lan", uuid: "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d", description: "the LAN", createdAt: "2026-11-29T00:00:00.000Z" };
  const created: BridgeNetSpec = {
    type: "bridge",
    ...meta,
    bridge: "nf-lan",
    interface: "eth1",
    created: { nic: { up: false, mtu: 9000, master: null } },
  };
  const existing: BridgeNetSpec = { type: "bridge", ...meta, bridge: "br0", interface: null, created: null };
  const pool: SriovNetSpec = { type: "sriov", ...meta, name: "fast", pf: "enp3s0f0", vfs: 8, vlan: 100 };
  it("a bridge netforge created for a NIC, with the NIC's state before", () => golden("bridge-created.xml", renderNetworkXml(created)));
  it("an existing host bridge", () => golden("bridge-existing.xml", renderNetworkXml(existing)));
  it("an SR-IOV pool with a VLAN tag", () => golden("sriov-vlan.xml", renderNetworkXml(pool)));
  it("an SR-IOV pool without VF count or VLAN has no <vlan>", () => {
    const xml = renderNetworkXml({ ...pool, vfs: null, vlan: null });
    expect(xml).not.toContain("<vlan>");
    expect(xml).toContain("<forward mode='hostdev' managed='yes'>\n    <pf dev='enp3s0f0'/>\n  </forward>");
  });
  it("round-trips each shape, and libvirt's own elements say the same", () => {
    for (const s of [
      created,
      existing,
      { ...created, interface: "eth2", created: { nic: { up: true, mtu: 1500, master: "vrf-blue" } } },
      { ...existing, interface: "eth3" },
      pool,
      { ...pool, vfs: null },
      { ...pool, vlan: null },
    ] as NetSpec[]) {
      const p = parseNetworkXml(renderNetworkXml(s));
      expect(p.spec).toEqual(s);
      expect(p.type).toBe(s.type);
      expect(p.cidr).toBeNull();
      expect(p.dhcp).toBeNull();
    }
    expect(parseNetworkXml(renderNetworkXml(created))).toMatchObject({ bridge: "nf-lan", forwardMode: "bridge" });
    expect(parseNetworkXml(renderNetworkXml(pool))).toMatchObject({ bridge: null, forwardMode: "hostdev" });
  });
  it("escapes what it writes for these types too", () => {
    const xml = renderNetworkXml({ ...pool, pf: "a'b<c" });
    expect(xml).toContain("<pf dev='a&apos;b&lt;c'/>");
    expect((parseNetworkXml(xml).spec as SriovNetSpec).pf).toBe("a'b<c");
  });
});

describe("managedBy in the metadata", () => {
  it("is written only when given, and read back into the spec", () => {
    const owned = { ...base, managedBy: "fleet-a" };
    const xml = renderNetworkXml(owned);
    expect(xml).toContain("<nf:managedBy>fleet-a</nf:managedBy>");
    const p = parseNetworkXml(xml);
    expect(p.managedBy).toBe("fleet-a");
    expect(p.spec?.managedBy).toBe("fleet-a");
    expect(renderNetworkXml(base)).not.toContain("managedBy");
    expect(parseNetworkXml(renderNetworkXml(base)).spec).not.toHaveProperty("managedBy");
  });
});

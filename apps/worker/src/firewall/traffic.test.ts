import { renderHostTable } from "@netforge/core/model";
import { describe, expect, it } from "vitest";
import { lanRows, trafficOf, withVmTraffic } from "../ip-table";
import { FakeNft, webNetwork } from "./__fixtures__/fake-nft";
import { NftBackend, parseTrafficState, withoutTrafficElements } from "./nftables";

// `nft -j list table inet netforge` of a host where web counted some traffic (a trimmed real listing).
const listing = JSON.stringify({
  nftables: [
    { metainfo: { version: "1.0.6", json_schema_version: 1 } },
    { table: { family: "inet", name: "netforge", handle: 1 } },
    {
      counter: {
        family: "inet",
        name: "web-traffic-in",
        table: "netforge",
        handle: 2,
        comment: "since 1765080000",
        packets: 40,
        bytes: 6000000,
      },
    },
    {
      counter: {
        family: "inet",
        name: "web-traffic-out",
        table: "netforge",
        handle: 3,
        comment: "since 1765080000",
        packets: 30,
        bytes: 2000,
      },
    },
    {
      set: {
        family: "inet",
        name: "traffic-vm-out",
        table: "netforge",
        type: ["ifname", "ether_addr"],
        handle: 4,
        size: 1048576,
        elem: [
          { elem: { val: { concat: ["nf-web", "52:54:00:AA:00:01"] }, counter: { packets: 30, bytes: 2000 } } },
          { elem: { val: { concat: ["nf-gone", "52:54:00:aa:00:09"] }, counter: { packets: 3, bytes: 200 } } },
        ],
        stmt: [{ counter: null }],
      },
    },
    {
      set: {
        family: "inet",
        name: "traffic-vm-in",
        table: "netforge",
        type: ["ifname", "ipv4_addr"],
        handle: 5,
        size: 1048576,
        elem: [{ elem: { val: { concat: ["nf-web", "10.70.0.10"] }, counter: { packets: 40, bytes: 6000000 } } }],
      },
    },
    { set: { family: "inet", name: "other", table: "netforge", type: "ipv4_addr", handle: 6 } },
    { counter: { family: "inet", name: "someone-else", table: "netforge", handle: 7, packets: 1, bytes: 1 } },
  ],
});

describe("traffic counters", () => {
  it("reads the network counters (with their start) and the per-VM sets of a listing, nothing else", () => {
    const s = parseTrafficState(listing);
    expect([...s.counters]).toEqual([
      ["web-traffic-in", { packets: 40, bytes: 6000000, since: 1765080000 }],
      ["web-traffic-out", { packets: 30, bytes: 2000, since: 1765080000 }],
    ]);
    expect(s.vms.get("traffic-vm-out")?.get("nf-web/52:54:00:aa:00:01")).toEqual({ packets: 30, bytes: 2000 });
    expect(s.vms.get("traffic-vm-in")?.get("nf-web/10.70.0.10")).toEqual({ packets: 40, bytes: 6000000 });
    expect(parseTrafficState("not json").counters.size).toBe(0);
  });

  it("a whole table carries the counts read from the kernel over (they only grow), a stopped network's too", async () => {
    const r = new FakeNft();
    r.listing = listing.replaceAll('"web-', '"gone-').replace('"gone-traffic-in"', '"web-traffic-in"');
    const b = new NftBackend(r);
    await b.replace([webNetwork([8080])]);
    const text = r.inputs[0] as string;
    expect(text).toContain('\tcounter web-traffic-in {\n\t\tcomment "since 1765080000"\n\t\tpackets 40 bytes 6000000\n\t}');
    // A counter the kernel did not have starts at 0 now; the stopped network "gone" keeps its counts.
    expect(text).toMatch(/\tcounter web-traffic-out \{\n\t\tcomment "since \d+"\n\t\tpackets 0 bytes 0\n\t\}/);
    expect(text).toContain("\tcounter gone-traffic-out {");
    expect(text).toContain(
      'elements = { "nf-gone" . 52:54:00:aa:00:09 counter packets 3 bytes 200, "nf-web" . 52:54:00:aa:00:01 counter packets 30 bytes 2000 }',
    );
    // The table deleted by hand (the kernel has no counters now): the kept values, never back to 0.
    r.listing = "";
    await b.replace([webNetwork([8080])], { whole: true });
    expect(r.inputs[1]).toContain("packets 40 bytes 6000000");
    const state = await b.trafficCounts();
    expect(trafficOf("web", state)).toEqual({
      bytesIn: 6000000,
      bytesOut: 0,
      packetsIn: 40,
      packetsOut: 0,
      since: new Date(1765080000 * 1000).toISOString(),
    });
    expect(trafficOf("nothing", state)).toBeNull();
  });

  it("each VM's row gets its traffic: in by its address, out by its MAC; a VM never seen none", () => {
    const s = parseTrafficState(listing);
    const row = (ip: string, mac: string) => ({ ip, mac, vmName: null, hostname: null, static: false, leaseExpiresAt: null });
    const rows = withVmTraffic("nf-web", [row("10.70.0.10", "52:54:00:AA:00:01"), row("10.70.0.11", "52:54:00:aa:00:02")], s);
    expect(rows[0]?.traffic).toEqual({ bytesIn: 6000000, bytesOut: 2000, packetsIn: 40, packetsOut: 30 });
    expect(rows[1]?.traffic).toBeUndefined();
    expect(withVmTraffic("nf-other", [row("10.70.0.10", "52:54:00:aa:00:01")], s)[0]?.traffic).toBeUndefined();
  });

  it("splits by peer: the network's outside and network counters, each VM's by its peers' sets; forgotten with the network", async () => {
    const counter = (name: string, packets: number, bytes: number) => ({
      counter: { family: "inet", name, table: "netforge", comment: "since 1765090000", packets, bytes },
    });
    const set = (name: string, key: [string, string], packets: number, bytes: number) => ({
      set: { family: "inet", name, table: "netforge", elem: [{ elem: { val: { concat: key }, counter: { packets, bytes } } }] },
    });
    const doc = JSON.parse(listing) as { nftables: unknown[] };
    doc.nftables.push(
      counter("web_outside-in", 30, 5000000),
      counter("web_outside-out", 20, 1500),
      counter("web_network-in", 12, 3000000),
      counter("web_network-out", 14, 3000500),
      // A network named "web-outside": its total, not a peer counter of web's.
      counter("web-outside-traffic-in", 1, 1),
      set("traffic-vm-outside-out", ["nf-web", "52:54:00:aa:00:01"], 20, 1500),
      set("traffic-vm-network-out", ["nf-web", "52:54:00:aa:00:01"], 14, 3000500),
      set("traffic-vm-outside-in", ["nf-web", "10.70.0.10"], 30, 5000000),
      set("traffic-vm-network-in", ["nf-web", "10.70.0.11"], 12, 3000000),
    );
    const s = parseTrafficState(JSON.stringify(doc));
    expect(trafficOf("web", s)).toEqual({
      bytesIn: 6000000,
      bytesOut: 2000,
      packetsIn: 40,
      packetsOut: 30,
      since: new Date(1765080000 * 1000).toISOString(),
      peers: {
        outside: { bytesIn: 5000000, bytesOut: 1500, packetsIn: 30, packetsOut: 20 },
        network: { bytesIn: 3000000, bytesOut: 3000500, packetsIn: 12, packetsOut: 14 },
        since: new Date(1765090000 * 1000).toISOString(),
      },
    });
    expect(trafficOf("web-outside", s)?.bytesIn).toBe(1);
    expect(trafficOf("web-outside", s)?.peers).toBeUndefined();
    // Without the peers' counters (a table of an older worker): totals only.
    expect(trafficOf("web", parseTrafficState(listing))?.peers).toBeUndefined();
    const row = (ip: string, mac: string) => ({ ip, mac, vmName: null, hostname: null, static: false, leaseExpiresAt: null });
    const rows = withVmTraffic("nf-web", [row("10.70.0.10", "52:54:00:aa:00:01"), row("10.70.0.11", "52:54:00:aa:00:02")], s);
    expect(rows[0]?.traffic?.peers).toEqual({
      outside: { bytesIn: 5000000, bytesOut: 1500, packetsIn: 30, packetsOut: 20 },
      network: { bytesIn: 0, bytesOut: 3000500, packetsIn: 0, packetsOut: 14 },
    });
    // Seen only with another VM (not in the totals' sets, which are the edge's): its traffic all the same.
    expect(rows[1]?.traffic).toEqual({
      bytesIn: 0,
      bytesOut: 0,
      packetsIn: 0,
      packetsOut: 0,
      peers: {
        outside: { bytesIn: 0, bytesOut: 0, packetsIn: 0, packetsOut: 0 },
        network: { bytesIn: 3000000, bytesOut: 0, packetsIn: 12, packetsOut: 0 },
      },
    });
    expect(withVmTraffic("nf-web", [row("10.70.0.12", "52:54:00:aa:00:03")], s)[0]?.traffic).toBeUndefined();

    // Deleting the network deletes its peers' counters too (not the other network's), and its elements everywhere.
    const r = new FakeNft();
    r.listing = JSON.stringify(doc);
    const b = new NftBackend(r);
    await b.replace([webNetwork([8080])]);
    await b.replace([]);
    await b.forgetTraffic("web", "nf-web", false);
    const deleted = r.inputs.slice(2).join("");
    for (const k of ["web-traffic-in", "web-traffic-out", "web_outside-in", "web_outside-out", "web_network-in", "web_network-out"])
      expect(deleted).toContain(`delete counter inet netforge ${k}\n`);
    expect(deleted).not.toContain("web-outside-traffic-in");
    expect(deleted).toContain('delete element inet netforge traffic-vm-network-in { "nf-web" . 10.70.0.11 }');
  });

  it("a bridge network is counted at its NIC in the bridge table: carried over, shown with rows by MAC, forgotten when deleted", async () => {
    const bridgeListing = JSON.stringify({
      nftables: [
        { counter: { family: "bridge", name: "lan_lan-in", table: "netforge", comment: "since 1765070000", packets: 9, bytes: 9000 } },
        { counter: { family: "bridge", name: "lan_lan-out", table: "netforge", comment: "since 1765070000", packets: 7, bytes: 700 } },
        {
          set: {
            family: "bridge",
            name: "traffic-lan-out",
            table: "netforge",
            elem: [{ elem: { val: { concat: ["eth1", "52:54:00:bb:00:01"] }, counter: { packets: 7, bytes: 700 } } }],
          },
        },
        {
          set: {
            family: "bridge",
            name: "traffic-lan-in",
            table: "netforge",
            elem: [
              { elem: { val: { concat: ["eth1", "52:54:00:bb:00:01"] }, counter: { packets: 8, bytes: 8000 } } },
              { elem: { val: { concat: ["eth1", "ff:ff:ff:ff:ff:ff"] }, counter: { packets: 1, bytes: 1000 } } },
              // A LAN host's MAC flooded to the VM ports (unknown unicast): no domain owns it, it sent nothing: no row.
              { elem: { val: { concat: ["eth1", "00:11:22:33:44:55"] }, counter: { packets: 1, bytes: 60 } } },
            ],
          },
        },
      ],
    });
    const r = new FakeNft();
    r.bridgeListing = bridgeListing;
    const b = new NftBackend(r);
    await b.replace([webNetwork([8080])], { lan: [{ name: "lan", uplink: "eth1" }] });
    // The first whole table with a bridge network counts it at its NIC (the kernel's counts read first, carried).
    expect(r.inputs[0]).toContain('oifname "eth1" counter name "lan_lan-out" update @traffic-lan-out { oifname . ether saddr }');
    // (A worker restart: the kernel's counts of the bridge table are read before its first whole table.)
    expect(r.inputs[0]).toContain('\tcounter lan_lan-in {\n\t\tcomment "since 1765070000"\n\t\tpackets 9 bytes 9000\n');
    const state = await b.trafficCounts();
    expect(trafficOf("lan", state)).toEqual({
      bytesIn: 9000,
      bytesOut: 700,
      packetsIn: 9,
      packetsOut: 7,
      since: new Date(1765070000 * 1000).toISOString(),
    });
    // Carried over by the next whole table, in the bridge table only.
    await b.replace([webNetwork([8080])], { whole: true, lan: [{ name: "lan", uplink: "eth1" }] });
    const text = r.inputs.at(-1) as string;
    const [inet, bridge] = text.split("table bridge netforge {}");
    expect(inet).not.toContain("lan_lan");
    expect(bridge).toContain('\tcounter lan_lan-in {\n\t\tcomment "since 1765070000"\n\t\tpackets 9 bytes 9000\n\t}');
    expect(bridge).toContain('"eth1" . 52:54:00:bb:00:01 counter packets 7 bytes 700');
    const rows = lanRows("eth1", state, new Map([["52:54:00:bb:00:01", "vm1"]]));
    expect(rows).toEqual([
      {
        ip: "",
        mac: "52:54:00:bb:00:01",
        vmName: "vm1",
        hostname: null,
        static: false,
        leaseExpiresAt: null,
        traffic: { bytesIn: 8000, bytesOut: 700, packetsIn: 8, packetsOut: 7 },
      },
    ]);
    expect(lanRows("eth2", state, new Map())).toEqual([]);
    // Deleted: its counters and its NIC's elements leave the bridge table.
    const n = r.inputs.length;
    await b.forgetTraffic("lan", "nf-lan", false);
    expect(r.inputs.slice(n)).toEqual([
      "delete counter bridge netforge lan_lan-in\n",
      "delete counter bridge netforge lan_lan-out\n",
      'delete element bridge netforge traffic-lan-out { "eth1" . 52:54:00:bb:00:01 }\n',
      'delete element bridge netforge traffic-lan-in { "eth1" . 52:54:00:bb:00:01 }\n',
      'delete element bridge netforge traffic-lan-in { "eth1" . ff:ff:ff:ff:ff:ff }\n',
      'delete element bridge netforge traffic-lan-in { "eth1" . 00:11:22:33:44:55 }\n',
    ]);
    await b.replace([webNetwork([8080])], { lan: [] });
    expect(r.inputs.at(-1)).not.toContain("lan_lan");
    expect(r.inputs.at(-1)).not.toContain("52:54:00:bb:00:01");
    // An apply adding a bridge network that fails: the next one still renders it whole (not a delta without it).
    r.failNext = true;
    await expect(b.replace([webNetwork([8080])], { lan: [{ name: "lan2", uplink: "eth2" }] })).rejects.toThrow();
    await b.replace([webNetwork([8080])], { lan: [{ name: "lan2", uplink: "eth2" }] });
    expect(r.inputs.at(-1)).toContain('iifname "eth2" meta mark set meta mark or 0x00100000 counter name "lan2_lan-in"');
  });

  it("a bridge network's traffic between two VMs: counted by its VM ports (the port watcher's), split as the network peer, per VM too", async () => {
    const c = (name: string, packets: number, bytes: number) => ({
      counter: { family: "bridge", name, table: "netforge", comment: "since 1765070000", packets, bytes },
    });
    const el = (mac: string, packets: number, bytes: number) => ({ elem: { val: { concat: ["eth1", mac] }, counter: { packets, bytes } } });
    const set = (name: string, elem: unknown[]) => ({ set: { family: "bridge", name, table: "netforge", elem } });
    const r = new FakeNft();
    r.bridgeListing = JSON.stringify({
      nftables: [
        c("lan_lan-in", 9, 9000),
        c("lan_lan-out", 7, 700),
        c("lan_lan-network-in", 5, 5000),
        c("lan_lan-network-out", 5, 5000),
        set("traffic-lan-out", [el("52:54:00:bb:00:01", 7, 700)]),
        set("traffic-lan-in", [el("52:54:00:bb:00:01", 9, 9000)]),
        set("traffic-lan-network-out", [el("52:54:00:bb:00:01", 5, 5000)]),
        set("traffic-lan-network-in", [el("52:54:00:bb:00:02", 5, 5000)]),
      ],
    });
    const b = new NftBackend(r);
    await b.replace([], { lan: [{ name: "lan", uplink: "eth1", bridge: "nf-lan", ports: ["vnet2", "vnet1"] }] });
    const text = r.inputs.at(-1) as string;
    expect(text).toContain('\tset lan_ports {\n\t\ttype ifname\n\t\telements = { "vnet1", "vnet2" }\n\t}');
    expect(text).toContain(
      'iifname @lan_ports oifname @lan_ports counter name "lan_lan-network-out" counter name "lan_lan-network-in" update @traffic-lan-network-out { "eth1" . ether saddr } update @traffic-lan-network-in { "eth1" . ether daddr }',
    );
    // Carried over like the LAN's.
    expect(text).toContain('\tcounter lan_lan-network-in {\n\t\tcomment "since 1765070000"\n\t\tpackets 5 bytes 5000\n');
    const state = await b.trafficCounts();
    const since = new Date(1765070000 * 1000).toISOString();
    expect(trafficOf("lan", state)).toEqual({
      bytesIn: 9000,
      bytesOut: 700,
      packetsIn: 9,
      packetsOut: 7,
      since,
      peers: {
        outside: { bytesIn: 9000, bytesOut: 700, packetsIn: 9, packetsOut: 7 },
        network: { bytesIn: 5000, bytesOut: 5000, packetsIn: 5, packetsOut: 5 },
        since,
      },
    });
    // Rows: a VM seen only receiving from another VM (owned by a domain) has one too.
    const rows = lanRows("eth1", state, new Map([["52:54:00:bb:00:02", "vm2"]]));
    expect(rows.map((x) => [x.mac, x.traffic])).toEqual([
      [
        "52:54:00:bb:00:01",
        {
          bytesIn: 9000,
          bytesOut: 700,
          packetsIn: 9,
          packetsOut: 7,
          peers: {
            outside: { bytesIn: 9000, bytesOut: 700, packetsIn: 9, packetsOut: 7 },
            network: { bytesIn: 0, bytesOut: 5000, packetsIn: 0, packetsOut: 5 },
          },
        },
      ],
      [
        "52:54:00:bb:00:02",
        {
          bytesIn: 0,
          bytesOut: 0,
          packetsIn: 0,
          packetsOut: 0,
          peers: {
            outside: { bytesIn: 0, bytesOut: 0, packetsIn: 0, packetsOut: 0 },
            network: { bytesIn: 5000, bytesOut: 0, packetsIn: 5, packetsOut: 0 },
          },
        },
      ],
    ]);
    // Deleted: the network counters and elements go too.
    const n = r.inputs.length;
    await b.forgetTraffic("lan", "nf-lan", false);
    expect(r.inputs.slice(n)).toContain("delete counter bridge netforge lan_lan-network-in\n");
    expect(r.inputs.slice(n)).toContain('delete element bridge netforge traffic-lan-network-in { "eth1" . 52:54:00:bb:00:02 }\n');
  });

  it("the drift check ignores the per-VM sets' elements (a VM's first packet is no hand edit), not the maps'", () => {
    const a =
      "table inet netforge {\n\tset traffic-vm-out {\n\t\ttype ether_addr\n\t\tflags dynamic\n\t\tcounter\n\t}\n\tmap fwd-tcp {\n\t\telements = { 80 : 10.0.0.1 . 80 }\n\t}\n}";
    const b = a.replace(
      "\t\tcounter\n",
      "\t\tcounter\n\t\telements = { 52:54:00:00:00:01 counter,\n\t\t\t     52:54:00:00:00:02 counter }\n",
    );
    expect(withoutTrafficElements(b)).toBe(a);
    expect(withoutTrafficElements(a.replace("80 : 10.0.0.1", "81 : 10.0.0.1"))).not.toBe(a);
  });

  it("the renderer refuses bad counter names and values", () => {
    const counters = (name: string, bytes = 1) => new Map([[name, { packets: 1, bytes, since: 1 }]]);
    expect(() => renderHostTable([], { counters: counters("x; flush ruleset") })).toThrow(/refusing counter/);
    expect(() => renderHostTable([], { counters: counters("web-traffic-in", -1) })).toThrow(/refusing counter value/);
    const vm = (key: string) => new Map([["traffic-vm-out", new Map([[key, { packets: 1, bytes: 1 }]])]]);
    expect(() => renderHostTable([], { vmCounters: vm("nf-web/not-a-mac") })).toThrow(/refusing element/);
    expect(() => renderHostTable([], { vmCounters: vm('nf-"web/52:54:00:aa:00:01') })).toThrow(/refusing element/);
  });

  it("forgets a deleted network's counters and its VMs' elements (not on the host, not rendered), in the kernel too", async () => {
    const r = new FakeNft();
    r.listing = listing.replaceAll('"web-', '"gone-');
    const b = new NftBackend(r);
    await b.replace([webNetwork([8080])]);
    expect(await b.forgetTrafficExcept(new Set(["stopped"]), new Set(["nf-stopped"]))).toEqual([
      "gone-traffic-in",
      "gone-traffic-out",
      "traffic-vm-out nf-gone/52:54:00:aa:00:09",
    ]);
    expect(r.inputs.slice(1)).toEqual([
      "delete counter inet netforge gone-traffic-in\n",
      "delete counter inet netforge gone-traffic-out\n",
      'delete element inet netforge traffic-vm-out { "nf-gone" . 52:54:00:aa:00:09 }\n',
    ]);
    r.listing = "";
    const state = await b.trafficCounts();
    expect([...state.counters.keys()]).toEqual([]);
    expect([...(state.vms.get("traffic-vm-out")?.keys() ?? [])]).toEqual(["nf-web/52:54:00:aa:00:01"]);
    expect(await b.forgetTrafficExcept(new Set(), new Set())).toEqual([]);
  });

  it("a deleted network's counts leave the kernel and are not carried over; created again it starts at 0", async () => {
    const r = new FakeNft();
    r.listing = listing;
    const b = new NftBackend(r);
    await b.replace([webNetwork([8080])]);
    await b.replace([]);
    await b.forgetTraffic("web", "nf-web", false);
    expect(r.inputs.slice(2)).toEqual([
      "delete counter inet netforge web-traffic-in\n",
      "delete counter inet netforge web-traffic-out\n",
      'delete element inet netforge traffic-vm-out { "nf-web" . 52:54:00:aa:00:01 }\n',
      'delete element inet netforge traffic-vm-in { "nf-web" . 10.70.0.10 }\n',
    ]);
    // The fake kernel still answers the old listing: the next whole table does not carry web's counts.
    await b.replace([webNetwork([8080])], { whole: true });
    const text = r.inputs.at(-1) as string;
    expect(text).toMatch(/\tcounter web-traffic-in \{\n\t\tcomment "since \d+"\n\t\tpackets 0 bytes 0\n/);
    expect(text).not.toContain("52:54:00:aa:00:01");
    expect(text).toContain("52:54:00:aa:00:09"); // another bridge's element stays
  });
});

import { describe, expect, it } from "vitest";
import {
  bridgePortChanges,
  bridgePortEntriesFromFdb,
  type FdbRow,
  localMacsFromFdb,
  macConflicts,
  movedPortEntries,
  unicastChanges,
  unicastEntriesFromFdb,
  wantedUnicastEntries,
  withGatewayMac,
} from "./overlay-unicast";

const members = [
  { id: "h1", ip: "172.31.5.1" },
  { id: "h2", ip: "172.31.5.2" },
  { id: "h3", ip: "172.31.5.3" },
];
const M1 = "52:54:00:00:00:01";
const M2 = "52:54:00:00:00:02";
const M3 = "52:54:00:00:00:03";
const MX = "52:54:00:00:00:99";

describe("localMacsFromFdb", () => {
  it("keeps what the bridge learned on its own ports, not the ports' own addresses, the VXLAN device's or multicast", () => {
    const rows = [
      { mac: "33:33:00:00:00:01", ifname: "nfov1", flags: ["self"], state: "permanent" },
      { mac: "52:54:00:AA:00:01", ifname: "nv1", flags: [], master: "nfov1" },
      { mac: "52:54:00:aa:00:02", ifname: "nv2", flags: [], master: "nfov1", state: "static" },
      { mac: "9e:84:a1:74:17:81", ifname: "nv1", flags: [], master: "nfov1", state: "permanent" },
      { mac: "01:00:5e:00:00:01", ifname: "nv1", flags: ["self"], state: "permanent" },
      { mac: "32:3c:6f:3d:0f:17", ifname: "nfvx1", flags: [], master: "nfov1", state: "permanent" },
      { mac: "52:54:00:aa:00:03", ifname: "nfvx1", flags: [], master: "nfov1" },
      { mac: "52:54:00:aa:00:04", ifname: "nfvx1", dst: "172.31.5.3", flags: ["self"], state: "static" },
      { mac: "52:54:00:aa:00:05", ifname: "other", flags: [], master: "br9" },
      { mac: "52:54:00:aa:00:01", ifname: "nv1", flags: [], master: "nfov1", vlan: 1 },
    ];
    expect(localMacsFromFdb(rows, "nfov1", "nfvx1")).toEqual(["52:54:00:aa:00:01", "52:54:00:aa:00:02"]);
  });
});

describe("wantedUnicastEntries and macConflicts", () => {
  it("one entry per MAC on exactly one other member, toward its underlay; none for its own", () => {
    const pub = new Map([
      ["h1", [M1]],
      ["h2", []],
      ["h3", [M3]],
    ]);
    expect(wantedUnicastEntries("h1", members, pub)).toEqual([{ mac: M3, dst: "172.31.5.3" }]);
    expect(wantedUnicastEntries("h2", members, pub)).toEqual([
      { mac: M1, dst: "172.31.5.1" },
      { mac: M3, dst: "172.31.5.3" },
    ]);
    expect(macConflicts(pub)).toEqual([]);
  });
  it("a MAC on two members at once is not moved: an entry toward one of them stays, none is written, none points elsewhere", () => {
    const pub = new Map([
      ["h1", [M3]],
      ["h2", []],
      ["h3", [M3]],
    ]);
    // h2 had it toward h3 (before h1 had it too): kept; toward h1 just as well (it is one of them).
    expect(wantedUnicastEntries("h2", members, pub, [{ mac: M3, dst: "172.31.5.3" }])).toEqual([{ mac: M3, dst: "172.31.5.3" }]);
    expect(wantedUnicastEntries("h2", members, pub, [{ mac: M3, dst: "172.31.5.1" }])).toEqual([{ mac: M3, dst: "172.31.5.1" }]);
    // None before: none written. Toward a host that has it no more: removed. Two destinations: removed.
    expect(wantedUnicastEntries("h2", members, pub)).toEqual([]);
    expect(wantedUnicastEntries("h2", members, pub, [{ mac: M3, dst: "172.31.5.2" }])).toEqual([]);
    expect(
      wantedUnicastEntries("h2", members, pub, [
        { mac: M3, dst: "172.31.5.1" },
        { mac: M3, dst: "172.31.5.3" },
      ]),
    ).toEqual([]);
    // h3 has it itself and had an entry toward h1 (where it was): kept, harmless (its bridge delivers locally).
    expect(wantedUnicastEntries("h3", members, pub, [{ mac: M3, dst: "172.31.5.1" }])).toEqual([{ mac: M3, dst: "172.31.5.1" }]);
  });
  it("a MAC on two members at once: no entry where there was none, reported once with both hosts", () => {
    const pub = new Map([
      ["h1", [M1, M3]],
      ["h2", undefined],
      ["h3", [M3]],
    ]);
    expect(wantedUnicastEntries("h2", members, pub)).toEqual([{ mac: M1, dst: "172.31.5.1" }]);
    expect(wantedUnicastEntries("h1", members, pub)).toEqual([]);
    expect(macConflicts(pub)).toEqual([{ mac: M3, hosts: ["h1", "h3"] }]);
  });
  it("a host that is no member is ignored; invalid MACs are never entries", () => {
    const pub = new Map([
      ["h9", [MX]],
      ["h3", ["ff:ff:ff:ff:ff:ff", "nonsense", M3]],
    ]);
    expect(wantedUnicastEntries("h1", members, pub)).toEqual([{ mac: M3, dst: "172.31.5.3" }]);
  });
});

describe("unicastChanges", () => {
  it("replaces the missing and the moved, deletes the unwanted, leaves the right ones", () => {
    const rows = [
      { mac: "00:00:00:00:00:00", dst: "172.31.5.2", flags: ["self"] },
      { mac: "32:3c:6f:3d:0f:17", master: "nfov1", state: "permanent" },
      { mac: M1, dst: "172.31.5.3", flags: ["self"], state: "static" },
      { mac: MX, dst: "172.31.5.2", flags: ["self"], state: "static" },
      { mac: M3, dst: "172.31.5.3", flags: ["self"], state: "static" },
    ];
    const have = unicastEntriesFromFdb(rows);
    expect(have.map((e) => e.mac)).toEqual([M1, MX, M3]);
    const ch = unicastChanges(7, have, [
      { mac: M1, dst: "172.31.5.1" },
      { mac: M3, dst: "172.31.5.3" },
    ]);
    expect(ch.replace).toEqual([{ mac: M1, dst: "172.31.5.1" }]);
    expect(ch.remove).toEqual([MX]);
    expect(ch.commands).toEqual([
      ["fdb", "replace", M1, "dev", "nfvx7", "dst", "172.31.5.1", "static"],
      ["fdb", "del", MX, "dev", "nfvx7"],
    ]);
    expect(unicastChanges(7, [{ mac: M3, dst: "172.31.5.3" }], [{ mac: M3, dst: "172.31.5.3" }]).commands).toEqual([]);
  });
});

describe("the bridge's own entries toward the VXLAN port", () => {
  it("one per MAC with a unicast entry that this member does not have itself; the unwanted removed from the port", () => {
    const rows: FdbRow[] = [
      { mac: M1, master: "nfov7", state: "static", flags: [] },
      { mac: MX, master: "nfov7", state: "static", flags: [] },
      { mac: M3, dst: "172.31.5.3", flags: ["self"], state: "static" },
      { mac: "32:3c:6f:3d:0f:17", master: "nfov7", state: "permanent" },
    ];
    const have = bridgePortEntriesFromFdb(rows, "nfov7");
    expect(have).toEqual([M1, MX].sort());
    const want = [
      { mac: M1, dst: "172.31.5.1" },
      { mac: M3, dst: "172.31.5.3" },
      { mac: M2, dst: "172.31.5.3" },
    ];
    // M2 is this member's own too (a MAC on two members): it stays where this bridge learned it.
    expect(bridgePortChanges(7, have, want, [M2])).toEqual([
      ["fdb", "replace", M3, "dev", "nfvx7", "master", "static"],
      ["fdb", "del", MX, "dev", "nfvx7", "master"],
    ]);
    expect(bridgePortChanges(7, [M1, M3], want, [M2])).toEqual([]);
  });

  it("an entry learning moved to a local port (the VM came here) is made an ordinary one; learned ones are left", () => {
    const rows: FdbRow[] = [
      { mac: M1, ifname: "vnet3", master: "nfov7", state: "static", flags: [] },
      { mac: M2, ifname: "vnet4", master: "nfov7", state: "", flags: [] },
      { mac: M3, ifname: "nfvx7", master: "nfov7", state: "static", flags: [] },
      { mac: MX, ifname: "vnet3", state: "static", flags: ["self"] },
    ];
    expect(movedPortEntries(rows, "nfov7", "nfvx7")).toEqual([["fdb", "replace", M1, "dev", "vnet3", "master", "dynamic"]]);
  });
});

describe("withGatewayMac", () => {
  const GW = "06:4e:46:00:27:10";
  it("the gateway's fixed MAC is the definition's gateway host's alone, whoever last published it", () => {
    // Mid-move: the old gateway (h1) still publishes it, the new one (h2) not yet.
    const published = new Map([
      ["h1", [GW, M1]],
      ["h2", [M2]],
      ["h3", [M3]],
    ]);
    const norm = withGatewayMac(published, "h2", GW);
    expect(norm.get("h1")).toEqual([M1]);
    expect(norm.get("h2")).toEqual([M2, GW]);
    expect(wantedUnicastEntries("h3", members, norm)).toContainEqual({ mac: GW, dst: "172.31.5.2" });
    // Both publishing it (no conflict kept from it): still toward the definition's gateway host.
    const both = withGatewayMac(
      new Map([
        ["h1", [GW]],
        ["h2", [GW]],
        ["h3", []],
      ]),
      "h2",
      GW,
    );
    expect(wantedUnicastEntries("h3", members, both, [{ mac: GW, dst: "172.31.5.1" }])).toEqual([{ mac: GW, dst: "172.31.5.2" }]);
    // The gateway host itself wants no entry for it.
    expect(wantedUnicastEntries("h2", members, both)).toEqual([]);
  });
});

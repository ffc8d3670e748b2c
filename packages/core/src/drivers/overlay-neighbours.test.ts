import { describe, expect, it } from "vitest";
import { gatewayNeighbours, neighbourChanges, neighbourEntriesFromJson, wantedNeighbourEntries } from "./overlay-neighbours";

const M1 = "52:54:00:00:00:01";
const M2 = "52:54:00:00:00:02";
const M3 = "52:54:00:00:00:03";

describe("the gateway's addresses for ARP suppression", () => {
  it("leases, then reservations over them, then the gateway's own address; IPv6, bad MACs and group MACs left out", () => {
    const n = gatewayNeighbours(
      [
        { ip: "10.0.0.20", mac: M1.toUpperCase() },
        { ip: "10.0.0.21", mac: M2 },
        { ip: "fd00::5", mac: M3 },
        { ip: "10.0.0.22", mac: "" },
        { ip: "10.0.0.23", mac: "01:00:5e:00:00:01" },
      ],
      [{ ip: "10.0.0.21", mac: M3 }],
      { ip: "10.0.0.1", mac: "52:54:00:ff:ff:ff" },
    );
    expect(n).toEqual({ "10.0.0.1": "52:54:00:ff:ff:ff", "10.0.0.20": M1, "10.0.0.21": M3 });
  });
});

describe("a member's entries", () => {
  it("only addresses whose MAC has a unicast entry (behind one other member): none for its own VMs or unknown MACs", () => {
    const published = { "10.0.0.1": M1, "10.0.0.20": M2, "10.0.0.21": M3 };
    expect(
      wantedNeighbourEntries(published, [
        { mac: M1, dst: "192.0.2.2" },
        { mac: M3, dst: "192.0.2.3" },
      ]),
    ).toEqual([
      { ip: "10.0.0.1", mac: M1 },
      { ip: "10.0.0.21", mac: M3 },
    ]);
    expect(wantedNeighbourEntries(undefined, [{ mac: M1, dst: "192.0.2.2" }])).toEqual([]);
  });

  it("reads the bridge's permanent IPv4 entries only", () => {
    expect(
      neighbourEntriesFromJson([
        { dst: "10.0.0.20", lladdr: M2.toUpperCase(), state: ["PERMANENT"] },
        { dst: "10.0.0.21", lladdr: M3, state: ["REACHABLE"] },
        { dst: "fe80::1", lladdr: M3, state: ["PERMANENT"] },
        { dst: "10.0.0.22", state: ["PERMANENT"] },
      ]),
    ).toEqual([{ ip: "10.0.0.20", mac: M2 }]);
  });

  it("replaces the missing and the wrong, deletes the unwanted, and changes nothing when in place", () => {
    const have = [
      { ip: "10.0.0.20", mac: M2 },
      { ip: "10.0.0.21", mac: M1 },
      { ip: "10.0.0.99", mac: M1 },
    ];
    const want = [
      { ip: "10.0.0.20", mac: M2 },
      { ip: "10.0.0.21", mac: M3 },
      { ip: "10.0.0.22", mac: M1 },
    ];
    expect(neighbourChanges("nfov10000", have, want)).toEqual([
      ["neigh", "replace", "10.0.0.21", "lladdr", M3, "dev", "nfov10000", "nud", "permanent"],
      ["neigh", "replace", "10.0.0.22", "lladdr", M1, "dev", "nfov10000", "nud", "permanent"],
      ["neigh", "del", "10.0.0.99", "dev", "nfov10000"],
    ]);
    expect(neighbourChanges("nfov10000", want, want)).toEqual([]);
  });

  it("refuses to render an entry from a malformed address or bridge name", () => {
    expect(() => neighbourChanges("nfov1; x", [], [{ ip: "10.0.0.2", mac: M1 }])).toThrow(/bridge/);
    expect(() => neighbourChanges("nfov1", [], [{ ip: "10.0.0.2 x", mac: M1 }])).toThrow(/address/);
  });
});

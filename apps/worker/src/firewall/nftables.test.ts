import { describe, expect, it } from "vitest";
import { overridingFromChains } from "./nftables";

// `nft -j list chains` of a host where iptables (through iptables-nft) set FORWARD to DROP, a firewall
// tool's inet table drops input, libvirt's own chains are regular, and our table is there too.
const listing = JSON.stringify({
  nftables: [
    { metainfo: { version: "1.0.6", json_schema_version: 1 } },
    { chain: { family: "ip", table: "filter", name: "INPUT", handle: 1, type: "filter", hook: "input", prio: 0, policy: "accept" } },
    { chain: { family: "ip", table: "filter", name: "FORWARD", handle: 2, type: "filter", hook: "forward", prio: 0, policy: "drop" } },
    { chain: { family: "ip", table: "filter", name: "LIBVIRT_FWI", handle: 9 } },
    { chain: { family: "inet", table: "fw", name: "in", handle: 1, type: "filter", hook: "input", prio: 0, policy: "drop" } },
    { chain: { family: "inet", table: "netforge", name: "forward", handle: 3, type: "filter", hook: "forward", prio: 0, policy: "drop" } },
    { chain: { family: "ip6", table: "f6", name: "FORWARD", handle: 1, type: "filter", hook: "forward", prio: 0, policy: "drop" } },
  ],
});

describe("overridingFromChains", () => {
  it("names every other IPv4 base chain whose drop policy wins over our accepts", () => {
    const w = overridingFromChains(listing);
    expect(w).toHaveLength(2);
    expect(w[0]).toMatch(/chain 'FORWARD' of table ip filter \(hook forward\) has policy drop/);
    expect(w[1]).toMatch(/chain 'in' of table inet fw \(hook input\) has policy drop.*DHCP\/DNS/);
  });
  it("a host with accept policies only (the sandbox's, libvirt's) has nothing to say", () => {
    expect(overridingFromChains(listing.replaceAll('"drop"', '"accept"'))).toEqual([]);
    expect(overridingFromChains("not json")).toEqual([]);
  });
});

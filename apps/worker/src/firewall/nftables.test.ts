import { describe, expect, it } from "vitest";
import { FakeNft, webNetwork } from "./__fixtures__/fake-nft";
import { NftBackend, overridingFromChains } from "./nftables";

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

describe("NftBackend.replace", () => {
  const net = webNetwork;
  it("the whole table first; then a forwards-only change is one element update; a failed update falls back to the whole table", async () => {
    const r = new FakeNft();
    const b = new NftBackend(r);
    await b.replace([net([8080])]);
    expect(r.inputs[0]).toMatch(/^table inet netforge \{\}\ndelete table inet netforge\n/);
    await b.replace([net([8080, 9000])]);
    expect(r.inputs[1]).toBe("add element inet netforge fwd-tcp { 9000 : 10.70.0.10 . 80 }\n");
    r.failNext = true; // someone deleted the table: the element update fails
    await b.replace([net([9000])]);
    expect(r.inputs[2]).toBe("delete element inet netforge fwd-tcp { 8080 }\n");
    expect(r.inputs[3]).toMatch(/^table inet netforge \{\}\ndelete table inet netforge\n/);
    expect(r.inputs[3]).toContain("elements = { 9000 : 10.70.0.10 . 80 }");
    // Repairing drift rewrites the whole table even when nothing changed since the last apply.
    await b.replace([net([9000])]);
    expect(r.inputs).toHaveLength(4); // nothing changed: nothing run
    await b.replace([net([9000])], { whole: true });
    expect(r.inputs[4]).toMatch(/^table inet netforge \{\}\ndelete table inet netforge\n/);
  });
});

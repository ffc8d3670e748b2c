import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { golden } from "./__golden__/golden";
import type { FirewallNetwork } from "./nft";
import { renderBootCopy, renderFailClosedTable } from "./nft-boot";

const open = { defaultInbound: "accept", defaultOutbound: "accept", rules: [] } as const;
const nat: FirewallNetwork = {
  name: "web",
  reachOutside: true,
  masquerade: true,
  forwardsPorts: true,
  bridge: "nf-web",
  cidr: "10.70.0.0/24",
  firewall: { ...open, rules: [] },
  portForwards: [{ protocol: "tcp", hostPort: 2222, vmIp: "10.70.0.10", vmPort: 22 }],
  ownsTypeRules: true,
};
const iso: FirewallNetwork = {
  ...nat,
  name: "iso",
  reachOutside: false,
  masquerade: false,
  forwardsPorts: false,
  bridge: "nf-iso",
  cidr: "10.71.0.0/24",
  portForwards: [],
};

describe("boot-time firewall", () => {
  it("the boot copy is the live table plus the guard for every other netforge bridge (golden)", () => {
    const text = renderBootCopy([nat, iso]);
    golden("boot-copy.nft", text);
    expect(text).toContain('iifname "nf-*" oifname != "nf-*" iifname != { "nf-iso", "nf-web" } counter drop');
    expect(text).toContain('oifname "nf-*" iifname != "nf-*" oifname != { "nf-iso", "nf-web" } counter drop');
    // The guard comes after the networks' own dispatch, so their accepted traffic never reaches it.
    expect(text.indexOf("jump web-in")).toBeLessThan(text.indexOf("netforge boot guard"));
    // What the VMs reach on the host is closed before the worker runs, as in the live table.
    expect(text).toContain('\t\tiifname "nf-web" jump web-host\n');
    expect(text).toContain("\tchain iso-host {\n\t\tct state established,related accept\n");
    expect(text).toContain('drop comment "netforge: VM to host"');
  });

  it("with no network the guard closes every netforge bridge", () => {
    const text = renderBootCopy([]);
    expect(text).toContain('iifname "nf-*" oifname != "nf-*" counter drop comment "netforge boot guard"');
    expect(text).not.toContain("!= {");
  });

  it("deploy/netforge-failclosed.nft is exactly the fail-closed table", () => {
    golden(join(__dirname, "..", "..", "..", "..", "deploy", "netforge-failclosed.nft"), renderFailClosedTable());
  });

  it("the shipped unit loads the fail-closed table, then the boot copy, before libvirtd", () => {
    const unit = readFileSync(join(__dirname, "..", "..", "..", "..", "deploy", "netforge-firewall.service"), "utf8");
    const exec = unit.split("\n").filter((l) => l.startsWith("ExecStart="));
    expect(exec).toEqual([
      "ExecStart=/usr/sbin/nft -f /usr/local/lib/netforge/netforge-failclosed.nft",
      `ExecStart=/usr/sbin/nft -f $${"{"}NETFORGE_FIREWALL_BOOT_FILE}`,
    ]);
    expect(unit).toMatch(/^Before=.*\blibvirtd\.service\b.*\bvirtnetworkd\.service\b/m);
    expect(unit).toMatch(/^After=.*\bnftables\.service\b/m);
  });
});

import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { netforgeFirewallBoot, netforgeOverlayBoot, unitExecStart } from "./boot-units";

describe("boot units", () => {
  it("resolves Environment= defaults, %H and $-brace variables as systemd does, and maps installed paths", () => {
    const unit = [
      "[Service]",
      "Environment=FILE=/var/lib/x/%H/f.nft",
      "ExecStart=/usr/sbin/nft -f /usr/lib/a.nft",
      `ExecStart=/usr/sbin/nft -f $${"{"}FILE}`,
    ].join("\n");
    expect(unitExecStart(unit, { hostname: "hv1", installed: { "/usr/lib/a.nft": "/repo/a.nft" } })).toEqual([
      ["/usr/sbin/nft", "-f", "/repo/a.nft"],
      ["/usr/sbin/nft", "-f", "/var/lib/x/hv1/f.nft"],
    ]);
  });

  it("netforge-firewall.service: the fail-closed table from the repository, then the worker's copy of that host", () => {
    const [first, second] = netforgeFirewallBoot("hv1");
    expect(first?.slice(0, 2)).toEqual(["/usr/sbin/nft", "-f"]);
    expect(first?.[2]).toMatch(/\/deploy\/netforge-failclosed\.nft$/);
    expect(existsSync(first?.[2] as string)).toBe(true);
    expect(second).toEqual(["/usr/sbin/nft", "-f", "/var/lib/netforge/hv1/firewall.nft"]);
  });

  it("netforge-overlay.service: the tables, the devices (a failure not fatal), the flood entries, of that host", () => {
    expect(netforgeOverlayBoot("hv1")).toEqual([
      ["/usr/sbin/nft", "-f", "/var/lib/netforge/hv1/overlay.nft"],
      ["/usr/sbin/ip", "-force", "-batch", "/var/lib/netforge/hv1/overlay.ip"],
      ["/usr/sbin/bridge", "-force", "-batch", "/var/lib/netforge/hv1/overlay.bridge"],
    ]);
  });
});

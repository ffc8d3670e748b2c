import { describe, expect, it } from "vitest";
import { OPEN_FIREWALL } from "../planner/firewall";
import { type FirewallNetwork, renderHostTable, renderTableDelta } from "./nft";

// ADR 0044 "Overlay members counted": an overlay's bridged VM-to-VM frames are counted by every member's bridge
// table, so the inet forward hook's `iifname br oifname br` counting rules are left out for it.
const gw: FirewallNetwork = {
  name: "ov",
  reachOutside: true,
  masquerade: true,
  forwardsPorts: true,
  bridge: "nfov10001",
  cidr: "10.80.0.0/24",
  firewall: OPEN_FIREWALL,
  portForwards: [],
  ownsTypeRules: true,
  clampMss: true,
};

const bridged = (text: string) => text.split("\n").filter((l) => l.includes('iifname "nfov10001" oifname "nfov10001"'));

describe("an overlay's VM-to-VM counting left to the bridge table", () => {
  it("renders the bridged counting rules only without vmToVmCountedByBridge; keeps the edge and input/output ones", () => {
    const counted = renderHostTable([gw]);
    expect(bridged(counted)).toHaveLength(2);
    const left = renderHostTable([{ ...gw, vmToVmCountedByBridge: true }]);
    expect(bridged(left)).toEqual([]);
    // The edge (outside) and the gateway's own part of `network` stay.
    expect(left).toContain('iifname "nfov10001" oifname != "nfov10001" counter name "ov-traffic-out" counter name "ov_outside-out"');
    expect(left.split("\n").filter((l) => l.includes('counter name "ov_network-')).length).toBeGreaterThan(0);
    expect(left.split("\n").filter((l) => l.includes('counter name "ov_network-')).length).toBe(
      counted.split("\n").filter((l) => l.includes('counter name "ov_network-')).length - 1,
    );
  });

  it("a change of it is no delta (the whole table)", () => {
    expect(renderTableDelta([gw], [{ ...gw, vmToVmCountedByBridge: true }])).toBeNull();
  });
});

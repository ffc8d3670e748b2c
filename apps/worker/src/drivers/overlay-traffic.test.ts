import { describe, expect, it } from "vitest";
import { overlayVmPorts } from "../firewall/port-watcher";
import { overlayPartTraffic } from "./overlay-drift";

describe("a member's counts of an overlay (ADR 0044 'Overlay members counted')", () => {
  it("takes its two _lan-network counters and its bridge's elements by MAC, not another bridge's or network's", () => {
    const state = {
      counters: new Map([
        ["ov_lan-network-in", { packets: 3, bytes: 300, since: 1 }],
        ["ov_lan-network-out", { packets: 5, bytes: 500, since: 1 }],
        ["other_lan-network-out", { packets: 9, bytes: 900, since: 1 }],
      ]),
      vms: new Map([
        [
          "traffic-lan-network-out",
          new Map([
            ["nfov10001/52:54:00:AA:00:01", { packets: 5, bytes: 500 }],
            ["eth9/52:54:00:aa:00:01", { packets: 1, bytes: 1 }],
          ]),
        ],
        ["traffic-lan-network-in", new Map([["nfov10001/52:54:00:aa:00:02", { packets: 3, bytes: 300 }]])],
        ["traffic-vm-network-out", new Map([["nfov10001/52:54:00:aa:00:01", { packets: 7, bytes: 700 }]])],
      ]),
    };
    expect(overlayPartTraffic("ov", "nfov10001", state)).toEqual({
      network: { bytesIn: 300, bytesOut: 500, packetsIn: 3, packetsOut: 5 },
      vms: {
        "52:54:00:aa:00:01": { bytesIn: 0, bytesOut: 500, packetsIn: 0, packetsOut: 5 },
        "52:54:00:aa:00:02": { bytesIn: 300, bytesOut: 0, packetsIn: 3, packetsOut: 0 },
      },
    });
    expect(overlayPartTraffic("none", "nfov2", state)).toEqual({
      network: { bytesIn: 0, bytesOut: 0, packetsIn: 0, packetsOut: 0 },
      vms: {},
    });
  });

  it("its VM ports are its bridge's but the VXLAN device and libvirt's -nic", () => {
    expect(overlayVmPorts(["vnet3", "nfvx10001", "nfov10001-nic", "vnet7"], "nfvx10001")).toEqual(["vnet3", "vnet7"]);
  });
});

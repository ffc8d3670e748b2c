import { describe, expect, it } from "vitest";
import { type OverlayPartState, overlayOnlyTraffic, sumOverlayTraffic, withOverlayNetwork } from "./overlay-parts";

const c = (bytesIn: number, bytesOut: number) => ({ bytesIn, bytesOut, packetsIn: bytesIn / 100, packetsOut: bytesOut / 100 });
const part = (traffic?: OverlayPartState["traffic"]): OverlayPartState => ({
  state: "active",
  vxlanDevice: true,
  floodEntries: 2,
  connectedVms: 1,
  observedAt: "2026-12-08T03:00:00.000Z",
  ...(traffic ? { traffic } : {}),
});

describe("an overlay's members' VM-to-VM counts (ADR 0044 'Overlay members counted')", () => {
  it("sums every member's network totals and per-MAC counts; a member without counts adds nothing", () => {
    const sum = sumOverlayTraffic([
      part({ network: c(100, 8000), vms: { "52:54:00:00:00:02": c(100, 8000) } }),
      part({ network: c(8000, 100), vms: { "52:54:00:00:00:03": c(8000, 100) } }),
      part({ network: c(0, 300), vms: { "52:54:00:00:00:02": c(0, 300) } }),
      part(),
      null,
      undefined,
    ]);
    expect(sum?.network).toEqual(c(8100, 8400));
    expect(sum?.vms["52:54:00:00:00:02"]).toEqual(c(100, 8300));
    expect(sum?.vms["52:54:00:00:00:03"]).toEqual(c(8000, 100));
    expect(sumOverlayTraffic([part(), null])).toBeNull();
  });

  it("adds to the network peer only: the totals and outside stay the gateway's edge", () => {
    const t = { ...c(50, 60), since: "x", peers: { since: "y", outside: c(40, 50), network: c(10, 10) } };
    const out = withOverlayNetwork(t, c(1000, 2000));
    expect(out).toEqual({ ...c(50, 60), since: "x", peers: { since: "y", outside: c(40, 50), network: c(1010, 2010) } });
    // Counts without a split are left as they are (a gateway of an older round).
    const old = { ...c(5, 5), since: "x" };
    expect(withOverlayNetwork(old, c(1, 1))).toBe(old);
    expect(overlayOnlyTraffic(c(7, 9))).toEqual({ ...c(0, 0), peers: { outside: c(0, 0), network: c(7, 9) } });
  });
});

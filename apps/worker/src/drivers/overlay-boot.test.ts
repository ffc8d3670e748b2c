import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { OverlayNetSpec } from "@netforge/core/model";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { OverlayBoot } from "./overlay-boot";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const make = () => {
  const dir = mkdtempSync(join(tmpdir(), "nf-overlayboot-"));
  dirs.push(dir);
  return { dir, boot: new OverlayBoot(join(dir, "hv1"), pino({ level: "silent" })) };
};
/** tenant-a over hv1..hv3 (gateway hv2) as hv1's definition holds it; `over` replaces fields. */
const overlaySpec = (self: string, over: Partial<OverlayNetSpec> = {}): OverlayNetSpec => ({
  type: "overlay",
  name: "tenant-a",
  uuid: "7c1a3a0e-6f55-4a2c-9d7e-0a1b2c3d4e5f",
  description: "",
  createdAt: "2026-12-07T09:00:00.000Z",
  bridge: "nfov10000",
  cidr: "10.50.0.0/24",
  gateway: "10.50.0.1",
  dhcp: { enabled: true, start: "10.50.0.128", end: "10.50.0.254", leaseTime: 3600 },
  mtu: 1450,
  vni: 10000,
  gatewayHost: "hv2",
  nat: true,
  floodLimitPps: 1000,
  members: [
    { id: "hv1", ip: "172.30.9.1" },
    { id: "hv2", ip: "172.30.9.2" },
    { id: "hv3", ip: "172.30.9.3" },
  ],
  self,
  ...over,
});
const other: OverlayNetSpec = overlaySpec("hv1", { name: "tenant-b", vni: 10001, bridge: "nfov10001" });

describe("the overlay parts' boot files", () => {
  it("nothing is written before the whole set is known (a file of one part would leave the others out)", async () => {
    const { dir, boot } = make();
    boot.set("tenant-a", overlaySpec("hv1"));
    await boot.settled();
    expect(existsSync(join(dir, "hv1", "overlay.ip"))).toBe(false);
  });

  it("the whole set, then a part set and one dropped after jobs: the files follow", async () => {
    const { dir, boot } = make();
    const ip = () => readFileSync(join(dir, "hv1", "overlay.ip"), "utf8");
    const nft = () => readFileSync(join(dir, "hv1", "overlay.nft"), "utf8");
    boot.replaceAll(new Map());
    await boot.settled();
    expect(ip()).not.toContain("link add");
    expect(readFileSync(join(dir, "hv1", "overlay.bridge"), "utf8")).not.toContain("fdb");
    boot.set("tenant-a", overlaySpec("hv1"));
    boot.set("tenant-b", other);
    await boot.settled();
    expect(ip()).toContain("link add nfvx10000 ");
    expect(ip()).toContain("link add nfvx10001 ");
    boot.set("tenant-a", null);
    await boot.settled();
    expect(ip()).not.toContain("nfvx10000");
    expect(nft()).not.toContain("netforge-vx10000");
    expect(nft()).toContain("netforge-vx10001");
    boot.replaceAll(new Map([["tenant-a", overlaySpec("hv1")]]));
    await boot.settled();
    expect(ip()).toContain("nfvx10000");
    expect(ip()).not.toContain("nfvx10001");
    expect(boot.warnings()).toEqual([]);
  });
});

/**
 * The overlay spec the driver tests share (tenant-a: VNI 10000 over hv1..hv3 on 172.30.9.0/24, gateway on hv2), so
 * that a field added to OverlayNetSpec is added to one fixture, not to every test file.
 */
import type { OverlayMember, OverlayNetSpec } from "../overlay";

/** Each test host's underlay address. */
export const OVERLAY_IPS: Record<string, string> = { hv1: "172.30.9.1", hv2: "172.30.9.2", hv3: "172.30.9.3", hv4: "172.30.9.4" };

/** Members by host id, with the addresses above. */
export const overlayMembers = (ids: readonly string[]): OverlayMember[] => ids.map((id) => ({ id, ip: OVERLAY_IPS[id] ?? "" }));

/** tenant-a's definition on host `self`; `over` replaces fields (members, name...). */
export function overlaySpec(self: string, over: Partial<OverlayNetSpec> = {}): OverlayNetSpec {
  return {
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
    members: overlayMembers(["hv1", "hv2", "hv3"]),
    self,
    ...over,
  };
}

/** A published nat spec for door tests (the API checks and plans changes against it): a /24 with DHCP .100-.200. */
import type { NetSpec } from "@netforge/core/model";

export const natSpec = (name: string, cidr: string): NetSpec => ({
  type: "nat",
  name,
  uuid: "3e3fce45-4f53-4fa7-bb32-11f34168329c",
  description: "",
  createdAt: "2026-11-28T00:00:00.000Z",
  bridge: `nf-${name}`,
  cidr,
  gateway: cidr.replace(/0\/24$/, "1"),
  dhcp: { enabled: true, start: cidr.replace(/0\/24$/, "100"), end: cidr.replace(/0\/24$/, "200"), leaseTime: 3600 },
  reservations: [],
});

/**
 * What a bridge or sriov network was asked to attach to (the worker resolves it against the host), and back:
 * the request a queued payload's `l2` stands for. Shared by the two device types (bridge.ts, sriov.ts).
 */

/** What a bridge or sriov network was asked to attach to (the worker resolves it against the host). */
export type L2Request =
  | { kind: "interface"; interface: string }
  | { kind: "bridge"; bridge: string }
  | { kind: "sriov"; pf: string; vfs: number | null; vlan: number | null };

/**
 * The body fields a queued payload's `l2` stands for, whatever its kind (the body schema then refuses a kind
 * its type does not take); an `l2` of no known kind passes through as it is, for the schema to refuse.
 */
export function l2BodyFields(l2: unknown, isObject: (v: unknown) => v is Record<string, unknown>): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  if (isObject(l2)) {
    if (l2.kind === "interface") body.interface = l2.interface;
    else if (l2.kind === "bridge") body.bridge = l2.bridge;
    else if (l2.kind === "sriov") {
      body.pf = l2.pf;
      if (l2.vfs !== null) body.vfs = l2.vfs;
      if (l2.vlan !== null) body.vlan = l2.vlan;
    } else body.l2 = l2;
  } else if (l2 !== undefined) body.l2 = l2;
  return body;
}

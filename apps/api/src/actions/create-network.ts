/** create-network at the API: placement and the name/subnet claim; its dry run plans the definition. */
import { randomUUID } from "node:crypto";
import { AppError, assertAllowedSubnet, IMPLEMENTED_TYPES, resolveCreate, subnetOfBody } from "@netforge/core/contract";
import {
  bridgeNameFor,
  l2SpecFor,
  overlaySpecFor,
  planCreate,
  specFromCreate,
  overlayGatewayMac,
  withMemberParts,
} from "@netforge/core/model";
import { getHost, listAllNetworks } from "@netforge/core/store";
import { answer, inventoryFacts } from "../dry-run";
import { overlayAtDoor, placeAndClaim } from "../job-preparers";
import { apiHalf } from "./half";

export const createNetwork = apiHalf("create-network", {
  // The operator's subnet pools (NETFORGE_ALLOWED_CIDRS), for the types that take a subnet (the type's schema says).
  admit: (s, body) => {
    const subnet = subnetOfBody(body);
    if (subnet !== null) assertAllowedSubnet(subnet, s.config.allowedCidrs);
  },
  async prepare(redis, keys, body, commit, opts = {}) {
    const spec = resolveCreate(body);
    if (!IMPLEMENTED_TYPES.has(spec.type)) {
      throw new AppError(
        "UNSUPPORTED_FOR_TYPE",
        `network type '${spec.type}' is not supported by this version (supported: ${[...IMPLEMENTED_TYPES].join(", ")})`,
        { type: spec.type, supported: [...IMPLEMENTED_TYPES] },
      );
    }
    const { requestedHost: _requested, ...resolved } = spec;
    const uuid = randomUUID();
    // An overlay: its members checked, its VXLAN id claimed; it is placed on its gateway host (whose worker runs it).
    const overlay = spec.overlay
      ? await overlayAtDoor(redis, keys, spec.name, spec.overlay, spec.mtu, opts, spec.ipv6 !== undefined)
      : null;
    const placed = overlay && spec.overlay ? { ...spec, requestedHost: spec.overlay.gatewayHost } : spec;
    try {
      await placeAndClaim(
        redis,
        keys,
        placed,
        async (claim) => {
          const host = claim.target as string;
          const payload = {
            ...resolved,
            uuid,
            host,
            createdAt: new Date().toISOString(),
            ...(overlay ? { overlayDoor: overlay.door } : {}),
          };
          await commit({ network: spec.name, host, payload, claim });
        },
        opts.checkOnly === true,
      );
    } catch (err) {
      await overlay?.release().catch(() => undefined);
      throw err;
    }
  },
  // The definition the worker would write, its host setup and its firewall, planned from the host's inventory.
  async plan(s, prepared) {
    const host = prepared.host;
    const payload = prepared.payload;
    const [hostRec, networks] = await Promise.all([getHost(s.redis, s.keys, host), listAllNetworks(s.redis, s.keys)]);
    let spec = hostRec ? l2SpecFor(payload, hostRec, networks) : null;
    if (!spec && payload.overlayDoor && payload.overlay) spec = overlaySpecFor(payload, host);
    if (!spec) {
      // The bridge name the worker would pick: the first free one, against the host's links and its networks.
      const taken = new Set<string>(hostRec?.interfaces.map((i) => i.name) ?? []);
      for (const n of networks) if (n.host === host && n.bridge.name) taken.add(n.bridge.name);
      spec = specFromCreate({ ...payload, bridge: bridgeNameFor(prepared.network, taken) });
    }
    // With each other member's part of an overlay (one job step per host, as the job reports them).
    const plan = withMemberParts(
      planCreate(spec, { start: payload.start, autostart: payload.autostart }, inventoryFacts(hostRec), host),
      spec,
      "create-network",
      { active: payload.start, autostart: payload.autostart },
    );
    // uuid and createdAt: the real call draws its own, so the hash leaves them out.
    // (An overlay's VXLAN id too, and the gateway MAC made of it, first: a dry run claims none, the real call gets
    // the lowest free.)
    return answer(host, plan, [
      payload.uuid,
      payload.createdAt,
      ...(payload.overlayDoor ? [overlayGatewayMac(payload.overlayDoor.vni), String(payload.overlayDoor.vni)] : []),
    ]);
  },
});

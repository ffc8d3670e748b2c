/**
 * Door checks of bridge and sriov creates, from the hosts' published
 * inventory and the index: which hosts can take the network at all (those
 * that have the NIC / bridge / PF), and the clear refusals the inventory can
 * already tell (no such NIC, a NIC carrying addresses, a NIC or bridge used
 * by another network, an existing bridge the host does not list in
 * NETFORGE_ALLOWED_INTERFACES, a NIC whose upper devices carry addresses, a
 * PF another tool's libvirt network names or whose VFs are bound to drivers).
 * The worker re-checks everything on the host.
 */
import { AppError, type CreateNetworkPayload, type HostRecord, type L2Request } from "@netforge/core/contract";
import {
  type BridgeNetSpec,
  type BridgeUser,
  bridgeSetUpSteps,
  bridgeTearDownSteps,
  type NetSpec,
  chooseBridge,
  renderNetworkXml,
  planVfWrites,
  refuseForeignPf,
  type SriovNetSpec,
  type LinkFacts,
} from "@netforge/core/model";
import type { NetworkRecord } from "@netforge/core/store";

/** The host's other networks as the bridge choice sees them (from the index). */
export function bridgeUsers(host: HostRecord, networks: NetworkRecord[]): BridgeUser[] {
  return networks.filter((n) => n.host === host.id).map((n) => ({ name: n.name, bridge: n.bridge.name, interface: n.bridge.interface }));
}

/** The bridge a bridge network would get on `host`, decided from its inventory (the worker decides again on the host). */
export function bridgeChoiceFromInventory(req: L2Request, host: HostRecord, networks: NetworkRecord[], name: string) {
  // A bridge netforge made (nf-*) that no network of the index holds is one a delete just removed: the
  // inventory is refreshed right after each job, so it may still show it. The door sees the host as it is
  // after that delete (the bridge gone, its NIC free); the worker decides from a fresh read of the host.
  const held = new Set(networks.filter((n) => n.host === host.id && n.bridge.name).map((n) => n.bridge.name as string));
  const gone = new Set(
    host.interfaces.filter((i) => i.kind === "bridge" && i.name.startsWith("nf-") && !held.has(i.name)).map((i) => i.name),
  );
  const links: LinkFacts[] = host.interfaces
    .filter((i) => !gone.has(i.name))
    .map((i) => ({
      name: i.name,
      kind: i.kind,
      state: i.state,
      master: i.master !== null && gone.has(i.master) ? null : i.master,
      addresses: i.addresses,
      addresses6: i.addresses6 ?? [],
      ...(i.mtu !== undefined ? { mtu: i.mtu } : {}),
      ...(i.up !== undefined ? { adminUp: i.up } : {}),
      link: i.link ?? null,
    }));
  return chooseBridge(req, name, host.id, links, bridgeUsers(host, networks), host.allowedInterfaces ?? []);
}

/** Why `host` cannot take a network asking for `req`, or null when it can (as far as its inventory tells). */
export function l2Refusal(req: L2Request, host: HostRecord, networks: NetworkRecord[], name: string): AppError | null {
  if (req.kind === "sriov") {
    const ifs = new Set(host.interfaces.map((i) => i.name));
    // A PF the host lists, or at least an interface of that name (the worker tells why it has no SR-IOV).
    if (!host.sriovPfs.some((p) => p.pf === req.pf) && !ifs.has(req.pf)) {
      return new AppError("SRIOV_UNAVAILABLE", `host ${host.id} has no SR-IOV PF ${req.pf} (no such interface)`, {
        host: host.id,
        pf: req.pf,
      });
    }
    const pf = host.sriovPfs.find((p) => p.pf === req.pf);
    try {
      refuseForeignPf(req.pf, host.id, pf?.foreignNetworks ?? []);
      // VFs bound to any driver: a count change would remove them (the worker re-reads sysfs before writing).
      if (pf && req.vfs !== null && (pf.vfsBound ?? []).length > 0) {
        planVfWrites(
          { pf: pf.pf, totalVfs: pf.vfsTotal, numVfs: pf.vfsConfigured, vfsInUse: pf.vfsInUse ?? 0, vfsBound: pf.vfsBound },
          req.vfs,
        );
      }
    } catch (err) {
      if (err instanceof AppError && (err.code === "NOT_ALLOWED" || err.code === "INVALID_STATE")) {
        return new AppError(err.code, err.message.includes(host.id) ? err.message : `${err.message} (host ${host.id})`, {
          ...err.details,
          host: host.id,
        });
      }
      if (!(err instanceof AppError)) throw err;
    }
    const other = networks.find((n) => n.host === host.id && n.name !== name && n.sriov?.pf === req.pf);
    return other
      ? new AppError("INVALID_STATE", `SR-IOV PF ${req.pf} on host ${host.id} is already used by network '${other.name}'`, {
          host: host.id,
          usedBy: other.name,
        })
      : null;
  }
  try {
    bridgeChoiceFromInventory(req, host, networks, name);
    return null;
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
}

/** What a request asks for, for messages ("interface eth1"). */
export function l2What(req: L2Request): string {
  return req.kind === "sriov" ? `SR-IOV PF ${req.pf}` : req.kind === "bridge" ? `bridge ${req.bridge}` : `interface ${req.interface}`;
}

/**
 * The host steps and definition a bridge create would apply on `host`, from its inventory (a dry run; the
 * worker decides from a fresh read of the host, and the real call gets a fresh uuid and createdAt).
 */
export function l2CreatePlan(
  payload: CreateNetworkPayload,
  host: HostRecord,
  networks: NetworkRecord[],
): { xml: string; steps: { name: string; command: string[]; live: boolean }[] } | null {
  const req = payload.l2;
  if (!req) return null;
  if (req.kind === "sriov") {
    const spec: SriovNetSpec = {
      type: "sriov",
      name: payload.name,
      uuid: payload.uuid,
      description: payload.description,
      createdAt: payload.createdAt,
      pf: req.pf,
      vfs: req.vfs,
      vlan: req.vlan,
    };
    const pf = host.sriovPfs.find((p) => p.pf === req.pf);
    if (!pf) {
      throw new AppError(
        "SRIOV_UNAVAILABLE",
        `SR-IOV PF ${req.pf} on host ${host.id} is unavailable: its inventory lists no SR-IOV PF of that name`,
        {
          pf: req.pf,
          host: host.id,
        },
      );
    }
    refuseForeignPf(pf.pf, host.id, pf.foreignNetworks ?? []);
    const writes = planVfWrites(
      { pf: pf.pf, totalVfs: pf.vfsTotal, numVfs: pf.vfsConfigured, vfsInUse: pf.vfsInUse ?? 0, vfsBound: pf.vfsBound ?? [] },
      req.vfs,
    );
    const steps = writes.map((n) => ({
      name: `set ${n} VFs on ${req.pf}`,
      command: ["write", `/sys/class/net/${req.pf}/device/sriov_numvfs`, String(n)],
      live: true,
    }));
    return { xml: renderNetworkXml(spec), steps };
  }
  const choice = bridgeChoiceFromInventory(req, host, networks, payload.name);
  const spec: BridgeNetSpec = {
    type: "bridge",
    name: payload.name,
    uuid: payload.uuid,
    description: payload.description,
    createdAt: payload.createdAt,
    ...choice,
  };
  const nic = host.interfaces.find((i) => i.name === choice.interface);
  const steps = bridgeSetUpSteps(spec, {
    bridgeExists: host.interfaces.some((i) => i.name === spec.bridge),
    nicMaster: nic?.master ?? null,
    nicUp: nic?.up ?? nic?.state === "up",
  }).map((st) => ({ name: st.name, command: ["ip", ...st.ip], live: true }));
  return { xml: renderNetworkXml(spec), steps };
}

/** The host steps a delete runs after removing the definition (a created bridge's NIC given back), from the inventory. */
export function l2DeleteSteps(spec: NetSpec, host: HostRecord): { name: string; command: string[]; live: boolean }[] {
  if (spec.type !== "bridge") return [];
  const nic = host.interfaces.find((i) => i.name === spec.interface);
  return bridgeTearDownSteps(spec, {
    bridgeExists: host.interfaces.some((i) => i.name === spec.bridge),
    nic: nic ? { master: nic.master, mtu: nic.mtu ?? null, up: nic.up ?? nic.state === "up" } : null,
  }).map((st) => ({ name: st.name, command: ["ip", ...st.ip], live: true }));
}

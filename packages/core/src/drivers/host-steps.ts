/**
 * The host setup and teardown of the types made on a host device, as plan steps (plan/steps.ts): what the
 * worker runs before a definition is written or started, and after it is removed. Pure: from the spec and
 * the host facts of one snapshot; a dry run shows the same steps from the host's inventory.
 */
import { AppError } from "../errors";
import type { HostFacts } from "../plan/facts";
import type { HostStep } from "../plan/steps";
import type { BridgeNetSpec, SriovNetSpec } from "../planner/network-spec";
import { bridgeSetUpSteps, bridgeTearDownSteps } from "./bridge-choice";
import { planVfWrites } from "./sriov-vfs";

/** A type's host steps (DriverModel.hostSteps). */
export interface HostSteps<S> {
  /** Made before the definition is written and before every start; idempotent (nothing when in place). */
  setUp(spec: S, facts: HostFacts, host: string): HostStep[];
  /** Given back after the definition is removed. */
  tearDown(spec: S, facts: HostFacts): HostStep[];
  /** Made right after libvirt started the network (on the bridge libvirt made); absent: nothing. */
  afterStart?(spec: S, facts: HostFacts, host: string): HostStep[];
  /** Removed right before libvirt stops the network; absent: nothing. */
  beforeStop?(spec: S): HostStep[];
}

const ip = (args: string[]): string[] => ["ip", ...args];

export const bridgeHostSteps: HostSteps<BridgeNetSpec> = {
  setUp(spec, facts, host) {
    const links = new Map(facts.links.map((l) => [l.name, l]));
    if (!spec.created) {
      // The host's bridge (or the NIC's): it must still be there; it is never changed.
      if (links.get(spec.bridge)?.kind !== "bridge") {
        throw new AppError("INVALID_STATE", `bridge ${spec.bridge} of network '${spec.name}' is missing on host ${host}`, {
          name: spec.name,
          bridge: spec.bridge,
        });
      }
      return [];
    }
    const nicName = spec.interface ?? "";
    const nic = links.get(nicName);
    if (!nic) {
      throw new AppError("INVALID_STATE", `interface ${nicName} of network '${spec.name}' is missing on host ${host}`, {
        name: spec.name,
        interface: nicName,
      });
    }
    return bridgeSetUpSteps(spec, { bridgeExists: links.has(spec.bridge), nicMaster: nic.master, nicUp: nic.up }).map((st) => ({
      kind: "command",
      name: st.name,
      argv: ip(st.ip),
      undo: st.undo === "restore-nic" ? "restore-nic" : st.undo ? ip(st.undo) : null,
      live: true,
    }));
  },
  tearDown(spec, facts) {
    const nic = facts.links.find((l) => l.name === spec.interface);
    return bridgeTearDownSteps(spec, {
      bridgeExists: facts.links.some((l) => l.name === spec.bridge),
      nic: nic ? { master: nic.master, mtu: nic.mtu, up: nic.up } : null,
    }).map((st) => ({ kind: "command", name: st.name, argv: ip(st.ip), undo: null, live: true }));
  },
};

export const sriovHostSteps: HostSteps<SriovNetSpec> = {
  setUp(spec, facts, host) {
    const pf = facts.pfs.find((p) => p.pf === spec.pf);
    if (!pf) {
      // Only a dry run gets here (the worker's facts are sysfs, which names its own reason): the inventory tells.
      throw new AppError(
        "SRIOV_UNAVAILABLE",
        `SR-IOV PF ${spec.pf} on host ${host} is unavailable: its inventory lists no SR-IOV PF of that name`,
        { pf: spec.pf, host, field: "pf" },
      );
    }
    return planVfWrites(pf, spec.vfs).map((n) => ({
      kind: "sysfs-vfs",
      name: `set ${n} VFs on ${spec.pf}`,
      pf: spec.pf,
      vfs: n,
      original: pf.numVfs,
      live: true,
    }));
  },
  // The VFs stay as they are (a later network may use them; the count is the host's).
  tearDown: () => [],
};

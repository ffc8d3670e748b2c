/**
 * One snapshot of the host facts a lifecycle plan depends on. The worker reads them from the host under the
 * network's lock (links from `ip`, PFs from sysfs, the network's current definition and nft part); the API's
 * dry run takes them from the host's last published inventory. Plan and run share the snapshot, so the same
 * facts give the same plan.
 */
import type { FirewallNetwork } from "../render/nft";
import type { HostRecord } from "../schemas/host";
import type { PfState } from "../drivers/sriov-vfs";

/** A link of the host as plans read it. */
export interface LinkFact {
  name: string;
  master: string | null;
  mtu: number | null;
  /** Administratively up. */
  up: boolean;
  kind: string | null;
}

export interface HostFacts {
  links: LinkFact[];
  /** SR-IOV physical functions, as sysfs shows them. */
  pfs: PfState[];
}

/** What a plan of an existing network reads of it. */
export interface NetworkFacts {
  active: boolean;
  autostart: boolean;
  /** libvirt's persistent definition now (what a removal or redefinition is undone with). */
  xml: string;
  /** libvirt's forward mode of that definition (null: none). */
  forwardMode: string | null;
  /** The network's part of netforge's nft table now (null: none). */
  firewall: FirewallNetwork | null;
}

/** Host facts from a host's published inventory (a dry run at the API). */
export function factsFromInventory(host: HostRecord): HostFacts {
  return {
    links: host.interfaces.map((i) => ({
      name: i.name,
      master: i.master,
      mtu: i.mtu ?? null,
      up: i.up ?? i.state === "up",
      kind: i.kind,
    })),
    pfs: host.sriovPfs.map((p) => ({
      pf: p.pf,
      totalVfs: p.vfsTotal,
      numVfs: p.vfsConfigured,
      vfsInUse: p.vfsInUse ?? 0,
      vfsBound: p.vfsBound ?? [],
    })),
  };
}

/** What is plugged into a network's bridge: libvirt domains' taps and any other device. */
import type { CommandRunner } from "./command-runner";
import { readLinks } from "./ip";
import type { Virsh } from "./virsh";

/** One thing attached to a bridge, as NETWORK_IN_USE names it. */
export interface Attachment {
  kind: "domain" | "device";
  /** Domain name, or the device name for other devices. */
  name: string;
  interface: string;
}

/** Ports of a bridge right now, with the owning libvirt domain where there is one. */
export async function bridgeAttachments(runner: CommandRunner, virsh: Virsh, bridge: string): Promise<Attachment[]> {
  const ports = (await readLinks(runner)).filter((l) => l.master === bridge).map((l) => l.name);
  if (ports.length === 0) return [];
  const owners = new Map((await virsh.runningDomainInterfaces()).map((d) => [d.ifname, d.domain]));
  return ports.map((p) => {
    const dom = owners.get(p);
    return dom ? { kind: "domain", name: dom, interface: p } : { kind: "device", name: p, interface: p };
  });
}

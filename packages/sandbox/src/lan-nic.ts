/**
 * An extra "physical NIC" for a sandbox host: a veth pair whose host end has
 * no address (what a bridge network's NIC is on a real hypervisor) and whose
 * peer sits in the host's outside namespace, on a LAN of its own (the peer
 * gets `outsideCidr`, e.g. 192.0.2.1/24, so that namespace can serve DHCP and
 * talk to VMs bridged onto it). Both ends go away with the namespaces.
 */
import { run } from "./exec.js";
import type { SandboxHost } from "./host.js";
import { IFNAME_RE, assertMatch } from "./validate.js";

export interface LanNicOptions {
  /** Name of the NIC in the host (e.g. "lan0"). */
  hostIfname: string;
  /** Name of its peer in the outside namespace (e.g. "lan0-peer"... at most 15 chars). */
  outsideIfname: string;
  /** Address/prefix of the peer, "192.0.2.1/24". */
  outsideCidr: string;
  /** Bring the host end up (default true: a cabled NIC whose link is up). */
  up?: boolean;
}

export interface LanNic {
  hostIfname: string;
  outsideIfname: string;
  outsideCidr: string;
}

export async function addLanNic(host: SandboxHost, opts: LanNicOptions): Promise<LanNic> {
  const hostIfname = assertMatch("hostIfname", opts.hostIfname, IFNAME_RE);
  const outsideIfname = assertMatch("outsideIfname", opts.outsideIfname, IFNAME_RE);
  const outsideCidr = assertMatch("outsideCidr", opts.outsideCidr, /^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/);
  await run("ip", ["-n", host.netns, "link", "add", hostIfname, "type", "veth", "peer", "name", outsideIfname, "netns", host.outsideNetns]);
  try {
    await run("ip", ["-n", host.outsideNetns, "addr", "add", outsideCidr, "dev", outsideIfname]);
    await run("ip", ["-n", host.outsideNetns, "link", "set", outsideIfname, "up"]);
    if (opts.up ?? true) await run("ip", ["-n", host.netns, "link", "set", hostIfname, "up"]);
  } catch (err) {
    await run("ip", ["-n", host.netns, "link", "del", hostIfname], { reject: false });
    throw err;
  }
  return { hostIfname, outsideIfname, outsideCidr };
}

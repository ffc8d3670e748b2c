/**
 * An underlay joining sandbox hosts (overlays, issue 17): a "fabric" namespace `nff-<id>` holding one bridge,
 * as a top-of-rack switch would, and a veth from each joined host's namespace into it carrying that host's
 * underlay address. Everything lives in namespaces the sandbox creates; destroying the fabric namespace
 * removes the bridge and every fabric end (the host ends go with them, veth pairs die together).
 */
import { run } from "./exec.js";
import type { SandboxHost } from "./host.js";
import { deleteNetns, killNamespaceProcesses, listNetns, netnsExists } from "./ns.js";
import { recordNamespace } from "./run-registry.js";
import { HOST_ID_RE, IFNAME_RE, assertMatch } from "./validate.js";

export const fabricNetnsName = (id: string) => `nff-${id}`;
const BRIDGE = "fab0";

export interface Fabric {
  id: string;
  netns: string;
  bridge: string;
}

export interface FabricPort {
  /** The underlay interface in the host ("underlay0"). */
  hostIfname: string;
  /** Its address, "172.31.0.3/24". */
  cidr: string;
  /** The address alone (what NETFORGE_UNDERLAY_IP names). */
  ip: string;
  mtu: number;
}

/** A fabric namespace with its bridge, up. */
export async function createFabric(id: string): Promise<Fabric> {
  assertMatch("fabric id", id, HOST_ID_RE);
  const netns = fabricNetnsName(id);
  if (netnsExists(netns)) throw new Error(`fabric ${id} already exists (namespace ${netns}); destroy it first`);
  await run("ip", ["netns", "add", netns]);
  recordNamespace(netns);
  try {
    await run("ip", ["-n", netns, "link", "set", "lo", "up"]);
    await run("ip", ["-n", netns, "link", "add", BRIDGE, "type", "bridge"]);
    await run("ip", ["-n", netns, "link", "set", BRIDGE, "up"]);
  } catch (err) {
    await deleteNetns(netns);
    throw err;
  }
  return { id, netns, bridge: BRIDGE };
}

/**
 * Cable `host` to the fabric: a veth whose host end `hostIfname` gets `cidr` (and `mtu`, default 1500) and
 * whose other end is a port of the fabric's bridge. The host's own routes are left as they are (its default
 * route stays on its uplink): the underlay is reached by the connected route of `cidr`.
 */
export async function joinFabric(
  fabric: Fabric,
  host: Pick<SandboxHost, "id" | "netns">,
  opts: { cidr: string; hostIfname?: string; mtu?: number },
): Promise<FabricPort> {
  const hostIfname = assertMatch("hostIfname", opts.hostIfname ?? "underlay0", IFNAME_RE);
  const cidr = assertMatch("cidr", opts.cidr, /^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/);
  const mtu = opts.mtu ?? 1500;
  const peer = assertMatch("fabric port", `f-${host.id}`.slice(0, 15), IFNAME_RE);
  await run("ip", [
    "-n",
    host.netns,
    "link",
    "add",
    hostIfname,
    "mtu",
    String(mtu),
    "type",
    "veth",
    "peer",
    "name",
    peer,
    "netns",
    fabric.netns,
  ]);
  try {
    await run("ip", ["-n", fabric.netns, "link", "set", peer, "mtu", String(mtu), "master", fabric.bridge, "up"]);
    await run("ip", ["-n", host.netns, "addr", "add", cidr, "dev", hostIfname]);
    await run("ip", ["-n", host.netns, "link", "set", hostIfname, "up"]);
  } catch (err) {
    await run("ip", ["-n", host.netns, "link", "del", hostIfname], { reject: false });
    throw err;
  }
  return { hostIfname, cidr, ip: cidr.split("/")[0] as string, mtu };
}

/** Remove the fabric (its namespace; the hosts' underlay ends go with their peers). */
export async function destroyFabric(fabric: Fabric | string): Promise<void> {
  const netns = typeof fabric === "string" ? fabricNetnsName(fabric) : fabric.netns;
  if (!netnsExists(netns)) return;
  await killNamespaceProcesses([netns]);
  await deleteNetns(netns);
}

/** Fabric namespaces left by a dead run (`down --all`). */
export async function destroyAllFabrics(): Promise<string[]> {
  const left = listNetns().filter((n) => n.startsWith("nff-"));
  for (const n of left) await destroyFabric(n.slice(4));
  return left;
}

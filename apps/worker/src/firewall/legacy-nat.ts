/**
 * Port forwards on a network that still runs as an older netforge defined it
 * (libvirt `<forward mode='nat'/>`, libvirt's own iptables rules). libvirt
 * rejects everything entering its bridge from outside except replies
 * (`LIBVIRT_FWI`: `-o <bridge> -j REJECT`), and a reject in any table wins
 * over the accept in ours, so a forward in our table alone would never reach
 * the VM. While such a network runs with forwards, one iptables rule at the
 * top of `FORWARD` (before libvirt's jumps) accepts DNATed traffic to its
 * subnet on its bridge. Nothing else: DNAT to that subnet only comes from
 * our forward maps, and our `<net>-in` chain still applies the user's inbound
 * rules to it. The rule goes when the network stops; at its next start the
 * network moves to forward mode 'open' (start-network), where none is needed.
 */
import type { FirewallNetwork } from "@netforge/core/model";
import type { CommandRunner } from "../host/command-runner";

type Net = Pick<FirewallNetwork, "name" | "bridge" | "cidr">;

const comment = (n: Net) => `netforge: port forwards of ${n.name}`;

/** The rule's match and target, as `iptables -I/-C/-D FORWARD` takes them (pure). */
export function legacyAcceptRule(n: Net): string[] {
  return ["-o", n.bridge, "-d", n.cidr, "-m", "conntrack", "--ctstate", "DNAT", "-m", "comment", "--comment", comment(n), "-j", "ACCEPT"];
}

/** Whether the network needs the rule: libvirt does its NAT (we do not) and it has forwards. */
export const needsLegacyAccept = (n: FirewallNetwork): boolean =>
  n.masquerade && n.forwardsPorts && !n.ownsTypeRules && n.portForwards.length > 0;

/**
 * Where the rule stands in `iptables -S FORWARD` (pure): "ok" when it comes before every jump to libvirt's
 * chains and every reject of the bridge, "missing", or "late" (libvirt re-inserted its jumps above it).
 */
export function legacyAcceptPosition(listing: string, n: Net): "ok" | "missing" | "late" {
  const lines = listing.split("\n").filter((l) => l.startsWith("-A FORWARD "));
  const ours = lines.findIndex((l) => l.includes(`"${comment(n)}"`) && l.includes(` -o ${n.bridge} `));
  if (ours < 0) return "missing";
  const libvirt = lines.findIndex((l) => / -j LIBVIRT_/.test(l) || (l.includes(` -o ${n.bridge} `) && / -j REJECT\b/.test(l)));
  return libvirt >= 0 && libvirt < ours ? "late" : "ok";
}

/** Put the rule at the top of FORWARD unless it is already before libvirt's; returns the command run, if any. */
export async function ensureLegacyAccept(runner: CommandRunner, n: Net): Promise<string[] | null> {
  const listed = await runner.run("iptables", ["-w", "-S", "FORWARD"], { timeoutMs: 10_000 });
  const where = legacyAcceptPosition(listed.stdout, n);
  if (where === "ok") return null;
  if (where === "late") await runner.run("iptables", ["-w", "-D", "FORWARD", ...legacyAcceptRule(n)], { allowFailure: true });
  const args = ["-w", "-I", "FORWARD", "1", ...legacyAcceptRule(n)];
  await runner.run("iptables", args, { timeoutMs: 10_000 });
  return ["iptables", ...args];
}

/** Take the rule away (nothing to do when it is not there). */
export async function removeLegacyAccept(runner: CommandRunner, n: Net): Promise<void> {
  await runner.run("iptables", ["-w", "-D", "FORWARD", ...legacyAcceptRule(n)], { allowFailure: true, timeoutMs: 10_000 });
}

/** What the job says about it. */
export const legacyAcceptWarning = (n: Net): string =>
  `network '${n.name}' still runs on libvirt's own NAT rules (defined by an older netforge): its port forwards pass libvirt's reject through an iptables accept at the top of FORWARD ("${comment(n)}"); the network moves to netforge's table at its next start (stop-network, start-network), after which that rule is gone`;

/**
 * What a member host makes of its running overlay parts at boot, before libvirtd autostarts them (ADR 0051
 * "Boot"): three files the worker keeps up to date and `deploy/netforge-overlay.service` applies, each with its
 * tool's own batch reader (no shell):
 *
 * - `ip -force -batch <dir>/overlay.ip`: on a non-gateway member, the overlay's bridge (stp off, MTU, up) and
 *   the VXLAN device (local = this member's underlay, `nolearning`, MTU, enslaved with port learning off and
 *   ARP suppression on, up): the same commands the part's create and reconcile run. Not on the gateway, whose
 *   bridge is libvirt's (libvirt refuses to start a routed network on a bridge that exists), so its device can
 *   only follow libvirt's start: the worker's start-up reconcile makes it there.
 * - `bridge -force -batch <dir>/overlay.bridge`: each such device's flood entries, one per other member
 *   (`fdb append`: an entry already there is left as it is).
 * - `nft -f <dir>/overlay.nft`: on every member, the guard table `inet netforge-vx<VNI>` and the flood limit
 *   table `bridge netforge-fl<VNI>`, each replaced whole (`table`, `delete table`, the table), the same scripts
 *   reconcile applies, so the worker's first round finds them as it wants them.
 *
 * Pure: rendered from the parts' specs (what each member's libvirt definition holds); every word of the batch
 * files is checked (names, addresses, numbers) by the renderers it comes from and again here.
 */
import { batchLine, floodEntry, vxlanDeviceSetup } from "../render/vxlan";
import type { OverlayNetSpec } from "./overlay";
import { floodLimitScript, floodTargets, guardScript, overlayBridgeCommands } from "./overlay-drift";

export interface OverlayBootFiles {
  /** `ip -batch` lines. */
  ip: string;
  /** `bridge -batch` lines. */
  bridge: string;
  /** An `nft -f` script. */
  nft: string;
}

/** A checked batch line (render/vxlan.ts batchLine: the same check as the create's and reconcile's batches). */
const line = batchLine;

const header = (tool: string) => [
  `# netforge: this host's running overlay parts, made at boot before libvirtd (${tool}; netforge-overlay.service).`,
  "# Written by the worker whenever its parts change; do not edit (the next write replaces it).",
];

/** The boot files of a member whose running overlay parts are `parts` (each spec's `self` is this host). */
export function renderOverlayBoot(parts: readonly OverlayNetSpec[]): OverlayBootFiles {
  const ip = header("ip -force -batch");
  const bridge = header("bridge -force -batch");
  const nft = ["#!/usr/sbin/nft -f", ...header("nft -f")];
  for (const spec of [...parts].sort((a, b) => a.vni - b.vni)) {
    const me = spec.members.find((m) => m.id === spec.self);
    if (!me) continue;
    if (spec.self !== spec.gatewayHost) {
      ip.push(`# ${spec.name} (VNI ${spec.vni})`);
      for (const argv of overlayBridgeCommands(spec)) ip.push(line(argv.slice(1)));
      for (const argv of vxlanDeviceSetup({ vni: spec.vni, local: me.ip, bridge: spec.bridge, mtu: spec.mtu })) ip.push(line(argv));
      bridge.push(`# ${spec.name} (VNI ${spec.vni})`);
      for (const remote of floodTargets(spec)) bridge.push(line(floodEntry(spec.vni, remote)));
    }
    nft.push(`# ${spec.name} (VNI ${spec.vni})`, guardScript(spec).trimEnd(), floodLimitScript(spec).trimEnd());
  }
  return { ip: `${ip.join("\n")}\n`, bridge: `${bridge.join("\n")}\n`, nft: `${nft.join("\n")}\n` };
}

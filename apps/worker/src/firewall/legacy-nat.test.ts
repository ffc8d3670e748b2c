import type { FirewallNetwork } from "@netforge/core/model";
import { describe, expect, it } from "vitest";
import type { CommandResult, CommandRunner, RunOptions } from "../host/command-runner";
import { droppingRules, rulesFromIptablesSave } from "./foreign-rules";
import { ensureLegacyAccept, legacyAcceptPosition, legacyAcceptRule, needsLegacyAccept } from "./legacy-nat";

const old: FirewallNetwork = {
  name: "old",
  reachOutside: true,
  masquerade: true,
  forwardsPorts: true,
  bridge: "nf-old",
  cidr: "10.77.0.0/24",
  firewall: { defaultInbound: "accept", defaultOutbound: "accept", rules: [] },
  portForwards: [{ protocol: "tcp", hostPort: 2222, vmIp: "10.77.0.10", vmPort: 22 }],
  ownsTypeRules: false,
};
// `iptables -S FORWARD` / `iptables-save -t filter` as libvirt 9.0 leaves them for a running <forward mode='nat'/>
// network on nf-old (iptables-nft), with netforge's accept in front.
const OURS =
  '-A FORWARD -d 10.77.0.0/24 -o nf-old -m conntrack --ctstate DNAT -m comment --comment "netforge: port forwards of old" -j ACCEPT';
const LIBVIRT = ["-A FORWARD -j LIBVIRT_FWX", "-A FORWARD -j LIBVIRT_FWI", "-A FORWARD -j LIBVIRT_FWO"];
const SAVE = `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:LIBVIRT_FWI - [0:0]
:LIBVIRT_FWO - [0:0]
:LIBVIRT_FWX - [0:0]
${[OURS, ...LIBVIRT].join("\n")}
-A LIBVIRT_FWI -d 10.77.0.0/24 -o nf-old -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A LIBVIRT_FWI -o nf-old -j REJECT --reject-with icmp-port-unreachable
-A LIBVIRT_FWO -s 10.77.0.0/24 -i nf-old -j ACCEPT
-A LIBVIRT_FWO -i nf-old -j REJECT --reject-with icmp-port-unreachable
-A LIBVIRT_FWX -i nf-old -o nf-old -j ACCEPT
COMMIT
`;

describe("the iptables accept of a network on libvirt's NAT rules", () => {
  it("is needed only for a nat network netforge does not NAT itself, with forwards", () => {
    expect(needsLegacyAccept(old)).toBe(true);
    expect(needsLegacyAccept({ ...old, ownsTypeRules: true })).toBe(false);
    expect(needsLegacyAccept({ ...old, portForwards: [] })).toBe(false);
  });

  it("must stand before libvirt's jumps", () => {
    expect(legacyAcceptPosition(["-P FORWARD ACCEPT", OURS, ...LIBVIRT].join("\n"), old)).toBe("ok");
    expect(legacyAcceptPosition(["-P FORWARD ACCEPT", ...LIBVIRT, OURS].join("\n"), old)).toBe("late");
    expect(legacyAcceptPosition(["-P FORWARD ACCEPT", ...LIBVIRT].join("\n"), old)).toBe("missing");
    expect(legacyAcceptPosition(OURS.replaceAll("nf-old", "nf-other"), old)).toBe("missing");
  });

  it("is inserted at the top, and moved there when libvirt's jumps got above it", async () => {
    const calls: string[][] = [];
    let listing = ["-P FORWARD ACCEPT", ...LIBVIRT, OURS].join("\n");
    const runner: CommandRunner = {
      async run(cmd: string, args: readonly string[], _o: RunOptions = {}): Promise<CommandResult> {
        calls.push([cmd, ...args]);
        return { stdout: args[1] === "-S" ? listing : "", stderr: "", exitCode: 0 };
      },
    };
    expect(await ensureLegacyAccept(runner, old)).toEqual(["iptables", "-w", "-I", "FORWARD", "1", ...legacyAcceptRule(old)]);
    expect(calls.map((c) => c[2])).toEqual(["-S", "-D", "-I"]);
    listing = ["-P FORWARD ACCEPT", OURS, ...LIBVIRT].join("\n");
    expect(await ensureLegacyAccept(runner, old)).toBeNull();
  });

  it("libvirt's own chains are not reported as a foreign firewall for such a network, but are for others", () => {
    const tables = rulesFromIptablesSave(SAVE, "table ip filter");
    expect(droppingRules(tables, [{ name: "old", reachOutside: true, bridge: "nf-old", cidr: "10.77.0.0/24", libvirtNat: true }])).toEqual(
      [],
    );
    // Had netforge's network the same bridge name but its own rules (mode 'open'), libvirt's reject would hit it.
    const w = droppingRules(tables, [{ name: "old", reachOutside: true, bridge: "nf-old", cidr: "10.77.0.0/24" }]);
    expect(w).toEqual([expect.stringMatching(/"oifname "nf-old" reject" in chain 'LIBVIRT_FWI'.*traffic to its VMs/)]);
  });
});

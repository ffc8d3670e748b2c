/**
 * A delta (renderTableDelta) applied to the table of one state gives the
 * kernel exactly the table the whole renderer gives for the next state: both
 * are loaded by the real `nft` in a fresh network namespace (unshare -n, gone
 * when nft exits; nothing of the machine's firewall is touched) and the
 * kernel's listings compared.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type FirewallNetwork, type PortForwardSpec, renderHostTable, renderTableDelta } from "@netforge/core/model";
import { execa } from "execa";
import { afterAll, describe, expect, it } from "vitest";
import { webNetwork } from "@netforge/worker/testing";

let dir = "";
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** `nft -f` each file in order (one transaction each) in a fresh namespace; the table's listing after them. */
async function listingAfter(...texts: string[]): Promise<string> {
  dir ||= await mkdtemp(join(tmpdir(), "nft-delta-"));
  const files: string[] = [];
  for (const [i, text] of texts.entries()) {
    const f = join(dir, `${files.length}-${i}-${Math.random().toString(36).slice(2)}.nft`);
    await writeFile(f, text);
    files.push(f);
  }
  // A fixed script; the files are positional arguments (no text built from input).
  const script = 'for f in "$@"; do nft -f "$f" || exit 1; done; nft list table inet netforge';
  const r = await execa("unshare", ["-n", "--", "sh", "-c", script, "sh", ...files], { reject: false });
  if (r.exitCode !== 0) throw new Error(`nft failed: ${r.stderr}`);
  return r.stdout;
}

const net = (over: Partial<FirewallNetwork> = {}): FirewallNetwork => webNetwork([], over);
const iso = net({ name: "iso", reachOutside: false, masquerade: false, forwardsPorts: false, bridge: "nf-iso", cidr: "10.71.0.0/24" });
const rulesOf = (k: number) =>
  Array.from({ length: 100 }, (_, j) => ({
    direction: j % 2 ? ("inbound" as const) : ("outbound" as const),
    protocol: (["tcp", "udp", "icmp", "any"] as const)[j % 4] as "tcp" | "udp" | "icmp" | "any",
    source: j % 3 ? `10.${(j + k) % 250}.0.0/16` : null,
    destination: j % 5 ? null : "192.0.2.0/24",
    ports: j % 4 < 2 ? `${1000 + j + k}` : null,
    action: (["accept", "drop", "reject"] as const)[j % 3] as "accept" | "drop" | "reject",
    comment: j % 7 ? null : `rule ${j}`,
  }));
const bound = (addresses: string[]): PortForwardSpec[] =>
  addresses.map((hostIp) => ({ protocol: "tcp", hostPort: 30000, vmIp: "10.70.0.11", vmPort: 443, hostIp }));
const fwd = (n: number, vmIp = "10.70.0.10") =>
  Array.from({ length: n }, (_, k) => ({ protocol: k % 2 ? ("udp" as const) : ("tcp" as const), hostPort: 20000 + k, vmIp, vmPort: 80 }));

describe("renderTableDelta against the real nft", () => {
  const cases: [string, FirewallNetwork[], FirewallNetwork[]][] = [
    [
      "a 100-rule set replaced by another",
      [net({ firewall: { defaultInbound: "drop", defaultOutbound: "accept", rules: rulesOf(0) } }), iso],
      [net({ firewall: { defaultInbound: "reject", defaultOutbound: "drop", rules: rulesOf(1) } }), iso],
    ],
    [
      "rules of one network among two, the other untouched",
      [net(), iso],
      [net(), { ...iso, firewall: { defaultInbound: "drop", defaultOutbound: "reject", rules: rulesOf(2) } }],
    ],
    [
      "one more forward among 1,000, and a re-targeted one",
      [net({ portForwards: fwd(1000) }), iso],
      [
        net({
          portForwards: [
            ...fwd(999),
            { protocol: "udp", hostPort: 20999, vmIp: "10.70.0.11", vmPort: 81 },
            { protocol: "tcp", hostPort: 40000, vmIp: "10.70.0.10", vmPort: 7000 },
          ],
        }),
        iso,
      ],
    ],
    [
      "rules and forwards together, back to nothing",
      [net({ portForwards: fwd(3), firewall: { defaultInbound: "drop", defaultOutbound: "accept", rules: rulesOf(3) } })],
      [net()],
    ],
    [
      "forwards bound to one host address (hostIp): one more, one re-targeted, one removed, beside every-address ones",
      [net({ portForwards: [...fwd(4), ...bound(["198.51.100.2", "198.51.100.3"])] }), iso],
      [
        net({
          portForwards: [...fwd(4), { ...(bound(["198.51.100.2"])[0] as PortForwardSpec), vmIp: "10.70.0.12" }, ...bound(["203.0.113.7"])],
        }),
        iso,
      ],
    ],
    [
      "IPv6 forwards (every host address and one): one more, one re-targeted, one removed, beside IPv4 ones",
      [
        net({
          ipv6: { cidr: "fd00:70::/64", routed: false },
          portForwards: [
            ...fwd(2),
            ...fwd(3, "fd00:70::10").map((f) => ({ ...f, hostPort: f.hostPort + 100 })),
            { protocol: "tcp", hostPort: 30000, vmIp: "fd00:70::11", vmPort: 443, hostIp: "fd00:99::2" },
            { protocol: "tcp", hostPort: 30000, vmIp: "fd00:70::12", vmPort: 443, hostIp: "fd00:99::3" },
          ],
        }),
        iso,
      ],
      [
        net({
          ipv6: { cidr: "fd00:70::/64", routed: false },
          portForwards: [
            ...fwd(2),
            ...fwd(2, "fd00:70::10").map((f) => ({ ...f, hostPort: f.hostPort + 100 })),
            { protocol: "udp", hostPort: 20102, vmIp: "fd00:70::99", vmPort: 53 },
            { protocol: "tcp", hostPort: 30000, vmIp: "fd00:70::13", vmPort: 443, hostIp: "fd00:99::2" },
          ],
        }),
        iso,
      ],
    ],
  ];
  for (const [what, before, after] of cases) {
    it(`${what}: the same table as the whole renderer's`, async () => {
      const delta = renderTableDelta(before, after);
      expect(delta).not.toBeNull();
      expect(delta).not.toContain("table inet netforge {");
      const viaDelta = await listingAfter(renderHostTable(before), delta as string);
      const whole = await listingAfter(renderHostTable(after));
      expect(viaDelta).toBe(whole);
    });
  }
});

describe("IPv6 forward maps against the real nft", () => {
  it("the first IPv6 forward and the last one: whole tables the kernel loads, with the maps and rules only while one exists", async () => {
    const v4 = [net({ ipv6: { cidr: "fd00:70::/64", routed: false }, portForwards: fwd(2) }), iso];
    const v6 = [
      net({
        ipv6: { cidr: "fd00:70::/64", routed: false },
        portForwards: [...fwd(2), ...fwd(1, "fd00:70::10").map((f) => ({ ...f, hostPort: 8443 }))],
      }),
      iso,
    ];
    expect(renderTableDelta(v4, v6)).toBeNull();
    const withV6 = await listingAfter(renderHostTable(v4), renderHostTable(v6));
    expect(withV6).toContain("map fwd6-tcp {");
    expect(withV6).toContain("8443 : fd00:70::10 . 80");
    expect(withV6).toMatch(/fib daddr type local meta nfproto ipv6 dnat ip6 to tcp dport map @fwd6-tcp/);
    // Back (an undo restores the earlier part): the kernel's table is the IPv4-only one again.
    expect(await listingAfter(renderHostTable(v6), renderHostTable(v4))).toBe(await listingAfter(renderHostTable(v4)));
  });
});

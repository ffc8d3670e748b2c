/**
 * IPv6 on overlays (ADR 0051 "IPv6 on overlays"), the pure half: the create body, the definitions on the gateway
 * and on another member (and their reading back), a member bridge's own IPv6 off, each member's table part, the
 * view, the gateway's addressing part and a gateway move's role change.
 */
import { describe, expect, it } from "vitest";
import { planCreate } from "../plan/lifecycle";
import { parseNetworkXml } from "../render/network-xml";
import { renderHostTable, renderNetworkChains } from "../render/nft";
import { resolveCreate } from "../schemas/network";
import { overlaySpec } from "./__fixtures__/overlay-spec";
import { type OverlayNetSpec, overlayModel } from "./overlay";
import { overlayDrift } from "./overlay-drift";
import { planRoleChange, specAfterMove } from "./overlay-gateway";

const V6 = { cidr: "fd00:50::/64", gateway: "fd00:50::1", mode: "slaac" as const, dhcp: null, routed: false };
const spec = (self: string, over: Partial<OverlayNetSpec> = {}): OverlayNetSpec => overlaySpec(self, { ipv6: V6, ...over });
const argvs = (s: OverlayNetSpec) =>
  planCreate(s, { start: true, autostart: true }, { links: [], pfs: [] }, s.self).phases.flatMap((p) =>
    p.hostSteps.flatMap((st) =>
      // A batch step (`ip -batch -`): each of its lines as the command it is.
      st.kind !== "command"
        ? []
        : st.input
          ? st.input
              .trim()
              .split("\n")
              .map((l) => `${st.argv[0]} ${l}`)
          : [st.argv.join(" ")],
    ),
  );

describe("the create body", () => {
  const body = { name: "tenant-a", type: "overlay", cidr: "10.50.0.0/24", hosts: ["hv1", "hv2"] };
  const err = (b: unknown) => {
    try {
      resolveCreate(b as never);
    } catch (e) {
      return JSON.stringify((e as { details?: unknown }).details);
    }
    return "accepted";
  };
  it("takes ipv6 as nat does (canonical prefix, gateway the first address, the DHCPv6 range's default)", () => {
    const r = resolveCreate({ ...body, ipv6: { cidr: "FD00:50:0::/64", mode: "dhcpv6" } } as never);
    expect(r.ipv6).toEqual({
      cidr: "fd00:50::/64",
      gateway: "fd00:50::1",
      mode: "dhcpv6",
      dhcp: { start: "fd00:50::100", end: "fd00:50::ffff", leaseTime: 3600 },
      routed: false,
    });
  });
  it("refuses what nat refuses: a non-/64 SLAAC prefix, link-local, an MTU below 1280, routed without nat", () => {
    expect(err({ ...body, ipv6: { cidr: "fd00:50::/56", mode: "slaac" } })).toMatch(/SLAAC needs a \/64/);
    expect(err({ ...body, ipv6: { cidr: "fe80::/64", mode: "slaac" } })).toMatch(/link-local/);
    expect(err({ ...body, mtu: 1279, ipv6: { cidr: "fd00:50::/64", mode: "slaac" } })).toMatch(/at least 1280/);
    expect(err({ ...body, mtu: 1279 })).toBe("accepted");
    expect(err({ ...body, nat: false, ipv6: { cidr: "fd00:50::/64", mode: "slaac", routed: true } })).toMatch(/ipv6\.routed/);
    expect(err({ ...body, ipv6: { cidr: "fd00:50::/64", mode: "slaac", routed: true } })).toBe("accepted");
  });
});

describe("the definitions", () => {
  it("every member keeps the IPv6 in its metadata; only the gateway's has libvirt's IPv6 <ip>; both read back", () => {
    const gw = overlayModel.render(spec("hv2"));
    const member = overlayModel.render(spec("hv1"));
    for (const x of [gw, member]) expect(x).toContain("<nf:ipv6 cidr='fd00:50::/64' gateway='fd00:50::1' mode='slaac' routed='no'/>");
    expect(gw).toContain("<ip family='ipv6' address='fd00:50::1' prefix='64'/>");
    expect(member).not.toContain("<ip");
    // The gateway bridge's one MAC (06:4e:46 + the VNI: 10000 = 0x002710, every overlay's), on the gateway's definition only.
    expect(gw).toContain("<mac address='06:4e:46:00:27:10'/>");
    expect(member).not.toContain("<mac");
    // No STP on the gateway's bridge (every port joining it would wait 4 s: listening and learning).
    expect(gw).toContain("<bridge name='nfov10000' stp='off' delay='0'/>");
    // An IPv4-only overlay's gateway has the same MAC (one per overlay, with or without IPv6).
    expect(overlayModel.render(overlaySpec("hv2"))).toContain("<mac address='06:4e:46:00:27:10'/>");
    for (const self of ["hv1", "hv2"]) expect(parseNetworkXml(overlayModel.render(spec(self))).spec).toEqual(spec(self));
    const d6 = { ...V6, mode: "dhcpv6" as const, dhcp: { start: "fd00:50::100", end: "fd00:50::1ff", leaseTime: 600 } };
    const gw6 = overlayModel.render(spec("hv2", { ipv6: d6 }));
    expect(gw6).toContain("<range start='fd00:50::100' end='fd00:50::1ff'>");
    expect(parseNetworkXml(gw6).spec).toEqual(spec("hv2", { ipv6: d6 }));
  });
  it("without IPv6 nothing changes (no IPv6 line in either definition)", () => {
    for (const self of ["hv1", "hv2"]) expect(overlayModel.render(overlaySpec(self))).not.toMatch(/ipv6/);
  });
});

describe("a member's bridge", () => {
  it("has the host's own IPv6 off before it comes up (with IPv6 only); the gateway's bridge is libvirt's", () => {
    const c = argvs(spec("hv1"));
    const off = c.indexOf("sysctl -qw net.ipv6.conf.nfov10000.disable_ipv6=1");
    expect(off).toBeGreaterThan(c.indexOf("ip link add nfov10000 type bridge stp_state 0"));
    expect(off).toBeLessThan(c.indexOf("ip link set nfov10000 up"));
    expect(argvs(overlaySpec("hv1")).some((x) => x.startsWith("sysctl"))).toBe(false);
    expect(argvs(spec("hv2")).some((x) => x.startsWith("sysctl"))).toBe(false);
  });
  it("made again by drift repair and by a gateway move's undo with it too", () => {
    const seen = { bridge: null, device: null, floods: [], guard: false, floodLimit: false } as never;
    const repair = overlayDrift(spec("hv1"), seen).flatMap((r) => r.commands.map((x) => x.argv.join(" ")));
    expect(repair.slice(0, 2)).toEqual([
      "ip link add nfov10000 type bridge stp_state 0",
      "sysctl -qw net.ipv6.conf.nfov10000.disable_ipv6=1",
    ]);
    // The member hv1 becomes the gateway: its member bridge's removal is undone by making it again, IPv6 off.
    const own = spec("hv1");
    const change = planRoleChange(own, specAfterMove(own, "hv1", spec("hv2")), ["vnet7"], true);
    const removal = change.down.find((s) => s.kind === "command" && s.name === "remove the overlay's bridge");
    expect(removal?.kind === "command" ? removal.undoThen?.map((a) => a.join(" ")) : null).toContain(
      "sysctl -qw net.ipv6.conf.nfov10000.disable_ipv6=1",
    );
    // The gateway hv2 becomes a member: its new member bridge has IPv6 off.
    const gw = spec("hv2");
    const demoted = planRoleChange(gw, specAfterMove(gw, "hv1", null), ["nfvx10000"], true);
    expect(demoted.up.flatMap((s) => (s.kind === "command" ? [s.argv.join(" ")] : []))).toContain(
      "sysctl -qw net.ipv6.conf.nfov10000.disable_ipv6=1",
    );
  });
});

describe("each member's table part", () => {
  it("the gateway's: NAT66 of the prefix, IPv6 DNS/DHCPv6 and ping on the host, ND/RA before the rules", () => {
    const part = overlayModel.firewall(spec("hv2"));
    expect(part).toMatchObject({ ipv6: { cidr: "fd00:50::/64", routed: false }, masquerade: true });
    const table = renderHostTable([part as NonNullable<typeof part>]);
    expect(table).toContain("ip6 saddr fd00:50::/64 ip6 daddr != fd00:50::/64 masquerade");
    expect(table).toContain("meta nfproto ipv6 udp dport { 53, 547 } accept");
    const routed = overlayModel.firewall(spec("hv2", { ipv6: { ...V6, routed: true } }));
    expect(renderHostTable([routed as NonNullable<typeof routed>])).not.toContain(
      "ip6 saddr fd00:50::/64 ip6 daddr != fd00:50::/64 masquerade",
    );
  });

  it("another member's: the IPv6 passes of what is the gateway's (DHCPv6, the IPv6 gateway, beyond the prefix), rules on both families", () => {
    const part = overlayModel.firewall(
      spec("hv1", {
        firewall: {
          defaultInbound: "drop",
          defaultOutbound: "accept",
          rules: [{ direction: "inbound", protocol: "tcp", ports: "22", source: null, destination: null, action: "accept", comment: null }],
        },
      }),
    );
    expect(part).toMatchObject({ overlayMember: { gateway: "10.50.0.1", gateway6: "fd00:50::1" }, ipv6: { cidr: "fd00:50::/64" } });
    const chains = renderNetworkChains(part as NonNullable<typeof part>);
    const chain = (name: string) => {
      const lines = chains.split("\n");
      const at = lines.indexOf(`\tchain ${name} {`);
      return lines.slice(at + 1, lines.indexOf("\t}", at)).map((l) => l.trim());
    };
    expect(chain("tenant-a-in")).toEqual([
      "ct state established,related accept",
      "icmpv6 type { packet-too-big, nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert } accept",
      "udp sport 68 udp dport 67 accept",
      "udp sport 67 udp dport 68 accept",
      "ip saddr 10.50.0.1 accept",
      "ip daddr 10.50.0.1 accept",
      "ip daddr != 10.50.0.0/24 accept",
      "udp sport 546 udp dport 547 accept",
      "udp sport 547 udp dport 546 accept",
      "ip6 saddr fd00:50::1 accept",
      "ip6 daddr fd00:50::1 accept",
      "ip6 daddr != { fd00:50::/64, fe80::/10 } accept",
      'iifname "nfov10000" goto tenant-a-in-rules',
      "ct status dnat goto tenant-a-in-rules",
      "reject",
    ]);
    expect(chain("tenant-a-out")).toContain("ip6 saddr != { fd00:50::/64, fe80::/10 } return");
    // One rule for both families (no CIDR), as on nat.
    expect(chains).toContain("tcp dport 22 accept");
  });

  it("an IPv4-only member's chains are what they were (no IPv6 pass, ICMPv6 essentials once)", () => {
    const part = overlayModel.firewall(overlaySpec("hv1"));
    const chains = renderNetworkChains(part as NonNullable<typeof part>);
    expect(chains).not.toMatch(/ip6|546/);
    expect(chains.match(/nd-router-advert/g)?.length).toBe(2);
  });
});

describe("the view and the gateway's addressing part", () => {
  it("describe's ipv6 on every member's record; the gateway's part carries it (the routed planner's IPv6 checks)", () => {
    expect(overlayModel.view(spec("hv1")).ipv6).toEqual(V6);
    expect(overlayModel.view(overlaySpec("hv1")).ipv6).toBeNull();
    expect(overlayModel.addressing(spec("hv2"))?.ipv6).toEqual(V6);
  });
});

describe("IPv6 reservations (the gateway's, as a nat network's)", () => {
  const D6 = { ...V6, mode: "dhcpv6" as const, dhcp: { start: "fd00:50::100", end: "fd00:50::1ff", leaseTime: 600 } };
  const host = { active: true, leases: [] };
  const add = { kind: "reserve-duid" as const, duid: "00:03:00:01:52:54:00:12:34:56", ip: "fd00:50::20", hostname: null };
  it("planned on the gateway host: libvirt's IPv6 <ip> (parent index 1) and the definition; read back; undone by the release", () => {
    const gw = spec("hv2", { ipv6: D6 });
    const p = overlayModel.planChange(gw, add, host);
    const update = p.steps.find((s) => s.virsh[0] === "net-update");
    expect(update?.virsh).toEqual(expect.arrayContaining(["net-update", "tenant-a", "add", "ip-dhcp-host", "--parent-index", "1"]));
    const next = p.spec as OverlayNetSpec;
    expect(next.reservations6).toEqual([{ duid: add.duid, ip: "fd00:50::20", hostname: null }]);
    const xml = overlayModel.render(next);
    expect(xml).toContain("<nf:reservation6 duid='00:03:00:01:52:54:00:12:34:56' ip='fd00:50::20'/>");
    expect(xml).toMatch(/<ip family='ipv6'[\s\S]*<host id='00:03:00:01:52:54:00:12:34:56'[^>]*ip='fd00:50::20'/);
    expect(parseNetworkXml(xml).spec).toEqual(next);
    expect(overlayModel.view(next).reservations6).toEqual(next.reservations6);
    const back = overlayModel.planChange(next, { kind: "release-duid", duid: add.duid }, host);
    expect((back.spec as OverlayNetSpec).reservations6).toBeUndefined();
  });
  it("refused in slaac mode (422) and off the gateway host (409)", () => {
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as { code: string }).code;
      }
      return "planned";
    };
    expect(code(() => overlayModel.checkChange(spec("hv2"), add, host))).toBe("UNSUPPORTED_FOR_TYPE");
    expect(code(() => overlayModel.checkChange(spec("hv1", { ipv6: D6 }), add, host))).toBe("INVALID_STATE");
  });
});

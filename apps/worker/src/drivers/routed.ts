/**
 * The shared base of the two routed types (nat and isolated): a bridge owned
 * by libvirt carrying the gateway address, dnsmasq for DHCP/DNS. They differ
 * only in libvirt's <forward mode='nat'/> (and the firewall rules libvirt
 * derives from it), which the renderer handles from the spec's type.
 *
 * Changes to a running network go through `virsh net-update --live`
 * (DHCP hosts and ranges: libvirt rewrites dnsmasq's files and signals or
 * restarts dnsmasq only; the bridge and its ports are never touched), then
 * the whole persistent definition is redefined, carrying the new DHCP
 * hosts/ranges and the new spec in its metadata (libvirt 9.0 has no
 * net-metadata command): one write of the definition, not two.
 */
import { type CreateNetworkPayload, sameDnsHost } from "@netforge/core/contract";
import {
  parseNetworkXml,
  type RoutedModel,
  type RoutedNetSpec,
  type RoutedType,
  IPV6_PARENT,
  renderDhcpHost,
  renderDhcpHost6,
  renderDnsHost,
  renderDhcpRange,
  specFromCreate,
} from "@netforge/core/model";
import type { JobContext } from "../context";
import { bridgeAttachments } from "../host/attachments";
import { waitForDhcp } from "../host/dhcp-probe";
import { assertNoOverlap, freeBridgeName, occupiedSubnets } from "../host/host-checks";
import { assertIpv6ForwardingSafe, assertNoOverlap6 } from "../host/ipv6-checks";
import { recordFromCatalog } from "../network-record";
import type { HostSnapshot, LostState, NetworkDriver } from "./driver";

export function routedDriver<T extends RoutedType>(model: RoutedModel<T>): NetworkDriver<RoutedNetSpec & { type: T }> {
  const type = model.type;
  return {
    model,
    prepare(ctx: JobContext, p: CreateNetworkPayload, host: HostSnapshot) {
      if (!p.cidr) throw new Error(`${type} network without cidr`);
      assertNoOverlap(p.cidr, ctx.hostId, occupiedSubnets(host.links, host.routes, host.catalog, p.name, host.endpoints));
      if (p.ipv6) {
        assertNoOverlap6(p.ipv6.cidr, ctx.hostId, host.links, host.catalog, p.name);
        assertIpv6ForwardingSafe(host.raInterfaces ?? [], ctx.hostId);
      }
      const bridge = freeBridgeName(host.links, p.name, host.catalog);
      const { start: _start, ...spec } = p;
      const made = specFromCreate({ ...spec, bridge });
      if (!model.is(made)) throw new Error(`a ${made.type} spec for a ${type} network`);
      return made;
    },
    // libvirt makes everything a routed network needs (its bridge, dnsmasq): no host facts, no host steps.
    hostFacts: async () => ({ links: [], pfs: [] }),
    async verifyStarted(ctx, s) {
      if (s.dhcp.enabled) await waitForDhcp(ctx.runner, s.bridge, 3000, s.name);
    },
    connectedVms: (_ctx, entry, links) =>
      entry.def.bridge && entry.active ? links.filter((l) => l.master === entry.def.bridge).length : 0,
    async attachments(ctx, entry) {
      if (!entry.active || !entry.def.bridge) return [];
      return bridgeAttachments(ctx.runner, ctx.virsh, entry.def.bridge);
    },
    lostState(entry, liveXml) {
      const spec = entry.def.spec;
      if (!spec || !model.is(spec) || !entry.active) return [];
      return lostAddressing(spec, liveXml);
    },
    record: recordFromCatalog,
  };
}

/**
 * What a running network's live definition lost of its spec's addressing part (DHCP range, reservations, IPv6
 * reservations, DNS records), with the live updates that put each back. The routed types' spec, or an overlay's
 * gateway part (drivers/overlay.ts).
 */
export function lostAddressing(spec: RoutedNetSpec, liveXml: string): LostState[] {
  const live = parseNetworkXml(liveXml);
  const lost: LostState[] = [];
  const update = (op: string, section: string, xml: string) => ["net-update", spec.name, op, section, xml, "--live"];
  // DHCP range: the spec's range with its lease time, and nothing else.
  const d = spec.dhcp;
  const want = d.enabled && d.start && d.end ? { start: d.start, end: d.end, leaseTime: d.leaseTime } : null;
  const have = live.dhcp;
  const sameRange = want && have && want.start === have.start && want.end === have.end && want.leaseTime === have.leaseTime;
  if (want && !sameRange) {
    const commands = have ? [update("delete", "ip-dhcp-range", renderDhcpRange(have.start, have.end, have.leaseTime))] : [];
    commands.push(update("add", "ip-dhcp-range", renderDhcpRange(want.start, want.end, want.leaseTime)));
    lost.push({ what: `DHCP range ${want.start}-${want.end} lease ${want.leaseTime} s`, commands });
  }
  // Reservations: every one of the spec, as the spec has it.
  const liveHosts = new Map(live.hosts.map((x) => [x.mac, x]));
  for (const r of spec.reservations) {
    const h = liveHosts.get(r.mac);
    if (h && h.ip === r.ip && h.hostname === r.hostname) continue;
    const commands = h ? [update("delete", "ip-dhcp-host", renderDhcpHost(h))] : [];
    commands.push(update("add", "ip-dhcp-host", renderDhcpHost(r)));
    lost.push({ what: `reservation ${r.mac} -> ${r.ip}`, commands });
  }
  // IPv6 reservations: every one of the spec, on the IPv6 <ip> (--parent-index: libvirt would pick the IPv4 one).
  const liveHosts6 = new Map(live.hosts6.map((x) => [x.duid, x]));
  for (const r of spec.reservations6 ?? []) {
    const h = liveHosts6.get(r.duid);
    if (h && h.ip === r.ip && h.hostname === r.hostname) continue;
    const commands = h ? [[...update("delete", "ip-dhcp-host", renderDhcpHost6(h)), ...IPV6_PARENT]] : [];
    commands.push([...update("add", "ip-dhcp-host", renderDhcpHost6(r)), ...IPV6_PARENT]);
    lost.push({ what: `IPv6 reservation ${r.duid} -> ${r.ip}`, commands });
  }
  // DNS records: every one of the spec, with its names in its order (a record of the address with other
  // names goes first: libvirt keeps one record per address).
  for (const want of spec.dnsHosts ?? []) {
    const have = live.dnsHosts.find((x) => x.ip === want.ip);
    if (have && sameDnsHost(have, want)) continue;
    const commands = have ? [update("delete", "dns-host", renderDnsHost(have))] : [];
    commands.push(update("add", "dns-host", renderDnsHost(want)));
    lost.push({ what: `DNS record ${want.names.join(" ")} -> ${want.ip}`, commands });
  }
  return lost;
}

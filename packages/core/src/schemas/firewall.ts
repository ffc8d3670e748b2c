/** Bodies of configure-network-firewall and configure-network-port-forward. */
import { z } from "zod";
import { parseCidr } from "../net/ipv4";
import { parseCidr6 } from "../net/ipv6";
import type { FirewallSpec } from "../actions/changes";
import { IpAddress, NetworkName } from "./common";

const DryRun = z.boolean().optional().describe("Validate and plan only: nothing is queued or changed");
const Verdict = z.enum(["accept", "drop", "reject"]);

/**
 * A source/destination: an IPv4 CIDR (prefix 0-32, 0.0.0.0/0 = anywhere) or an IPv6 one (prefix 0-128, ::/0 =
 * anywhere), host bits zero. A rule with an IPv6 CIDR is an IPv6 rule.
 */
export const RuleCidr = z
  .string()
  .max(49)
  .superRefine((s, ctx) => {
    const r = s.includes(":") ? parseCidr6(s) : parseCidr(s);
    if (r.ok) return;
    if (r.reason === "host-bits") ctx.addIssue({ code: "custom", message: `host bits must be zero: did you mean ${r.hint}?` });
    else
      ctx.addIssue({
        code: "custom",
        message: "must be a CIDR like 10.0.0.0/8 or fd00:1::/64 (a single address: /32 or /128)",
      });
  })
  .describe("IPv4 or IPv6 CIDR (host bits zero)");

/** "22" or "8000-8100": 1-65535, low <= high. */
export const PortSpec = z
  .string()
  .max(11)
  .superRefine((s, ctx) => {
    const m = /^([1-9]\d{0,4})(?:-([1-9]\d{0,4}))?$/.exec(s);
    const lo = m ? Number(m[1]) : Number.NaN;
    const hi = m?.[2] !== undefined ? Number(m[2]) : lo;
    if (!m || lo > 65535 || hi > 65535) ctx.addIssue({ code: "custom", message: 'must be a port "22" or a range "8000-8100" (1-65535)' });
    else if (lo > hi) ctx.addIssue({ code: "custom", message: "range start must not be above its end" });
  })
  .describe('Destination port "22" or range "8000-8100"');

/** A rule comment: plain text that is safe inside an nft comment string. */
const RuleComment = z
  .string()
  .max(64)
  .regex(/^[A-Za-z0-9 _.,:;/()+@#=-]*$/, "must be at most 64 letters, digits, spaces and _.,:;/()+@#=-")
  .describe("Free text shown with the rule");

export const FirewallRuleBody = z
  .strictObject({
    direction: z.enum(["inbound", "outbound"]),
    protocol: z.enum(["tcp", "udp", "icmp", "any"]),
    source: RuleCidr.optional(),
    destination: RuleCidr.optional(),
    ports: PortSpec.optional(),
    action: Verdict,
    comment: RuleComment.optional(),
  })
  .superRefine((r, ctx) => {
    if (r.ports !== undefined && r.protocol !== "tcp" && r.protocol !== "udp") {
      ctx.addIssue({ code: "custom", path: ["ports"], message: "ports need protocol tcp or udp" });
    }
    if (r.source !== undefined && r.destination !== undefined && r.source.includes(":") !== r.destination.includes(":")) {
      ctx.addIssue({
        code: "custom",
        path: ["destination"],
        message: "source and destination must be of one family (both IPv4 or both IPv6)",
      });
    }
  });
export type FirewallRuleBody = z.infer<typeof FirewallRuleBody>;

/** The most host services one network may open (each is one rule in the host's input path). */
export const MAX_HOST_SERVICES = 32;

/** A host port (or range) the network's VMs may reach on the host itself: an explicit opt-in. */
export const HostServiceBody = z
  .strictObject({
    protocol: z.enum(["tcp", "udp"]),
    ports: PortSpec,
  })
  .describe("A port of the host (any host address) the network's VMs may connect to");
export type HostServiceBody = z.infer<typeof HostServiceBody>;

export const ConfigureFirewallBody = z.strictObject({
  name: NetworkName,
  defaultInbound: Verdict.default("accept").describe("Verdict for inbound traffic no rule matched"),
  defaultOutbound: Verdict.default("accept").describe("Verdict for outbound traffic no rule matched"),
  rules: z.array(FirewallRuleBody).max(1000).default([]).describe("Ordered: first match wins"),
  hostServices: z
    .array(HostServiceBody)
    .max(MAX_HOST_SERVICES)
    .default([])
    .describe(
      "Host ports the VMs may reach on the host (nat/isolated): everything else on the host is closed to them except DHCP, DNS, neighbour discovery, ICMP errors and ping of the gateway",
    ),
  dryRun: DryRun,
});
export type ConfigureFirewallBody = z.infer<typeof ConfigureFirewallBody>;
/** A firewall in the body's form without the network's name: what an overlay's create payload carries for an added member. */
export const FirewallBodyPart = ConfigureFirewallBody.omit({ name: true, dryRun: true });
export type FirewallBodyPart = z.output<typeof FirewallBodyPart>;

/**
 * The kept firewall a body part sets (configure-network-firewall's change, an overlay member's part: as the action
 * keeps it: absent fields null, defaults accept, host services only when some). Fields may be absent: a payload can
 * reach a change without the schema's defaults applied (api-door-reads).
 */
export function firewallOfBody(b: Partial<FirewallBodyPart>): FirewallSpec {
  const services = (b.hostServices ?? []).map((x) => ({ protocol: x.protocol, ports: String(x.ports) }));
  return {
    defaultInbound: b.defaultInbound ?? "accept",
    defaultOutbound: b.defaultOutbound ?? "accept",
    rules: (b.rules ?? []).map((r) => ({
      direction: r.direction,
      protocol: r.protocol,
      source: r.source ?? null,
      destination: r.destination ?? null,
      ports: r.ports ?? null,
      action: r.action,
      comment: r.comment ?? null,
    })),
    ...(services.length > 0 ? { hostServices: services } : {}),
  };
}

const Port = z.number().int().min(1).max(65535);
export const ConfigurePortForwardBody = z.strictObject({
  name: NetworkName,
  action: z.enum(["add", "remove"]).default("add").describe("Add the forward (default; re-targets one that exists) or remove it"),
  protocol: z.enum(["tcp", "udp"]).describe("Protocol of the forwarded port"),
  hostPort: Port.describe("Port on the host that is forwarded to the VM"),
  vmIp: IpAddress.optional().describe(
    "Required for add: the VM's IPv4 address in the subnet, or its IPv6 address in the network's IPv6 prefix (the forward then answers on the host's IPv6 addresses); one family per forward",
  ),
  vmPort: Port.optional().describe("Required for add; defaults to hostPort"),
  hostIp: IpAddress.optional().describe(
    "Only this host address (one of the host's interface addresses, of vmIp's family) takes hostPort; absent: every host address of vmIp's family. Remove names the same hostIp",
  ),
  dryRun: DryRun,
});
export type ConfigurePortForwardBody = z.infer<typeof ConfigurePortForwardBody>;

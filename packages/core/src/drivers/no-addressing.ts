/**
 * The shared part of the types whose addressing netforge does not own (bridge: the LAN's DHCP server; sriov:
 * VFs on the physical LAN): no DHCP, no firewall path, every change refused with UNSUPPORTED_FOR_TYPE.
 */
import { CHANGE_KINDS, type ChangeKind } from "../actions/changes";
import { AppError } from "../errors";
import type { NetworkChange } from "../planner/changes";
import type { NetSpec } from "../planner/network-spec";
import type { DriverModel } from "./model";

/** A DHCP/static-IP change of a type whose addressing netforge does not own: UNSUPPORTED_FOR_TYPE saying who does. */
/** What each change is about, in the refusal's words. */
const SUBJECT: { [K in ChangeKind]: string } = {
  dhcp: "DHCP settings",
  "reserve-ip": "static IPs",
  "release-ip": "static IPs",
  "reserve-duid": "static IPs",
  "release-duid": "static IPs",
  firewall: "netforge firewall",
  "port-forward": "port forwards",
  dns: "DNS records",
  mtu: "MTU of netforge's (the LAN's MTU is the LAN's own)",
  qos: "bandwidth limits of netforge's (sriov: VF rate limits are the NIC's own: ip link set <pf> vf N max_tx_rate)",
};

function unsupportedChange(spec: NetSpec, change: NetworkChange, why: string): AppError {
  const what = SUBJECT[change.kind];
  return new AppError("UNSUPPORTED_FOR_TYPE", `network '${spec.name}' is of type ${spec.type}: no ${what} here; ${why}`, {
    name: spec.name,
    type: spec.type,
  });
}

/** The members a type without netforge-managed addressing shares; `why` says who owns its addressing. */
export function noAddressingParts<S extends NetSpec>(why: string): Omit<DriverModel<S>, "type" | "is" | "render"> {
  return {
    addressing: () => null,
    noAddressing: why,
    // Every change kind: a type without netforge-managed addressing refuses them all.
    unsupported: new Set(CHANGE_KINDS),
    hostFirewall: false,
    firewall: () => null,
    ownsTypeRules: () => true,
    redefineBeforeStart: () => false,
    servesDhcp: () => false,
    view: () => ({ dhcp: null, firewall: null, portForwards: [], dnsHosts: [], reservations: [], mtu: null, qos: null }),
    hostRuleCount: () => 0,
    planChange(spec, change) {
      throw unsupportedChange(spec, change, why);
    },
    checkChange(spec, change) {
      throw unsupportedChange(spec, change, why);
    },
  };
}

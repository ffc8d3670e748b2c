/**
 * bridge networks: VMs are ports of a Linux bridge that carries the physical LAN (<forward mode='bridge'/>):
 * no address, no dnsmasq, no NAT; the LAN's DHCP server addresses them. The host half (the bridge netforge
 * creates for a NIC, and gives back) is apps/worker/src/drivers/bridge.ts.
 */
import { renderBridgeXml } from "../render/network-xml";
import type { BridgeNetSpec } from "../spec/network-spec";
import type { DriverModel } from "./model";
import { noAddressingParts } from "./no-addressing";

/** The bridge driver's pure half. */
export const bridgeModel: DriverModel<BridgeNetSpec> = {
  type: "bridge",
  is: (spec): spec is BridgeNetSpec => spec.type === "bridge",
  render: renderBridgeXml,
  ...noAddressingParts<BridgeNetSpec>(
    "VMs of a bridge network are on the physical LAN: the LAN's DHCP server owns addressing (configure it there, or address VMs statically)",
  ),
};

/** configure-network-firewall and configure-network-port-forward: each one change on the configure path. */
import { type ConfigureFirewallPayload, type ConfigurePortForwardPayload, changeFor, portField, releasePortClaims } from "@netforge/core";
import type { JobContext } from "../context";
import { type ConfigureResult, configureNetwork } from "./configure-network";

export const configureFirewall = (ctx: JobContext, p: ConfigureFirewallPayload): Promise<ConfigureResult> =>
  configureNetwork(ctx, p.name, changeFor("configure-network-firewall", { ...p }));

/** The nft table carries the forward (or no longer does); a removed forward's host port is free again. */
export async function configurePortForward(ctx: JobContext, p: ConfigurePortForwardPayload): Promise<ConfigureResult> {
  const res = await configureNetwork(ctx, p.name, changeFor("configure-network-port-forward", { ...p }));
  if (p.action === "remove") await releasePortClaims(ctx.redis, ctx.keys, ctx.hostId, p.name, [portField(p.protocol, p.hostPort)]);
  return res;
}

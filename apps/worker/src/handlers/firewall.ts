/** configure-network-firewall: one change on the configure path (the nft step and the spec write are its plan). */
import { type ConfigureFirewallPayload, changeFor } from "@netforge/core";
import type { JobContext } from "../context";
import { type ConfigureResult, configureNetwork } from "./configure-network";

export const configureFirewall = (ctx: JobContext, p: ConfigureFirewallPayload): Promise<ConfigureResult> =>
  configureNetwork(ctx, p.name, changeFor("configure-network-firewall", { ...p }));

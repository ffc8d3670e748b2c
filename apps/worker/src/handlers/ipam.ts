/** configure-network-dhcp, assign-static-ip, unassign-static-ip: each is one change on the configure path. */
import type { AssignStaticIpPayload, ConfigureDhcpPayload, UnassignStaticIpPayload } from "@netforge/core/contract";
import { changeFor } from "@netforge/core/model";
import type { JobContext } from "../context";
import { type ConfigureResult, configureNetwork } from "./configure-network";

export const configureDhcp = (ctx: JobContext, p: ConfigureDhcpPayload): Promise<ConfigureResult> =>
  configureNetwork(ctx, p.name, changeFor("configure-network-dhcp", { ...p }));

export const assignStaticIp = (ctx: JobContext, p: AssignStaticIpPayload): Promise<ConfigureResult> =>
  configureNetwork(ctx, p.name, changeFor("assign-static-ip", { ...p }));

export const unassignStaticIp = (ctx: JobContext, p: UnassignStaticIpPayload): Promise<ConfigureResult> =>
  configureNetwork(ctx, p.name, changeFor("unassign-static-ip", { ...p }));

/**
 * configure-network-port-forward on the host: an add first checks the host port again here (a remove skips
 * it), then the change goes the configure path; a removed forward's host port is free again, and a forward
 * that was not added gives its host port back.
 */
import { changeOf } from "@netforge/core/contract";
import { portField, releasePortClaims } from "@netforge/core/store";
import { configureNetwork } from "../handlers/configure-network";
import { checkHostPortFree } from "../handlers/host-port";
import { releaseUnforwardedPorts } from "../handlers/port-claims";
import { workerHalf } from "./half";

export const configureNetworkPortForward = workerHalf("configure-network-port-forward", {
  async run(ctx, p) {
    if (p.action === "add") await ctx.report.step("checking host port", () => checkHostPortFree(ctx, p));
    else ctx.report.skip("checking host port");
    const res = await configureNetwork(ctx, p.name, changeOf("configure-network-port-forward", p));
    if (p.action === "remove")
      await releasePortClaims(ctx.redis, ctx.keys, ctx.hostId, p.name, [portField(p.protocol, p.hostPort, p.hostIp)]);
    return res;
  },
  async onFinalFailure(host, network) {
    // A forward that was not added gives its host port back (ports the network's spec forwards stay claimed).
    await releaseUnforwardedPorts(host, network).catch((e: unknown) =>
      host.logger.warn({ err: e, network }, "could not release the port claim of a failed forward"),
    );
  },
});

/**
 * configure-network-port-forward at the API: nat networks only, vmIp inside the subnet (the planner's checks,
 * from the published spec), the host port not one a host process listens on (the worker's inventory publishes
 * them), and claimed for this network in the submission's commit, so of two concurrent requests for one port
 * exactly one wins. Its dry run is the planned change.
 */
import { AppError, canonicalIp, changeOf } from "@netforge/core/contract";
import { checkHostPortAllowed, type DeniedHostPorts, deniedHostPorts, modelFor } from "@netforge/core/model";
import { checkPortClaim, type PortClaim } from "@netforge/core/store";
import { planOfChange } from "../dry-run";
import { checkHostIp, checkRulesAtDoor, existingNetwork, fullPlan, limitsOf, planAtDoor } from "../job-preparers";
import { apiHalf } from "./half";

export const configureNetworkPortForward = apiHalf("configure-network-port-forward", {
  async prepare(redis, keys, body, commit, opts = {}) {
    // The host's record (its listening ports) and the spec come with the network, in the same round trip.
    const { net, spec, host, hostRules } = await existingNetwork(redis, keys, body.name, { spec: true, hostRules: true });
    if (modelFor(net.type).unsupported.has("port-forward")) {
      throw new AppError("UNSUPPORTED_FOR_TYPE", `port forwards need a nat network; '${net.name}' is ${net.type}`, {
        name: net.name,
        type: net.type,
      });
    }
    // The parsed body (the action route took dryRun off) is the payload; `action` defaults to add; IPv6 addresses in
    // their one text (the claim's field, the nft map key and a later remove must all spell one address alike).
    const payload = {
      ...body,
      action: body.action ?? "add",
      ...(body.vmIp === undefined ? {} : { vmIp: canonicalIp(body.vmIp) }),
      ...(body.hostIp === undefined ? {} : { hostIp: canonicalIp(body.hostIp) }),
    };
    const plan = spec
      ? planAtDoor(
          spec,
          changeOf("configure-network-port-forward", payload),
          { active: net.state === "active", leases: [], ...limitsOf(opts) },
          opts.checkOnly === true,
        )
      : null;
    if (spec) checkRulesAtDoor(net, hostRules, spec, plan, opts);
    let portClaim: PortClaim | null = null;
    if (payload.action === "add") {
      if (payload.hostIp !== undefined) checkHostIp(host, payload.hostIp);
      // Fail closed: a host that published no listening ports (its `ss` failed, or a worker from before they
      // were published) cannot say the port is free. The worker checks again on the host, under the lock.
      if (!host.listeningPorts) {
        throw new AppError(
          "HOST_UNAVAILABLE",
          `host ${net.host} has not published the ports its processes listen on (its worker could not read them): port forwards are refused until it does; retry later`,
          { host: net.host, reason: "listening ports unknown" },
        );
      }
      const listening = host.listeningPorts[payload.protocol];
      if (listening.includes(payload.hostPort)) {
        throw new AppError("PORT_CONFLICT", `a process on host ${net.host} listens on ${payload.protocol} port ${payload.hostPort}`, {
          host: net.host,
          protocol: payload.protocol,
          hostPort: payload.hostPort,
          heldBy: { process: true },
        });
      }
      // The host's own services, listening now or not (the worker publishes its list; older workers: the defaults).
      // (The record's ranges are [low, high] pairs; its schema says so with length(2), not as a tuple type.)
      const denied = (host.deniedHostPorts as DeniedHostPorts | undefined) ?? deniedHostPorts(undefined);
      checkHostPortAllowed(net.host, denied, payload.protocol, payload.hostPort);
      portClaim = {
        host: net.host,
        protocol: payload.protocol,
        hostPort: payload.hostPort,
        network: net.name,
        ...(payload.hostIp === undefined ? {} : { hostIp: payload.hostIp }),
      };
      if (opts.checkOnly) await checkPortClaim(redis, keys, portClaim);
    }
    await commit({ network: net.name, host: net.host, payload, claim: null, plan: fullPlan(plan), portClaim });
  },
  plan: planOfChange,
});

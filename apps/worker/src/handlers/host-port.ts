/** The host's side of a port forward, checked on the host under the network's lock (the forward action's worker half runs it). */
import { AppError, canonicalIp } from "@netforge/core/contract";
import { checkHostPortAllowed, deniedHostPorts, type PortForwardSpec } from "@netforge/core/model";
import type { JobContext } from "../context";
import { readLinks } from "../host/ip";
import { listeningPorts } from "../host/listening";

/**
 * The host's side of a forward, read now under the network's lock (the door only saw the inventory, which
 * may be seconds old): the port is not one of the host's own services (deny-list), no process listens on it
 * (`ss`, failing closed: no answer, no forward), and hostIp is still an address of the host.
 */
export async function checkHostPortFree(ctx: JobContext, p: Pick<PortForwardSpec, "protocol" | "hostPort" | "hostIp">): Promise<void> {
  checkHostPortAllowed(ctx.hostId, ctx.deniedHostPorts ?? deniedHostPorts(undefined), p.protocol, p.hostPort);
  let listening: { tcp: number[]; udp: number[] };
  try {
    listening = await listeningPorts(ctx.runner, ctx.ssCommand);
  } catch (err) {
    const cause = err instanceof AppError ? err : null;
    throw new AppError(
      "HOST_COMMAND_FAILED",
      `could not read the ports host processes listen on (${cause?.message ?? String(err)}): the forward is not applied`,
      { step: "checking host port", ...(cause?.details ?? {}) },
    );
  }
  if (listening[p.protocol].includes(p.hostPort)) {
    throw new AppError("PORT_CONFLICT", `a process on host ${ctx.hostId} listens on ${p.protocol} port ${p.hostPort}`, {
      host: ctx.hostId,
      protocol: p.protocol,
      hostPort: p.hostPort,
      heldBy: { process: true },
    });
  }
  if (p.hostIp !== undefined) {
    // Of the hostIp's family (IPv6: the global/ULA addresses, compared in canonical text); never a loopback one.
    const v6 = p.hostIp.includes(":");
    const own = (await readLinks(ctx.runner)).flatMap((l) =>
      (v6 ? (l.addresses6 ?? []) : l.addresses).map((a) => canonicalIp(a.split("/")[0] as string)),
    );
    if (!own.includes(canonicalIp(p.hostIp)) || p.hostIp.startsWith("127.") || canonicalIp(p.hostIp) === "::1") {
      throw new AppError("VALIDATION_FAILED", `${p.hostIp} is not an address of host ${ctx.hostId}`, {
        issues: [{ path: "hostIp", message: `${p.hostIp} is not an address of host ${ctx.hostId}` }],
      });
    }
  }
}

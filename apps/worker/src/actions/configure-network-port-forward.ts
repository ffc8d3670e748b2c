/** configure-network-port-forward on the host; a forward that was not added gives its host port back. */
import { configurePortForward } from "../handlers/firewall";
import { releaseUnforwardedPorts } from "../handlers/port-claims";
import type { WorkerHalf } from "./half";

export const configureNetworkPortForward: WorkerHalf<"configure-network-port-forward"> = {
  run: configurePortForward,
  async onFinalFailure(host, network) {
    // A forward that was not added gives its host port back (ports the network's spec forwards stay claimed).
    await releaseUnforwardedPorts(host, network).catch((e: unknown) =>
      host.logger.warn({ err: e, network }, "could not release the port claim of a failed forward"),
    );
  },
};

/** A create-network submission for host "h1" as HostQueues.commit takes it: job id, record, queue data and claim. */
import { newJobId, newJobRecord } from "@netforge/core/store";

export function submission(name: string, cidr: string) {
  const jobId = newJobId();
  const payload = { name, cidr };
  const record = newJobRecord({ id: jobId, action: "create-network", network: name, host: "h1", payload, steps: ["a"] });
  return {
    jobId,
    record,
    data: { jobId, action: "create-network" as const, payload: payload as never },
    claim: { name, cidr, candidates: ["h1"], target: "h1" as string | null },
  };
}

/**
 * Bandwidth limits (configure-network-qos, docs/adr/0044-network-qos.md): the whole QoS set of a network, for
 * the network as a whole and per VM NIC (by MAC), each direction with an average rate, an optional burst and
 * an optional peak capping the burst. Inbound = toward the VMs, outbound = from them (as in the firewall).
 *
 * Part of the client contract: imports only zod and the shared fields.
 */
import { z } from "zod";
import { MacAddress, NetworkName } from "./common";

/** Highest rate a limit takes: 100 Gbit/s in kbit/s. */
export const MAX_KBPS = 100_000_000;
/** Largest burst: 1 GiB in KiB. */
export const MAX_BURST_KIB = 1_048_576;
/** Most VM limits one network's set takes (one HTB class and one filter per direction each). */
export const MAX_QOS_VMS = 4000;

const Kbps = (what: string) =>
  z
    .number({ error: (issue) => (issue.input === undefined ? "is required" : "must be a whole number of kbit/s") })
    .int("must be a whole number of kbit/s")
    .min(1, "must be at least 1")
    .max(MAX_KBPS, `must be at most ${MAX_KBPS} (100 Gbit/s)`)
    .describe(what);

/** One direction's limit. */
export const QosLimit = z
  .strictObject({
    averageKbps: Kbps("The rate held over time (and guaranteed within the network's limit), kbit/s (1000 bits)"),
    peakKbps: Kbps(
      "The highest rate of a burst, kbit/s (default: line rate); only with burstKib: past the burst the average holds",
    ).optional(),
    burstKib: z
      .number()
      .int("must be a whole number of KiB")
      .min(1, "must be at least 1")
      .max(MAX_BURST_KIB, `must be at most ${MAX_BURST_KIB} (1 GiB)`)
      .optional()
      .describe(
        "KiB sent faster than averageKbps (at up to peakKbps, or line rate) after a quiet time before the average holds again; refilled at averageKbps (default: the kernel's, about one frame)",
      ),
  })
  .refine((l) => l.peakKbps === undefined || l.peakKbps >= l.averageKbps, {
    message: "peakKbps must be at least averageKbps",
    path: ["peakKbps"],
  });
export type QosLimit = z.infer<typeof QosLimit>;

/** The two directions of a limit (either may be absent: that direction is not limited). */
export const QosDirections = z.strictObject({
  inbound: QosLimit.optional().describe("Toward the VMs"),
  outbound: QosLimit.optional().describe("From the VMs"),
});
export type QosDirections = z.infer<typeof QosDirections>;

/** One VM NIC's limits, named by its MAC. */
export const QosVm = z.strictObject({
  mac: MacAddress,
  inbound: QosLimit.optional().describe("Toward the VM"),
  outbound: QosLimit.optional().describe("From the VM"),
});
export type QosVm = z.infer<typeof QosVm>;

/** A network's whole QoS set. */
export const QosSet = z.object({
  network: QosDirections.nullable().describe("The aggregate of the traffic crossing the network's edge on its host (null: none)"),
  vms: z.array(QosVm).describe("Per VM NIC limits, nested under the network's (empty: none)"),
});
export type QosSet = z.infer<typeof QosSet>;

/** Body of configure-network-qos: the whole set, replacing the one the network has. */
export const ConfigureQosBody = z.strictObject({
  name: NetworkName,
  network: QosDirections.nullable()
    .optional()
    .describe("The network's own limit: the aggregate crossing its edge (to and from outside the network); null or absent: none"),
  vms: z
    .array(QosVm)
    .max(MAX_QOS_VMS, `must have at most ${MAX_QOS_VMS} entries`)
    .optional()
    .describe("Per VM NIC limits by MAC (each MAC once); absent or empty: none"),
  dryRun: z.boolean().optional().describe("Validate and plan only: nothing is queued or changed"),
});
export type ConfigureQosBody = z.infer<typeof ConfigureQosBody>;

/** What a host's kernel offers for shaping (list-hosts `qos`). */
export const QosCapability = z.object({
  supported: z.boolean(),
  /** What the kernel lacks (a qdisc kind, the ifb device, a classifier or action), each named. */
  missing: z.array(z.string()),
});
export type QosCapability = z.infer<typeof QosCapability>;

/** A set with nothing in it (the network is not shaped). */
export const isEmptyQos = (q: QosSet | null | undefined): boolean =>
  !q || ((q.network === null || (q.network.inbound === undefined && q.network.outbound === undefined)) && q.vms.length === 0);

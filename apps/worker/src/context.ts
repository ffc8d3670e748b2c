/** What handlers and drivers get: the host's tools (long-lived) plus the job's reporter and revert stack. */
import type { DeniedHostPorts } from "@netforge/core/model";
import type { Keys, Redis } from "@netforge/core/store";
import type { Logger } from "pino";
import type { OverlayBoot } from "./drivers/overlay-boot";
import type { HostFirewall } from "./firewall/host-firewall";
import type { CommandRunner } from "./host/command-runner";
import type { NetworkCatalog } from "./host/network-catalog";
import type { Virsh } from "./host/virsh";
import type { JobReporter } from "./job-reporter";
import type { Revert } from "./revert";

/** Per-worker tools, shared by all jobs of this host. */
import type { JobJournal } from "./job-journal";
export interface HostContext {
  hostId: string;
  runner: CommandRunner;
  virsh: Virsh;
  catalog: NetworkCatalog;
  redis: Redis;
  keys: Keys;
  logger: Logger;
  /** netforge's nft table of this host (every running nat/isolated network's rules). */
  firewall: HostFirewall;
  /** The boot files of this host's running overlay parts (NETFORGE_OVERLAY_BOOT_DIR); absent: none written. */
  overlayBoot?: OverlayBoot;
  /** Where libvirt's dnsmasq keeps lease status files. */
  leasesDir: string;
  /** Root of sysfs for SR-IOV reads and writes (NETFORGE_SYSFS_ROOT; default /sys). */
  sysfsRoot?: string;
  /** The resolv.conf whose nameservers the host must keep reaching (NETFORGE_RESOLV_CONF; default /etc/resolv.conf). */
  resolvConf?: string;
  /** NETFORGE_ALLOWED_INTERFACES: existing bridges bridge networks may use, as they are (default none). */
  allowedInterfaces?: readonly string[];
  /** Host ports no forward may take (NETFORGE_DENIED_HOST_PORTS plus defaults); absent (hand-built contexts): the defaults. */
  deniedHostPorts?: DeniedHostPorts;
  /** The `ss` executable listening ports are read with (NETFORGE_SS_PATH; default "ss"). */
  ssCommand?: string;
  /** The qdisc kinds shaping needs (NETFORGE_QOS_QDISCS; absent: htb). */
  qosQdiscs?: readonly string[];
  /** NETFORGE_UNDERLAY_IP (absent: the default route's interface address; host/underlay.ts). */
  underlayIp?: string;
  /** How long a coordinator waits for a member's part or its undo (NETFORGE_MEMBER_PART_TIMEOUT_MS); absent: 30 s. */
  memberPartTimeoutMs?: number;
  /** The jobs this host finished (job-journal.ts; NETFORGE_JOB_JOURNAL); absent: none kept. */
  journal?: JobJournal;
  /** Called after a job changed the host's networks: refreshes inventory and stats soon, off the job's path. */
  hostChanged(network?: string): void;
  /** Read and publish the host's record now (after the queued ones); absent (hand-built contexts): nothing. */
  publishHostNow?(): Promise<void>;
  /**
   * The store epoch host records are written under (store-epoch-watch.ts), and what to do when a write finds
   * another one (the store was reset: re-publish). Absent (hand-built contexts): plain writes.
   */
  storeEpoch?: { current(): string | null; changed(): void };
  /**
   * This host's networks whose name another host holds (the last reconcile found them): their index record, spec
   * and IP table are the other host's and are not written from here. Absent: none.
   */
  nameConflicts?: { network: string; heldBy: string }[];
}

/** Per-job context. */
export interface JobContext extends HostContext {
  report: JobReporter;
  revert: Revert;
  logger: Logger;
  /**
   * Steps an earlier delivery of this same job id started or finished (its record said so when this delivery
   * began): a job redelivered after its host change but before its success record finds the change already
   * made, and succeeds instead of failing (see the lifecycle handlers). Absent: none.
   */
  earlierSteps?: ReadonlySet<string>;
  /** The plan hash the client previewed (the request's expectPlan): a job whose plan differs fails instead of running. */
  expectPlan?: string;
  /** This run's network lock token (a job spanning hosts hands it to its members' parts). */
  lockToken?: string;
  /**
   * Set when this job is a member host's part of a job spanning hosts: it makes only this host's part, and the
   * coordinating job keeps the index, the claims and the version. Absent: an ordinary job.
   */
  parentJob?: { jobId: string; host: string };
}

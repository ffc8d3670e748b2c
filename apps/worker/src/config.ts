/** Worker configuration from the environment, parsed once at boot. */
import { hostname } from "node:os";
import { HostId } from "@netforge/core/contract";
import { type DeniedHostPorts, deniedHostPorts, sizeLimits } from "@netforge/core/model";
import { jobRetention } from "@netforge/core/store";
import { z } from "zod";

const Env = z.object({
  /** Redis shared by the cluster; unix:///path/redis.sock also works (reaches Redis from inside a netns). */
  REDIS_URL: z.string().min(1),
  /** Key and queue prefix, so installations / test runs can share one Redis. */
  NETFORGE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/)
    .default("netforge"),
  /**
   * This hypervisor's id in the cluster, owned by one running worker at a time (a lease in Redis; a second
   * worker with the same id refuses to start). Unset or empty: the machine's hostname.
   */
  HOST_ID: z.preprocess((v) => (v === "" ? undefined : v), HostId.optional()),
  /** libvirt connection of this host. */
  LIBVIRT_URI: z.string().default("qemu:///system"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /** Jobs run at once on this host (always one at a time per network). */
  NETFORGE_WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(8),
  /** Drift repair / index rebuild period. */
  NETFORGE_RECONCILE_MS: z.coerce.number().int().min(1000).default(30_000),
  /**
   * How often a reconcile round re-reads every libvirt definition instead of using the catalog that
   * libvirt's events keep current: the safety net for what emits no event (a hand `net-update --config`).
   */
  NETFORGE_RESYNC_MS: z.coerce.number().int().min(1000).default(300_000),
  /** How often the worker checks that netforge's nft table is still what it applied (repair within 10 s). */
  NETFORGE_FIREWALL_CHECK_MS: z.coerce.number().int().min(200).default(3000),
  /**
   * The boot-time copy of the firewall (deploy/netforge-firewall.service loads it before libvirtd), rewritten
   * atomically after every apply. Default /var/lib/netforge/<HOST_ID>/firewall.nft; "off" writes none.
   */
  /**
   * The host's record of the jobs it finished (job-journal.ts), so a job whose outcome the store lost is not run
   * again from nothing. Default /var/lib/netforge/<HOST_ID>/jobs.jsonl; "off" keeps none.
   */
  NETFORGE_JOB_JOURNAL: z
    .string()
    .refine((v) => v === "off" || /^\/[^\0]*[^/]$/.test(v), "must be an absolute file path or 'off'")
    .optional(),
  NETFORGE_FIREWALL_BOOT_FILE: z
    .string()
    .refine((v) => v === "off" || /^\/[^\0]*[^/]$/.test(v), "must be an absolute file path or 'off'")
    .optional(),
  /**
   * Where the boot files of this host's running overlay parts go (overlay.ip, overlay.bridge, overlay.nft;
   * deploy/netforge-overlay.service makes them before libvirtd). Default /var/lib/netforge/<HOST_ID>; "off": none.
   */
  NETFORGE_OVERLAY_BOOT_DIR: z
    .string()
    .refine((v) => v === "off" || /^\/[^\0]*[^/]$/.test(v), "must be an absolute directory path or 'off'")
    .optional(),
  /**
   * TTL of this worker's lease on its HOST_ID, renewed every heartbeat (at least three times per TTL). A
   * restart after a crash waits at most this long for the dead worker's lease to expire. Default 15 s.
   */
  NETFORGE_HOST_LEASE_MS: z.coerce.number().int().min(1000).default(15_000),
  /**
   * How long the coordinator of a job spanning hosts (an overlay's) waits for a member's part, and for the undo of
   * one, before it gives up on that host (the job then fails and the other hosts' parts are undone). Default 30 s.
   */
  NETFORGE_MEMBER_PART_TIMEOUT_MS: z.coerce.number().int().min(1000).max(600_000).default(30_000),
  /** Period of the heartbeat with inventory, and of the live stats refresh. */
  NETFORGE_HEARTBEAT_MS: z.coerce.number().int().min(200).default(5_000),
  /** Where libvirt's dnsmasq keeps lease files. */
  NETFORGE_LEASES_DIR: z.string().default("/var/lib/libvirt/dnsmasq"),
  /**
   * How soon the job of a crashed worker is taken up again. BullMQ's stalled-job
   * check runs this often and a running job's BullMQ lock lasts twice this (renewed
   * every half), so after a kill -9 the job is back in the queue within ~2-3x this,
   * and the restarted (or another) worker resumes it. Default 30 s (lock 60 s). Lower
   * it only for tests: an event loop blocked longer than the lock makes healthy jobs
   * look stalled and run twice.
   */
  NETFORGE_STALLED_MS: z.coerce.number().int().min(1000).default(30_000),
  /**
   * TTL of a job's per-network lock in Redis, renewed every third of it while the
   * job runs. A worker whose renewals stop (dead, or Redis stalled) loses the lock
   * after this long and the next job may proceed; the loser stops before its next
   * host step. Default 30 s. Lower it only for tests (a short TTL turns a brief
   * Redis hiccup into a lost lock and a retried job).
   */
  NETFORGE_LOCK_TTL_MS: z.coerce.number().int().min(500).default(30_000),
  /** Time one virsh command may run, counted from its own start (a timeout fails that command only). */
  NETFORGE_VIRSH_TIMEOUT_MS: z.coerce.number().int().min(100).default(60_000),
  /** Root of sysfs read for SR-IOV PFs/VFs and written for VF counts (tests point it at a fake tree). */
  NETFORGE_SYSFS_ROOT: z.string().min(1).default("/sys"),
  /**
   * The resolv.conf whose IPv4 nameservers this host must keep reaching: a subnet containing one is refused.
   * A host whose resolver is a local stub (systemd-resolved's 127.0.0.53) names the file listing the upstream
   * servers (/run/systemd/resolve/resolv.conf).
   */
  NETFORGE_RESOLV_CONF: z
    .string()
    .regex(/^\/[^\0]*[^/]$/, "must be an absolute file path")
    .default("/etc/resolv.conf"),
  /**
   * Existing bridges of this host netforge may use for bridge networks (comma or space separated), as they
   * are: their addresses, ports and MTU are never changed. Any other existing bridge (the host's br0,
   * docker0, virbr0, lxdbr0...) is refused with NOT_ALLOWED. Default: none.
   */
  NETFORGE_ALLOWED_INTERFACES: z
    .string()
    .default("")
    .transform((v) => v.split(/[\s,]+/).filter((x) => x !== ""))
    .refine(
      (l) => l.every((x) => /^[A-Za-z0-9_.:@-]{1,15}$/.test(x) && !/^\.+$/.test(x)),
      "must list interface names (at most 15 characters each)",
    ),
  /**
   * SIGTERM: how long running jobs may keep going to finish (no new job is taken
   * meanwhile). After it, each running job stops before its next host step, undoes
   * what it did and goes back to the queue (no attempt used). Default 30 s.
   */
  NETFORGE_SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).default(30_000),
  /**
   * After the grace, how long a job caught in one host command may take to reach
   * its next step before the worker exits anyway (the job is then resumed by
   * BullMQ's stalled check on the next start, like after a crash). Default 15 s.
   */
  NETFORGE_SHUTDOWN_ABORT_MS: z.coerce.number().int().min(0).default(15_000),
  /**
   * Host ports no port forward may take, added to the defaults (tcp 22, 5900-5999, 8080, 16509, 16514,
   * 49152-49215): "[tcp:|udp:]port[-port],..." (a bare entry: both protocols). Published in the inventory.
   */
  NETFORGE_DENIED_HOST_PORTS: z
    .string()
    .optional()
    .superRefine((v, ctx) => {
      try {
        deniedHostPorts(v);
      } catch (err) {
        ctx.addIssue({ code: "custom", message: (err as Error).message });
      }
    }),
  /** The `ss` executable the worker reads listening ports with (default "ss" from PATH). */
  NETFORGE_SS_PATH: z.string().min(1).default("ss"),
  /**
   * The address other hosts reach this one on for overlay networks (VXLAN): one of the host's IPv4 addresses.
   * Unset: the address of the interface the default route leaves through.
   */
  NETFORGE_UNDERLAY_IP: z.ipv4().optional(),
  /** The qdisc kinds the QoS probe requires (default htb; a test names one the kernel lacks). */
  NETFORGE_QOS_QDISCS: z
    .string()
    .regex(/^[a-z_]+(,[a-z_]+)*$/, "must be qdisc kinds separated by commas, like htb")
    .default("htb"),
});

export type WorkerConfig = {
  redisUrl: string;
  prefix: string;
  hostId: string;
  libvirtUri: string;
  logLevel: string;
  concurrency: number;
  reconcileMs: number;
  /** Optional so configs built by hand (tests) need not name it: 5 min. */
  resyncMs?: number;
  firewallCheckMs: number;
  /** Boot-time copy of the firewall; absent (hand-built configs, "off"): none is written. */
  firewallBootFile?: string;
  /** NETFORGE_JOB_JOURNAL (absent: "off"). */
  jobJournal?: string;
  /** The overlay parts' boot files' directory; absent (hand-built configs, "off"): none is written. */
  overlayBootDir?: string;
  heartbeatMs: number;
  /** TTL of the host-id lease; optional so configs built by hand (tests) need not name it: 15 s. */
  hostLeaseMs?: number;
  /** NETFORGE_MEMBER_PART_TIMEOUT_MS; optional so configs built by hand (tests) need not name it: 30 s. */
  memberPartTimeoutMs?: number;
  leasesDir: string;
  stalledMs: number;
  lockTtlMs: number;
  virshTimeoutMs: number;
  /** Optional so configs built by hand (tests) need not name it: /sys. */
  sysfsRoot?: string;
  /** Optional so configs built by hand (tests) need not name it: /etc/resolv.conf. */
  resolvConf?: string;
  /** NETFORGE_ALLOWED_INTERFACES; optional so configs built by hand (tests) need not name it: none. */
  allowedInterfaces?: string[];
  shutdownGraceMs: number;
  shutdownAbortMs: number;
  /** Optional so configs built by hand (tests) need not name them: the defaults, and "ss". */
  deniedHostPorts?: DeniedHostPorts;
  ssCommand?: string;
  /** NETFORGE_QOS_QDISCS; absent (hand-built configs): htb. */
  qosQdiscs?: string[];
  /** NETFORGE_UNDERLAY_IP; absent: the default route's interface address. */
  underlayIp?: string;
};

export function loadWorkerConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const e = Env.parse(env);
  jobRetention(env); // fail at start on a bad retention, not on the first job
  sizeLimits(env); // and on a bad size cap
  const hostId =
    e.HOST_ID ??
    hostname()
      .replace(/[^A-Za-z0-9._-]/g, "-")
      .slice(0, 63);
  const bootFile = e.NETFORGE_FIREWALL_BOOT_FILE ?? `/var/lib/netforge/${hostId}/firewall.nft`;
  const journalFile = e.NETFORGE_JOB_JOURNAL ?? `/var/lib/netforge/${hostId}/jobs.jsonl`;
  const overlayBootDir = e.NETFORGE_OVERLAY_BOOT_DIR ?? `/var/lib/netforge/${hostId}`;
  return {
    redisUrl: e.REDIS_URL,
    prefix: e.NETFORGE_PREFIX,
    hostId,
    libvirtUri: e.LIBVIRT_URI,
    logLevel: e.LOG_LEVEL,
    concurrency: e.NETFORGE_WORKER_CONCURRENCY,
    reconcileMs: e.NETFORGE_RECONCILE_MS,
    resyncMs: e.NETFORGE_RESYNC_MS,
    firewallCheckMs: e.NETFORGE_FIREWALL_CHECK_MS,
    ...(bootFile === "off" ? {} : { firewallBootFile: bootFile }),
    ...(journalFile === "off" ? {} : { jobJournal: journalFile }),
    ...(overlayBootDir === "off" ? {} : { overlayBootDir }),
    heartbeatMs: e.NETFORGE_HEARTBEAT_MS,
    hostLeaseMs: e.NETFORGE_HOST_LEASE_MS,
    memberPartTimeoutMs: e.NETFORGE_MEMBER_PART_TIMEOUT_MS,
    leasesDir: e.NETFORGE_LEASES_DIR,
    stalledMs: e.NETFORGE_STALLED_MS,
    lockTtlMs: e.NETFORGE_LOCK_TTL_MS,
    virshTimeoutMs: e.NETFORGE_VIRSH_TIMEOUT_MS,
    sysfsRoot: e.NETFORGE_SYSFS_ROOT,
    resolvConf: e.NETFORGE_RESOLV_CONF,
    allowedInterfaces: e.NETFORGE_ALLOWED_INTERFACES,
    shutdownGraceMs: e.NETFORGE_SHUTDOWN_GRACE_MS,
    shutdownAbortMs: e.NETFORGE_SHUTDOWN_ABORT_MS,
    deniedHostPorts: deniedHostPorts(e.NETFORGE_DENIED_HOST_PORTS),
    ssCommand: e.NETFORGE_SS_PATH,
    qosQdiscs: e.NETFORGE_QOS_QDISCS.split(","),
    ...(e.NETFORGE_UNDERLAY_IP ? { underlayIp: e.NETFORGE_UNDERLAY_IP } : {}),
  };
}

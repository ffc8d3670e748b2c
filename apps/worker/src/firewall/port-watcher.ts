/**
 * Keeps the port sets of port security (render/nft-bridge.ts) equal to the
 * ports of each network's bridge. The kernels netforge runs on may lack
 * `meta ibrname` in the bridge family, so the table names a network's VM
 * ports one by one; `ip -o monitor link address` wakes us on every link change (a VM
 * starting adds its tap to the bridge), and the ports are read again
 * (`ip -j link show`) and applied as set elements within milliseconds. The
 * heartbeat re-reads them too, in case the monitor died.
 */
import type { Logger } from "pino";
import type { CommandRunner, InteractiveProcess } from "../host/command-runner";
import type { HostFirewall } from "./host-firewall";

const COALESCE_MS = 10;

/** Ports (bridge slaves) of each bridge, from `ip -j link show` (pure). */
export function portsByBridge(json: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let rows: { ifname?: string; master?: string }[];
  try {
    rows = JSON.parse(json || "[]");
  } catch {
    return out;
  }
  for (const r of rows) {
    if (!r.ifname || !r.master) continue;
    const l = out.get(r.master) ?? [];
    l.push(r.ifname);
    out.set(r.master, l);
  }
  return out;
}

/** An overlay's local VM ports among its bridge's (pure): not its VXLAN device, not a libvirt `-nic` dummy. */
export const overlayVmPorts = (ports: readonly string[], vxlan: string): string[] =>
  ports.filter((p) => p !== vxlan && !p.endsWith("-nic"));

export class PortWatcher {
  private proc: InteractiveProcess | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private closed = false;
  private restart: NodeJS.Timeout | null = null;
  /**
   * Called with the bridges' ports after every read (bandwidth limits feed a new port's ingress to the
   * network's IFB: qos-drift.ts feedNewPorts); absent: only port security reads them.
   */
  onPorts: ((ports: Map<string, string[]>) => Promise<void>) | null = null;
  /**
   * Called on every link or address event (a NIC added or removed, an address set): the worker republishes the
   * host's inventory at once, so the API's door knows a new NIC within a fraction of a second, not a heartbeat.
   */
  onLinkChange: (() => void) | null = null;

  constructor(
    private readonly runner: CommandRunner,
    private readonly firewall: HostFirewall,
    private readonly logger: Logger,
  ) {}

  /** Start the link monitor (if the runner can keep a process) and read the ports once. */
  start(): void {
    this.connect();
    this.schedule();
  }

  private connect(): void {
    if (this.closed || this.proc || !this.runner.spawnInteractive) return;
    const p = this.runner.spawnInteractive("ip", ["-o", "monitor", "link", "address"]);
    this.proc = p;
    p.onStdout(() => {
      this.schedule();
      this.onLinkChange?.();
    });
    p.onExit(() => {
      if (this.proc !== p) return;
      this.proc = null;
      if (this.closed) return;
      this.logger.warn("link monitor ended; port security ports are re-read by the heartbeat until it is back");
      this.restart = setTimeout(() => {
        this.restart = null;
        this.connect();
        this.schedule();
      }, 1_000);
    });
  }

  /** Re-read the ports soon (coalesced); the heartbeat calls it too. */
  schedule(): void {
    if (this.closed || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.refresh();
    }, COALESCE_MS);
  }

  /** Read the bridges' ports and give each port-secured network its own; resolves when applied. */
  async refresh(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    const p = this.loopOnce();
    this.running = p;
    try {
      await p;
    } finally {
      if (this.running === p) this.running = null;
    }
  }

  private async loopOnce(): Promise<void> {
    do {
      this.again = false;
      const nets = this.firewall.portSecured();
      const lans = this.firewall.lanCounted();
      const overlays = this.firewall.overlaysCounted();
      if (nets.length === 0 && lans.length === 0 && overlays.length === 0 && !this.onPorts) continue;
      const r = await this.runner.run("ip", ["-j", "link", "show"], { allowFailure: true, timeoutMs: 10_000 });
      if (r.exitCode !== 0) continue;
      const ports = portsByBridge(r.stdout);
      for (const n of nets) {
        await this.firewall
          .setLive(n.name, { ports: ports.get(n.bridge) ?? [] })
          .catch((err) => this.logger.warn({ err, network: n.name }, "could not update port security ports"));
      }
      // A counted bridge network's VM ports: its frames between two VMs are counted by them.
      for (const l of lans) {
        await this.firewall
          .setLanPorts(
            l.name,
            (ports.get(l.bridge) ?? []).filter((p) => p !== l.uplink),
          )
          .catch((err) => this.logger.warn({ err, network: l.name }, "could not update a bridge network's VM ports"));
      }
      // A counted overlay's local VM ports (ADR 0044 "Overlay members counted"): its bridge's but the VXLAN device.
      for (const o of overlays) {
        await this.firewall
          .setOverlayPorts(o.name, overlayVmPorts(ports.get(o.bridge) ?? [], o.vxlan))
          .catch((err) => this.logger.warn({ err, network: o.name }, "could not update an overlay's VM ports"));
      }
      await this.onPorts?.(ports).catch((err) => this.logger.warn({ err }, "could not feed new ports to the bandwidth limits"));
    } while (this.again && !this.closed);
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.restart) clearTimeout(this.restart);
    this.proc?.kill();
    this.proc = null;
  }
}

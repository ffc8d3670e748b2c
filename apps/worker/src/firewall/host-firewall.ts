/**
 * The desired firewall of this host: the nft part of every running
 * nat/isolated network, kept in memory and applied whole through the
 * backend. Jobs change one network's part (with the undo of that change
 * registered by the caller); reconcile sets all of them from libvirt's
 * definitions and repairs drift. Applies are serialised: two jobs on two
 * networks never interleave their transactions, and each transaction carries
 * every network's current rules.
 */
import type { FirewallNetwork, LanCounted, MacIp, OverlayCounted } from "@netforge/core/model";
import type { Logger } from "pino";
import type { FirewallBackend } from "./backend";
import type { TrafficState } from "./nftables";

export class HostFirewall {
  private readonly desired = new Map<string, FirewallNetwork>();
  /** JSON of what the last successful apply carried; null: nothing applied by this process yet. */
  private appliedKey: string | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  /** Networks a job is changing: reconcile keeps their current part (its libvirt read may predate the job's). */
  private readonly pinned = new Map<string, number>();
  /** A counter, and when (in its ticks) each network's part was last set by a job. */
  private clock = 0;
  private readonly touched = new Map<string, number>();

  /**
   * Port security's live part per network (render/nft-bridge.ts): the (MAC, IP) pairs of its IP table (leases and
   * reservations, from publishIpTable; null until the first publish: the spec's reservations) and its bridge's
   * ports (port-watcher.ts). Merged into the network's part at each apply; a change applies as set elements.
   */
  private readonly live = new Map<string, { pairs: MacIp[] | null; ports: string[] }>();

  /**
   * The bridge networks counted at their uplink NIC (render/nft-bridge.ts), set by reconcile from the catalog and by
   * the job defining one (countLan) or deleting one (forgetTraffic).
   */
  private lan: LanCounted[] = [];
  /** When (in the clock's ticks) a job last added or took away each counted bridge network. */
  private readonly lanTouched = new Map<string, number>();
  /** Each counted bridge network's VM ports (its bridge's ports but its NIC), kept by the port watcher. */
  private readonly lanPorts = new Map<string, string[]>();
  /**
   * The overlays with a running part here, counted in the bridge table (ADR 0044 "Overlay members counted"), set by
   * reconcile from the catalog, with their VXLAN device (not a VM port); their local VM ports kept by the port watcher.
   */
  private overlays: (OverlayCounted & { vxlan: string })[] = [];
  private readonly overlayPorts = new Map<string, string[]>();

  constructor(
    readonly backend: FirewallBackend,
    private readonly logger: Logger,
  ) {}

  private policies: { at: number; warnings: string[] } | null = null;

  /**
   * Host firewall settings that override ours (see FirewallBackend.overridingPolicies). Read at most every
   * `maxAgeMs` (the heartbeat refreshes it), so jobs do not pay an extra `nft` run for it.
   */
  async overridingPolicies(maxAgeMs = 30_000): Promise<string[]> {
    if (this.policies && Date.now() - this.policies.at < maxAgeMs) return this.policies.warnings;
    const warnings = await this.backend.overridingPolicies();
    this.policies = { at: Date.now(), warnings };
    return warnings;
  }

  /** Keep reconcile off a network's part while a job runs on it; returns the release. */
  pin(name: string): () => void {
    this.pinned.set(name, (this.pinned.get(name) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      // The job wrote libvirt before it let go: a reconcile read that began while it ran (after its nft step,
      // before that write) may hold the old definition, so its part counts as set now, newer than that read.
      this.touched.set(name, ++this.clock);
      const n = (this.pinned.get(name) ?? 1) - 1;
      if (n <= 0) this.pinned.delete(name);
      else this.pinned.set(name, n);
    };
  }

  /** The network's current part, if it has one. */
  get(name: string): FirewallNetwork | null {
    return this.desired.get(name) ?? null;
  }

  /** A mark to take before reading libvirt for sync(): parts jobs set after it are newer than that read. */
  mark(): number {
    return ++this.clock;
  }

  /** Set (or with null, remove) one network's part and apply the host's table; on failure the previous part stays. */
  async set(name: string, net: FirewallNetwork | null): Promise<string> {
    return this.serial(async () => {
      this.touched.set(name, ++this.clock);
      const before = this.desired.get(name) ?? null;
      const liveBefore = this.live.get(name);
      if (net) this.desired.set(name, net);
      else {
        this.desired.delete(name);
        // A network recreated under this name must not inherit the old one's leases.
        this.live.delete(name);
      }
      try {
        return await this.applyNow();
      } catch (err) {
        if (before) this.desired.set(name, before);
        else this.desired.delete(name);
        if (liveBefore) this.live.set(name, liveBefore);
        throw err;
      }
    });
  }

  /**
   * Replace the whole desired state (reconcile, from libvirt) and apply it when it differs from what was
   * applied or when the host's table drifted. Returns what was repaired, for logs and metrics.
   */
  async sync(
    nets: FirewallNetwork[],
    readMark = Number.POSITIVE_INFINITY,
    lan?: readonly LanCounted[],
    overlays?: readonly (OverlayCounted & { vxlan: string })[],
  ): Promise<"unchanged" | "applied" | "restored"> {
    return this.serial(async () => {
      if (overlays) {
        this.overlays = overlays.map(({ ports: _p, ...o }) => o).sort((a, b) => a.name.localeCompare(b.name));
        for (const name of [...this.overlayPorts.keys()]) if (!this.overlays.some((o) => o.name === name)) this.overlayPorts.delete(name);
      }
      if (lan) {
        // A bridge network a job added or took away after the caller's read keeps what the job made of it.
        const recent = (name: string) => (this.lanTouched.get(name) ?? 0) > readMark;
        const next = lan.filter((l) => !recent(l.name));
        for (const l of this.lan) if (recent(l.name) && !next.some((x) => x.name === l.name)) next.push(l);
        this.lan = next.sort((a, b) => a.name.localeCompare(b.name));
      }
      // A network a job is on, or one a job changed after `readMark` (the caller's read of libvirt began), keeps
      // the part the job gave it: the read may predate the job (a delete would otherwise come back).
      const mine = (name: string) => this.pinned.has(name) || (this.touched.get(name) ?? 0) > readMark;
      for (const name of [...this.desired.keys()]) if (!mine(name)) this.desired.delete(name);
      for (const n of nets) if (!mine(n.name)) this.desired.set(n.name, n);
      const key = this.key();
      if (key !== this.appliedKey) {
        await this.applyNow();
        return "applied";
      }
      if (!(await this.backend.inPlace())) {
        await this.applyNow({ whole: true });
        return "restored";
      }
      return "unchanged";
    });
  }

  /** Re-apply when the host's table is not what we applied (someone flushed it). */
  async repairDrift(): Promise<boolean> {
    return this.serial(async () => {
      if (this.appliedKey === null || (await this.backend.inPlace())) return false;
      await this.applyNow({ whole: true });
      return true;
    });
  }

  /** The networks' traffic counters (empty when the backend has none). */
  async trafficCounts(opts: { fresh?: boolean } = {}): Promise<TrafficState> {
    return (await this.backend.trafficCounts?.(opts)) ?? { counters: new Map(), vms: new Map() };
  }

  /** Drop a deleted network's traffic counters and its bridge's per-VM elements (kept while it was only stopped). */
  async forgetTraffic(name: string, bridge: string | null): Promise<void> {
    return this.serial(async () => {
      // A deleted bridge network leaves the counted ones now (not at the next reconcile round): the table without
      // its rules, then no whole table carries its counts.
      const wasLan = this.lan.some((l) => l.name === name) || this.overlays.some((o) => o.name === name);
      this.lan = this.lan.filter((l) => l.name !== name);
      this.overlays = this.overlays.filter((o) => o.name !== name);
      this.overlayPorts.delete(name);
      this.lanTouched.set(name, ++this.clock);
      this.lanPorts.delete(name);
      await this.backend.forgetTraffic?.(name, bridge, this.desired.has(name));
      if (wasLan && this.appliedKey !== null) await this.applyNow();
    });
  }

  /**
   * A bridge network made on a NIC is counted from the job that defines it (docs/adr/0044-network-qos.md, sixth
   * round), not from the next reconcile round: its counters and the LAN mark (tc-qos.ts LAN_MARK) in the bridge
   * table at once. Nothing to do when it is counted already at that NIC.
   */
  async countLan(l: LanCounted): Promise<void> {
    return this.serial(async () => {
      if (this.lan.some((x) => x.name === l.name && x.uplink === l.uplink)) return;
      const before = this.lan;
      this.lan = [...this.lan.filter((x) => x.name !== l.name), l].sort((a, b) => a.name.localeCompare(b.name));
      this.lanTouched.set(l.name, ++this.clock);
      if (this.appliedKey === null) return;
      try {
        await this.applyNow();
      } catch (err) {
        this.lan = before;
        throw err;
      }
    });
  }

  /** Drop the traffic counters of networks that are neither on the host (`names`) nor in the table (deleted ones). */
  async forgetTrafficExcept(names: ReadonlySet<string>, bridges: ReadonlySet<string>): Promise<string[]> {
    return this.serial(async () => {
      const all = new Set([...names, ...this.desired.keys(), ...this.lan.map((l) => l.name), ...this.overlays.map((o) => o.name)]);
      const allBridges = new Set([...bridges, ...[...this.desired.values()].map((n) => n.bridge)]);
      return (await this.backend.forgetTrafficExcept?.(all, allBridges)) ?? [];
    });
  }

  /** The counted bridge networks whose bridge is known (name, bridge, NIC), for the port watcher. */
  lanCounted(): { name: string; bridge: string; uplink: string }[] {
    return this.lan.flatMap((l) => (l.bridge ? [{ name: l.name, bridge: l.bridge, uplink: l.uplink }] : []));
  }

  /** The counted overlays (name, bridge, VXLAN device), for the port watcher. */
  overlaysCounted(): { name: string; bridge: string; vxlan: string }[] {
    return this.overlays.map((o) => ({ name: o.name, bridge: o.bridge, vxlan: o.vxlan }));
  }

  /** Set a counted overlay's local VM ports (the port watcher) and apply them when they changed (as setLanPorts). */
  setOverlayPorts(name: string, ports: readonly string[]): Promise<boolean> {
    return this.setCountedPorts(this.overlayPorts, () => this.overlays.some((o) => o.name === name), name, ports);
  }

  /**
   * Set a counted bridge network's VM ports (the port watcher) and apply them when they changed: what its frames
   * between two VMs are counted by. On failure the previous ones stay.
   */
  setLanPorts(name: string, ports: readonly string[]): Promise<boolean> {
    return this.setCountedPorts(this.lanPorts, () => this.lan.some((l) => l.name === name), name, ports);
  }

  /**
   * One network's port set in `sets` replaced (sorted, unique) and, when it changed, the network is `counted` (asked
   * in turn, after the calls before it) and a table was applied, applied now; on failure the previous set stays. Whether it was applied.
   */
  private setCountedPorts(sets: Map<string, string[]>, counted: () => boolean, name: string, ports: readonly string[]): Promise<boolean> {
    return this.serial(async () => {
      const next = [...new Set(ports)].sort();
      const before = sets.get(name);
      if (JSON.stringify(next) === JSON.stringify(before ?? [])) return false;
      sets.set(name, next);
      if (!counted() || this.appliedKey === null) return false;
      try {
        await this.applyNow();
        return true;
      } catch (err) {
        if (before) sets.set(name, before);
        else sets.delete(name);
        throw err;
      }
    });
  }

  /** Networks with port security (name and bridge), for the port watcher. */
  portSecured(): { name: string; bridge: string }[] {
    return [...this.desired.values()].filter((n) => n.portSecurity).map((n) => ({ name: n.name, bridge: n.bridge }));
  }

  /**
   * Set a network's live pairs or ports (the other stays) and apply them when the network has port security and
   * they changed: one transaction of set elements. On failure the previous ones stay.
   */
  async setLive(name: string, part: { pairs?: readonly MacIp[]; ports?: readonly string[] }): Promise<boolean> {
    return this.serial(async () => {
      const before = this.live.get(name);
      const next = {
        pairs: part.pairs
          ? [...part.pairs]
              .map((p) => ({ mac: p.mac.toLowerCase(), ip: p.ip }))
              .sort((a, b) => `${a.mac} ${a.ip}`.localeCompare(`${b.mac} ${b.ip}`))
          : (before?.pairs ?? null),
        ports: part.ports ? [...new Set(part.ports)].sort() : (before?.ports ?? []),
      };
      if (JSON.stringify(next) === JSON.stringify(before ?? { pairs: null, ports: [] })) return false;
      this.live.set(name, next);
      if (!this.desired.get(name)?.portSecurity || this.appliedKey === null) return false;
      try {
        await this.applyNow();
        return true;
      } catch (err) {
        if (before) this.live.set(name, before);
        else this.live.delete(name);
        throw err;
      }
    });
  }

  /** The networks as applied: each one's part with its live pairs and ports. */
  private merged(): FirewallNetwork[] {
    return [...this.desired.values()]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((n) => {
        const l = this.live.get(n.name);
        if (!n.portSecurity || !l) return n;
        // The IP table's pairs (reservations and leases, as last published) replace the spec's reservations.
        return { ...n, portSecurity: { pairs: l.pairs ?? n.portSecurity.pairs, ports: l.ports } };
      });
  }

  /** The counted bridge networks as applied: each with its VM ports. */
  private lanMerged(): LanCounted[] {
    return this.lan.map((l) => ({ ...l, ports: this.lanPorts.get(l.name) ?? [] }));
  }

  /** The counted overlays as applied: each with its local VM ports. */
  private overlaysMerged(): OverlayCounted[] {
    return this.overlays.map(({ vxlan: _v, ...o }) => ({ ...o, ports: this.overlayPorts.get(o.name) ?? [] }));
  }

  private key(): string {
    return JSON.stringify([this.merged(), this.lanMerged(), this.overlaysMerged()]);
  }

  /** Called when the networks with port security changed (the port watcher then reads their ports). */
  onPortSecuredChange: (() => void) | null = null;
  private securedKey = "";

  private async applyNow(opts: { whole?: boolean } = {}): Promise<string> {
    const nets = this.merged();
    const text = await this.backend.replace(nets, { ...opts, lan: this.lanMerged(), overlays: this.overlaysMerged() });
    this.appliedKey = this.key();
    // (The port watcher reads the ports of the counted bridge networks' bridges too.)
    const secured = JSON.stringify([this.portSecured(), this.lanCounted(), this.overlaysCounted()]);
    if (secured !== this.securedKey) {
      this.securedKey = secured;
      this.onPortSecuredChange?.();
    }
    this.logger.debug({ networks: nets.length }, "firewall table applied");
    return text;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => undefined);
    return p;
  }
}

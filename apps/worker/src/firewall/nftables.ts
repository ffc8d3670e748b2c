/**
 * nftables backend: netforge's rules are one table (`inet netforge`),
 * replaced whole by one `nft -f -` transaction (render/nft.ts), so the kernel
 * swaps old for new atomically. Drift is seen by comparing `nft list table`
 * with the listing taken after our last apply.
 */
import { readFile } from "node:fs/promises";
import {
  type FirewallNetwork,
  NFT_BRIDGE_FAMILY,
  NFT_BRIDGE_TABLE,
  NFT_FAMILY,
  NFT_TABLE,
  renderBootCopy,
  renderHostTable,
  renderPortSecurityDelta,
  renderPortSecurityTable,
  renderTableDelta,
  type ElementCount,
  ALL_TRAFFIC_VM_SETS,
  type TrafficCount,
  type LanCounted,
  type OverlayCounted,
  lanCounterNetwork,
  TRAFFIC_LAN_SETS,
  trafficCounterNetwork,
} from "@netforge/core/model";
import { type CommandRunner, commandFailed } from "../host/command-runner";
import type { FirewallBackend } from "./backend";
import type { BootCopy } from "./boot-copy";
import { dropPolicies, droppingRules, type ProbeNetwork, rulesFromIptablesSave, rulesFromNftJson } from "./foreign-rules";
import { NftSession } from "./nft-session";

interface NftChain {
  family: string;
  table: string;
  name: string;
  hook?: string;
  policy?: string;
}

export class NftBackend implements FirewallBackend {
  /** `nft list table` right after our last apply (taken lazily at the first check); null: not known yet. */
  private baseline: string | null = null;
  /** Whether our last apply put a table there at all. */
  private applied = false;

  /** `bootCopy`: where the table is kept for the next boot (written after every successful apply, off its path). */
  constructor(
    private readonly runner: CommandRunner,
    private readonly bootCopy: BootCopy | null = null,
    /** Lists the host's iptables-legacy tables (per network namespace: the reading process's). */
    private readonly legacyTablesFile = "/proc/net/ip_tables_names",
  ) {
    this.session = runner.spawnInteractive
      ? new NftSession(runner as CommandRunner & Required<Pick<CommandRunner, "spawnInteractive">>)
      : null;
  }

  /** Transactions go through one long-lived libnftables context when the runner can keep a process (nft-session.ts). */
  private readonly session: NftSession | null;

  /** Start the nft session now, so the first change does not pay its start. */
  warm(): void {
    this.session?.warm();
  }

  close(): void {
    this.session?.close();
  }

  /**
   * Run `text` as one nft transaction: through the session when it answers, else as `nft -f -` (also when the
   * session could not tell whether it committed: every text we apply may be applied twice, see callers).
   */
  private async transact(text: string, opts: { allowFailure?: boolean } = {}): Promise<boolean> {
    const r = this.session ? await this.session.run(text) : null;
    if (r) {
      if (r.ok || opts.allowFailure) return r.ok;
      throw commandFailed("nft", ["-f", "-"], { stdout: "", stderr: r.error, exitCode: 1 });
    }
    const p = await this.runner.run("nft", ["-f", "-"], { input: text, timeoutMs: 30_000, allowFailure: opts.allowFailure });
    return p.exitCode === 0;
  }

  /** What the last successful apply carried (for deltas). */
  private last: readonly FirewallNetwork[] | null = null;

  async replace(
    networks: readonly FirewallNetwork[],
    opts: { whole?: boolean; lan?: readonly LanCounted[]; overlays?: readonly OverlayCounted[] } = {},
  ): Promise<string> {
    const lan = [...(opts.lan ?? [])].sort((a, b) => a.name.localeCompare(b.name));
    const overlays = [...(opts.overlays ?? [])].sort((a, b) => a.name.localeCompare(b.name));
    // (this.lan: what the last successful apply carried; set below only once one did.)
    const lanSame = JSON.stringify([lan, overlays]) === JSON.stringify([this.lan, this.overlays]);
    for (const l of lan) this.lanUplinks.set(l.name, l.uplink);
    // An overlay's per-VM elements of the `traffic-lan-*` sets are keyed by its bridge (forgotten as a NIC's are).
    for (const o of overlays) this.lanUplinks.set(o.name, o.bridge);
    // Only forwards and rule sets changed since our last apply: change the map's elements and refill the changed
    // rule chains (one small transaction, see renderTableDelta).
    // Port security (table bridge netforge) changes the same way: set elements, or the whole table with the other
    // (and when the bridge networks counted at their NIC changed).
    const inetDelta = this.last && !opts.whole && lanSame ? renderTableDelta(this.last, networks) : null;
    const bridgeDelta = this.last && inetDelta !== null ? renderPortSecurityDelta(this.last, networks) : null;
    const delta = inetDelta !== null && bridgeDelta !== null ? inetDelta + bridgeDelta : null;
    if (delta !== null) {
      // A delta applied twice (session lost mid-way, then `nft -f -`) either does the same again (refilling a
      // chain, adding an element) or fails (deleting an element gone), and then the whole table is replaced below.
      const ok = delta === "" || (await this.transact(delta, { allowFailure: true }));
      if (ok) {
        this.last = networks;
        this.lan = lan;
        this.overlays = overlays;
        this.baseline = null;
        this.scheduleBootCopy(networks);
        return delta;
      }
      // The table is not what we left (flushed by hand?): replace it whole below.
    }
    // The whole table replaces the named counters too: read them first and carry them over (they only grow), but
    // not a deleted network's; one rendered again (created anew) starts at 0 and is counted from now on.
    await this.trafficCounts({ lan: lan.length > 0 || overlays.length > 0 });
    this.dropDropped();
    for (const n of networks) this.dropped.delete(n.name);
    for (const l of [...lan, ...overlays]) this.dropped.delete(l.name);
    const counting = { counters: this.counts, vmCounters: this.vmCounts, now: nowSeconds() };
    const text = renderHostTable(networks, counting) + renderPortSecurityTable(networks, { ...counting, lan, overlays });
    await this.transact(text);
    this.last = networks;
    this.lan = lan;
    this.overlays = overlays;
    this.baseline = null;
    this.applied = true;
    this.scheduleBootCopy(networks);
    return text;
  }

  /** The boot copy of this apply (an overlay's port set empty: port names are handed out again after a reboot). */
  private scheduleBootCopy(networks: readonly FirewallNetwork[]): void {
    this.bootCopy?.schedule(() =>
      renderBootCopy(networks, {
        counters: this.counts,
        vmCounters: this.vmCounts,
        now: nowSeconds(),
        lan: this.lan,
        overlays: this.overlays.map((o) => ({ ...o, ports: [] })),
      }),
    );
  }

  /**
   * The traffic counters (render/nft.ts trafficCounterNames), as last seen: the kernel's when it has them, else
   * (the table deleted by hand, not there yet after a reboot) the last value read, so a re-render never takes a
   * counter back. Kept for every counter ever read, a stopped network's too (a restart continues its count).
   */
  private counts = new Map<string, TrafficCount>();
  /** The per-VM sets' elements the same way (set name -> `<bridge>/<MAC or address>` -> count). */
  private vmCounts = new Map<string, Map<string, ElementCount>>();

  /** The bridge networks counted at their uplink NIC (render/nft-bridge.ts LanCounted), as last applied. */
  private lan: LanCounted[] = [];
  /** The overlays counted in the bridge table (render/nft-bridge.ts OverlayCounted), as last applied. */
  private overlays: OverlayCounted[] = [];
  /** Every bridge network's NIC ever counted (its per-VM elements are keyed by it), for forgetting them. */
  private readonly lanUplinks = new Map<string, string>();

  /** Networks deleted (name -> bridge) whose counts a whole table must not carry over until they are rendered again. */
  private dropped = new Map<string, string | null>();

  async forgetTraffic(name: string, bridge: string | null, rendered: boolean): Promise<void> {
    this.dropped.set(name, bridge);
    if (rendered) return;
    const kernel = await this.trafficCounts();
    const lines: string[] = [];
    for (const k of kernel.counters.keys()) if (counterNetwork(k) === name) lines.push(`delete counter ${tableOfCounter(k)} ${k}`);
    const uplink = this.lanUplinks.get(name);
    for (const [set, els] of kernel.vms) {
      const dev = isLanSet(set) ? uplink : bridge;
      for (const key of els.keys()) {
        const [br, addr] = key.split("/");
        if (dev != null && br === dev) lines.push(`delete element ${tableOfSet(set)} ${set} { "${br}" . ${addr} }`);
      }
    }
    this.dropDropped();
    for (const l of lines) await this.transact(`${l}\n`, { allowFailure: true });
    if (lines.length > 0) this.baseline = null;
  }

  /** Take the deleted networks' counts out of what is kept. */
  private dropDropped(): void {
    for (const [name, bridge] of this.dropped) {
      for (const k of [...this.counts.keys()]) if (counterNetwork(k) === name) this.counts.delete(k);
      const uplink = this.lanUplinks.get(name);
      for (const [set, els] of this.vmCounts) {
        const dev = isLanSet(set) ? uplink : bridge;
        if (dev == null) continue;
        for (const key of [...els.keys()]) if (key.startsWith(`${dev}/`)) els.delete(key);
      }
    }
  }

  /**
   * Drop the traffic counters of networks not in `names` (the host's networks) and not rendered, and the per-VM
   * elements of bridges not in `bridges` (theirs) and not rendered: a deleted network's counts (a network created
   * again under its name starts at 0). Removed from the kernel's table too, else the next whole table would read
   * them back. Returns the counters and elements forgotten.
   */
  async forgetTrafficExcept(names: ReadonlySet<string>, bridges: ReadonlySet<string>): Promise<string[]> {
    const rendered = new Set([
      ...(this.last ?? []).map((n) => n.name),
      ...this.lan.map((l) => l.name),
      ...this.overlays.map((o) => o.name),
    ]);
    const renderedBridges = new Set((this.last ?? []).map((n) => n.bridge));
    // A bridge network's per-VM elements are keyed by its NIC: kept while a network counted there is on the host.
    const uplinks = new Set([...this.lanUplinks].filter(([n]) => names.has(n) || rendered.has(n)).map(([, u]) => u));
    const lines: string[] = [];
    const gone: string[] = [];
    for (const key of [...this.counts.keys()]) {
      const net = counterNetwork(key);
      if (net === null || names.has(net) || rendered.has(net)) continue;
      this.counts.delete(key);
      gone.push(key);
      lines.push(`delete counter ${tableOfCounter(key)} ${key}`);
    }
    for (const [set, els] of this.vmCounts) {
      const keep = isLanSet(set) ? uplinks : new Set([...bridges, ...renderedBridges]);
      for (const key of [...els.keys()]) {
        const [br, addr] = key.split("/");
        if (br === undefined || addr === undefined || keep.has(br)) continue;
        els.delete(key);
        gone.push(`${set} ${key}`);
        lines.push(`delete element ${tableOfSet(set)} ${set} { "${br}" . ${addr} }`);
      }
    }
    // One by one: one already gone (never in this kernel's table) must not keep the others.
    for (const l of lines) await this.transact(`${l}\n`, { allowFailure: true });
    if (lines.length > 0) this.baseline = null;
    return gone;
  }

  /**
   * Read the table's traffic counters and per-VM sets (one `nft -j list table`), fold them into the kept ones,
   * and return those.
   */
  async trafficCounts(opts: { fresh?: boolean; lan?: boolean } = {}): Promise<TrafficState> {
    if (opts.fresh === false) return { counters: this.counts, vms: this.vmCounts };
    const reads = [await this.runner.run("nft", ["-j", "list", "table", NFT_FAMILY, NFT_TABLE], { allowFailure: true, timeoutMs: 10_000 })];
    // The bridge networks' counters are in the bridge table (read only while it has some: one more nft run).
    if (opts.lan || this.lan.length > 0 || this.overlays.length > 0 || [...this.counts.keys()].some((k) => lanCounterNetwork(k) !== null))
      reads.push(
        await this.runner.run("nft", ["-j", "list", "table", NFT_BRIDGE_FAMILY, NFT_BRIDGE_TABLE], {
          allowFailure: true,
          timeoutMs: 10_000,
        }),
      );
    for (const r of reads) {
      if (r.exitCode !== 0) continue;
      const read = parseTrafficState(r.stdout);
      for (const [name, v] of read.counters) {
        const kept = this.counts.get(name);
        if (!kept || v.bytes >= kept.bytes) this.counts.set(name, v);
      }
      for (const [set, els] of read.vms) {
        const kept = this.vmCounts.get(set) ?? new Map<string, ElementCount>();
        for (const [k, v] of els) if (v.bytes >= (kept.get(k)?.bytes ?? 0)) kept.set(k, v);
        this.vmCounts.set(set, kept);
      }
    }
    return { counters: this.counts, vms: this.vmCounts };
  }

  async clear(): Promise<void> {
    const b = `${NFT_BRIDGE_FAMILY} ${NFT_BRIDGE_TABLE}`;
    await this.transact(`table ${NFT_FAMILY} ${NFT_TABLE} {}\ndelete table ${NFT_FAMILY} ${NFT_TABLE}\ntable ${b} {}\ndelete table ${b}\n`);
    this.baseline = null;
    this.applied = false;
    this.last = null;
    this.bootCopy?.schedule(() => renderBootCopy([]));
  }

  async inPlace(): Promise<boolean> {
    // Stateless (-s): counters tick with traffic (port security's drops, the boot guard's); a changed counter is
    // not a hand-edited table, and treating it as one replaced the whole table, wiping the ACK-learned pairs.
    const inet = await this.runner.run("nft", ["-s", "list", "table", NFT_FAMILY, NFT_TABLE], { allowFailure: true, timeoutMs: 10_000 });
    if (inet.exitCode !== 0) return !this.applied;
    // The port-security table without set contents (-t): ACK-learned pairs come and go by themselves.
    const bridge = await this.runner.run("nft", ["-s", "-t", "list", "table", NFT_BRIDGE_FAMILY, NFT_BRIDGE_TABLE], {
      allowFailure: true,
      timeoutMs: 10_000,
    });
    if (bridge.exitCode !== 0) return !this.applied;
    const r = { stdout: withoutTrafficElements(inet.stdout) + bridge.stdout };
    if (!this.applied) return true;
    if (this.baseline === null) {
      this.baseline = r.stdout;
      return true;
    }
    return r.stdout === this.baseline;
  }

  /**
   * Host firewall settings that win over our accepts: drop policies of other tables' base chains, and drop/reject
   * rules of other tables (nft, and iptables-legacy when the host has legacy tables) that hit the traffic of the
   * networks of our last apply (foreign-rules.ts). Plus a boot copy that could not be written.
   */
  async overridingPolicies(): Promise<string[]> {
    const nets: ProbeNetwork[] = (this.last ?? []).map((n) => ({
      name: n.name,
      reachOutside: n.reachOutside,
      bridge: n.bridge,
      cidr: n.cidr,
      libvirtNat: !n.ownsTypeRules,
    }));
    const out: string[] = [];
    const r = await this.runner.run("nft", ["-j", "list", "ruleset"], { allowFailure: true, timeoutMs: 10_000 });
    if (r.exitCode === 0) out.push(...overridingFromChains(r.stdout), ...droppingRules(rulesFromNftJson(r.stdout), nets));
    out.push(...(await this.legacyRules(nets)));
    out.push(...(this.bootCopy?.warnings() ?? []));
    return out;
  }

  /** iptables-legacy keeps its rules outside nftables: read them only when this host has a legacy filter table. */
  private async legacyRules(nets: ProbeNetwork[]): Promise<string[]> {
    let names: string;
    try {
      names = await readFile(this.legacyTablesFile, "utf8");
    } catch {
      return [];
    }
    if (!names.split("\n").includes("filter")) return [];
    const r = await this.runner.run("iptables-legacy-save", ["-t", "filter"], { allowFailure: true, timeoutMs: 10_000 });
    if (r.exitCode !== 0) return [];
    const tables = rulesFromIptablesSave(r.stdout);
    return [...dropPolicies(tables), ...droppingRules(tables, nets)];
  }
}

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** The network a traffic counter of either table belongs to (null: not a traffic counter). */
const counterNetwork = (name: string): string | null => trafficCounterNetwork(name) ?? lanCounterNetwork(name);
/** Whether a per-VM set is a bridge network's (in the bridge table, keyed by the NIC). */
const isLanSet = (set: string): boolean => (Object.values(TRAFFIC_LAN_SETS) as string[]).includes(set);
const tableOfCounter = (name: string): string =>
  lanCounterNetwork(name) !== null ? `${NFT_BRIDGE_FAMILY} ${NFT_BRIDGE_TABLE}` : `${NFT_FAMILY} ${NFT_TABLE}`;
const tableOfSet = (set: string): string => (isLanSet(set) ? `${NFT_BRIDGE_FAMILY} ${NFT_BRIDGE_TABLE}` : `${NFT_FAMILY} ${NFT_TABLE}`);

/** The traffic counters and per-VM set elements of a network table, as read (render/nft.ts trafficCounterNames). */
export interface TrafficState {
  counters: ReadonlyMap<string, TrafficCount>;
  vms: ReadonlyMap<string, ReadonlyMap<string, ElementCount>>;
}

interface NftJsonElem {
  elem?: { val?: unknown; counter?: { packets?: unknown; bytes?: unknown } };
}

/** The traffic counters and per-VM sets of `nft -j list table` output (pure; other objects and bad entries are skipped). */
export function parseTrafficState(json: string): { counters: Map<string, TrafficCount>; vms: Map<string, Map<string, ElementCount>> } {
  const out = new Map<string, TrafficCount>();
  const vms = new Map<string, Map<string, ElementCount>>();
  let doc: {
    nftables?: {
      counter?: { name?: unknown; packets?: unknown; bytes?: unknown; comment?: unknown };
      set?: { name?: unknown; elem?: unknown };
    }[];
  };
  try {
    doc = JSON.parse(json) as typeof doc;
  } catch {
    return { counters: out, vms };
  }
  for (const item of doc.nftables ?? []) {
    const set = item.set;
    if (set && typeof set.name === "string" && (ALL_TRAFFIC_VM_SETS.includes(set.name) || isLanSet(set.name))) {
      const els = new Map<string, ElementCount>();
      for (const e of Array.isArray(set.elem) ? (set.elem as NftJsonElem[]) : []) {
        const v = e?.elem;
        const key = (v?.val as { concat?: unknown } | undefined)?.concat;
        if (!v || !Array.isArray(key) || key.length !== 2 || typeof key[0] !== "string" || typeof key[1] !== "string") continue;
        const c = v.counter;
        if (!c || typeof c.packets !== "number" || typeof c.bytes !== "number") continue;
        els.set(`${key[0]}/${key[1].toLowerCase()}`, { packets: c.packets, bytes: c.bytes });
      }
      vms.set(set.name, els);
      continue;
    }
    const c = item.counter;
    if (!c || typeof c.name !== "string" || counterNetwork(c.name) === null) continue;
    if (typeof c.packets !== "number" || typeof c.bytes !== "number") continue;
    const m = typeof c.comment === "string" ? /^since (\d+)$/.exec(c.comment) : null;
    out.set(c.name, { packets: c.packets, bytes: c.bytes, since: m ? Number(m[1]) : 0 });
  }
  return { counters: out, vms };
}

/**
 * A stateless listing without the per-VM sets' elements (pure): a VM's first packet adds its element, which is
 * traffic, not a hand-edited table (the drift check must not replace the table for it).
 */
export function withoutTrafficElements(listing: string): string {
  const out: string[] = [];
  let inSet = false;
  let inElements = false;
  for (const line of listing.split("\n")) {
    const t = line.trim();
    if (inElements) {
      if (t.endsWith("}")) inElements = false;
      continue;
    }
    if (/^set traffic-vm-[a-z-]+ \{$/.test(t)) inSet = true;
    else if (inSet && t === "}") inSet = false;
    else if (inSet && t.startsWith("elements = {")) {
      inElements = !t.endsWith("}");
      continue;
    }
    out.push(line);
  }
  return out.join("\n");
}

/** Base chains of other tables whose drop policy wins over our accepts (pure; `nft -j list ruleset` or `list chains` output). */
export function overridingFromChains(json: string): string[] {
  let doc: { nftables?: { chain?: NftChain }[] };
  try {
    doc = JSON.parse(json) as typeof doc;
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const item of doc.nftables ?? []) {
    const c = item.chain;
    if (!c) continue;
    if (c.policy !== "drop" || (c.family === NFT_FAMILY && c.table === NFT_TABLE)) continue;
    if (c.family !== "ip" && c.family !== "inet") continue;
    if (c.hook === "forward") {
      out.push(
        `host firewall: chain '${c.name}' of table ${c.family} ${c.table} (hook forward) has policy drop; it drops the NAT, VM-to-VM and port-forward traffic netforge's rules accept unless it accepts that traffic itself`,
      );
    } else if (c.hook === "input") {
      out.push(
        `host firewall: chain '${c.name}' of table ${c.family} ${c.table} (hook input) has policy drop; VMs get no DHCP/DNS from the host unless it accepts udp 53,67 and tcp 53 from netforge's bridges`,
      );
    }
  }
  return out;
}

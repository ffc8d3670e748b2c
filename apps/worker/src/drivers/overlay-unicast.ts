/**
 * Unicast forwarding entries of the overlays this member is in (issue 17, ADR 0051 "Unicast forwarding entries"):
 * each member publishes the MACs behind its own ports with its part (store/overlay-parts.ts `macs`), and writes,
 * on its VXLAN device, a static entry toward the one other member that publishes a MAC, so known unicast goes to
 * that host alone instead of every member (the all-zero flood entries stay for broadcast and unknown MACs). A MAC
 * two members publish at once is not moved: an entry already there stays, none is written (describe-network and
 * /metrics report it).
 *
 * - Local MACs: `bridge -j fdb show br <bridge>` (what the bridge learned on its own ports) and the running
 *   domains' interfaces on the overlay, plus the gateway's own bridge address (its DHCP, DNS and NAT are unicast to
 *   it). Followed by `bridge monitor fdb` (the kernel's netlink neighbour events of the bridge's table): a MAC
 *   learned or flushed on a local port is published within milliseconds.
 * - Entries: every second (`SYNC_MS`) the members' published MACs are read in one Redis round trip per overlay;
 *   when what this member wants differs from what it last wrote, its device's entries are read and changed
 *   (`bridge fdb replace` / `del`); every `FULL_EVERY` rounds the device is read anyway (an entry deleted by hand
 *   comes back). No lock: the entries are idempotent and a device a job just removed only makes the commands fail
 *   (logged at debug, retried next round).
 */
import {
  bridgePortChanges,
  bridgePortEntriesFromFdb,
  type FdbRow,
  floodLimitRemoteScript,
  floodLimitTable,
  gatewayNeighbours,
  localMacsFromFdb,
  movedPortEntries,
  type NeighbourEntry,
  type NeighRow,
  neighbourChanges,
  neighbourEntriesFromJson,
  type OverlayNetSpec,
  overlayFloodLimit,
  overlayGatewayMac,
  overlayModel,
  unicastChanges,
  unicastEntriesFromFdb,
  vxlanDeviceName,
  wantedNeighbourEntries,
  wantedUnicastEntries,
  withGatewayMac,
} from "@netforge/core/model";
import { getOverlayParts, publishedMacs, publishedNeighbours } from "@netforge/core/store";
import type { HostContext } from "../context";
import type { InteractiveProcess } from "../host/command-runner";
import type { HostLink } from "../host/ip";
import { readLeases } from "../host/leases";
import type { CatalogEntry } from "../host/network-catalog";

export const SYNC_MS = 1_000;
const FULL_EVERY = 5;
const COALESCE_MS = 50;

async function fdbRows(ctx: HostContext, args: string[]): Promise<FdbRow[]> {
  const r = await ctx.runner.run("bridge", ["-j", "fdb", "show", ...args], { allowFailure: true, timeoutMs: 10_000 });
  if (r.exitCode !== 0) return [];
  try {
    return JSON.parse(r.stdout || "[]") as FdbRow[];
  } catch {
    return [];
  }
}

/**
 * The MACs behind this member's own ports of the overlay (sorted): learned by its bridge on its ports, its running
 * domains' interfaces on the network, and on the gateway host the bridge's own address.
 */
export async function localOverlayMacs(
  ctx: HostContext,
  spec: OverlayNetSpec,
  links: readonly HostLink[],
  sources: readonly { source: string; mac: string }[],
): Promise<string[]> {
  const macs = new Set(localMacsFromFdb(await fdbRows(ctx, ["br", spec.bridge]), spec.bridge, vxlanDeviceName(spec.vni)));
  for (const s of sources) if (s.source === spec.name && s.mac) macs.add(s.mac.toLowerCase());
  const br = links.find((l) => l.name === spec.bridge);
  if (spec.self === spec.gatewayHost && br?.mac) macs.add(br.mac.toLowerCase());
  return [...macs].sort();
}

/** The gateway's addresses for ARP suppression: its DHCP leases and reservations, and its own gateway address. */
export async function overlayNeighboursOf(
  ctx: HostContext,
  spec: OverlayNetSpec,
  bridgeMac: string | null,
): Promise<Record<string, string>> {
  const leases = await readLeases(spec.bridge, ctx.leasesDir).catch(() => []);
  return gatewayNeighbours(leases, spec.reservations ?? [], bridgeMac ? { ip: spec.gateway, mac: bridgeMac } : null);
}

/** The bridge's permanent IPv4 neighbour entries (netforge's ARP-suppression entries). */
export async function bridgeNeighbourEntries(ctx: HostContext, bridge: string): Promise<NeighbourEntry[]> {
  const r = await ctx.runner.run("ip", ["-j", "-4", "neigh", "show", "dev", bridge, "nud", "permanent"], {
    allowFailure: true,
    timeoutMs: 10_000,
  });
  if (r.exitCode !== 0) return [];
  try {
    return neighbourEntriesFromJson(JSON.parse(r.stdout || "[]") as NeighRow[]);
  } catch {
    return [];
  }
}

/** The flood limit table's set of known remote MACs (sorted); null: no such table (or unreadable). */
export async function floodLimitRemote(ctx: HostContext, vni: number): Promise<string[] | null> {
  const r = await ctx.runner.run("nft", ["-j", "list", "set", "bridge", floodLimitTable(vni), "remote"], {
    allowFailure: true,
    timeoutMs: 10_000,
  });
  if (r.exitCode !== 0) return null;
  try {
    const doc = JSON.parse(r.stdout) as { nftables?: { set?: { elem?: unknown[] } }[] };
    const elem = doc.nftables?.find((x) => x.set)?.set?.elem ?? [];
    return elem.filter((e): e is string => typeof e === "string").sort();
  } catch {
    return null;
  }
}

const runningParts = (ctx: HostContext, catalog: readonly CatalogEntry[]): OverlayNetSpec[] =>
  catalog.flatMap((e) => {
    const s = e.def.spec;
    return e.active && e.def.managed && s && overlayModel.is(s) && s.self === ctx.hostId ? [s] : [];
  });

/**
 * Keeps this member's unicast entries equal to what the other members publish, and republishes this member's MACs
 * when its bridges' tables change. `publish(name)` republishes one part (overlay-drift.ts publishOverlayPartNow).
 */
export class UnicastSync {
  private proc: InteractiveProcess | null = null;
  private timer: NodeJS.Timeout | null = null;
  private loop: NodeJS.Timeout | null = null;
  private restart: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private closed = false;
  private rounds = 0;
  /** VNI -> the members' published MACs the entries were last made from, so an unchanged round runs no host command. */
  private written = new Map<number, string>();

  constructor(
    private readonly ctx: HostContext,
    private readonly publish: (name: string) => Promise<void>,
  ) {}

  start(): void {
    this.connect();
    const tick = () => {
      if (this.closed) return;
      void this.sync().finally(() => {
        if (!this.closed) this.loop = setTimeout(tick, SYNC_MS);
      });
    };
    this.loop = setTimeout(tick, SYNC_MS);
  }

  private connect(): void {
    const runner = this.ctx.runner;
    if (this.closed || this.proc || !runner.spawnInteractive) return;
    const p = runner.spawnInteractive("bridge", ["monitor", "fdb"]);
    this.proc = p;
    // The VXLAN devices' own entries (netforge's writes) say nothing about local ports: not followed.
    p.onStdout((chunk) => {
      const lines = String(chunk)
        .split("\n")
        .filter((l) => l.trim() !== "");
      if (lines.some((l) => !/ dev nfvx\d+ /.test(l))) this.schedule();
    });
    p.onExit(() => {
      if (this.proc !== p) return;
      this.proc = null;
      if (this.closed) return;
      this.ctx.logger.warn("fdb monitor ended; the overlays' local MACs are re-read by the heartbeat until it is back");
      this.restart = setTimeout(() => {
        this.restart = null;
        this.connect();
      }, 1_000);
    });
  }

  /** A bridge's table changed: republish the running parts' MACs soon (coalesced), then sync. */
  private schedule(): void {
    if (this.closed || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.republish();
    }, COALESCE_MS);
  }

  private async republish(): Promise<void> {
    try {
      const parts = runningParts(this.ctx, await this.ctx.catalog.list({ reread: false }));
      for (const s of parts) await this.publish(s.name);
      if (parts.length > 0) await this.sync();
    } catch (err) {
      this.ctx.logger.warn({ err }, "could not republish the overlays' local MACs");
    }
  }

  /** One round (coalesced: a round asked for while one runs runs once more after it). */
  async sync(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    const p = (async () => {
      do {
        this.again = false;
        await this.round().catch((err: unknown) => this.ctx.logger.warn({ err }, "overlay unicast entries: round failed"));
      } while (this.again && !this.closed);
    })();
    this.running = p;
    try {
      await p;
    } finally {
      if (this.running === p) this.running = null;
    }
  }

  private async round(): Promise<void> {
    const full = this.rounds++ % FULL_EVERY === 0;
    // Without libvirt's event stream the catalog is a host read (net-list): then only every FULL_EVERY rounds.
    if (!full && !this.ctx.catalog.stats().live) return;
    const parts = runningParts(this.ctx, await this.ctx.catalog.list({ reread: false }));
    const live = new Set(parts.map((s) => s.vni));
    for (const vni of [...this.written.keys()]) if (!live.has(vni)) this.written.delete(vni);
    for (const spec of parts) {
      const seen = await getOverlayParts(
        this.ctx.redis,
        this.ctx.keys,
        spec.name,
        spec.members.map((m) => m.id),
      );
      // A member that published nothing lately (offline, older worker) keeps no entry: its MACs flood.
      // The gateway's fixed MAC is the gateway host's (this member's definition's), whoever last published it.
      const published = withGatewayMac(
        new Map([...seen].map(([h, part]) => [h, publishedMacs(part)])),
        spec.gatewayHost,
        overlayGatewayMac(spec.vni),
      );
      // ARP suppression: the addresses the gateway published (its leases, reservations, gateway address).
      const neighbours = publishedNeighbours(seen.get(spec.gatewayHost));
      // The published MACs and addresses as a key: an unchanged round (and no full read due) runs no host command.
      const key = JSON.stringify([[...published], neighbours]);
      if (!full && this.written.get(spec.vni) === key) continue;
      const dev = vxlanDeviceName(spec.vni);
      const rows = await fdbRows(this.ctx, ["dev", dev]);
      const have = unicastEntriesFromFdb(rows);
      const want = wantedUnicastEntries(spec.self, spec.members, published, have);
      const change = unicastChanges(spec.vni, have, want);
      // The bridge's own entries toward the VXLAN port (known remote unicast is not flooded to the local ports,
      // and the bridge can answer ARP for it), and netforge's entries learning moved to a local port made ordinary.
      const bridgeChanges = [
        ...bridgePortChanges(spec.vni, bridgePortEntriesFromFdb(rows, spec.bridge), want, published.get(spec.self) ?? []),
        ...movedPortEntries(await fdbRows(this.ctx, ["br", spec.bridge]), spec.bridge, dev),
      ];
      // The bridge answers ARP for the addresses of VMs behind another member (those with a unicast entry).
      const own = new Set(published.get(spec.self) ?? []);
      const wantNeigh = wantedNeighbourEntries(
        neighbours,
        want.filter((e) => !own.has(e.mac)),
      );
      const neigh = neighbourChanges(spec.bridge, await bridgeNeighbourEntries(this.ctx, spec.bridge), wantNeigh);
      // The flood limit lets frames to these MACs through unlimited (unicast to one member, not replicated).
      const remote = want.map((e) => e.mac).sort();
      let ok = true;
      if (overlayFloodLimit(spec) > 0) {
        const inSet = await floodLimitRemote(this.ctx, spec.vni);
        if (inSet !== null && JSON.stringify(inSet) !== JSON.stringify(remote)) {
          const r = await this.ctx.runner.run("nft", ["-f", "-"], {
            input: floodLimitRemoteScript(spec.vni, remote),
            allowFailure: true,
            timeoutMs: 10_000,
          });
          if (r.exitCode !== 0) {
            ok = false;
            this.ctx.logger.debug({ network: spec.name, stderr: r.stderr }, "overlay flood limit's known MACs not changed");
          }
        }
      }
      for (const [tool, argv] of [
        ...change.commands.map((a) => ["bridge", a] as const),
        ...bridgeChanges.map((a) => ["bridge", a] as const),
        ...neigh.map((a) => ["ip", a] as const),
      ]) {
        const r = await this.ctx.runner.run(tool, argv, { allowFailure: true, timeoutMs: 10_000 });
        if (r.exitCode !== 0) {
          ok = false;
          this.ctx.logger.debug({ network: spec.name, argv, stderr: r.stderr }, "overlay unicast or neighbour entry not changed");
        }
      }
      if (neigh.length > 0)
        this.ctx.logger.info(
          { network: spec.name, entries: wantNeigh.length },
          "overlay ARP-suppression entries follow the gateway's addresses",
        );
      if (change.commands.length > 0 || neigh.length > 0 || bridgeChanges.length > 0) {
        // describe-network's count of this member's entries follows at once (not at the next heartbeat).
        await this.publish(spec.name).catch((err: unknown) => this.ctx.logger.debug({ err }, "could not republish the part"));
        this.ctx.logger.info(
          { network: spec.name, replaced: change.replace, removed: change.remove },
          "overlay unicast entries follow the members' MACs",
        );
      }
      if (ok) this.written.set(spec.vni, key);
      else this.written.delete(spec.vni);
    }
  }

  close(): void {
    this.closed = true;
    for (const t of [this.timer, this.loop, this.restart]) if (t) clearTimeout(t);
    this.proc?.kill();
    this.proc = null;
  }
}

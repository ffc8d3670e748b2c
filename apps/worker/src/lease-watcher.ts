/**
 * Publishes a network's IP table when its leases change. libvirt's
 * leaseshelper rewrites `<bridge>.status` in /var/lib/libvirt/dnsmasq on
 * every DHCP event (add, renew, release, expiry seen by dnsmasq); an inotify
 * watch on that directory (fs.watch) wakes us within milliseconds, instead of
 * polling. The directory watch survives the file being replaced by rename.
 * Bursts are coalesced per bridge (one publish per 50 ms).
 */
import { type FSWatcher, watch } from "node:fs";
import { overlayModel } from "@netforge/core/model";
import type { HostContext } from "./context";
import { publishOverlayPartNow } from "./drivers/overlay-drift";
import { publishIpTable } from "./ip-table";

const COALESCE_MS = 50;

export class LeaseWatcher {
  private watcher: FSWatcher | null = null;
  private readonly pending = new Map<string, NodeJS.Timeout>();
  private closed = false;

  constructor(private readonly ctx: HostContext) {}

  /** Start watching; false when the directory does not exist yet (try again later with `ensure`). */
  ensure(): boolean {
    if (this.watcher || this.closed) return this.watcher !== null;
    try {
      this.watcher = watch(this.ctx.leasesDir, (_event, file) => {
        const m = typeof file === "string" ? /^(.+)\.status$/.exec(file) : null;
        if (m?.[1]) this.schedule(m[1]);
      });
      this.watcher.on("error", (err) => {
        this.ctx.logger.warn({ err }, "lease watch failed; re-armed on the next heartbeat");
        this.watcher?.close();
        this.watcher = null;
      });
      return true;
    } catch {
      return false;
    }
  }

  private schedule(bridge: string): void {
    if (this.pending.has(bridge) || this.closed) return;
    this.pending.set(
      bridge,
      setTimeout(() => {
        this.pending.delete(bridge);
        void this.publish(bridge).catch((err) => this.ctx.logger.warn({ err, bridge }, "could not publish leases"));
      }, COALESCE_MS),
    );
  }

  private async publish(bridge: string): Promise<void> {
    const entry = (await this.ctx.catalog.list()).find((c) => c.def.managed && c.def.bridge === bridge);
    if (!entry) return;
    await publishIpTable(this.ctx, entry);
    // An overlay's gateway: the members' ARP-suppression entries follow its leases (published with its part).
    const spec = entry.def.spec;
    if (entry.active && spec && overlayModel.is(spec) && spec.self === this.ctx.hostId && spec.self === spec.gatewayHost) {
      await publishOverlayPartNow(this.ctx, entry.name);
    }
  }

  close(): void {
    this.closed = true;
    this.watcher?.close();
    this.watcher = null;
    for (const t of this.pending.values()) clearTimeout(t);
    this.pending.clear();
  }
}

/**
 * The boot files of this host's running overlay parts (ADR 0051 "Boot"; rendered by core's renderOverlayBoot):
 * `overlay.ip`, `overlay.bridge` and `overlay.nft` in one directory, which deploy/netforge-overlay.service
 * applies before libvirtd autostarts the parts. Kept from what the worker publishes of its parts: the whole set
 * at each heartbeat's full read (publishOverlayParts), one part right after each job on it
 * (publishOverlayPartNow). Nothing is written before the first whole set (a file made from one part would
 * leave the others out). Each file is written as the firewall's boot copy is (BootCopy: atomic, unchanged text
 * not rewritten, a failed write logged and reported as a host warning).
 */
import { type OverlayBootFiles, type OverlayNetSpec, renderOverlayBoot } from "@netforge/core/model";
import type { Logger } from "pino";
import { BootCopy } from "../firewall/boot-copy";

export class OverlayBoot {
  private parts: Map<string, OverlayNetSpec> | null = null;
  private readonly copies: Record<keyof OverlayBootFiles, BootCopy>;

  constructor(
    readonly dir: string,
    private readonly logger: Logger,
  ) {
    const copy = (file: string) => new BootCopy(`${dir}/${file}`, logger, "the overlay parts");
    this.copies = { ip: copy("overlay.ip"), bridge: copy("overlay.bridge"), nft: copy("overlay.nft") };
  }

  /** Every running part of this host (by network name). */
  replaceAll(parts: ReadonlyMap<string, OverlayNetSpec>): void {
    this.parts = new Map(parts);
    this.schedule();
  }

  /** One part as it is now (null: not running here, or gone). */
  set(name: string, spec: OverlayNetSpec | null): void {
    if (!this.parts) return;
    if (spec) this.parts.set(name, spec);
    else if (!this.parts.delete(name)) return;
    this.schedule();
  }

  private schedule(): void {
    let files: OverlayBootFiles;
    try {
      files = renderOverlayBoot([...(this.parts?.values() ?? [])]);
    } catch (err) {
      // A spec the renderer refuses (it never should: the specs are checked at the door): keep the last files.
      this.logger.warn({ err }, "could not render the overlay parts' boot files");
      return;
    }
    for (const k of ["ip", "bridge", "nft"] as const) this.copies[k].schedule(() => files[k]);
  }

  /** Resolves once every scheduled write is on disk (worker shutdown, tests). */
  async settled(): Promise<void> {
    await Promise.all(Object.values(this.copies).map((c) => c.settled()));
  }

  warnings(): string[] {
    return Object.values(this.copies).flatMap((c) => c.warnings());
  }
}

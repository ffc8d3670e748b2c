/**
 * The boot-time copy of the host's firewall (render/nft-boot.ts): written
 * after every successful apply, atomically (temp file, fsync, rename, fsync
 * of the directory), so a reboot at any moment finds either the previous
 * complete copy or the new one, never half a file. Unchanged text is not
 * rewritten (drift repairs re-apply the same table every few seconds at worst).
 * A failed write does not fail the apply (the kernel has the rules); it is
 * logged and reported as a host firewall warning until a write succeeds.
 */
import { open, mkdir, rename, unlink } from "node:fs/promises";
import { dirname } from "node:path";
import type { Logger } from "pino";

export class BootCopy {
  private written: string | null = null;
  /** Why the last write failed; null when the file on disk is current. */
  lastError: string | null = null;

  constructor(
    readonly path: string,
    private readonly logger: Logger,
    /** What the copy is of, for the log and the warning (the overlay boot files use this class too). */
    private readonly what = "the firewall",
  ) {}

  /** The latest table waiting to be written, rendered only when its turn comes (later ones replace it). */
  private pending: (() => string) | null = null;
  private writing: Promise<void> | null = null;

  /**
   * Write the copy after the caller's apply, off its path: a job does not wait for the render and the two
   * fsyncs (1-30 ms on a shared disk). Writes are serial and coalesce: only the newest table is written. The
   * copy may lag the live table by one write (milliseconds); a reboot in that window loads the previous
   * table, and the worker's first apply after the boot puts the current one (from the specs) in place.
   */
  schedule(render: () => string): void {
    this.pending = render;
    if (!this.writing) this.writing = this.drain();
  }

  /** Resolves once every scheduled write is on disk (worker shutdown, tests). */
  async settled(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending) {
        const render = this.pending;
        this.pending = null;
        await this.write(render());
      }
    } finally {
      this.writing = null;
    }
  }

  async write(text: string): Promise<void> {
    if (text === this.written) return;
    const tmp = `${this.path}.tmp`;
    try {
      const dir = dirname(this.path);
      await mkdir(dir, { recursive: true, mode: 0o755 });
      const fh = await open(tmp, "w", 0o644);
      try {
        await fh.writeFile(text);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.path);
      const d = await open(dir, "r");
      try {
        await d.sync();
      } finally {
        await d.close();
      }
      this.written = text;
      if (this.lastError) this.logger.info({ path: this.path }, `boot copy of ${this.what} written again`);
      this.lastError = null;
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      this.written = null;
      const msg = (err as Error).message;
      if (this.lastError !== msg) this.logger.warn({ err, path: this.path }, `could not write the boot copy of ${this.what}`);
      this.lastError = msg;
    }
  }

  /** A host firewall warning while the copy on disk is not current. */
  warnings(): string[] {
    return this.lastError
      ? [
          this.what === "the firewall"
            ? `firewall boot copy ${this.path} could not be written (${this.lastError}): a reboot now loads an older copy, or the fail-closed table, until the worker starts`
            : `boot copy of ${this.what} ${this.path} could not be written (${this.lastError}): a reboot now makes what an older copy says, until the worker starts`,
        ]
      : [];
  }
}

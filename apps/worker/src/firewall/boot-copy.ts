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
  ) {}

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
      if (this.lastError) this.logger.info({ path: this.path }, "boot copy of the firewall written again");
      this.lastError = null;
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      this.written = null;
      const msg = (err as Error).message;
      if (this.lastError !== msg) this.logger.warn({ err, path: this.path }, "could not write the boot copy of the firewall");
      this.lastError = msg;
    }
  }

  /** A host firewall warning while the copy on disk is not current. */
  warnings(): string[] {
    return this.lastError
      ? [
          `firewall boot copy ${this.path} could not be written (${this.lastError}): a reboot now loads an older copy, or the fail-closed table, until the worker starts`,
        ]
      : [];
  }
}

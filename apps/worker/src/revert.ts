/**
 * Undo bookkeeping for a job (the Incus "revert" pattern): each step that
 * changes the host registers how to take the change back; if the job fails,
 * the undos run newest first, so the host ends as it was before the job.
 */
export interface UndoEntry {
  label: string;
  step: string | null;
  undo: () => Promise<void>;
}

export class Revert {
  private entries: UndoEntry[] = [];

  /** Register the undo of a change just made. */
  add(label: string, undo: () => Promise<void>, step: string | null = null): void {
    this.entries.push({ label, undo, step });
  }

  /** Forget the undos: the job succeeded and its changes stay. */
  success(): void {
    this.entries = [];
  }

  /**
   * Run every undo, newest first. An undo that fails does not stop the
   * others; failures are returned so the job error can mention them.
   * `before` runs before each undo; if it throws, no further undo runs.
   */
  async run(
    opts: { before?: (e: UndoEntry) => Promise<void> } = {},
  ): Promise<{ undone: UndoEntry[]; failed: { entry: UndoEntry; error: string }[] }> {
    const undone: UndoEntry[] = [];
    const failed: { entry: UndoEntry; error: string }[] = [];
    while (this.entries.length > 0) {
      const e = this.entries.pop() as UndoEntry;
      try {
        // e.g. the network-lock fence: when it throws, this undo and the ones after it are not run.
        await opts.before?.(e);
      } catch (err) {
        const error = err instanceof Error ? err.message : String(err);
        failed.push({ entry: e, error });
        for (const rest of this.entries.splice(0).reverse()) failed.push({ entry: rest, error });
        break;
      }
      try {
        await e.undo();
        undone.push(e);
      } catch (err) {
        failed.push({ entry: e, error: err instanceof Error ? err.message : String(err) });
      }
    }
    return { undone, failed };
  }

  get size(): number {
    return this.entries.length;
  }
}

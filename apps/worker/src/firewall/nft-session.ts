/**
 * A long-lived nftables session: one process holding one libnftables context
 * (and so one netlink socket) that runs many transactions.
 *
 * Why: on kernel 6.x, closing an nftables netlink socket after a transaction
 * that removed rules or elements waits for an RCU grace period (the kernel
 * flushes its deferred-destroy work on NETLINK_URELEASE). An `nft -f -`
 * process per change therefore costs 14-20 ms here even for one rule (measured:
 * the transaction itself is under 0.1 ms; `close()` of the socket takes the
 * rest), while the same 104-rule refill through a kept-open context takes
 * about 2 ms. Keeping the socket open moves that wait to the session's exit.
 *
 * The helper is a fixed Python program (below, passed as an argv element,
 * never built from input) that calls libnftables through ctypes: each request
 * is one JSON string on its own line, run by nft_run_cmd_from_buffer as one
 * transaction (exactly what `nft -f -` does with the same text), and answered
 * with one JSON line {rc, err}. One request is in flight at a time.
 *
 * When the helper cannot run (no python3 or libnftables), dies, or does not
 * answer in time, the caller gets null and runs `nft -f -` as before; a
 * helper that failed is not restarted for a while, so a broken host pays the
 * failed start once per minute, not once per change.
 */
import type { CommandRunner, InteractiveProcess } from "../host/command-runner";

/** The helper: reads one JSON string per line, answers one JSON object per line. */
export const NFT_SESSION_PROGRAM = `
import ctypes, json, sys
lib = ctypes.CDLL("libnftables.so.1")
lib.nft_ctx_new.restype = ctypes.c_void_p
lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
lib.nft_ctx_buffer_output.argtypes = [ctypes.c_void_p]
lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
lib.nft_ctx_get_output_buffer.argtypes = [ctypes.c_void_p]
lib.nft_ctx_get_output_buffer.restype = ctypes.c_char_p
lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
ctx = lib.nft_ctx_new(0)
if not ctx or lib.nft_ctx_buffer_output(ctx) != 0 or lib.nft_ctx_buffer_error(ctx) != 0:
    sys.exit(3)
for line in sys.stdin:
    text = json.loads(line)
    rc = lib.nft_run_cmd_from_buffer(ctx, text.encode())
    err = (lib.nft_ctx_get_error_buffer(ctx) or b"").decode("utf-8", "replace")
    lib.nft_ctx_get_output_buffer(ctx)  # read to rewind it (our transactions print nothing)
    sys.stdout.write(json.dumps({"rc": rc, "err": err}) + "\\n")
    sys.stdout.flush()
`;

/** What one transaction through the session gave. */
export interface NftSessionResult {
  ok: boolean;
  /** nft's error text (empty on success). */
  error: string;
}

interface Pending {
  text: string;
  resolve: (r: NftSessionResult | null) => void;
  timer: NodeJS.Timeout | null;
}

export class NftSession {
  private proc: InteractiveProcess | null = null;
  private out = "";
  private queue: Pending[] = [];
  private running: Pending | null = null;
  private closed = false;
  /** After a failure the helper is not started again before this time (ms epoch). */
  private pausedUntil = 0;

  constructor(
    private readonly runner: CommandRunner & Required<Pick<CommandRunner, "spawnInteractive">>,
    private readonly opts: { timeoutMs?: number; retryAfterMs?: number } = {},
  ) {}

  /** Whether a transaction would go through the helper now (false: the caller should run `nft -f -`). */
  get usable(): boolean {
    return !this.closed && Date.now() >= this.pausedUntil;
  }

  /**
   * Run `text` as one nft transaction. null: the session could not tell (helper missing, died or timed out):
   * the transaction may or may not have been committed, so the caller must re-apply in a way that is right
   * either way (our callers replace the whole table with `nft -f -`).
   */
  run(text: string): Promise<NftSessionResult | null> {
    if (!this.usable) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.queue.push({ text, resolve, timer: null });
      this.pump();
    });
  }

  /** Start the helper ahead of the first change (its start, ~30 ms of Python, is then off every job's path). */
  warm(): void {
    if (this.usable && !this.proc) this.ensure();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.fail();
  }

  private pump(): void {
    if (this.closed || this.running) return;
    const head = this.queue[0];
    if (!head) return;
    const proc = this.ensure();
    this.running = head;
    head.timer = setTimeout(() => this.fail(), this.opts.timeoutMs ?? 30_000);
    proc.write(`${JSON.stringify(head.text)}\n`);
  }

  private ensure(): InteractiveProcess {
    if (this.proc) return this.proc;
    const p = this.runner.spawnInteractive("python3", ["-c", NFT_SESSION_PROGRAM]);
    p.onStdout((c) => {
      if (this.proc !== p) return;
      this.out += c;
      this.drain();
    });
    // Python's own errors (no libnftables, a traceback) end the process; its exit fails what is in flight.
    p.onStderr(() => undefined);
    p.onExit(() => {
      if (this.proc !== p) return;
      this.fail();
    });
    this.proc = p;
    this.out = "";
    return p;
  }

  private drain(): void {
    for (;;) {
      const nl = this.out.indexOf("\n");
      if (nl < 0) return;
      const line = this.out.slice(0, nl);
      this.out = this.out.slice(nl + 1);
      let msg: { rc?: number; err?: string };
      try {
        msg = JSON.parse(line) as typeof msg;
      } catch {
        this.fail();
        return;
      }
      const head = this.running;
      if (!head) {
        this.fail();
        return;
      }
      this.running = null;
      this.queue.shift();
      if (head.timer) clearTimeout(head.timer);
      head.resolve({ ok: msg.rc === 0, error: msg.err ?? "" });
      this.pump();
    }
  }

  /**
   * The helper died, timed out or said something unexpected: stop it, answer null to everything queued (the
   * callers fall back to `nft -f -`), and do not start it again for a while.
   */
  private fail(): void {
    const p = this.proc;
    this.proc = null;
    this.running = null;
    p?.kill();
    this.pausedUntil = Date.now() + (this.opts.retryAfterMs ?? 60_000);
    for (const q of this.queue.splice(0)) {
      if (q.timer) clearTimeout(q.timer);
      q.resolve(null);
    }
  }
}

/**
 * A persistent interactive virsh: one process and one libvirt connection
 * reused for many commands, instead of a process start + connect (~15-20 ms)
 * per command. Commands are written to its stdin followed by two `echo`
 * markers (one on stdout, one on stderr); a command's output is what arrives
 * before its markers, and it failed when virsh wrote errors to stderr.
 *
 * virsh's shell tokenises what we write, so only arguments from a strict
 * alphabet (no spaces, quotes, backslashes, `;` or `#`) ever go through a
 * session; the caller runs anything else as a one-shot process with an argv.
 *
 * When libvirtd restarts, every virsh connected to it is stale: virsh prints
 * "error: Disconnected from <uri> due to end of file" (at once, also while
 * idle) and reconnects by itself before its next command, printing "error:
 * Reconnected to the hypervisor" ahead of that command's own output. Sessions
 * sharing a VirshEpoch (a pool) retire together: the first one that sees its
 * connection lost ends the epoch, and every session replaces a virsh started
 * in an earlier epoch before it writes its next command.
 */
import { randomBytes } from "node:crypto";
import type { CommandResult, CommandRunner, InteractiveProcess } from "./command-runner";

/** Arguments that mean the same to virsh's shell tokenizer as to execve. */
const SAFE_ARG = /^[A-Za-z0-9_./:=,+@-]+$/;

/**
 * One XML element of the alphabet netforge renders for `net-update` (<host .../>, <range ...>...</range>):
 * no double quote, backslash, `;`, `#` or newline, so inside double quotes virsh's tokenizer takes it literally.
 */
const XML_ARG = /^<[A-Za-z0-9 ='./:_<>-]+>$/;

/** True when every argument can be written to a virsh shell (verbatim, or an XML element in double quotes). */
export function sessionSafe(args: readonly string[]): boolean {
  return args.length > 0 && args.every((a) => SAFE_ARG.test(a) || XML_ARG.test(a));
}

/** The command line for virsh's shell: safe words verbatim, XML elements in double quotes. */
function shellLine(args: readonly string[]): string {
  return args.map((a) => (SAFE_ARG.test(a) ? a : `"${a}"`)).join(" ");
}

/**
 * The connection generation shared by a pool of sessions. A virsh process belongs to the epoch in which it
 * was started; once any of them reports its connection to libvirtd lost, that epoch and every earlier one is
 * over, and the processes started in them are replaced before they run another command.
 */
export class VirshEpoch {
  private n = 0;
  /** Epochs that ended (counted for tests and logs). */
  ended = 0;

  /** The epoch a process started now belongs to. */
  get current(): number {
    return this.n;
  }

  /** A process of epoch `e` lost its connection: that epoch (and all before it) is over. */
  lost(e: number): void {
    if (e < this.n) return; // already over
    this.n = e + 1;
    this.ended++;
  }
}

/** virsh's own notice that its connection to libvirtd closed (end of file, keepalive timeout, …). */
const DISCONNECTED = /(^|\n)error: Disconnected from \S+ due to /;
/** virsh reconnected before the command it is about to run (the command runs on the new connection). */
const RECONNECTED = "error: Reconnected to the hypervisor";
/** Errors of a command that met a dead connection, or that virsh could not (re)connect for. */
const CONNECTION_ERROR =
  /(^|\n)error: (Disconnected from \S+ due to |Failed to reconnect to the hypervisor|failed to connect to the hypervisor|no valid connection)|client socket is closed|End of file while reading data|Cannot (recv|write) data|received hangup/;
/** Errors that mean virsh did not run the command at all: its connection handler refused before the command. */
const NOT_RUN = /(^|\n)error: (Failed to reconnect to the hypervisor|failed to connect to the hypervisor|no valid connection)\n/;

/** What a command's stderr says about the libvirt connection it ran on. */
export type ConnectionOutcome =
  /** No sign of a connection problem: the stderr is the command's own. */
  | { kind: "ok"; stderr: string }
  /** The connection had been lost, virsh reconnected and then ran the command: `stderr` is the command's own. */
  | { kind: "reconnected"; stderr: string }
  /** The command met a lost connection: it did not run ("no"), or it may or may not have taken effect ("unknown"). */
  | { kind: "lost"; ran: "no" | "unknown" };

/** Read a command's stderr (everything virsh wrote to it since the previous command's marker). Pure. */
export function connectionOutcome(stderr: string): ConnectionOutcome {
  const at = stderr.lastIndexOf(`${RECONNECTED}\n`);
  // What precedes the reconnect notice happened before this command ran (virsh reconnects in its connection
  // handler, right before the command): the "Disconnected" notice of the old connection.
  const own = at >= 0 ? stderr.slice(at + RECONNECTED.length + 1) : stderr;
  if (!CONNECTION_ERROR.test(own)) return { kind: at >= 0 ? "reconnected" : "ok", stderr: own };
  return { kind: "lost", ran: NOT_RUN.test(own) ? "no" : "unknown" };
}

/** A command that met a lost libvirt connection (see ConnectionOutcome). */
export class VirshConnectionLost extends Error {
  constructor(
    readonly command: string,
    readonly ran: "no" | "unknown",
    readonly stderr: string,
  ) {
    super(
      `virsh ${command}: connection to libvirtd lost (${ran === "no" ? "the command did not run" : "the command may or may not have run"}): ${
        stderr
          .split("\n")
          .filter((l) => l && !DISCONNECTED.test(`\n${l}`))
          .join("; ") || stderr.trim()
      }`,
    );
  }
}

interface Pending {
  args: readonly string[];
  cmd: string;
  mark: string;
  resolve: (r: CommandResult) => void;
  reject: (e: Error) => void;
  /** Armed when the command is written to virsh, i.e. when it starts running. */
  timer: NodeJS.Timeout | null;
}

/** Default time one command may run (counted from its own start, not from when it was queued). */
export const VIRSH_COMMAND_TIMEOUT_MS = 60_000;

/**
 * One interactive virsh process (replaced when it dies or a command times
 * out); commands are answered in order. Only one command is written to virsh
 * at a time: the next is written when the previous one's markers arrived. So
 * every queued command has certainly not started, its timer starts when it
 * is written, and when the running command times out (or the process dies)
 * only that command fails: the process is replaced and the queued commands
 * run on the new one, which is safe because virsh never saw them.
 */
export class VirshSession {
  private proc: InteractiveProcess | null = null;
  private out = "";
  private err = "";
  private queue: Pending[] = [];
  /** The command written to the current process and not answered yet (always the queue's head). */
  private running: Pending | null = null;
  private closed = false;
  /** The epoch the current process was started in. */
  private procEpoch = 0;

  constructor(
    private readonly runner: CommandRunner & Required<Pick<CommandRunner, "spawnInteractive">>,
    private readonly uri: string,
    private readonly timeoutMs = VIRSH_COMMAND_TIMEOUT_MS,
    /** Shared by the sessions of one pool; a session alone has its own. */
    private readonly epoch = new VirshEpoch(),
  ) {}

  /** Commands waiting or running in this session. */
  get load(): number {
    return this.queue.length;
  }

  get alive(): boolean {
    return !this.closed;
  }

  /** Run one virsh command (args must be sessionSafe). Resolves with exitCode 1 when virsh reported an error. */
  run(args: readonly string[]): Promise<CommandResult> {
    if (!sessionSafe(args)) return Promise.reject(new Error("argument not safe for a virsh session"));
    if (this.closed) return Promise.reject(new Error("virsh session is closed"));
    const mark = `NFMARK${randomBytes(8).toString("hex")}`;
    return new Promise<CommandResult>((resolve, reject) => {
      this.queue.push({ args, cmd: shellLine(args), mark, resolve, reject, timer: null });
      this.pump();
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopProcess();
    const err = new Error("virsh session closed");
    for (const p of this.queue.splice(0)) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(err);
    }
  }

  /** Start the head of the queue unless a command is running. */
  private pump(): void {
    if (this.closed || this.running) return;
    const head = this.queue[0];
    if (!head) return;
    // A virsh of an epoch that ended (some session saw libvirtd go) is stale: replace it before it runs anything.
    if (this.proc && this.procEpoch < this.epoch.current) this.stopProcess();
    const proc = this.ensure();
    this.running = head;
    head.timer = setTimeout(
      () => this.abortRunning(head, new Error(`virsh ${head.args[0]} timed out after ${this.timeoutMs} ms`)),
      this.timeoutMs,
    );
    proc.write(`${head.cmd}\necho ${head.mark}\necho --err ${head.mark}\n`);
  }

  private ensure(): InteractiveProcess {
    if (this.proc) return this.proc;
    const p = this.runner.spawnInteractive("virsh", ["-q", "-c", this.uri]);
    // Callbacks of a process we already replaced are ignored: its output and exit belong to nobody now.
    p.onStdout((c) => {
      if (this.proc !== p) return;
      this.out += c;
      this.drain();
    });
    p.onStderr((c) => {
      if (this.proc !== p) return;
      this.err += c;
      // virsh says at once when its connection closes, even between commands: the pool's epoch ends now,
      // so no command is written to a stale virsh of this pool from here on.
      if (DISCONNECTED.test(this.err)) {
        this.epoch.lost(this.procEpoch);
        // Between commands nothing of it is needed any more: the next command starts a fresh virsh.
        if (!this.running) this.stopProcess();
      }
      this.drain();
    });
    p.onExit(() => {
      if (this.proc !== p) return;
      this.proc = null;
      const head = this.running;
      // A virsh that could not connect exits before it reads any command (libvirtd is down or restarting).
      if (head && NOT_RUN.test(this.err)) this.abortRunning(head, new VirshConnectionLost(head.args[0] ?? "", "no", this.err));
      else if (head) this.abortRunning(head, new Error("virsh session exited"));
      else this.pump();
    });
    this.proc = p;
    this.procEpoch = this.epoch.current;
    this.out = "";
    this.err = "";
    return p;
  }

  private stopProcess(): void {
    const p = this.proc;
    this.proc = null;
    p?.kill();
  }

  /**
   * The running command failed (timed out, or virsh died under it): fail it
   * alone, replace the process (its output stream is out of step now), and go
   * on with the queued commands, which virsh never saw.
   */
  private abortRunning(p: Pending, err: Error): void {
    if (this.running !== p) return;
    this.running = null;
    if (p.timer) clearTimeout(p.timer);
    this.queue.shift();
    this.stopProcess();
    p.reject(err);
    this.pump();
  }

  /**
   * Answer the running command once both of its markers arrived. Interactive
   * virsh writes "virsh # <input line>\n" before each command's output, and
   * `echo` output without a newline, so stdout for one command looks like
   * `virsh # <cmd>\n<output>virsh # echo <mark>\n<mark>`; stderr ends with
   * `error: <mark>\n` (echo --err prefixes "error: ").
   */
  private drain(): void {
    const head = this.running;
    if (!head) return;
    const outMarker = `virsh # echo ${head.mark}\n${head.mark}`;
    const outEnd = this.out.indexOf(outMarker);
    const errMarker = `error: ${head.mark}\n`;
    const errEnd = this.err.indexOf(errMarker);
    if (outEnd < 0 || errEnd < 0) return;
    const region = this.out.slice(0, outEnd);
    this.out = this.out.slice(outEnd + outMarker.length);
    const stderr = this.err.slice(0, errEnd);
    this.err = this.err.slice(errEnd + errMarker.length);
    this.queue.shift();
    this.running = null;
    if (head.timer) clearTimeout(head.timer);
    // Drop what precedes this command's echoed input line (the previous command's "echo --err" echo).
    const echoed = `virsh # ${head.cmd}\n`;
    const at = region.indexOf(echoed);
    const stdout = at >= 0 ? region.slice(at + echoed.length) : region;
    const conn = connectionOutcome(stderr);
    if (conn.kind !== "ok") this.epoch.lost(this.procEpoch);
    if (conn.kind === "lost") {
      // Replaced (the epoch ended anyway); the commands queued behind it run on a fresh virsh.
      this.stopProcess();
      head.reject(new VirshConnectionLost(head.args[0] ?? "", conn.ran, stderr));
    } else {
      const failed = /(^|\n)error: /.test(conn.stderr);
      head.resolve({ stdout, stderr: conn.stderr, exitCode: failed ? 1 : 0 });
    }
    this.pump();
  }
}

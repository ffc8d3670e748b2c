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

  constructor(
    private readonly runner: CommandRunner & Required<Pick<CommandRunner, "spawnInteractive">>,
    private readonly uri: string,
    private readonly timeoutMs = VIRSH_COMMAND_TIMEOUT_MS,
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
      this.drain();
    });
    p.onExit(() => {
      if (this.proc !== p) return;
      this.proc = null;
      const head = this.running;
      if (head) this.abortRunning(head, new Error("virsh session exited"));
      else this.pump();
    });
    this.proc = p;
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
    const failed = /(^|\n)error: /.test(stderr);
    head.resolve({ stdout, stderr, exitCode: failed ? 1 : 0 });
    this.pump();
  }
}

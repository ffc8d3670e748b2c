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
  cmd: string;
  mark: string;
  resolve: (r: CommandResult) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/** One interactive virsh process; commands are answered in order. */
export class VirshSession {
  private proc: InteractiveProcess | null = null;
  private out = "";
  private err = "";
  private queue: Pending[] = [];
  private dead = false;

  constructor(
    private readonly runner: CommandRunner & Required<Pick<CommandRunner, "spawnInteractive">>,
    private readonly uri: string,
    private readonly timeoutMs = 60_000,
  ) {}

  /** Commands waiting or running in this session. */
  get load(): number {
    return this.queue.length;
  }

  get alive(): boolean {
    return !this.dead;
  }

  /** Run one virsh command (args must be sessionSafe). Resolves with exitCode 1 when virsh reported an error. */
  run(args: readonly string[]): Promise<CommandResult> {
    if (!sessionSafe(args)) return Promise.reject(new Error("argument not safe for a virsh session"));
    if (this.dead) return Promise.reject(new Error("virsh session is closed"));
    const proc = this.ensure();
    const mark = `NFMARK${randomBytes(8).toString("hex")}`;
    const cmd = shellLine(args);
    return new Promise<CommandResult>((resolve, reject) => {
      const timer = setTimeout(() => this.fail(new Error(`virsh ${args[0]} timed out after ${this.timeoutMs} ms`)), this.timeoutMs);
      this.queue.push({ cmd, mark, resolve, reject, timer });
      proc.write(`${cmd}\necho ${mark}\necho --err ${mark}\n`);
    });
  }

  close(): void {
    this.fail(new Error("virsh session closed"));
  }

  private ensure(): InteractiveProcess {
    if (this.proc) return this.proc;
    const p = this.runner.spawnInteractive("virsh", ["-q", "-c", this.uri]);
    p.onStdout((c) => {
      this.out += c;
      this.drain();
    });
    p.onStderr((c) => {
      this.err += c;
      this.drain();
    });
    p.onExit(() => this.fail(new Error("virsh session exited")));
    this.proc = p;
    return p;
  }

  /**
   * Answer the oldest command once both of its markers arrived. Interactive
   * virsh writes "virsh # <input line>\n" before each command's output, and
   * `echo` output without a newline, so stdout for one command looks like
   * `virsh # <cmd>\n<output>virsh # echo <mark>\n<mark>`; stderr ends with
   * `error: <mark>\n` (echo --err prefixes "error: ").
   */
  private drain(): void {
    for (;;) {
      const head = this.queue[0];
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
      clearTimeout(head.timer);
      // Drop what precedes this command's echoed input line (the previous command's "echo --err" echo).
      const echoed = `virsh # ${head.cmd}\n`;
      const at = region.indexOf(echoed);
      const stdout = at >= 0 ? region.slice(at + echoed.length) : region;
      const failed = /(^|\n)error: /.test(stderr);
      head.resolve({ stdout, stderr, exitCode: failed ? 1 : 0 });
    }
  }

  private fail(err: Error): void {
    if (this.dead) return;
    this.dead = true;
    this.proc?.kill();
    this.proc = null;
    for (const p of this.queue.splice(0)) {
      clearTimeout(p.timer);
      p.reject(err);
    }
  }
}

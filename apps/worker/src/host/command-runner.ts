/**
 * The only way the worker runs host commands: an executable and an argument
 * array, never a shell. ExecaRunner runs them; tests substitute a recording
 * fake host (test/worker-commands.test.ts) to check exact command sequences.
 */
import { AppError } from "@netforge/core/contract";
import { execa } from "execa";

/** What a finished command produced. */
export interface CommandResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface RunOptions {
  /** Text fed to stdin. */
  input?: string;
  timeoutMs?: number;
  /** Return a non-zero exit instead of throwing HOST_COMMAND_FAILED. */
  allowFailure?: boolean;
}

/** A long-running process we talk to over its stdin/stdout/stderr (e.g. an interactive virsh). */
export interface InteractiveProcess {
  write(text: string): void;
  onStdout(fn: (chunk: string) => void): void;
  onStderr(fn: (chunk: string) => void): void;
  onExit(fn: () => void): void;
  kill(): void;
}

/** Runs host commands. */
export interface CommandRunner {
  run(cmd: string, args: readonly string[], opts?: RunOptions): Promise<CommandResult>;
  /** Start a long-running command (argv, no shell); optional: runners without it make callers fall back to run(). */
  spawnInteractive?(cmd: string, args: readonly string[]): InteractiveProcess;
}

const MAX_STDERR = 4000;

/** The error every failed host command becomes (transient unless a caller knows better). */
export function commandFailed(cmd: string, args: readonly string[], r: CommandResult): AppError {
  const stderr = r.stderr.trim().slice(0, MAX_STDERR);
  const firstLine = stderr.split("\n").find((l) => l.trim().length > 0) ?? `exit code ${r.exitCode}`;
  return new AppError("HOST_COMMAND_FAILED", `${cmd} ${args[0] ?? ""} failed: ${firstLine}`, {
    command: [cmd, ...args],
    exitCode: r.exitCode,
    stderr,
  });
}

/** Runs commands with execa (no shell), in the C locale so output parsing is stable. */
export class ExecaRunner implements CommandRunner {
  constructor(private readonly defaultTimeoutMs = 60_000) {}

  async run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<CommandResult> {
    const r = await execa(cmd, args, {
      reject: false,
      input: opts.input,
      timeout: opts.timeoutMs ?? this.defaultTimeoutMs,
      env: { LC_ALL: "C" },
      stripFinalNewline: false,
    });
    const res: CommandResult = {
      stdout: String(r.stdout ?? ""),
      stderr: String(r.stderr ?? ""),
      exitCode: r.exitCode ?? (r.timedOut ? 124 : 1),
    };
    if (r.timedOut) res.stderr = `timed out after ${opts.timeoutMs ?? this.defaultTimeoutMs} ms\n${res.stderr}`;
    if (res.exitCode !== 0 && !opts.allowFailure) throw commandFailed(cmd, args, res);
    return res;
  }

  spawnInteractive(cmd: string, args: readonly string[]): InteractiveProcess {
    const child = execa(cmd, args, { reject: false, buffer: false, env: { LC_ALL: "C" }, stdin: "pipe", cleanup: true });
    child.stdout?.setEncoding("utf8");
    child.stderr?.setEncoding("utf8");
    // Swallow EPIPE when the process died under us; the exit handler reports it.
    child.stdin?.on("error", () => undefined);
    return {
      write: (text) => {
        child.stdin?.write(text);
      },
      onStdout: (fn) => child.stdout?.on("data", fn),
      onStderr: (fn) => child.stderr?.on("data", fn),
      onExit: (fn) => {
        void child.then(fn, fn);
      },
      kill: () => {
        child.kill("SIGKILL");
      },
    };
  }
}

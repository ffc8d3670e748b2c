import { execa } from "execa";

/** Result of a command run by the sandbox helpers. */
export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface ExecOptions {
  /** Written to the command's stdin (otherwise stdin is /dev/null). */
  input?: string;
  /** Throw a {@link SandboxExecError} on a non-zero exit / timeout / spawn failure. Default true. */
  reject?: boolean;
  /** Kill the command (SIGKILL) after this many ms. Default 60 000. */
  timeoutMs?: number;
}

/** Thrown by the exec helpers when `reject` is not false and the command failed. */
export class SandboxExecError extends Error {
  readonly argv: string[];
  readonly result: ExecResult;
  constructor(argv: string[], result: ExecResult, why: string) {
    const err = result.stderr.trim() || result.stdout.trim();
    super(`${why}: ${argv.join(" ")}${err ? `\n${err.slice(0, 2000)}` : ""}`);
    this.name = "SandboxExecError";
    this.argv = argv;
    this.result = result;
  }
}

/**
 * Run `file args...` (argument array, never through a shell) and collect its output.
 * Exit code conventions when the process did not exit normally: 124 = timed out,
 * 127 = could not be started, 128+N = killed by signal N.
 */
export async function run(file: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const argv = [file, ...args];
  const r = await execa(file, args, {
    reject: false,
    timeout: opts.timeoutMs ?? 60_000,
    killSignal: "SIGKILL",
    ...(opts.input !== undefined ? { input: opts.input } : { stdin: "ignore" as const }),
    stripFinalNewline: false,
    maxBuffer: 64 * 1024 * 1024,
  });
  const stdout = typeof r.stdout === "string" ? r.stdout : "";
  let stderr = typeof r.stderr === "string" ? r.stderr : "";
  let exitCode: number;
  let why = "";
  if (r.timedOut) {
    exitCode = 124;
    why = `command timed out after ${opts.timeoutMs ?? 60_000} ms`;
  } else if (typeof r.exitCode === "number") {
    exitCode = r.exitCode;
    why = `command exited with code ${exitCode}`;
  } else if (r.signal) {
    exitCode = 128 + (signalNumber(r.signal) ?? 0);
    why = `command killed by ${r.signal}`;
  } else {
    exitCode = 127;
    why = "command could not be started";
    stderr = stderr || r.message || String(r.cause ?? "");
  }
  const result: ExecResult = { stdout, stderr, exitCode };
  if (exitCode !== 0 && opts.reject !== false) throw new SandboxExecError(argv, result, why);
  return result;
}

function signalNumber(sig: string): number | undefined {
  const table: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15, SIGABRT: 6, SIGSEGV: 11, SIGPIPE: 13 };
  return table[sig];
}

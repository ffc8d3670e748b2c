/**
 * The pool's stale-session rule against a scripted virsh (the stderr texts are libvirt 9.0's, recorded on a
 * sandbox host): one session seeing libvirtd go retires the virsh processes of every session of its pool;
 * a command is run again after a lost connection only when that is safe. (Real libvirtd:
 * test/virsh-pool-restart.test.ts.)
 */
import { describe, expect, it } from "vitest";
import type { CommandResult, CommandRunner, InteractiveProcess } from "./command-runner";
import { Virsh } from "./virsh";
import { connectionOutcome, VirshConnectionLost, VirshEpoch, VirshSession } from "./virsh-session";

const URI = "qemu:///system";
const DISCONNECTED = `error: Disconnected from ${URI} due to end of file\n`;
const RECONNECTED = "error: Reconnected to the hypervisor\n";

/** What the fake virsh answers for one command: its stdout and stderr. */
type Answer = { stdout?: string; stderr?: string };

/**
 * One interactive virsh. It answers each command like virsh does (echoed prompt, output, echo markers) with
 * `answer(cmd)`; `stale` makes it behave like a virsh whose libvirtd restarted: it reconnects before its next
 * command ("Reconnected" ahead of the command's own stderr).
 */
class FakeVirsh implements InteractiveProcess {
  private outFns: ((c: string) => void)[] = [];
  private errFns: ((c: string) => void)[] = [];
  private exitFns: (() => void)[] = [];
  private pending = "";
  stale = false;
  killed = false;
  /** Commands this process ran (the echo lines excluded). */
  ran: string[] = [];
  /** Set to hold answers until release() is called. */
  hold = false;
  private held: (() => void)[] = [];

  constructor(private readonly answer: (cmd: string, p: FakeVirsh) => Answer) {}

  write(text: string): void {
    this.pending += text;
    const lines = this.pending.split("\n");
    this.pending = lines.pop() ?? "";
    for (const line of lines) {
      if (line.startsWith("echo --err ")) {
        const mark = line.slice("echo --err ".length);
        this.emit(() => this.err(`error: ${mark}\n`));
      } else if (line.startsWith("echo ")) {
        const mark = line.slice("echo ".length);
        this.emit(() => this.out(`virsh # echo ${mark}\n${mark}`));
      } else {
        this.ran.push(line);
        this.emit(() => {
          const a = this.answer(line, this);
          const reconnect = this.stale ? RECONNECTED : "";
          this.stale = false;
          this.out(`virsh # ${line}\n${a.stdout ?? ""}`);
          this.err(`${reconnect}${a.stderr ?? ""}`);
        });
      }
    }
  }

  private emit(fn: () => void): void {
    if (this.hold) this.held.push(fn);
    else queueMicrotask(fn);
  }

  release(): void {
    this.hold = false;
    for (const fn of this.held.splice(0)) fn();
  }

  out(c: string): void {
    if (!this.killed && c) for (const fn of this.outFns) fn(c);
  }
  err(c: string): void {
    if (!this.killed && c) for (const fn of this.errFns) fn(c);
  }
  onStdout(fn: (c: string) => void): void {
    this.outFns.push(fn);
  }
  onStderr(fn: (c: string) => void): void {
    this.errFns.push(fn);
  }
  onExit(fn: () => void): void {
    this.exitFns.push(fn);
  }
  kill(): void {
    if (this.killed) return;
    this.killed = true;
    for (const fn of this.exitFns) fn();
  }

  /** libvirtd went away: virsh's event loop prints the notice at once, and reconnects before its next command. */
  libvirtdRestarted(): void {
    this.stale = true;
    this.err(DISCONNECTED);
  }
}

/** Spawns FakeVirsh processes; records every one. */
class FakeRunner implements CommandRunner {
  procs: FakeVirsh[] = [];
  constructor(private readonly answer: (cmd: string, p: FakeVirsh) => Answer = () => ({})) {}
  async run(): Promise<CommandResult> {
    throw new Error("no one-shot virsh in this test");
  }
  spawnInteractive(): InteractiveProcess {
    const p = new FakeVirsh(this.answer);
    this.procs.push(p);
    return p;
  }
  get live(): FakeVirsh[] {
    return this.procs.filter((p) => !p.killed);
  }
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe("connectionOutcome: what a command's stderr says about its libvirt connection", () => {
  it("a command's own errors are its own", () => {
    const nf = "error: failed to get network 'x'\nerror: Network not found: no network with matching name 'x'\n";
    expect(connectionOutcome("")).toEqual({ kind: "ok", stderr: "" });
    expect(connectionOutcome(nf)).toEqual({ kind: "ok", stderr: nf });
  });

  it("reconnected before the command: the command ran on the new connection, its stderr is what follows", () => {
    expect(connectionOutcome(`${DISCONNECTED}${RECONNECTED}`)).toEqual({ kind: "reconnected", stderr: "" });
    expect(connectionOutcome(RECONNECTED)).toEqual({ kind: "reconnected", stderr: "" });
    const own = "error: failed to start network 'a'\nerror: network is already active\n";
    expect(connectionOutcome(`${DISCONNECTED}${RECONNECTED}${own}`)).toEqual({ kind: "reconnected", stderr: own });
  });

  it("the connection went during the command: it may or may not have run", () => {
    // Recorded: a net-define in flight while libvirtd was stopped.
    const midDefine = `${DISCONNECTED}error: Failed to define network from /tmp/f.fifo\nerror: internal error: client socket is closed\n`;
    expect(connectionOutcome(midDefine)).toEqual({ kind: "lost", ran: "unknown" });
    expect(connectionOutcome("error: End of file while reading data: Input/output error\n")).toEqual({ kind: "lost", ran: "unknown" });
    expect(connectionOutcome(`${RECONNECTED}${DISCONNECTED}`)).toEqual({ kind: "lost", ran: "unknown" });
  });

  it("virsh could not (re)connect: the command did not run", () => {
    expect(connectionOutcome(`${DISCONNECTED}error: Failed to reconnect to the hypervisor\n`)).toEqual({ kind: "lost", ran: "no" });
    expect(connectionOutcome("error: no valid connection\n")).toEqual({ kind: "lost", ran: "no" });
  });
});

describe("one session", () => {
  it("the first command after a restart is answered as the command's own (virsh reconnected before it)", async () => {
    const runner = new FakeRunner((cmd) => (cmd === "version --daemon" ? { stdout: "Running against daemon: 9.0.0\n" } : {}));
    const s = new VirshSession(runner, URI);
    try {
      expect((await s.run(["version", "--daemon"])).exitCode).toBe(0);
      // The stale virsh did not see the notice yet (no Disconnected): it reconnects before the command.
      (runner.procs[0] as FakeVirsh).stale = true;
      const r = await s.run(["version", "--daemon"]);
      expect(r).toEqual({ stdout: "Running against daemon: 9.0.0\n", stderr: "", exitCode: 0 });
    } finally {
      s.close();
    }
  });

  it("a command that met the lost connection fails as connection lost; the next runs on a fresh virsh", async () => {
    const runner: FakeRunner = new FakeRunner(
      (cmd, p): Answer =>
        cmd.startsWith("net-start") && runner.procs.indexOf(p) === 0
          ? { stderr: `${DISCONNECTED}error: Failed to start network a\nerror: internal error: client socket is closed\n` }
          : {},
    );
    const s = new VirshSession(runner, URI);
    try {
      const [start, info] = await Promise.allSettled([s.run(["net-start", "a"]), s.run(["net-info", "a"])]);
      expect(start).toMatchObject({ status: "rejected", reason: { ran: "unknown" } });
      expect((start as PromiseRejectedResult).reason).toBeInstanceOf(VirshConnectionLost);
      expect(info).toMatchObject({ status: "fulfilled", value: { exitCode: 0 } });
      expect(runner.procs.map((p) => p.ran)).toEqual([["net-start a"], ["net-info a"]]);
    } finally {
      s.close();
    }
  });
});

/**
 * Two sessions of one pool (a shared epoch), each with a virsh that has run a command (pa, pb); closed after
 * `fn`.
 */
async function withPoolOfTwo(
  fn: (p: { runner: FakeRunner; epoch: VirshEpoch; a: VirshSession; b: VirshSession; pa: FakeVirsh; pb: FakeVirsh }) => Promise<void>,
): Promise<void> {
  const runner = new FakeRunner();
  const epoch = new VirshEpoch();
  const [a, b] = [new VirshSession(runner, URI, undefined, epoch), new VirshSession(runner, URI, undefined, epoch)];
  try {
    await Promise.all([a.run(["net-list", "--all"]), b.run(["net-list", "--all"])]);
    const [pa, pb] = runner.procs as [FakeVirsh, FakeVirsh];
    await fn({ runner, epoch, a, b, pa, pb });
  } finally {
    a.close();
    b.close();
  }
}

describe("the pool retires every session's virsh when one of them sees libvirtd go", () => {
  it("a session whose own virsh said nothing yet still gets a fresh virsh for its next command", async () => {
    await withPoolOfTwo(async ({ runner, epoch, a, b, pa, pb }) => {
      // libvirtd restarted; only a's virsh has printed its notice so far.
      pa.libvirtdRestarted();
      pb.stale = true;
      expect(epoch.ended).toBe(1);
      expect(pa.killed).toBe(true); // idle: replaced at once
      const r = await b.run(["net-info", "x"]);
      expect(r.stderr).toBe("");
      expect(pb.killed).toBe(true);
      expect(pb.ran).toEqual(["net-list --all"]); // never wrote to the stale virsh again
      expect(runner.live.length).toBe(1);
      expect(runner.live[0]?.ran).toEqual(["net-info x"]);
      // Sessions started after the loss are not retired by it.
      await Promise.all([a.run(["net-list", "--all"]), b.run(["net-list", "--all"])]);
      expect(epoch.ended).toBe(1);
      expect(runner.procs.length).toBe(4); // a's fresh one is started by its next command
      expect(runner.live.length).toBe(2);
    });
  });

  it("a command running when the epoch ends finishes on its virsh; the ones queued behind it run on a fresh one", async () => {
    await withPoolOfTwo(async ({ runner, pa, pb, b }) => {
      pb.hold = true;
      const running = b.run(["net-start", "n"]);
      const queued = b.run(["net-info", "n"]);
      await tick();
      pa.libvirtdRestarted();
      expect(pb.killed).toBe(false); // its command is running: not killed under it
      pb.release();
      expect((await running).exitCode).toBe(0);
      expect((await queued).exitCode).toBe(0);
      expect(pb.ran).toEqual(["net-list --all", "net-start n"]);
      expect(pb.killed).toBe(true);
      expect(runner.live.map((p) => p.ran)).toEqual([["net-info n"]]);
    });
  });
});

describe("Virsh: a command that met a lost connection is run again only when that is safe", () => {
  /** The first process answers every command with `first`; later ones succeed. */
  const poolWith = (first: string) => {
    const runner: FakeRunner = new FakeRunner(
      (_cmd, p): Answer => (runner.procs.indexOf(p) === 0 ? { stderr: first } : { stdout: "ok\n" }),
    );
    return { runner, virsh: new Virsh(runner, URI) };
  };
  const midCommand = `${DISCONNECTED}error: internal error: client socket is closed\n`;

  it("a read is run again on a fresh virsh", async () => {
    const { runner, virsh } = poolWith(midCommand);
    try {
      expect((await virsh.run(["net-dumpxml", "--inactive", "a"])).stdout).toBe("ok\n");
      expect(runner.procs.map((p) => p.ran)).toEqual([["net-dumpxml --inactive a"], ["net-dumpxml --inactive a"]]);
      expect(virsh.epoch.ended).toBe(1);
    } finally {
      virsh.close();
    }
  });

  it("setting autostart is run again (a second run leaves the same flag)", async () => {
    const { runner, virsh } = poolWith(midCommand);
    try {
      await virsh.setAutostart("a", true);
      expect(runner.procs.flatMap((p) => p.ran)).toEqual(["net-autostart a", "net-autostart a"]);
    } finally {
      virsh.close();
    }
  });

  it("a start whose effect is unknown is not run again: the job's attempt fails (retryable)", async () => {
    const { runner, virsh } = poolWith(midCommand);
    try {
      await expect(virsh.start("a")).rejects.toMatchObject({
        code: "HOST_COMMAND_FAILED",
        retryable: true,
        details: { connectionLost: true, ran: "unknown" },
      });
      expect(runner.procs.flatMap((p) => p.ran)).toEqual(["net-start a"]);
      // The pool goes on with a fresh virsh.
      expect((await virsh.run(["net-info", "a"])).stdout).toBe("ok\n");
      expect(runner.procs.length).toBe(2);
    } finally {
      virsh.close();
    }
  });

  it("a start that virsh could not connect for (it did not run) is run again", async () => {
    const { runner, virsh } = poolWith(`${DISCONNECTED}error: Failed to reconnect to the hypervisor\n`);
    try {
      await virsh.start("a");
      expect(runner.procs.map((p) => p.ran)).toEqual([["net-start a"], ["net-start a"]]);
    } finally {
      virsh.close();
    }
  });

  it("two sessions stale at once: concurrent commands all succeed, none written to a stale virsh after the notice", async () => {
    const runner = new FakeRunner((cmd) => ({ stdout: `${cmd}\n` }));
    const virsh = new Virsh(runner, URI);
    try {
      await Promise.all([virsh.run(["net-list", "--all"]), virsh.run(["net-list", "--all"])]);
      const old = [...runner.procs];
      expect(old.length).toBe(2);
      for (const p of old) p.libvirtdRestarted();
      const rs = await Promise.allSettled([virsh.info("a"), virsh.dumpXml("a", { inactive: true }), virsh.setAutostart("a", true)]);
      expect(rs.map((r) => r.status)).toEqual(["fulfilled", "fulfilled", "fulfilled"]);
      for (const p of old) expect(p.ran).toEqual(["net-list --all"]);
      expect(virsh.epoch.ended).toBe(1);
    } finally {
      virsh.close();
    }
  });
});

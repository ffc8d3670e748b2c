/**
 * libvirt through virsh. Failures are classified from virsh's messages into
 * the error model (a missing network is NOT_FOUND, a duplicate name
 * NAME_TAKEN, an address collision CIDR_CONFLICT, libvirt refusing the XML
 * we rendered a permanent HOST_COMMAND_FAILED); anything else stays a
 * retryable HOST_COMMAND_FAILED.
 */
import { randomBytes } from "node:crypto";
import { rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AppError } from "@netforge/core/contract";
import { type CommandResult, type CommandRunner, commandFailed } from "./command-runner";
import { sessionSafe, VirshConnectionLost, VirshEpoch, VirshSession } from "./virsh-session";

/** One row of `virsh net-list --all`. */
export interface LibvirtNetworkState {
  name: string;
  active: boolean;
  autostart: boolean;
  persistent: boolean;
}

/** One interface of a domain, from `virsh domiflist`. */
export interface DomainInterface {
  domain: string;
  ifname: string;
  source: string;
  mac: string;
}

/**
 * What libvirt says when it refuses a network definition itself (not the host's
 * state): libxml2's parse errors ("(network_definition):3: Char 0xFFFF out of
 * allowed range"), RNG validation, and libvirt's own config checks. The same XML
 * is refused again on every retry, so these are permanent.
 */
const DEFINITION_REJECTED =
  /\(network_definition\):\d+:|XML document failed to validate|XML error:|unsupported configuration:|internal error: malformed/i;

/** Commands that hand libvirt an XML document we rendered. */
const XML_COMMANDS: ReadonlySet<string> = new Set(["net-define", "net-create"]);

/** Turn a failed virsh result into the right AppError. */
export function classifyVirshError(args: readonly string[], r: CommandResult): AppError {
  const base = commandFailed("virsh", args, r);
  const msg = r.stderr;
  if (/Network not found|no network with matching name/i.test(msg)) {
    return new AppError("NOT_FOUND", "network not found on its host", base.details, { retryable: false });
  }
  if (/already exists/i.test(msg)) {
    return new AppError("NAME_TAKEN", base.message, base.details, { retryable: false });
  }
  if (/already in use by interface|is already in use/i.test(msg)) {
    return new AppError("CIDR_CONFLICT", base.message, base.details, { retryable: false });
  }
  if (/network is already active|is not active|network is not running/i.test(msg)) {
    return new AppError("INVALID_STATE", base.message, base.details, { retryable: false });
  }
  if (/No usable Vf'?s present|not an SR-IOV|SRIOV/i.test(msg) && args[0] === "net-start") {
    // libvirt could not take VFs from the PF of a hostdev network: the host has no usable SR-IOV there.
    const reason = msg.split("\n").find((l) => /error:/.test(l) && !/Failed to start/.test(l)) ?? base.message;
    return new AppError(
      "SRIOV_UNAVAILABLE",
      `libvirt could not start the SR-IOV pool: ${reason.replace(/^error:\s*/, "").trim()}`,
      { ...base.details },
      { retryable: false },
    );
  }
  if (XML_COMMANDS.has(args[0] ?? "") && DEFINITION_REJECTED.test(msg)) {
    // virsh's first line only names the file ("Failed to define network from /tmp/…"); the reason is the matching line.
    const reason = msg.split("\n").find((l) => DEFINITION_REJECTED.test(l)) ?? "";
    return new AppError(
      "HOST_COMMAND_FAILED",
      `libvirt refused the network definition: ${reason.replace(/^error:\s*/, "").trim()}`,
      { ...base.details, permanent: true },
      { retryable: false },
    );
  }
  return base;
}

/** A change netforge itself made through this client (the catalog applies it at once, before libvirt's event). */
export type VirshWrite =
  | { op: "define"; xml: string }
  | { op: "start" | "destroy" | "undefine"; name: string }
  | { op: "autostart"; name: string; on: boolean };

/**
 * Commands whose second run leaves libvirt as one run would and answers the same: reads, and setting the
 * autostart flag to a given value (libvirt accepts setting it to what it already is). Only these are run again
 * when a lost libvirt connection leaves it unknown whether they took effect; a define, start, destroy,
 * undefine or net-update is not (the job's retry looks at the real state instead).
 */
const REPEATABLE: ReadonlySet<string> = new Set([
  "net-info",
  "net-dumpxml",
  "net-list",
  "net-dhcp-leases",
  "list",
  "domiflist",
  "version",
  "net-autostart",
]);

/** How many persistent virsh sessions a worker keeps (jobs on different networks run in parallel). */
const SESSION_POOL = 4;

export interface VirshOptions {
  /** Most persistent sessions kept (default 4). */
  sessions?: number;
  /** Time one command may run, from its own start (default 60 s; NETFORGE_VIRSH_TIMEOUT_MS). */
  commandTimeoutMs?: number;
}

/**
 * A virsh client bound to one libvirt URI. Commands go to a small pool of
 * persistent virsh sessions (no process start and connect per command) when
 * their arguments are plain words, otherwise to a one-shot process.
 */
export class Virsh {
  private readonly sessions: VirshSession[] = [];
  /** Shared by the sessions: one of them seeing libvirtd go retires the virsh processes of all of them. */
  readonly epoch = new VirshEpoch();
  private readonly writeListeners: ((w: VirshWrite) => void)[] = [];

  constructor(
    private readonly runner: CommandRunner,
    readonly uri: string,
    private readonly opts: VirshOptions = {},
  ) {}

  /** Run one virsh command; throw a classified error on failure. */
  async run(args: readonly string[], opts: { allowFailure?: boolean } = {}): Promise<CommandResult> {
    const r = (await this.viaSession(args)) ?? (await this.runner.run("virsh", ["-c", this.uri, "-q", ...args], { allowFailure: true }));
    if (r.exitCode !== 0 && !opts.allowFailure) throw classifyVirshError(args, r);
    return r;
  }

  /** Be told of every successful define/start/destroy/undefine/autostart made through this client. */
  onWrite(fn: (w: VirshWrite) => void): void {
    this.writeListeners.push(fn);
  }

  private wrote(w: VirshWrite): void {
    for (const fn of this.writeListeners) fn(w);
  }

  /** Close the persistent sessions (worker shutdown). */
  close(): void {
    for (const s of this.sessions.splice(0)) s.close();
  }

  /** Run through the least busy session; null when sessions cannot be used for this command. */
  private async viaSession(args: readonly string[]): Promise<CommandResult | null> {
    if (!this.runner.spawnInteractive || !sessionSafe(args)) return null;
    try {
      return await this.onSession(args);
    } catch (err) {
      // The connection to libvirtd was lost under this command (libvirtd restarted or is restarting). The epoch
      // ended, so the next command runs on a virsh started afterwards. Run it once more there if that is safe:
      // it certainly did not run, or running it twice is harmless.
      if (!(err instanceof VirshConnectionLost) || !(err.ran === "no" || REPEATABLE.has(args[0] ?? ""))) throw wrapped(args, err);
      try {
        return await this.onSession(args);
      } catch (again) {
        throw wrapped(args, again);
      }
    }
  }

  private onSession(args: readonly string[]): Promise<CommandResult> {
    const runner = this.runner;
    for (let i = this.sessions.length - 1; i >= 0; i--) if (!this.sessions[i]?.alive) this.sessions.splice(i, 1);
    // An idle session if there is one, else a new one while the pool has room, else the least busy: a command
    // queued behind another waits without its clock running (timeouts count from a command's own start).
    let session = this.sessions.reduce<VirshSession | null>((best, s) => (!best || s.load < best.load ? s : best), null);
    if (!session || (session.load > 0 && this.sessions.length < (this.opts.sessions ?? SESSION_POOL))) {
      session = new VirshSession(
        runner as CommandRunner & Required<Pick<CommandRunner, "spawnInteractive">>,
        this.uri,
        this.opts.commandTimeoutMs,
        this.epoch,
      );
      this.sessions.push(session);
    }
    return session.run(args);
  }

  /** All networks with their state. */
  async listNetworks(): Promise<LibvirtNetworkState[]> {
    const r = await this.run(["net-list", "--all"]);
    return parseNetList(r.stdout);
  }

  /** Definitions of many networks in one virsh process (`a; b; c` is virsh's own command separator). */
  async dumpXmlMany(names: readonly string[], opts: { inactive?: boolean } = {}): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (let i = 0; i < names.length; i += 50) {
      const chunk = names.slice(i, i + 50);
      // Names come from libvirt itself; reject anything that could break virsh's tokenizer.
      const safe = chunk.filter((n) => /^[A-Za-z0-9_.-]+$/.test(n));
      if (safe.length === 0) continue;
      const flag = opts.inactive ? "--inactive " : "";
      const r = await this.run([safe.map((n) => `net-dumpxml ${flag}${n}`).join(" ; ")], { allowFailure: true });
      for (const doc of r.stdout.split(/(?<=<\/network>)/)) {
        const m = /<name>([^<]+)<\/name>/.exec(doc);
        if (m?.[1] && doc.includes("</network>")) out.set(m[1], doc.trim());
      }
    }
    return out;
  }

  /** A network's definition: the running one, or with `inactive` the persistent one (where netforge's spec is written). */
  async dumpXml(name: string, opts: { inactive?: boolean } = {}): Promise<string> {
    return (await this.run(opts.inactive ? ["net-dumpxml", "--inactive", name] : ["net-dumpxml", name])).stdout;
  }

  /** Define (or redefine) a persistent network from XML. */
  async define(xml: string): Promise<void> {
    // virsh reads definitions from a file; a private temp file avoids any quoting of the XML.
    const file = join(tmpdir(), `netforge-${process.pid}-${randomBytes(6).toString("hex")}.xml`);
    await writeFile(file, xml, { mode: 0o600 });
    try {
      await this.run(["net-define", file]);
      this.wrote({ op: "define", xml });
    } finally {
      await rm(file, { force: true });
    }
  }

  async start(name: string): Promise<void> {
    await this.runStep(["net-start", name]);
  }

  async destroy(name: string): Promise<void> {
    await this.runStep(["net-destroy", name]);
  }

  async undefine(name: string): Promise<void> {
    await this.runStep(["net-undefine", name]);
  }

  async setAutostart(name: string, on: boolean): Promise<void> {
    await this.runStep(on ? ["net-autostart", name] : ["net-autostart", name, "--disable"]);
  }

  /**
   * Run a planned virsh command (a plan step); the lifecycle writes among them (start, destroy, undefine,
   * autostart) are told to the catalog as the methods above tell them.
   */
  async runStep(args: readonly string[]): Promise<CommandResult> {
    const r = await this.run(args);
    const [cmd, name, flag] = args;
    if (name === undefined) return r;
    if (cmd === "net-start") this.wrote({ op: "start", name });
    else if (cmd === "net-destroy") this.wrote({ op: "destroy", name });
    else if (cmd === "net-undefine") this.wrote({ op: "undefine", name });
    else if (cmd === "net-autostart") this.wrote({ op: "autostart", name, on: flag !== "--disable" });
    return r;
  }

  /** State of one network, or null when libvirt does not know it. */
  async info(name: string): Promise<LibvirtNetworkState | null> {
    const r = await this.run(["net-info", name], { allowFailure: true });
    if (r.exitCode !== 0) {
      if (/not found|no network with matching name/i.test(r.stderr)) return null;
      throw classifyVirshError(["net-info", name], r);
    }
    const f: Record<string, string> = {};
    for (const line of r.stdout.split("\n")) {
      const m = /^([^:]+):\s*(.*)$/.exec(line.trim());
      if (m?.[1]) f[m[1].trim().toLowerCase()] = (m[2] ?? "").trim();
    }
    return { name, active: f.active === "yes", autostart: f.autostart === "yes", persistent: f.persistent === "yes" };
  }

  /** Interfaces of every running domain (for naming what is attached to a bridge). */
  async runningDomainInterfaces(): Promise<DomainInterface[]> {
    const names = (await this.run(["list", "--name"])).stdout
      .split("\n")
      .map((s) => s.trim())
      .filter((s) => /^[A-Za-z0-9_.+-]+$/.test(s));
    const out: DomainInterface[] = [];
    for (const domain of names) {
      const r = await this.run(["domiflist", domain], { allowFailure: true });
      if (r.exitCode !== 0) continue; // the domain stopped meanwhile
      for (const line of r.stdout.split("\n")) {
        const cols = line.trim().split(/\s+/);
        if (cols.length >= 5 && cols[0] && cols[0] !== "-") {
          out.push({ domain, ifname: cols[0], source: cols[2] ?? "", mac: (cols[4] ?? "").toLowerCase() });
        }
      }
    }
    return out;
  }

  /**
   * Every interface of running domains with its source (network name for type='network'), including
   * those without a host device (hostdev/SR-IOV: ifname null). What uses a network without a bridge.
   */
  async runningDomainSources(): Promise<{ domain: string; ifname: string | null; source: string; mac: string }[]> {
    const names = (await this.run(["list", "--name"])).stdout
      .split("\n")
      .map((s) => s.trim())
      .filter((s) => /^[A-Za-z0-9_.+-]+$/.test(s));
    const out: { domain: string; ifname: string | null; source: string; mac: string }[] = [];
    for (const domain of names) {
      const r = await this.run(["domiflist", domain], { allowFailure: true });
      if (r.exitCode !== 0) continue;
      for (const line of r.stdout.split("\n")) {
        const cols = line.trim().split(/\s+/);
        if (cols.length >= 5 && cols[0] && !/^-+$/.test(cols[0]) && cols[0] !== "Interface") {
          out.push({ domain, ifname: cols[0] === "-" ? null : cols[0], source: cols[2] ?? "", mac: (cols[4] ?? "").toLowerCase() });
        }
      }
    }
    return out;
  }

  /** MAC -> name of the libvirt domain (running or not) whose interface has it. */
  async domainMacOwners(): Promise<Map<string, string>> {
    const names = (await this.run(["list", "--all", "--name"])).stdout
      .split("\n")
      .map((s) => s.trim())
      .filter((s) => /^[A-Za-z0-9_.+-]+$/.test(s));
    const owners = new Map<string, string>();
    for (const domain of names) {
      const r = await this.run(["domiflist", domain], { allowFailure: true });
      if (r.exitCode !== 0) continue; // undefined meanwhile
      for (const line of r.stdout.split("\n")) {
        const mac = /([0-9a-f]{2}(?::[0-9a-f]{2}){5})\s*$/i.exec(line.trim())?.[1];
        if (mac) owners.set(mac.toLowerCase(), domain);
      }
    }
    return owners;
  }

  /** libvirt daemon version ("9.0.0"), or null. */
  async daemonVersion(): Promise<string | null> {
    const r = await this.run(["version", "--daemon"], { allowFailure: true });
    const m = /Running against daemon:\s*(\S+)/.exec(r.stdout) ?? /daemon:\s*(\S+)/i.exec(r.stdout);
    return m?.[1] ?? null;
  }
}

/**
 * A session command that failed without an answer from virsh: it timed out, its virsh died under it, or the
 * connection to libvirtd was lost under it. Unless it was run again above, it may or may not have taken effect,
 * so the job fails this attempt (retryable) and its undo/retry logic looks at the real state. Commands queued
 * behind it are unaffected (the session runs them on a fresh virsh).
 */
function wrapped(args: readonly string[], err: unknown): AppError {
  return new AppError("HOST_COMMAND_FAILED", `virsh ${args[0]} failed: ${err instanceof Error ? err.message : err}`, {
    command: ["virsh", ...args],
    ...(err instanceof VirshConnectionLost ? { connectionLost: true, ran: err.ran } : {}),
  });
}

/** Parse `virsh -q net-list --all` (name, state, autostart, persistent; names may contain spaces). */
export function parseNetList(stdout: string): LibvirtNetworkState[] {
  const out: LibvirtNetworkState[] = [];
  for (const line of stdout.split("\n")) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 4 || cols[0] === "") continue;
    const persistent = cols.pop();
    const autostart = cols.pop();
    const state = cols.pop();
    out.push({ name: cols.join(" "), active: state === "active", autostart: autostart === "yes", persistent: persistent === "yes" });
  }
  return out;
}

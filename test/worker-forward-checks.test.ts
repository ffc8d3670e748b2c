/**
 * The worker's own checks of a port forward add, before anything on the host changes (the door's checks can
 * be passed by an old inventory or a payload written to Redis by hand): the host's deny-list (NOT_ALLOWED,
 * no command run at all), a port a process listens on (PORT_CONFLICT after one `ss` read), `ss` failing
 * (HOST_COMMAND_FAILED: fail closed), and a hostIp that is not an address of the host. A recording runner plays
 * the host (the real-traffic versions are in e2e-forward-guards); the job record lives in the real test Redis.
 */
import { AppError } from "@netforge/core/contract";
import { deniedHostPorts } from "@netforge/core/model";
import { newJobRecord, saveNewJob } from "@netforge/core/store";
import pino from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { commandFailed, type CommandResult, type CommandRunner, type RunOptions } from "@netforge/worker";
import {
  configurePortForward,
  HostFirewall,
  type JobContext,
  JobReporter,
  NetworkCatalog,
  NftBackend,
  Revert,
  Virsh,
} from "@netforge/worker/testing";
import { testRedis } from "./support/redis";

const t = testRedis("fwd-checks");
afterAll(() => t.cleanup());

/** Answers ss (sshd on 22, a late service on 7777) and ip; any other command is a host change the test forbids. */
class Host implements CommandRunner {
  calls: string[][] = [];
  ssFails = false;
  async run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<CommandResult> {
    this.calls.push([cmd, ...args]);
    const ok = (stdout: string): CommandResult => ({ stdout, stderr: "", exitCode: 0 });
    let r: CommandResult;
    if (cmd === "ss" && this.ssFails) r = { stdout: "", stderr: "ss: No such file or directory", exitCode: 127 };
    else if (cmd === "ss") r = ok(args.includes("-t") ? "LISTEN 0 128 0.0.0.0:22 0.0.0.0:*\nLISTEN 0 5 0.0.0.0:7777 0.0.0.0:*\n" : "");
    else if (cmd === "ip")
      r = ok(
        JSON.stringify([
          { ifname: "lo", operstate: "UNKNOWN", addr_info: [{ family: "inet6", local: "::1", prefixlen: 128, scope: "host" }] },
          {
            ifname: "uplink0",
            operstate: "UP",
            addr_info: [
              { family: "inet", local: "198.51.100.2", prefixlen: 24 },
              { family: "inet6", local: "fd00:99::2", prefixlen: 64, scope: "global" },
              { family: "inet6", local: "fe80::1", prefixlen: 64, scope: "link" },
            ],
          },
        ]),
      );
    else throw new Error(`unexpected host command ${cmd} ${args.join(" ")}`);
    if (r.exitCode !== 0 && !opts.allowFailure) throw commandFailed(cmd, args, r);
    return r;
  }
}

async function context(host: Host): Promise<JobContext> {
  const record = newJobRecord({
    action: "configure-network-port-forward",
    network: "web",
    host: "h1",
    payload: {},
    steps: ["checking host port", "checking change", "applying change"],
  });
  await saveNewJob(t.redis, t.keys, record);
  const virsh = new Virsh(host, "qemu:///system");
  return {
    hostId: "h1",
    runner: host,
    virsh,
    catalog: new NetworkCatalog(virsh),
    firewall: new HostFirewall(new NftBackend(host), pino({ level: "silent" })),
    redis: t.redis,
    keys: t.keys,
    logger: pino({ level: "silent" }),
    leasesDir: "/nonexistent",
    deniedHostPorts: deniedHostPorts("tcp:9000-9010"),
    hostChanged: () => undefined,
    report: new JobReporter(t.redis, t.keys, record),
    revert: new Revert(),
  };
}

async function refusal(host: Host, p: Record<string, unknown>): Promise<AppError> {
  const ctx = await context(host);
  const err = await configurePortForward(ctx, {
    name: "web",
    action: "add",
    protocol: "tcp",
    vmIp: "10.70.0.10",
    vmPort: 80,
    hostPort: 2222,
    ...p,
  }).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  return err as AppError;
}

describe("the worker's checks of a forward add", () => {
  it("a denied port (the defaults and the operator's list): NOT_ALLOWED, no host command run", async () => {
    for (const hostPort of [22, 5900, 16509, 49200, 9005]) {
      const host = new Host();
      const err = await refusal(host, { hostPort });
      expect(err.code, String(hostPort)).toBe("NOT_ALLOWED");
      expect(err.message).toContain("NETFORGE_DENIED_HOST_PORTS");
      expect(host.calls).toEqual([]);
    }
  });

  it("a port a process listens on now: PORT_CONFLICT after reading ss, nothing else run", async () => {
    const host = new Host();
    const err = await refusal(host, { hostPort: 7777 });
    expect(err.code).toBe("PORT_CONFLICT");
    expect(err.details).toMatchObject({ heldBy: { process: true }, hostPort: 7777 });
    expect(host.calls.every(([cmd]) => cmd === "ss")).toBe(true);
  });

  it("ss failing: HOST_COMMAND_FAILED naming why, nothing else run (fail closed)", async () => {
    const host = new Host();
    host.ssFails = true;
    const err = await refusal(host, { hostPort: 2222 });
    expect(err.code).toBe("HOST_COMMAND_FAILED");
    expect(err.message).toMatch(/could not read the ports host processes listen on \(ss -H failed: ss: No such file/);
    expect(err.details).toMatchObject({ step: "checking host port", exitCode: 127 });
    expect(host.calls.every(([cmd]) => cmd === "ss")).toBe(true);
  });

  it("a hostIp the host does not have (any more): VALIDATION_FAILED on hostIp, nothing changed", async () => {
    const host = new Host();
    const err = await refusal(host, { hostPort: 2222, hostIp: "198.51.100.50" });
    expect(err.code).toBe("VALIDATION_FAILED");
    expect(err.details).toMatchObject({ issues: [{ path: "hostIp" }] });
    expect(host.calls.map(([cmd]) => cmd).sort()).toEqual(["ip", "ss", "ss"]);
  });

  it("an IPv6 hostIp: one of the host's global IPv6 addresses (any spelling), never ::1 or a link-local one", async () => {
    for (const hostIp of ["fd00:99::50", "::1", "fe80::1"]) {
      const host = new Host();
      const err = await refusal(host, { vmIp: "fd00:70::10", hostIp });
      expect(err.code, hostIp).toBe("VALIDATION_FAILED");
      expect(err.message, hostIp).toContain(`${hostIp} is not an address of host h1`);
    }
    // The host's own address passes the check: the job goes on to the change (here, a virsh the test host refuses).
    const host = new Host();
    const ctx = await context(host);
    const p = {
      name: "web",
      action: "add",
      protocol: "tcp",
      vmIp: "fd00:70::10",
      vmPort: 80,
      hostPort: 2222,
      hostIp: "FD00:99:0::2",
    } as const;
    const err = await configurePortForward(ctx, p).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(/unexpected host command virsh/);
    expect(
      host.calls
        .map(([cmd]) => cmd)
        .slice(0, 3)
        .sort(),
    ).toEqual(["ip", "ss", "ss"]);
  });
});

/**
 * The `netforge` CLI in a real terminal: tmux runs `npx netforge ...` against
 * a real API, a worker and a sandbox hypervisor; the captured screen must show
 * the job's steps and its result, and each class of error its exit code.
 * Run under the e2e lock (it creates a sandbox host).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster, TOKENS, workerLog } from "./support/cluster";
import { duplicateKeys } from "./support/json-keys";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const HOST = "cli";
// A private tmux server: nothing of the user's tmux is seen or touched.
const SOCKET = `netforge-cli-test-${process.pid}`;
const tmux = (...args: string[]) => execa("tmux", ["-L", SOCKET, ...args]);

let c: Cluster;
/** Every captured screen is kept here for a human to look at. */
const SCREENS = join(ROOT, ".netforge", "cli-screens");
mkdirSync(SCREENS, { recursive: true });
let screenNo = 0;

async function screen(): Promise<string> {
  return (await tmux("capture-pane", "-p", "-J", "-t", "cli", "-S", "-200")).stdout;
}

/** Type `command` into the terminal and wait for it to end; the screen and its exit code. */
async function run(command: string, opts: { timeoutMs?: number; whileRunning?: (screen: string) => Promise<boolean> } = {}) {
  await tmux("send-keys", "-t", "cli", "clear", "Enter");
  // The shell clears when it gets to it: wait until the previous command's EXIT= is gone from the screen.
  for (let i = 0; i < 100 && /^EXIT=\d+$/m.test(await screen()); i++) await new Promise((r) => setTimeout(r, 50));
  await tmux("clear-history", "-t", "cli");
  await tmux("send-keys", "-t", "cli", "-l", `${command}; echo "EXIT=$?"`);
  await tmux("send-keys", "-t", "cli", "Enter");
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  let acted = false;
  for (;;) {
    const s = await screen();
    const m = /^EXIT=(\d+)$/m.exec(s);
    if (m) {
      writeFileSync(join(SCREENS, `${++screenNo}.txt`), `${s.trimEnd()}\n`);
      return { screen: s, code: Number(m[1]) };
    }
    if (opts.whileRunning && !acted) acted = await opts.whileRunning(s);
    if (Date.now() > deadline) throw new Error(`'${command}' did not end; screen:\n${s}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  c = await startCluster({ hosts: [{ id: HOST }], label: "cli" });
  await tmux(
    "new-session",
    "-d",
    "-s",
    "cli",
    "-x",
    "160",
    "-y",
    "50",
    "-c",
    ROOT,
    "-e",
    `NETFORGE_URL=${c.baseUrl}`,
    "-e",
    `NETFORGE_TOKEN=${TOKENS.operator}`,
    "-e",
    "PS1=$ ",
    "bash --norc --noprofile",
  );
});

afterAll(async () => {
  await tmux("kill-server").catch(() => undefined);
  await c?.stop();
});

describe("netforge CLI in a terminal", () => {
  it("creates a network showing each step live and its result, then lists, describes and deletes it", async () => {
    const created = await run("npx netforge network create web --type nat --cidr 10.61.0.0/24 --dhcp-lease-time 3600");
    expect(created.code, created.screen).toBe(0);
    expect(created.screen).toMatch(/job j_\S+: create-network web on host cli/);
    // Each finished step has its own line with a check mark and its elapsed time.
    expect(created.screen).toMatch(/✔ defining network \(\d+\.\d+s\)/);
    expect(created.screen).toMatch(/✔ starting network \(\d+\.\d+s\)/);
    expect(created.screen).toContain("✔ create-network web succeeded on host cli");
    // The token is never shown.
    expect(created.screen).not.toContain(TOKENS.operator);

    const listed = await run("npx netforge network list");
    expect(listed.code).toBe(0);
    expect(listed.screen).toMatch(/NAME\s+TYPE\s+STATE\s+CIDR\s+HOST/);
    expect(listed.screen).toMatch(/web\s+nat\s+active\s+10\.61\.0\.0\/24\s+cli/);

    const described = await run("npx netforge network describe web");
    expect(described.code).toBe(0);
    expect(described.screen).toMatch(/dhcp\.leaseTime:\s+3600/);

    const json = await run("npx netforge --json network describe web > /tmp/netforge-cli-describe.json");
    expect(json.code).toBe(0);

    const hosts = await run("npx netforge host list");
    expect(hosts.screen).toMatch(/cli\s+online/);

    // IP management, from the same action table: a dry run shows the plan, the real call its steps and result.
    const plan = await run("npx netforge network ip assign web --mac 52:54:00:aa:bb:cc --ip 10.61.0.10 --hostname vm1 --dry-run");
    expect(plan.code, plan.screen).toBe(0);
    expect(plan.screen).toMatch(/^host:\s+cli$/m);
    // Each step numbered, its command as a shell runs it (the host element quoted: it has spaces).
    expect(plan.screen).toMatch(/^ {2}1\. \S.*\n {7}\$ virsh net-update web \S+ ip-dhcp-host '<host mac='\\''52:54:00:aa:bb:cc'\\''/m);
    // The XML a step writes is shown once, under its step.
    expect(plan.screen.match(/<nf:reservation mac='52:54:00:aa:bb:cc'/g)).toHaveLength(1);
    const assigned = await run("npx netforge network ip assign web --mac 52:54:00:aa:bb:cc --ip 10.61.0.10 --hostname vm1");
    expect(assigned.code, assigned.screen).toBe(0);
    expect(assigned.screen).toContain("✔ assign-static-ip web succeeded on host cli");
    let ips = await run("npx netforge network ips web");
    for (let i = 0; i < 20 && !/10\.61\.0\.10\s+52:54:00:aa:bb:cc/.test(ips.screen); i++) {
      await new Promise((r) => setTimeout(r, 500));
      ips = await run("npx netforge network ips web");
    }
    expect(ips.code).toBe(0);
    expect(ips.screen).toMatch(/IP\s+MAC/);
    expect(ips.screen).toMatch(/10\.61\.0\.10\s+52:54:00:aa:bb:cc/);
    const taken = await run("npx netforge network ip assign web --mac 52:54:00:aa:bb:dd --ip 10.61.0.10");
    expect(taken.code, taken.screen).toBe(3);
    expect(taken.screen).toContain("IP_CONFLICT");
    const unassigned = await run("npx netforge network ip unassign web --mac 52:54:00:aa:bb:cc");
    expect(unassigned.code, unassigned.screen).toBe(0);

    // A delete asks on a terminal: "n" sends nothing; its dry run asks nothing and shows the commands.
    const answer = (key: string) => async (s: string) => {
      if (!s.includes("Continue? [y/N]")) return false;
      await tmux("send-keys", "-t", "cli", key, "Enter");
      return true;
    };
    const kept = await run("npx netforge network delete web", { whileRunning: answer("n") });
    expect(kept.code, kept.screen).toBe(8);
    expect(kept.screen).toContain("network delete web: this cannot be undone. Continue? [y/N]");
    expect(kept.screen).toContain("cancelled: nothing was sent");
    expect((await c.call("describe-network", { name: "web" })).status).toBe(200);
    const preview = await run("npx netforge network delete web --dry-run");
    expect(preview.code, preview.screen).toBe(0);
    expect(preview.screen).toMatch(/^ {7}\$ virsh net-destroy web$/m);
    expect(preview.screen).not.toContain("Continue?");
    const deleted = await run("npx netforge network delete web", { whileRunning: answer("y") });
    expect(deleted.code, deleted.screen).toBe(0);
    expect(deleted.screen).toContain("✔ delete-network web succeeded on host cli");
    const after = await c.call("describe-network", { name: "web" });
    expect(after.status).toBe(404);
  });

  it("exits 2 on a request the API refuses as invalid, showing each issue", async () => {
    const r = await run("npx netforge network create bad --type nat --cidr 10.62.0.5/24");
    expect(r.code).toBe(2);
    expect(r.screen).toContain("VALIDATION_FAILED");
    expect(r.screen).toMatch(/- cidr: host bits must be zero: did you mean 10\.62\.0\.0\/24\?/);
    // Each issue once: under a line naming the code, not repeated in it.
    expect(r.screen.match(/host bits must be zero/g)).toHaveLength(1);
    const untyped = await run("npx netforge network create bad --cidr 10.62.0.0/24");
    expect(untyped.code).toBe(2);
    expect(untyped.screen).toContain("- type: a network type is required: one of nat, bridge, isolated, sriov");
    // Under --json the error is the API's error object.
    const json = await run("npx netforge --json network create bad --type nat --cidr 10.62.0.0/33 > /tmp/netforge-cli-error.json");
    expect(json.code).toBe(2);
    const err = JSON.parse(readFileSync("/tmp/netforge-cli-error.json", "utf8"));
    expect(err.error.code).toBe("VALIDATION_FAILED");
    expect(err.error.details.issues).toEqual([{ path: "cidr", message: "prefix length 33 is out of range: must be 8-30" }]);
    const usage = await run("npx netforge network create bad --type nat --cidr 10.62.0.0/24 --dhcp-lease-time soon");
    expect(usage.code).toBe(2);
    expect(usage.screen).toContain("--dhcp-lease-time: 'soon' is not an integer");
  });

  it("exits 3 on a conflict and 4 on a missing network", async () => {
    expect((await c.call("create-network", { name: "taken", type: "isolated", cidr: "10.63.0.0/24" }, { wait: 30 })).status).toBe(200);
    const dup = await run("npx netforge network create taken --type isolated --cidr 10.64.0.0/24");
    expect(dup.code).toBe(3);
    expect(dup.screen).toContain("NAME_TAKEN");
    const missing = await run("npx netforge network describe nope");
    expect(missing.code).toBe(4);
    expect(missing.screen).toContain("NOT_FOUND");
  });

  it("exits 6 on a bad token (never printing it) and 7 when the API cannot be reached", async () => {
    const auth = await run("NETFORGE_TOKEN=not-a-valid-token-xyz npx netforge network list");
    expect(auth.code).toBe(6);
    expect(auth.screen).toContain("UNAUTHORIZED");
    const cfg = await run("npx netforge config");
    expect(cfg.screen).toMatch(/token:\s+\(set, \d+ characters\)/);
    expect(cfg.screen).not.toContain(TOKENS.operator);
    const down = await run("npx netforge --url http://127.0.0.1:9 network list");
    expect(down.code).toBe(7);
    expect(down.screen).toContain("cannot reach the netforge API at http://127.0.0.1:9");
  });

  it("exits 5 when the job fails on its host, with the error and the undone steps", async () => {
    const h = c.hosts.get(HOST);
    if (!h) throw new Error("no host");
    // A real libvirt failure: autostart needs to create a symlink in this directory; make it a file.
    const autostartDir = `${h.dir}/etc/qemu/networks/autostart`;
    await h.exec(["rm", "-rf", autostartDir]);
    await h.exec(["touch", autostartDir]);
    try {
      const r = await run("npx netforge network create undo --type nat --cidr 10.65.0.0/24", { timeoutMs: 90_000 });
      expect(r.code, r.screen).toBe(5);
      expect(r.screen).toContain("✖ create-network undo failed on host cli: HOST_COMMAND_FAILED");
      expect(r.screen).toMatch(/✖ setting autostart/);
      expect(r.screen).toMatch(/undone: .*defining network/);
    } finally {
      await h.exec(["rm", "-f", autostartDir]);
      await h.exec(["mkdir", "-p", autostartDir]);
    }
  });

  it("--no-wait returns the job id at once; Ctrl-C detaches and job watch follows the job again", async () => {
    const quick = await run("npx netforge network create nowait --type isolated --cidr 10.66.0.0/24 --no-wait");
    expect(quick.code).toBe(0);
    expect(quick.screen).toMatch(/job j_\S+ queued: create-network nowait on host cli/);
    expect(quick.screen).toMatch(/follow it with: netforge job watch j_/);

    // Freeze the worker (it stays "online" for a while): the next job waits in the queue while we press Ctrl-C.
    const w = c.workers.get(HOST);
    if (!w) throw new Error("no worker");
    process.kill(w.pid, "SIGSTOP");
    let detached: { screen: string; code: number };
    try {
      // The bin itself, not through npx: npm exec dies of the terminal's SIGINT, and bash then drops the rest of the line
      // (the echo of the exit code); netforge itself handles Ctrl-C and exits 130.
      detached = await run("./node_modules/.bin/netforge network create later --type isolated --cidr 10.67.0.0/24", {
        whileRunning: async (s) => {
          if (!/queued on host cli/.test(s)) return false;
          await tmux("send-keys", "-t", "cli", "C-c");
          return true;
        },
      });
    } finally {
      process.kill(w.pid, "SIGCONT");
    }
    expect(detached.code, detached.screen).toBe(130);
    const id = /detached: job (j_\S+) continues on host cli; follow it again with: netforge job watch \1/.exec(detached.screen)?.[1];
    expect(id, detached.screen).toBeDefined();

    const watched = await run(`npx netforge job watch ${id}`);
    expect(watched.code, watched.screen).toBe(0);
    expect(watched.screen).toContain("✔ create-network later succeeded on host cli");

    const shown = await run(`npx netforge job show ${id}`);
    expect(shown.screen).toMatch(/state:\s+succeeded/);
    expect(shown.screen).toMatch(/defining network\s+succeeded/);
  });

  it("the compiled command (npm run build, scripts/install-cli.sh into a temp prefix): --version, network list, -o yaml, firewall add-rule then show", async () => {
    await execa("npm", ["run", "build"], { cwd: ROOT });
    const prefix = mkdtempSync(join(tmpdir(), "netforge-cli-prefix-"));
    try {
      await execa("bash", ["scripts/install-cli.sh", "--prefix", prefix], { cwd: ROOT, env: { NETFORGE_SKIP_BUILD: "1" } });
      const bin = join(prefix, "bin", "netforge");
      // The installed command is the bundle, plain node: no TypeScript loader, no checkout behind it.
      const installed = readFileSync(realpathSync(bin), "utf8");
      expect(installed.startsWith("#!/usr/bin/env node\n")).toBe(true);
      expect(realpathSync(bin).startsWith(prefix)).toBe(true);
      const pkgDir = dirname(realpathSync(bin));
      for (const f of readdirSync(pkgDir, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".js"))) {
        expect(readFileSync(join(pkgDir, f), "utf8"), f).not.toContain("tsx/esm");
      }

      const version = await run(`${bin} --version`);
      expect(version.code, version.screen).toBe(0);
      const pkg = JSON.parse(readFileSync(join(ROOT, "packages/cli/package.json"), "utf8")) as { version: string };
      expect(version.screen).toMatch(new RegExp(`^${pkg.version.replace(/\./g, "\\.")}$`, "m"));

      const created = await c.call("create-network", { name: "fw", type: "nat", cidr: "10.69.0.0/24" }, { wait: 30 });
      expect(created.status, JSON.stringify(created.body)).toBe(200);
      const listed = await run(`${bin} network list`);
      expect(listed.code, listed.screen).toBe(0);
      expect(listed.screen).toMatch(/fw\s+nat\s+active\s+10\.69\.0\.0\/24\s+cli/);

      const yaml = await run(`${bin} -o yaml network describe fw`);
      expect(yaml.code, yaml.screen).toBe(0);
      expect(yaml.screen).toMatch(/^network:$/m);
      expect(yaml.screen).toMatch(/^ {2}name: fw$/m);
      expect(yaml.screen).toMatch(/^ {2}cidr: 10\.69\.0\.0\/24$/m);

      const added = await run(
        `${bin} network firewall add-rule fw --direction inbound --protocol tcp --ports 22 --source 10.69.0.0/24 --action accept`,
      );
      expect(added.code, added.screen).toBe(0);
      expect(added.screen).toContain("✔ configure-network-firewall fw succeeded on host cli");
      const shown = await run(`${bin} network firewall show fw`);
      expect(shown.code, shown.screen).toBe(0);
      expect(shown.screen).toMatch(/^1\s+inbound\s+tcp\s+10\.69\.0\.0\/24\s+-\s+22\s+accept/m);
      // The whole-set form of before still replaces it: `network firewall NAME --rules ...`.
      const replaced = await run(
        `npx netforge network firewall fw --rules '[{"direction":"outbound","protocol":"udp","ports":"53","action":"drop"}]'`,
      );
      expect(replaced.code, replaced.screen).toBe(0);
      const after = await run(`${bin} network firewall show fw`);
      expect(after.screen).toMatch(/^1\s+outbound\s+udp\s+-\s+-\s+53\s+drop/m);
      expect(after.screen).not.toMatch(/inbound\s+tcp/);
    } finally {
      rmSync(prefix, { recursive: true, force: true });
    }
  }, 240_000);

  it("worker logs: one JSON object per line without duplicated keys, job lines carrying the API request id", async () => {
    const r = await c.call(
      "create-network",
      { name: "logged", type: "isolated", cidr: "10.68.0.0/24" },
      { wait: 30, headers: { "x-request-id": "req-log-check-1" } },
    );
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const lines = readFileSync(workerLog(c.prefix, HOST), "utf8")
      .split("\n")
      .filter((l) => l.trim() !== "");
    expect(lines.length).toBeGreaterThan(5);
    for (const line of lines) {
      expect(() => JSON.parse(line), line).not.toThrow();
      expect(duplicateKeys(line), line).toEqual([]);
    }
    const jobLines = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((o) => o.jobId === r.body.job.id);
    expect(jobLines.length).toBeGreaterThan(0);
    for (const o of jobLines) expect(o.requestId).toBe("req-log-check-1");
  });
});

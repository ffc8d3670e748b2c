/**
 * The commands that are not one action each (network set, network firewall show/add-rule/remove-rule/set,
 * network forward list), --version, -o/--output and the completion script. fetch is replaced: no request
 * leaves this machine; the fake answers describe-network with one network and a job action with a plan.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it, vi } from "vitest";
import { parse as parseYaml } from "yaml";
import { completionScript } from "./completion";
import { EXIT } from "./exit-codes";
import { buildProgram, type Io, runCli } from "./program";
import { VERSION } from "./version";

interface Sent {
  path: string;
  body: Record<string, unknown>;
}

function io(): Io & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return {
    stdout,
    stderr,
    out: (t) => stdout.push(t),
    err: (t) => stderr.push(t),
    env: { NETFORGE_URL: "http://127.0.0.1:9", NETFORGE_TOKEN: "convenience-token-0123" },
    cwd: "/nonexistent",
    readStdin: () => "",
    // The fake API each test stubs as the global fetch.
    fetch: (url, init) => globalThis.fetch(url, init),
    interactive: false,
  };
}

const NETWORK = {
  name: "web",
  type: "nat",
  dhcp: { enabled: true, start: "192.168.100.10", end: "192.168.100.100", leaseTime: 3600 },
  firewall: {
    defaultInbound: "drop",
    defaultOutbound: "accept",
    rules: [
      { direction: "inbound", protocol: "tcp", source: null, destination: null, ports: "22", action: "accept", comment: null },
      { direction: "outbound", protocol: "any", source: "10.0.0.0/8", destination: null, ports: null, action: "reject", comment: "lab" },
    ],
    hostServices: [{ protocol: "tcp", ports: "53" }],
  },
  portForwards: [
    { protocol: "tcp", hostPort: 8080, vmIp: "192.168.100.5", vmPort: 80 },
    { protocol: "tcp", hostPort: 8443, vmIp: "fd00:86::5", vmPort: 443, hostIp: "fd00:99::2" },
  ],
};
const PLAN = { plan: { host: "h1", steps: [{ name: "apply firewall", command: ["nft", "-f", "-"], live: true }], warnings: [] } };

/** A fake API: describe-network answers NETWORK, anything else PLAN (as a dry run would). */
function fakeApi(sent: Sent[]): typeof fetch {
  return (async (url: string | URL | Request, init?: RequestInit) => {
    const path = new URL(String(url)).pathname;
    sent.push({ path, body: init?.body ? JSON.parse(String(init.body)) : null });
    const answer = path === "/api/describe-network" ? { network: NETWORK } : PLAN;
    return new Response(JSON.stringify(answer), { status: 200, headers: { "content-type": "application/json" } });
  }) as typeof fetch;
}

async function run(args: string[]): Promise<{ code: number; sent: Sent[]; out: string; err: string }> {
  const sent: Sent[] = [];
  vi.stubGlobal("fetch", fakeApi(sent));
  const t = io();
  const code = await runCli(args, t);
  return { code, sent, out: t.stdout.join("\n"), err: t.stderr.join("\n") };
}

const KEPT_RULES = [
  { direction: "inbound", protocol: "tcp", ports: "22", action: "accept" },
  { direction: "outbound", protocol: "any", source: "10.0.0.0/8", action: "reject", comment: "lab" },
];

afterEach(() => vi.unstubAllGlobals());

describe("network set", () => {
  it("dhcp keys: sends configure-network-dhcp with the changed fields and the network's current others", async () => {
    const r = await run(["network", "set", "web", "dhcp.end=192.168.100.200", "dhcp.leaseTime=7200", "--dry-run"]);
    expect(r.code, r.err).toBe(0);
    expect(r.sent).toEqual([
      { path: "/api/describe-network", body: { name: "web" } },
      {
        path: "/api/configure-network-dhcp",
        body: { name: "web", start: "192.168.100.10", end: "192.168.100.200", leaseTime: 7200, dryRun: true },
      },
    ]);
    expect(r.out).toContain("$ nft -f -");
  });

  it("firewall default keys: send the whole current firewall with the new default", async () => {
    const r = await run(["network", "set", "web", "firewall.defaultOutbound=drop", "--dry-run"]);
    expect(r.code, r.err).toBe(0);
    expect(r.sent[1]).toEqual({
      path: "/api/configure-network-firewall",
      body: {
        name: "web",
        defaultInbound: "drop",
        defaultOutbound: "drop",
        rules: KEPT_RULES,
        hostServices: [{ protocol: "tcp", ports: "53" }],
        dryRun: true,
      },
    });
  });

  it("mtu: sends configure-network-mtu", async () => {
    const r = await run(["network", "set", "web", "mtu=1400", "--dry-run"]);
    expect(r.code, r.err).toBe(0);
    expect(r.sent[1]).toEqual({ path: "/api/configure-network-mtu", body: { name: "web", mtu: 1400, dryRun: true } });
  });

  it("refuses an unsupported key, a word without =, a bad value and mixed groups, before sending anything", async () => {
    for (const [pair, message] of [
      [["cidr=10.0.0.0/24"], '"cidr" cannot be set; supported keys: dhcp.start, dhcp.end, dhcp.leaseTime, firewall.defaultInbound'],
      [["dhcp.end"], '"dhcp.end" is not key=value'],
      [["dhcp.leaseTime=soon"], "dhcp.leaseTime=soon: must be a whole number"],
      [["firewall.defaultInbound=maybe"], "must be accept, drop or reject"],
      [["dhcp.end=192.168.100.200", "firewall.defaultInbound=drop"], "dhcp.*, firewall.* and mtu keys go in separate commands"],
      [["mtu=1400", "dhcp.end=192.168.100.200"], "dhcp.*, firewall.* and mtu keys go in separate commands"],
      [["mtu=big"], "mtu=big: must be a whole number"],
    ] as const) {
      const r = await run(["network", "set", "web", ...pair]);
      expect(r.code, pair.join(" ")).toBe(EXIT.VALIDATION);
      expect(r.err).toContain(message);
      expect(r.sent).toEqual([]);
    }
  });

  it("names the supported keys in its help", async () => {
    const r = await run(["network", "set", "--help"]);
    expect(r.code).toBe(0);
    for (const k of ["dhcp.start", "dhcp.end", "dhcp.leaseTime", "firewall.defaultInbound", "firewall.defaultOutbound", "mtu"])
      expect(r.out).toContain(k);
  });
});

describe("network firewall", () => {
  it("add-rule appends the rule to the current set (nulls dropped, defaults and host services kept); --dry-run is add-rule's", async () => {
    const r = await run([
      "network",
      "firewall",
      "add-rule",
      "web",
      "--direction",
      "inbound",
      "--protocol",
      "tcp",
      "--ports",
      "443",
      "--source",
      "203.0.113.0/24",
      "--action",
      "accept",
      "--dry-run",
    ]);
    expect(r.code, r.err).toBe(0);
    expect(r.sent).toEqual([
      { path: "/api/describe-network", body: { name: "web" } },
      {
        path: "/api/configure-network-firewall",
        body: {
          name: "web",
          defaultInbound: "drop",
          defaultOutbound: "accept",
          rules: [...KEPT_RULES, { direction: "inbound", protocol: "tcp", source: "203.0.113.0/24", ports: "443", action: "accept" }],
          hostServices: [{ protocol: "tcp", ports: "53" }],
          dryRun: true,
        },
      },
    ]);
  });

  it("add-rule --position 1 puts the rule first; a missing --action is refused without sending", async () => {
    const r = await run([
      "network",
      "firewall",
      "add-rule",
      "web",
      "--direction",
      "outbound",
      "--protocol",
      "icmp",
      "--action",
      "drop",
      "--position",
      "1",
      "--dry-run",
    ]);
    expect(r.code, r.err).toBe(0);
    expect((r.sent[1]?.body.rules as unknown[] | undefined)?.[0]).toEqual({ direction: "outbound", protocol: "icmp", action: "drop" });
    const missing = await run(["network", "firewall", "add-rule", "web", "--direction", "inbound", "--protocol", "tcp"]);
    expect(missing.code).toBe(EXIT.VALIDATION);
    expect(missing.err).toContain("--action");
    expect(missing.sent).toEqual([]);
  });

  it("remove-rule INDEX removes that rule (numbered from 1); an index out of range is refused after the read", async () => {
    const r = await run(["network", "firewall", "remove-rule", "web", "1", "--dry-run"]);
    expect(r.code, r.err).toBe(0);
    expect(r.sent[1]?.body.rules).toEqual([KEPT_RULES[1]]);
    const bad = await run(["network", "firewall", "remove-rule", "web", "3"]);
    expect(bad.code).toBe(EXIT.VALIDATION);
    expect(bad.err).toContain("network web has 2 rule(s); give 1..2");
    expect(bad.sent.map((s) => s.path)).toEqual(["/api/describe-network"]);
  });

  it("show prints the defaults, host services and the rules numbered; -o yaml the firewall as YAML", async () => {
    const r = await run(["network", "firewall", "show", "web"]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain("network web: default inbound drop, default outbound accept");
    expect(r.out).toContain("host services: tcp/53");
    expect(r.out).toMatch(/^#\s+DIRECTION\s+PROTOCOL/m);
    expect(r.out).toMatch(/^1\s+inbound\s+tcp\s+-\s+-\s+22\s+accept/m);
    expect(r.out).toMatch(/^2\s+outbound\s+any\s+10\.0\.0\.0\/8\s+-\s+-\s+reject\s+lab/m);
    const y = await run(["network", "firewall", "show", "web", "-o", "yaml"]);
    expect(parseYaml(y.out)).toEqual({ name: "web", firewall: NETWORK.firewall });
  });

  it("the whole-set form keeps working as `network firewall NAME --rules` and as `network firewall set NAME`", async () => {
    const rules = JSON.stringify([{ direction: "inbound", protocol: "tcp", ports: "80", action: "accept" }]);
    for (const words of [
      ["network", "firewall"],
      ["network", "firewall", "set"],
    ]) {
      const r = await run([...words, "web", "--rules", rules, "--default-inbound", "drop", "--dry-run"]);
      expect(r.code, r.err).toBe(0);
      expect(r.sent).toEqual([
        {
          path: "/api/configure-network-firewall",
          body: { name: "web", rules: JSON.parse(rules), defaultInbound: "drop", dryRun: true },
        },
      ]);
    }
  });
});

describe("network forward", () => {
  it("list prints the network's forwards (IPv4 and IPv6); -o json as JSON", async () => {
    const r = await run(["network", "forward", "list", "web"]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^PROTOCOL\s+HOST PORT\s+VM IP\s+VM PORT\s+HOST IP/m);
    expect(r.out).toMatch(/^tcp\s+8080\s+192\.168\.100\.5\s+80\s+-/m);
    // An IPv6 forward is a row like any other (its own family's addresses).
    expect(r.out).toMatch(/^tcp\s+8443\s+fd00:86::5\s+443\s+fd00:99::2/m);
    const j = await run(["network", "forward", "list", "web", "-o", "json"]);
    expect(JSON.parse(j.out)).toEqual({ portForwards: NETWORK.portForwards });
  });

  it("`network forward NAME --protocol ...` is still the configure-network-port-forward action", async () => {
    const r = await run(["network", "forward", "web", "--protocol", "tcp", "--host-port", "2222", "--vm-ip", "192.168.100.5", "--dry-run"]);
    expect(r.code, r.err).toBe(0);
    expect(r.sent).toEqual([
      {
        path: "/api/configure-network-port-forward",
        body: { name: "web", protocol: "tcp", hostPort: 2222, vmIp: "192.168.100.5", dryRun: true },
      },
    ]);
  });
});

describe("--version and --output", () => {
  it("--version prints the package's version", async () => {
    const pkg = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), "../package.json"), "utf8")) as { version: string };
    expect(VERSION).toBe(pkg.version);
    for (const flag of ["--version", "-V"]) {
      const r = await run([flag]);
      expect(r.code).toBe(0);
      expect(r.out).toBe(pkg.version);
    }
  });

  it("-o json is --json, -o yaml the same answer as YAML, -o table the default; another format is refused", async () => {
    const json = await run(["network", "describe", "web", "--json"]);
    const o = await run(["network", "describe", "web", "-o", "json"]);
    expect(o.out).toBe(json.out);
    expect(JSON.parse(o.out)).toEqual({ network: NETWORK });
    const y = await run(["network", "describe", "web", "--output", "yaml"]);
    expect(parseYaml(y.out)).toEqual({ network: NETWORK });
    const table = await run(["network", "describe", "web", "-o", "table"]);
    expect(table.out).toMatch(/^dhcp\.start:\s+192\.168\.100\.10$/m);
    const bad = await run(["network", "describe", "web", "-o", "xml"]);
    expect(bad.code).toBe(EXIT.VALIDATION);
    expect(bad.err).toContain("Allowed choices are table, json, yaml");
    expect(bad.sent).toEqual([]);
  });

  it("under -o yaml a CLI error is YAML on stdout, in the API's error shape", async () => {
    const r = await run(["network", "set", "web", "cidr=10.0.0.0/24", "-o", "yaml"]);
    expect(r.code).toBe(EXIT.VALIDATION);
    expect(parseYaml(r.out)).toMatchObject({ error: { code: "CLI_VALIDATION" } });
  });
});

describe("completion", () => {
  const program = buildProgram(io(), () => undefined);

  it("the bash script completes the command tree, options and option choices (run in bash)", () => {
    const script = completionScript("bash", program);
    const complete = (...words: string[]) =>
      execFileSync(
        "bash",
        [
          "-c",
          `${script}\nCOMP_WORDS=("$@"); COMP_CWORD=$((\${#COMP_WORDS[@]}-1)); _netforge; echo "\${COMPREPLY[*]}"`,
          "netforge",
          "netforge",
          ...words,
        ],
        { encoding: "utf8" },
      ).trim();
    expect(complete("").split(" ").sort()).toEqual(program.commands.map((c) => c.name()).sort());
    expect(complete("network", "firewall", "").split(" ").sort()).toEqual(["add-rule", "remove-rule", "set", "show"]);
    expect(complete("--url", "http://x", "network", "firewall", "add-rule", "web", "--direction", "")).toBe("inbound outbound");
    expect(complete("network", "firewall", "add-rule", "web", "--pro")).toBe("--protocol");
    expect(complete("network", "list", "-o", "")).toBe("table json yaml");
  });

  it("the zsh script names every command path and registers with compdef", async () => {
    const r = await run(["completion", "zsh"]);
    expect(r.code).toBe(0);
    expect(r.out.startsWith("#compdef netforge")).toBe(true);
    expect(r.out).toContain("compdef _netforge netforge");
    expect(r.out).toContain("'network firewall') echo 'set show add-rule remove-rule'");
    const unknown = await run(["completion", "fish"]);
    expect(unknown.code).toBe(EXIT.VALIDATION);
  });
});

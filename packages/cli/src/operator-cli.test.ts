/**
 * What an operator meets at the terminal (issue 21): --dry-run on every mutation, errors under --json as JSON,
 * a refused request's issues listed once, a confirmation before a delete on a terminal, a network's firewall
 * rules shown rather than counted. fetch is replaced: no request leaves this machine.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { ACTIONS } from "@netforge/core/contract";
import { EXIT } from "./exit-codes";
import { buildProgram, GROUPED_COMMANDS, type Io, runCli } from "./program";

interface Sent {
  path: string;
  body: unknown;
}

function io(opts: { answers?: string[]; interactive?: boolean } = {}): Io & { stdout: string[]; stderr: string[]; asked: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const asked: string[] = [];
  const answers = [...(opts.answers ?? [])];
  return {
    stdout,
    stderr,
    asked,
    out: (t) => stdout.push(t),
    err: (t) => stderr.push(t),
    env: { NETFORGE_URL: "http://127.0.0.1:9", NETFORGE_TOKEN: "operator-cli-token-0123" },
    cwd: "/nonexistent",
    readStdin: () => "",
    // The fake API each test stubs as the global fetch.
    fetch: (url, init) => globalThis.fetch(url, init),
    interactive: opts.interactive ?? false,
    ask: async (q) => {
      asked.push(q);
      return answers.shift() ?? "";
    },
  };
}

/** A fetch answering every POST with `answer` (status, body), recording what was sent. */
function api(sent: Sent[], status: number, answer: unknown): typeof fetch {
  return (async (url: string | URL | Request, init?: RequestInit) => {
    sent.push({ path: new URL(String(url)).pathname, body: init?.body ? JSON.parse(String(init.body)) : null });
    return new Response(JSON.stringify(answer), { status, headers: { "content-type": "application/json" } });
  }) as typeof fetch;
}

const PLAN = {
  plan: { host: "h1", steps: [{ name: "stop network", command: ["virsh", "net-destroy", "web"], live: true }], warnings: [] },
};

afterEach(() => vi.unstubAllGlobals());

describe("--dry-run", () => {
  it("is an option of every job action's command and of no query's, with its own help text", () => {
    const program = buildProgram(io(), () => undefined);
    const find = (words: readonly string[]) => {
      let c = program;
      for (const w of words) c = c.commands.find((x) => x.name() === w) ?? c;
      return c;
    };
    for (const [name, d] of Object.entries(ACTIONS)) {
      // A grouped action (network firewall, network forward) is its group's default subcommand `set`.
      const words = GROUPED_COMMANDS.has(d.cli.join(" ")) ? [...d.cli, "set"] : d.cli;
      const opt = find(words).options.find((o) => o.long === "--dry-run");
      expect(opt !== undefined, name).toBe(d.kind === "job");
      if (opt) expect(opt.description).toBe("validate and plan only: print the exact commands it would run; nothing is queued or changed");
      // No --no-dry-run, and no help text that is empty or only a field's name ("mac", "hostPort", "not dryRun").
      expect(
        find(words).options.some((o) => o.long === "--no-dry-run"),
        name,
      ).toBe(false);
      for (const o of find(words).options) {
        expect(o.description, `${name} ${o.long}`).toMatch(/\s/);
        expect(o.description, `${name} ${o.long}`).not.toMatch(/^not \S+$/);
      }
    }
  });

  it("network delete --dry-run sends dryRun and prints the plan's commands; it asks nothing", async () => {
    const sent: Sent[] = [];
    vi.stubGlobal("fetch", api(sent, 200, PLAN));
    const t = io({ interactive: true });
    expect(await runCli(["network", "delete", "web", "--dry-run"], t)).toBe(0);
    expect(sent).toEqual([{ path: "/api/delete-network", body: { name: "web", dryRun: true } }]);
    expect(t.asked).toEqual([]);
    expect(t.stdout.join("\n")).toContain("  1. stop network\n       $ virsh net-destroy web");
  });
});

describe("a delete on a terminal asks first", () => {
  it("answered no: nothing is sent, exit 8", async () => {
    const sent: Sent[] = [];
    vi.stubGlobal("fetch", api(sent, 200, PLAN));
    const t = io({ interactive: true, answers: ["n"] });
    expect(await runCli(["network", "delete", "web", "--no-wait"], t)).toBe(EXIT.CANCELLED);
    expect(t.asked).toEqual(["network delete web: this cannot be undone. Continue? [y/N] "]);
    expect(sent).toEqual([]);
    expect(t.stderr).toEqual(["cancelled: nothing was sent"]);
  });

  it("answered yes, or --yes, or no terminal (a script): sent", async () => {
    const job = { job: { id: "j_1", action: "delete-network", network: "web", host: "h1", state: "queued" } };
    for (const [args, interactive, answers, asks] of [
      [["network", "delete", "web", "--no-wait"], true, ["y"], 1],
      [["network", "delete", "web", "--no-wait", "--yes"], true, [], 0],
      [["network", "delete", "web", "--no-wait"], false, [], 0],
    ] as const) {
      const sent: Sent[] = [];
      vi.stubGlobal("fetch", api(sent, 202, job));
      const t = io({ interactive, answers: [...answers] });
      expect(await runCli([...args], t), args.join(" ")).toBe(0);
      expect(sent.map((s) => s.path)).toEqual(["/api/delete-network"]);
      expect(t.asked).toHaveLength(asks);
    }
  });
});

describe("errors", () => {
  const refused = {
    error: {
      code: "VALIDATION_FAILED",
      message: "invalid request: cidr: prefix length 33 is out of range: must be 8-30",
      details: { issues: [{ path: "cidr", message: "prefix length 33 is out of range: must be 8-30" }] },
      requestId: "req_1",
    },
  };

  it("a refused request's issues are printed once each, under one line naming the code", async () => {
    vi.stubGlobal("fetch", api([], 400, refused));
    const t = io();
    expect(await runCli(["network", "create", "web", "--type", "nat", "--cidr", "10.0.0.0/33"], t)).toBe(EXIT.VALIDATION);
    expect(t.stderr).toEqual([
      "error: VALIDATION_FAILED: the request is invalid:\n  - cidr: prefix length 33 is out of range: must be 8-30\n  (request id req_1)",
    ]);
  });

  it("under --json an error is the API's error object on stdout, and the CLI's own errors take the same shape", async () => {
    vi.stubGlobal("fetch", api([], 400, refused));
    const t = io();
    expect(await runCli(["--json", "network", "create", "web", "--type", "nat", "--cidr", "10.0.0.0/33"], t)).toBe(EXIT.VALIDATION);
    expect(JSON.parse(t.stdout.join("\n"))).toEqual(refused);
    expect(t.stderr).toEqual([]);
    const local = io();
    expect(await runCli(["--json", "network", "create", "web", "--dhcp-lease-time", "soon"], local)).toBe(EXIT.VALIDATION);
    expect(JSON.parse(local.stdout.join("\n"))).toEqual({
      error: { code: "CLI_VALIDATION", message: "--dhcp-lease-time: 'soon' is not an integer", details: {} },
    });
  });
});

describe("describe", () => {
  it("shows each firewall rule on its own line instead of counting them", async () => {
    const network = {
      name: "web",
      firewall: {
        defaultInbound: "drop",
        rules: [
          { direction: "inbound", protocol: "tcp", source: null, ports: "22", action: "accept", comment: "ssh in" },
          { direction: "outbound", protocol: "any", source: "10.0.0.0/8", ports: null, action: "drop", comment: null },
        ],
      },
    };
    vi.stubGlobal("fetch", api([], 200, { network }));
    const t = io();
    expect(await runCli(["network", "describe", "web"], t)).toBe(0);
    const text = t.stdout.join("\n");
    expect(text).toContain(
      [
        "firewall.rules:",
        '    - direction=inbound protocol=tcp ports=22 action=accept comment="ssh in"',
        "    - direction=outbound protocol=any source=10.0.0.0/8 action=drop",
      ].join("\n"),
    );
    expect(text).not.toContain("item(s)");
  });
});

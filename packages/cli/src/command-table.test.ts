import { ACTIONS } from "@netforge/core/contract";
import { describe, expect, it } from "vitest";
import { cliPathOf } from "./command-table";
import { exitCodeForApiError } from "./exit-codes";
import { buildProgram } from "./program";

describe("commands from the action table", () => {
  it("names the actions of the issue as it asks", () => {
    expect(cliPathOf("create-network")).toEqual(["network", "create"]);
    expect(cliPathOf("assign-static-ip")).toEqual(["network", "ip", "assign"]);
    expect(cliPathOf("list-network-ips")).toEqual(["network", "ips"]);
    expect(cliPathOf("list-hosts")).toEqual(["host", "list"]);
    expect(cliPathOf("configure-network-firewall")).toEqual(["network", "firewall"]);
    expect(cliPathOf("configure-network-port-forward")).toEqual(["network", "forward"]);
  });

  it("derives a command for an action it does not know yet", () => {
    expect(cliPathOf("set-network-firewall")).toEqual(["network", "set-firewall"]);
    expect(cliPathOf("drain-host")).toEqual(["host", "drain"]);
    expect(cliPathOf("frobnicate")).toEqual(["action", "frobnicate"]);
  });

  it("every action of the table has a command, and no two share one", () => {
    const io = { out: () => {}, err: () => {}, env: {}, cwd: "/", readStdin: () => "" };
    const program = buildProgram(io, () => {});
    const seen = new Set<string>();
    for (const name of Object.keys(ACTIONS)) {
      const words = cliPathOf(name);
      const key = words.join(" ");
      expect(seen.has(key), key).toBe(false);
      seen.add(key);
      let cmd = program;
      for (const w of words) {
        const next = cmd.commands.find((c) => c.name() === w);
        expect(next, `${name}: netforge ${key}`).toBeDefined();
        cmd = next as typeof cmd;
      }
    }
  });
});

describe("exit codes", () => {
  it("distinguish validation, conflict, not found, auth and availability", () => {
    expect(exitCodeForApiError(400, "VALIDATION_FAILED")).toBe(2);
    expect(exitCodeForApiError(422, "UNSUPPORTED_FOR_TYPE")).toBe(2);
    expect(exitCodeForApiError(409, "NAME_TAKEN")).toBe(3);
    expect(exitCodeForApiError(404, "NOT_FOUND")).toBe(4);
    expect(exitCodeForApiError(401, "UNAUTHORIZED")).toBe(6);
    expect(exitCodeForApiError(403, "FORBIDDEN")).toBe(6);
    expect(exitCodeForApiError(503, "NO_HOST")).toBe(7);
    expect(exitCodeForApiError(429, "RATE_LIMITED")).toBe(7);
    expect(exitCodeForApiError(500, "INTERNAL")).toBe(1);
  });
});

describe("rendering", () => {
  it("shows a dry run's plan: each step numbered, its command as a shell would run it, its XML or nft text below", async () => {
    const { renderAnswer } = await import("./render");
    const text = renderAnswer({
      plan: {
        host: "h1",
        // The define step's XML, which the plan also carries whole: shown once, under its step.
        libvirtXml: "<network>\n  <name>web</name>\n</network>",
        steps: [
          {
            name: "define network",
            command: ["virsh", "net-define", "<file>"],
            xml: "<network>\n  <name>web</name>\n</network>",
            live: false,
          },
          { name: "set description", command: ["ip", "link", "set", "dev", "nf-web", "alias", "it's web"], live: true },
        ],
        warnings: [],
      },
    });
    expect(text).toMatch(/^host:\s+h1$/m);
    expect(text.match(/<name>web<\/name>/g)).toHaveLength(1);
    expect(text).toContain(
      [
        "steps:",
        "  1. define network (not live: the definition only)",
        "       $ virsh net-define '<file>'",
        "         <network>",
        "           <name>web</name>",
        "         </network>",
        "  2. set description",
        "       $ ip link set dev nf-web alias 'it'\\''s web'",
      ].join("\n"),
    );
  });
});

describe("rendering answers", () => {
  it("a list answer is a table, an object with a list inside stays an object", async () => {
    const { renderAnswer } = await import("./render");
    expect(renderAnswer({ networks: [{ name: "web", type: "nat" }], nextCursor: null })).toMatch(/NAME\s+TYPE\nweb\s+nat/);
    const one = renderAnswer({ network: { name: "web", dhcp: { enabled: true }, portForwards: [] } });
    expect(one).toMatch(/^name:\s+web$/m);
    expect(one).toMatch(/^dhcp\.enabled:\s+true$/m);
    expect(one).not.toContain("(no portForwards)");
  });
});

/**
 * The CLI's care with its token (issue 15): a warning on stderr, once, before
 * a token goes over plain HTTP to another machine, and a refusal of a config
 * file other users may read or write. fetch is replaced: no request leaves
 * this machine.
 */
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiClient, plainHttpWarning } from "./client";
import { resolveConfig } from "./config";
import { CliError, EXIT } from "./exit-codes";
import { type Io, runCli } from "./program";

const dir = mkdtempSync(join(tmpdir(), "netforge-cli-safety-"));
const TOKEN = "cli-safety-token-0123456789";

function io(env: Record<string, string | undefined>): Io & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return {
    stdout,
    stderr,
    out: (t) => stdout.push(t),
    err: (t) => stderr.push(t),
    env,
    cwd: dir,
    readStdin: () => "",
    fetch: (url, init) => globalThis.fetch(url, init),
  };
}

/** A fetch that answers every list-networks with no networks, and records the Authorization it was sent. */
function fakeFetch(seen: string[]): typeof fetch {
  return (async (_url: string | URL | Request, init?: RequestInit) => {
    seen.push(String((init?.headers as Record<string, string> | undefined)?.authorization ?? ""));
    return new Response(JSON.stringify({ networks: [], nextCursor: null }), {
      status: 200,
      headers: { "content-type": "application/json" },
    });
  }) as typeof fetch;
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe("plain HTTP to another machine", () => {
  it("netforge warns on stderr before sending the token, and still sends the request", async () => {
    const seen: string[] = [];
    vi.stubGlobal("fetch", fakeFetch(seen));
    const t = io({ NETFORGE_URL: "http://192.0.2.10:8080", NETFORGE_TOKEN: TOKEN });
    const code = await runCli(["network", "list"], t);
    expect(code).toBe(0);
    expect(seen).toEqual([`Bearer ${TOKEN}`]);
    expect(t.stderr.filter((l) => l.includes("warning"))).toEqual([
      "netforge: warning: sending the API token over plain HTTP to 192.0.2.10:8080: anyone on the path can read and reuse it; use an https:// URL (TLS terminated in front of the API)",
    ]);
    expect(t.stderr.join("\n")).not.toContain(TOKEN);
  });

  it("warns once per client however many requests it sends", async () => {
    const warnings: string[] = [];
    const seen: string[] = [];
    const client = new ApiClient({ url: "http://api.example:8080", token: TOKEN, from: { url: "t", token: "t" } }, fakeFetch(seen), (w) =>
      warnings.push(w),
    );
    for (let i = 0; i < 3; i++) await client.action("list-networks", {});
    expect(seen).toHaveLength(3);
    expect(warnings).toHaveLength(1);
  });

  it.each([
    ["https://192.0.2.10:8443", TOKEN],
    ["http://127.0.0.1:8080", TOKEN],
    ["http://127.8.9.10:8080", TOKEN],
    ["http://localhost:8080", TOKEN],
    ["http://[::1]:8080", TOKEN],
  ])("no warning for %s (token %s)", async (url, token) => {
    expect(plainHttpWarning(url, token)).toBeNull();
    const seen: string[] = [];
    vi.stubGlobal("fetch", fakeFetch(seen));
    const env: Record<string, string | undefined> = { NETFORGE_URL: url };
    if (token) env.NETFORGE_TOKEN = token;
    const t = io(env);
    expect(await runCli(["network", "list"], t)).toBe(0);
    expect(t.stderr.filter((l) => l.includes("warning"))).toEqual([]);
  });

  it("without a token nothing is sent: exit 6, naming where a token can come from", async () => {
    expect(plainHttpWarning("http://192.0.2.10:8080", null)).toBeNull();
    const seen: string[] = [];
    vi.stubGlobal("fetch", fakeFetch(seen));
    const t = io({ NETFORGE_URL: "http://192.0.2.10:8080", XDG_CONFIG_HOME: join(dir, "no-config") });
    expect(await runCli(["network", "list"], t)).toBe(EXIT.AUTH);
    expect(seen).toEqual([]);
    expect(t.stderr).toEqual([
      `error: no API token: pass --token <token>, set NETFORGE_TOKEN, or put "token" in the config file (${join(dir, "no-config", "netforge", "config.json")})`,
    ]);
  });
});

describe("config file permissions", () => {
  function configFile(name: string, mode: number): string {
    const path = join(dir, name);
    writeFileSync(path, JSON.stringify({ url: "http://127.0.0.1:8080", token: TOKEN }));
    chmodSync(path, mode);
    return path;
  }

  it.each([
    [0o644, "readable"],
    [0o640, "readable"],
    [0o604, "readable"],
    [0o620, "writable"],
    [0o602, "writable"],
  ])("refuses mode %o (%s by other users), naming the file and the chmod fix, exit 6", async (mode, who) => {
    const path = configFile(`c-${mode.toString(8)}.json`, mode);
    let err: unknown;
    try {
      resolveConfig({ flags: { config: path }, env: {}, cwd: dir, home: dir });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(EXIT.AUTH);
    expect((err as CliError).message).toBe(
      `config file ${path} is ${who} by other users (mode 0${mode.toString(8)}) and may hold a token: run 'chmod 600 ${path}' (or chmod go-rw)`,
    );
    // Through the program: nothing is sent, exit code 6, the message on stderr, never the token.
    const seen: string[] = [];
    vi.stubGlobal("fetch", fakeFetch(seen));
    const t = io({ NETFORGE_CONFIG: path });
    expect(await runCli(["network", "list"], t)).toBe(6);
    expect(seen).toEqual([]);
    expect(t.stderr.join("\n")).toContain(`chmod 600 ${path}`);
    expect(t.stderr.join("\n")).not.toContain(TOKEN);
  });

  it("the default config file (~/.config/netforge/config.json) is checked too; 0600 and 0400 are accepted", () => {
    const home = mkdtempSync(join(tmpdir(), "netforge-cli-home-"));
    const xdg = join(home, "xdg");
    const path = join(xdg, "netforge", "config.json");
    mkdirSync(join(xdg, "netforge"), { recursive: true });
    writeFileSync(path, JSON.stringify({ token: TOKEN }));
    chmodSync(path, 0o644);
    expect(() => resolveConfig({ flags: {}, env: { XDG_CONFIG_HOME: xdg }, cwd: home, home })).toThrow(/chmod 600/);
    for (const mode of [0o600, 0o400, 0o700]) {
      chmodSync(path, mode);
      expect(resolveConfig({ flags: {}, env: { XDG_CONFIG_HOME: xdg }, cwd: home, home }).token).toBe(TOKEN);
    }
  });
});

import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { describeConfig, resolveConfig } from "./config";

const dir = mkdtempSync(join(tmpdir(), "netforge-cli-"));

describe("CLI configuration", () => {
  it("flags win over the environment, which wins over the config file", () => {
    const file = join(dir, "c.json");
    writeFileSync(file, JSON.stringify({ url: "http://file:1", token: "file-token" }), { mode: 0o600 });
    const env = { NETFORGE_URL: "http://env:2", NETFORGE_TOKEN: "env-token", NETFORGE_CONFIG: file };
    expect(resolveConfig({ flags: { url: "http://flag:3/" }, env, cwd: dir, home: dir })).toMatchObject({
      url: "http://flag:3",
      token: "env-token",
    });
    expect(resolveConfig({ flags: {}, env: { NETFORGE_CONFIG: file }, cwd: dir, home: dir })).toMatchObject({
      url: "http://file:1",
      token: "file-token",
    });
  });

  it("falls back to the token file of a local stack (scripts/up.sh)", () => {
    const cwd = mkdtempSync(join(tmpdir(), "netforge-cli-"));
    mkdirSync(join(cwd, ".netforge"));
    writeFileSync(join(cwd, ".netforge", "tokens"), "dev-token-abcdefghijkl:admin\n");
    expect(resolveConfig({ flags: {}, env: {}, cwd, home: cwd })).toMatchObject({
      url: "http://127.0.0.1:8080",
      token: "dev-token-abcdefghijkl",
    });
  });

  it("skips hashed entries (sha256:<hex>:role) of the local stack's token file", () => {
    const cwd = mkdtempSync(join(tmpdir(), "netforge-cli-"));
    mkdirSync(join(cwd, ".netforge"));
    writeFileSync(join(cwd, ".netforge", "tokens"), `sha256:${"ab".repeat(32)}:admin\ndev-token-abcdefghijkl:operator\n`);
    expect(resolveConfig({ flags: {}, env: {}, cwd, home: cwd }).token).toBe("dev-token-abcdefghijkl");
  });

  it("a missing explicit config file and a non-http URL are errors", () => {
    expect(() => resolveConfig({ flags: { config: join(dir, "none.json") }, env: {}, cwd: dir, home: dir })).toThrow("does not exist");
    expect(() => resolveConfig({ flags: { url: "ftp://x" }, env: {}, cwd: dir, home: dir })).toThrow("not an http(s) URL");
  });

  it("never shows the token itself", () => {
    const cfg = resolveConfig({ flags: { token: "secret-token-value-123" }, env: {}, cwd: dir, home: dir });
    expect(JSON.stringify(describeConfig(cfg))).not.toContain("secret-token-value-123");
  });
});

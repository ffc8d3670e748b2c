import { describe, expect, it } from "vitest";
import { loadWorkerConfig } from "./config";

const env = (extra: Record<string, string> = {}) => ({ REDIS_URL: "redis://127.0.0.1:6379", HOST_ID: "hv1", ...extra });

describe("NETFORGE_ALLOWED_INTERFACES", () => {
  it("default: no existing bridge may be used", () => {
    expect(loadWorkerConfig(env()).allowedInterfaces).toEqual([]);
  });
  it("comma or space separated interface names", () => {
    expect(loadWorkerConfig(env({ NETFORGE_ALLOWED_INTERFACES: " br0, br-lan  vmbr0.10," })).allowedInterfaces).toEqual([
      "br0",
      "br-lan",
      "vmbr0.10",
    ]);
  });
  it("refuses at start what cannot be an interface name (too long, dot-only, a path)", () => {
    for (const bad of ["a-name-of-16-chr", "..", "br0,../etc", "br/0"]) {
      expect(() => loadWorkerConfig(env({ NETFORGE_ALLOWED_INTERFACES: bad })), bad).toThrow(/interface names/);
    }
  });
});

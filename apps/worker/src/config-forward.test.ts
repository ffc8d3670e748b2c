import { describe, expect, it } from "vitest";
import { loadWorkerConfig } from "./config";

const env = { REDIS_URL: "redis://127.0.0.1:6379", HOST_ID: "h1" };

describe("worker settings of port forwards", () => {
  it("NETFORGE_DENIED_HOST_PORTS adds to the defaults; NETFORGE_SS_PATH defaults to ss", () => {
    const d = loadWorkerConfig(env);
    expect(d.deniedHostPorts?.tcp).toContainEqual([5900, 5999]);
    expect(d.deniedHostPorts?.udp).toEqual([]);
    expect(d.ssCommand).toBe("ss");
    const c = loadWorkerConfig({ ...env, NETFORGE_DENIED_HOST_PORTS: "udp:5353,9443", NETFORGE_SS_PATH: "/usr/sbin/ss" });
    expect(c.deniedHostPorts?.udp).toEqual([
      [5353, 5353],
      [9443, 9443],
    ]);
    expect(c.deniedHostPorts?.tcp).toContainEqual([9443, 9443]);
    expect(c.deniedHostPorts?.tcp).toContainEqual([22, 22]);
    expect(c.ssCommand).toBe("/usr/sbin/ss");
  });

  it("a bad entry stops the worker at start, naming the setting and the entry", () => {
    expect(() => loadWorkerConfig({ ...env, NETFORGE_DENIED_HOST_PORTS: "22,ssh" })).toThrow(/NETFORGE_DENIED_HOST_PORTS: 'ssh'/);
  });
});

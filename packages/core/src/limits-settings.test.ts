import { describe, expect, it } from "vitest";
import { AppError } from "./errors";
import { hostRuleCount } from "./drivers/registry";
import { checkHostRules, DEFAULT_SIZE_LIMITS, limitReached, SIZE_LIMIT_SETTINGS, sizeLimits } from "./limits";
import type { NetSpec, RoutedNetSpec } from "./planner/network-spec";

describe("sizeLimits: the caps from the environment", () => {
  it("unset or empty (after trimming): the documented defaults", () => {
    expect(DEFAULT_SIZE_LIMITS).toEqual({
      forwardsPerNetwork: 1024,
      reservationsPerNetwork: 4096,
      firewallRulesPerNetwork: 500,
      rulesPerHost: 10_000,
      queuedJobsPerToken: 1000,
    });
    expect(sizeLimits({})).toEqual(DEFAULT_SIZE_LIMITS);
    expect(sizeLimits({ NETFORGE_MAX_FORWARDS_PER_NETWORK: "  " })).toEqual(DEFAULT_SIZE_LIMITS);
  });
  it("each cap has its own variable", () => {
    expect(SIZE_LIMIT_SETTINGS).toEqual({
      forwardsPerNetwork: "NETFORGE_MAX_FORWARDS_PER_NETWORK",
      reservationsPerNetwork: "NETFORGE_MAX_RESERVATIONS_PER_NETWORK",
      firewallRulesPerNetwork: "NETFORGE_MAX_FIREWALL_RULES_PER_NETWORK",
      rulesPerHost: "NETFORGE_MAX_RULES_PER_HOST",
      queuedJobsPerToken: "NETFORGE_MAX_QUEUED_JOBS_PER_TOKEN",
    });
    expect(
      sizeLimits({
        NETFORGE_MAX_FORWARDS_PER_NETWORK: "1",
        NETFORGE_MAX_RESERVATIONS_PER_NETWORK: " 20 ",
        NETFORGE_MAX_FIREWALL_RULES_PER_NETWORK: "300",
        NETFORGE_MAX_RULES_PER_HOST: "999999999",
        NETFORGE_MAX_QUEUED_JOBS_PER_TOKEN: "7",
      }),
    ).toEqual({
      forwardsPerNetwork: 1,
      reservationsPerNetwork: 20,
      firewallRulesPerNetwork: 300,
      rulesPerHost: 999_999_999,
      queuedJobsPerToken: 7,
    });
  });
  it("a value that is not a whole number of at least 1 (at most 9 digits) is refused, naming the variable", () => {
    for (const bad of ["0", "01", "-1", "1.5", "1e3", "ten", "1234567890", "2 3"]) {
      expect(() => sizeLimits({ NETFORGE_MAX_RULES_PER_HOST: bad }), bad).toThrow(
        "NETFORGE_MAX_RULES_PER_HOST must be a whole number (at least 1)",
      );
    }
  });
  it("the same settings give the same (cached) value; changed settings are read again", () => {
    const a = sizeLimits({ NETFORGE_MAX_QUEUED_JOBS_PER_TOKEN: "5" });
    expect(sizeLimits({ NETFORGE_MAX_QUEUED_JOBS_PER_TOKEN: "5" })).toBe(a);
    expect(sizeLimits({ NETFORGE_MAX_QUEUED_JOBS_PER_TOKEN: "6" }).queuedJobsPerToken).toBe(6);
    expect(sizeLimits({ NETFORGE_MAX_QUEUED_JOBS_PER_TOKEN: "5" }).queuedJobsPerToken).toBe(5);
    // Spaces around a value do not make it another setting.
    expect(sizeLimits({ NETFORGE_MAX_QUEUED_JOBS_PER_TOKEN: " 5 " })).toBe(sizeLimits({ NETFORGE_MAX_QUEUED_JOBS_PER_TOKEN: "5" }));
  });
  it("settings that read the same run together are still told apart", () => {
    const a = sizeLimits({ NETFORGE_MAX_FORWARDS_PER_NETWORK: "1", NETFORGE_MAX_RESERVATIONS_PER_NETWORK: "11" });
    const b = sizeLimits({ NETFORGE_MAX_FORWARDS_PER_NETWORK: "11", NETFORGE_MAX_RESERVATIONS_PER_NETWORK: "1" });
    expect([a.forwardsPerNetwork, a.reservationsPerNetwork, b.forwardsPerNetwork, b.reservationsPerNetwork]).toEqual([1, 11, 11, 1]);
  });
});

describe("limitReached, hostRuleCount, checkHostRules", () => {
  it("LIMIT_REACHED says what, the limit, its setting and the count it would make; details carry them and the extra", () => {
    const e = limitReached("forwardsPerNetwork", 3, 4, "network 'web' has 3 port forwards", { name: "web" });
    expect(e).toBeInstanceOf(AppError);
    expect(e.code).toBe("LIMIT_REACHED");
    expect(e.message).toBe("network 'web' has 3 port forwards: limit is 3 (NETFORGE_MAX_FORWARDS_PER_NETWORK), this would make 4");
    expect(e.details).toEqual({ limit: 3, setting: "NETFORGE_MAX_FORWARDS_PER_NETWORK", count: 4, name: "web" });
    expect(limitReached("rulesPerHost", 1, 2, "x").details).toEqual({ limit: 1, setting: "NETFORGE_MAX_RULES_PER_HOST", count: 2 });
  });
  const routed: RoutedNetSpec = {
    type: "nat",
    name: "web",
    uuid: "3e3fce45-4f53-4fa7-bb32-11f34168329c",
    description: "",
    createdAt: "2026-11-28T00:00:00.000Z",
    bridge: "nf-web",
    cidr: "10.70.0.0/24",
    gateway: "10.70.0.1",
    dhcp: { enabled: false, start: null, end: null, leaseTime: null },
    reservations: [],
  };
  it("a network's share of the host's rules: its firewall rules plus its forwards; none for no spec or a layer-2 network", () => {
    const rule = {
      direction: "inbound" as const,
      protocol: "any" as const,
      source: null,
      destination: null,
      ports: null,
      action: "drop" as const,
      comment: null,
    };
    const fwd = { protocol: "tcp" as const, hostPort: 80, vmIp: "10.70.0.5", vmPort: 80 };
    expect(hostRuleCount(routed)).toBe(0);
    expect(hostRuleCount({ ...routed, firewall: { defaultInbound: "drop", defaultOutbound: "accept", rules: [rule, rule] } })).toBe(2);
    expect(hostRuleCount({ ...routed, portForwards: [fwd, fwd, fwd] })).toBe(3);
    expect(
      hostRuleCount({
        ...routed,
        firewall: { defaultInbound: "drop", defaultOutbound: "accept", rules: [rule, rule] },
        portForwards: [fwd],
      }),
    ).toBe(3);
    const bridge: NetSpec = {
      type: "bridge",
      name: "lan",
      uuid: routed.uuid,
      description: "",
      createdAt: routed.createdAt,
      bridge: "br0",
      interface: null,
      created: null,
    };
    expect([hostRuleCount(null), hostRuleCount(undefined), hostRuleCount(bridge)]).toEqual([0, 0, 0]);
  });
  it("the host cap: reaching it passes, growing past it is refused naming the host, not growing always passes", () => {
    expect(() => checkHostRules(10, 8, 1, 2, "h1")).not.toThrow();
    let e: unknown;
    try {
      checkHostRules(10, 8, 1, 3, "h1");
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(AppError);
    expect((e as AppError).message).toBe(
      "host h1 would carry too many firewall rules and port forwards: limit is 10 (NETFORGE_MAX_RULES_PER_HOST), this would make 11",
    );
    expect((e as AppError).details).toEqual({ limit: 10, setting: "NETFORGE_MAX_RULES_PER_HOST", count: 11, host: "h1" });
    expect(() => checkHostRules(10, 20, 5, 5, "h1")).not.toThrow();
    expect(() => checkHostRules(10, 20, 5, 6, "h1")).toThrow();
  });
});

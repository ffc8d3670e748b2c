import { describe, expect, it } from "vitest";
import { parseApiEnv } from "./env";

describe("parseApiEnv", () => {
  it("applies defaults", () => {
    expect(parseApiEnv({ REDIS_URL: "redis://127.0.0.1:6379/0" })).toEqual({
      REDIS_URL: "redis://127.0.0.1:6379/0",
      NETFORGE_PREFIX: "netforge",
      PORT: 8080,
      HOST: "127.0.0.1",
      LOG_LEVEL: "info",
      NETFORGE_RATE_LIMIT: 100,
      NETFORGE_AUTH_FAIL_LIMIT: 30,
      NETFORGE_SSE_MAX_PER_TOKEN: 100,
      NETFORGE_SSE_MAX_TOTAL: 10_000,
      NETFORGE_API_PROCESSES: 1,
      NETFORGE_REDIS_TIMEOUT_MS: 1_000,
      NETFORGE_TRUSTED_PROXIES: [],
      NETFORGE_METRICS_CACHE_SECONDS: 2,
    });
  });
  it("reads the trusted proxies, the metrics token and the scrape cache, and names bad ones", () => {
    const e = parseApiEnv({
      REDIS_URL: "redis://x",
      NETFORGE_TRUSTED_PROXIES: "10.0.0.5, 192.168.0.0/16 fd00::/8",
      NETFORGE_METRICS_TOKEN: "metrics-token-0123456789",
      NETFORGE_METRICS_CACHE_SECONDS: "0",
    });
    expect(e).toMatchObject({
      NETFORGE_TRUSTED_PROXIES: ["10.0.0.5", "192.168.0.0/16", "fd00::/8"],
      NETFORGE_METRICS_TOKEN: "metrics-token-0123456789",
      NETFORGE_METRICS_CACHE_SECONDS: 0,
    });
    expect(() => parseApiEnv({ REDIS_URL: "redis://x", NETFORGE_TRUSTED_PROXIES: "10.0.0.0/33" })).toThrow(
      /NETFORGE_TRUSTED_PROXIES: '10.0.0.0\/33' is not an IPv4\/IPv6 address or CIDR/,
    );
    expect(() => parseApiEnv({ REDIS_URL: "redis://x", NETFORGE_TRUSTED_PROXIES: "proxy.example" })).toThrow(/NETFORGE_TRUSTED_PROXIES/);
    expect(() => parseApiEnv({ REDIS_URL: "redis://x", NETFORGE_METRICS_TOKEN: "short" })).toThrow(
      /NETFORGE_METRICS_TOKEN: must be at least 16/,
    );
  });
  it("reads every variable, empty ones count as unset", () => {
    const e = parseApiEnv({
      REDIS_URL: "unix:///run/r.sock",
      NETFORGE_PREFIX: "{nf}",
      PORT: "0",
      HOST: "0.0.0.0",
      NETFORGE_TOKENS: "a:admin",
      LOG_LEVEL: "debug",
      NETFORGE_RATE_LIMIT: "",
    });
    expect(e).toMatchObject({ PORT: 0, HOST: "0.0.0.0", NETFORGE_PREFIX: "{nf}", NETFORGE_TOKENS: "a:admin", NETFORGE_RATE_LIMIT: 100 });
  });
  it("names every bad variable", () => {
    expect(() => parseApiEnv({ PORT: "http", LOG_LEVEL: "loud", NETFORGE_PREFIX: "a b" })).toThrow(
      /REDIS_URL[\s\S]*NETFORGE_PREFIX[\s\S]*PORT[\s\S]*LOG_LEVEL/,
    );
    expect(() => parseApiEnv({})).toThrow(/REDIS_URL: is required/);
    expect(() => parseApiEnv({ REDIS_URL: "http://x" })).toThrow(/REDIS_URL: must start with/);
    expect(() => parseApiEnv({ REDIS_URL: "redis://x", NETFORGE_API_PROCESSES: "0" })).toThrow(/NETFORGE_API_PROCESSES/);
  });
  it("NETFORGE_ALLOWED_CIDRS and NETFORGE_API_ADDRESSES: parsed at start, a bad entry stops the API naming the setting", () => {
    const e = parseApiEnv({
      REDIS_URL: "redis://x",
      NETFORGE_ALLOWED_CIDRS: "100.64.0.0/10, 10.0.0.0/8",
      NETFORGE_API_ADDRESSES: "192.0.2.10",
    });
    expect(e.NETFORGE_ALLOWED_CIDRS?.v4.map((c) => c.prefix)).toEqual([10, 8]);
    expect(e.NETFORGE_API_ADDRESSES).toEqual(["192.0.2.10"]);
    expect(() => parseApiEnv({ REDIS_URL: "redis://x", NETFORGE_ALLOWED_CIDRS: "10.0.0.0/8,100.64.0.1/10" })).toThrow(
      /NETFORGE_ALLOWED_CIDRS: '100\.64\.0\.1\/10' has host bits set \(did you mean 100\.64\.0\.0\/10\?\)/,
    );
    expect(() => parseApiEnv({ REDIS_URL: "redis://x", NETFORGE_ALLOWED_CIDRS: "private" })).toThrow(
      /NETFORGE_ALLOWED_CIDRS: 'private' is not a CIDR/,
    );
    expect(() => parseApiEnv({ REDIS_URL: "redis://x", NETFORGE_API_ADDRESSES: "api.example" })).toThrow(
      /NETFORGE_API_ADDRESSES: not IPv4/,
    );
  });
  it("accepts a Sentinel REDIS_URL", () => {
    const url = "redis-sentinel://10.0.0.1:26379,10.0.0.2:26379/netforge?db=0";
    expect(parseApiEnv({ REDIS_URL: url }).REDIS_URL).toBe(url);
  });
});

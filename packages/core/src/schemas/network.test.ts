import { describe, expect, it } from "vitest";
import { AppError } from "../errors";
import { parseOrThrow } from "../validation";
import { CreateNetworkBody, resolveCreate } from "./network";

const parse = (b: unknown) => parseOrThrow(CreateNetworkBody, b);
const issuesOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(AppError);
    expect((e as AppError).code).toBe("VALIDATION_FAILED");
    return (e as AppError).details.issues as { path: string; message: string; hint?: string }[];
  }
  throw new Error("expected VALIDATION_FAILED");
};

describe("create-network body", () => {
  it("fills defaults: gateway first usable, DHCP upper half, lease 3600, autostart and start on", () => {
    const r = resolveCreate(parse({ name: "web", type: "nat", cidr: "192.168.100.0/24" }));
    expect(r).toMatchObject({
      gateway: "192.168.100.1",
      dhcp: { enabled: true, start: "192.168.100.128", end: "192.168.100.254", leaseTime: 3600 },
      autostart: true,
      start: true,
      description: "",
    });
  });
  it("dhcp:false disables DHCP", () => {
    expect(resolveCreate(parse({ name: "web", type: "isolated", cidr: "10.0.0.0/24", dhcp: false })).dhcp.enabled).toBe(false);
  });
  it("rejects host bits with a hint", () => {
    const issues = issuesOf(() => parse({ name: "web", type: "nat", cidr: "192.168.100.5/24" }));
    expect(issues[0]).toMatchObject({ path: "cidr", hint: "192.168.100.0/24" });
    expect(issues[0]?.message).toContain("192.168.100.0/24");
  });
  it.each([
    [{ cidr: "10.0.0.0/7" }, "cidr"],
    [{ cidr: "10.0.0.0/31" }, "cidr"],
    [{ name: "Web" }, "name"],
    [{ name: "1web" }, "name"],
    [{ name: "a".repeat(33) }, "name"],
    [{ gateway: "10.0.0.300" }, "gateway"],
    [{ dhcp: { leaseTime: 60 } }, "dhcp.leaseTime"],
    [{ extra: 1 }, ""],
    [{ type: "vxlan" }, "type"],
    [{ description: "a\u0000b" }, "description"],
  ])("rejects %j at %s", (patch, path) => {
    const issues = issuesOf(() => parse({ name: "web", type: "nat", cidr: "10.0.0.0/24", ...patch }));
    expect(issues.map((i) => i.path)).toContain(path);
  });
  it.each([
    [{ gateway: "10.0.1.1" }, "gateway"],
    [{ gateway: "10.0.0.0" }, "gateway"],
    [{ gateway: "10.0.0.255" }, "gateway"],
    [{ dhcp: { start: "10.0.0.100", end: "10.0.1.5" } }, "dhcp.end"],
    [{ dhcp: { start: "10.0.0.200", end: "10.0.0.100" } }, "dhcp.end"],
    [{ dhcp: { start: "10.0.0.1", end: "10.0.0.100" } }, "dhcp.start"],
    [{ dhcp: { start: "10.0.0.10" } }, "dhcp.end"],
  ])("cross-field check %j -> %s", (patch, path) => {
    const issues = issuesOf(() => resolveCreate(parse({ name: "web", type: "nat", cidr: "10.0.0.0/24", ...patch })));
    expect(issues.map((i) => i.path)).toContain(path);
  });
});

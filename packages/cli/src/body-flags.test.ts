import { ACTIONS } from "@netforge/core/contract";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { buildBody, flagsOf, optionKey, positionalOf } from "./body-flags";
import { CliError } from "./exit-codes";

const createSchema = z.toJSONSchema(ACTIONS["create-network"].body, { io: "input", unrepresentable: "any" }) as Record<string, unknown>;

describe("flags from the request schema", () => {
  const specs = flagsOf(createSchema, ["name"]);
  const byFlag = new Map(specs.map((s) => [s.flag, s]));

  it("flattens nested fields to dashed flags and merges the variants of the union", () => {
    expect(byFlag.get("dhcp-lease-time")).toMatchObject({ path: ["dhcp", "leaseTime"], kind: "integer" });
    expect(byFlag.get("dhcp")).toMatchObject({ kind: "false" });
    expect(byFlag.get("type")?.choices).toEqual(["nat", "isolated", "bridge", "sriov", "overlay"]);
    expect(byFlag.get("pf")).toBeDefined();
    expect(byFlag.has("name")).toBe(false);
  });

  it("takes the required name as the positional argument", () => {
    expect(positionalOf(createSchema)).toBe("name");
    const list = z.toJSONSchema(ACTIONS["list-networks"].body, { io: "input" }) as Record<string, unknown>;
    expect(positionalOf(list)).toBeNull();
  });

  it("builds the body: file first, then positional, then flags, numbers converted", () => {
    const opts = { type: "nat", cidr: "10.0.0.0/24", dhcpLeaseTime: "3600", autostart: false, dhcp: true };
    const body = buildBody(specs, opts, { description: "from file", cidr: "10.9.0.0/24" }, { key: "name", value: "web" });
    expect(body).toEqual({
      description: "from file",
      name: "web",
      type: "nat",
      cidr: "10.0.0.0/24",
      autostart: false,
      dhcp: { leaseTime: 3600 },
    });
  });

  it("--no-dhcp sets dhcp false, and refuses to be combined with --dhcp-start", () => {
    expect(buildBody(specs, { dhcp: false }, {}, null)).toEqual({ dhcp: false });
    expect(() => buildBody(specs, { dhcp: false, dhcpStart: "10.0.0.5" }, {}, null)).toThrow(CliError);
  });

  it("refuses a non-integer for an integer field with the flag's name", () => {
    expect(() => buildBody(specs, { dhcpLeaseTime: "soon" }, {}, null)).toThrow("--dhcp-lease-time: 'soon' is not an integer");
  });

  it("option keys are commander's camelCase", () => {
    expect(optionKey({ path: ["dhcp", "leaseTime"], flag: "dhcp-lease-time", kind: "integer" })).toBe("dhcpLeaseTime");
  });

  it("a list of objects (host services, rules) is one JSON array", () => {
    const fw = z.toJSONSchema(ACTIONS["configure-network-firewall"].body, { io: "input" }) as Record<string, unknown>;
    const specs = flagsOf(fw, ["name"]);
    expect(specs.find((s) => s.flag === "host-services")).toMatchObject({ path: ["hostServices"], kind: "json" });
    expect(specs.find((s) => s.flag === "rules")).toMatchObject({ kind: "json" });
    const body = buildBody(specs, { hostServices: '[{"protocol":"tcp","ports":"8443"}]' }, {}, { key: "name", value: "web" });
    expect(body).toEqual({ name: "web", hostServices: [{ protocol: "tcp", ports: "8443" }] });
    expect(() => buildBody(specs, { hostServices: "tcp/8443" }, {}, { key: "name", value: "web" })).toThrow(/expected JSON/);
  });

  it("lists take comma-separated or repeated values", () => {
    const schema = { type: "object", properties: { ips: { type: "array", items: { type: "string" } } } };
    const s = flagsOf(schema);
    expect(buildBody(s, { ips: ["10.0.0.1,10.0.0.2", "10.0.0.3"] }, {}, null)).toEqual({ ips: ["10.0.0.1", "10.0.0.2", "10.0.0.3"] });
  });
});

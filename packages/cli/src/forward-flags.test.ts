import { ACTIONS } from "@netforge/core/contract";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { buildBody, flagsOf } from "./body-flags";

describe("netforge network forward", () => {
  const schema = z.toJSONSchema(ACTIONS["configure-network-port-forward"].body, { io: "input", unrepresentable: "any" }) as Record<
    string,
    unknown
  >;
  const specs = flagsOf(schema, ["name"]);

  it("has --host-ip (one host address instead of all), sent as hostIp for add and remove", () => {
    expect(specs.find((s) => s.flag === "host-ip")).toMatchObject({ path: ["hostIp"], kind: "string" });
    const opts = { action: "remove", protocol: "tcp", hostPort: "2222", hostIp: "198.51.100.2" };
    expect(buildBody(specs, opts, {}, { key: "name", value: "web" })).toEqual({
      name: "web",
      action: "remove",
      protocol: "tcp",
      hostPort: 2222,
      hostIp: "198.51.100.2",
    });
  });

  it("takes an IPv6 --vm-ip and --host-ip as they are (the server checks the family and the prefix)", () => {
    const opts = { protocol: "tcp", hostPort: "8443", vmIp: "fd00:86::10", vmPort: "443", hostIp: "fd00:99::2" };
    expect(buildBody(specs, opts, {}, { key: "name", value: "web" })).toEqual({
      name: "web",
      protocol: "tcp",
      hostPort: 8443,
      vmIp: "fd00:86::10",
      vmPort: 443,
      hostIp: "fd00:99::2",
    });
  });
});

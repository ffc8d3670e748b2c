import { describe, expect, it } from "vitest";
import { AppError } from "../errors";
import { checkChange, planChange, renderNetworkXml } from "../drivers/registry";
import { parseNetworkXml } from "../render/network-xml";
import { ConfigurePortForwardBody } from "../schemas/firewall";
import { changeOfBody } from "./__fixtures__/change-of-body";
import { checkHostPortAllowed, DEFAULT_DENIED_HOST_PORTS, deniedHostPorts, deniedRange, parseDeniedHostPorts } from "./host-ports";
import type { NetSpec } from "./network-spec";

describe("host-port deny-list (NETFORGE_DENIED_HOST_PORTS)", () => {
  it("defaults: sshd, VNC, the API's default port, libvirtd TCP/TLS and migration, all TCP", () => {
    expect(deniedHostPorts(undefined)).toEqual({
      tcp: [
        [22, 22],
        [5900, 5999],
        [8080, 8080],
        [16509, 16509],
        [16514, 16514],
        [49152, 49215],
      ],
      udp: [],
    });
    expect(deniedHostPorts("")).toEqual(deniedHostPorts(undefined));
    expect(DEFAULT_DENIED_HOST_PORTS).toContain("tcp:22");
  });

  it("the operator's entries add to the defaults: a bare entry is both protocols; ranges merge", () => {
    const d = deniedHostPorts(" 9100 , udp:5000-5100,tcp:5990-6010,tcp:23");
    expect(d.tcp).toEqual([
      [22, 23],
      [5900, 6010],
      [8080, 8080],
      [9100, 9100],
      [16509, 16509],
      [16514, 16514],
      [49152, 49215],
    ]);
    expect(d.udp).toEqual([
      [5000, 5100],
      [9100, 9100],
    ]);
    expect(deniedRange(d, "udp", 5050)).toEqual([5000, 5100]);
    expect(deniedRange(d, "udp", 22)).toBeNull();
  });

  it("bad entries are refused naming the setting (the worker does not start with them)", () => {
    for (const bad of ["0", "65536", "22-21", "sctp:22", "ssh", "22,,x", "1-2-3", "-5"]) {
      expect(() => parseDeniedHostPorts(bad), bad).toThrow(/NETFORGE_DENIED_HOST_PORTS/);
    }
  });

  it("checkHostPortAllowed: NOT_ALLOWED (422) with the range and the setting", () => {
    const d = deniedHostPorts(undefined);
    expect(() => checkHostPortAllowed("h1", d, "tcp", 2222)).not.toThrow();
    let err: unknown;
    try {
      checkHostPortAllowed("h1", d, "tcp", 5901);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe("NOT_ALLOWED");
    expect((err as AppError).status).toBe(422);
    expect((err as AppError).message).toMatch(/tcp port 5901 of host h1 .*5900-5999.*NETFORGE_DENIED_HOST_PORTS/);
    expect((err as AppError).details).toEqual({
      host: "h1",
      protocol: "tcp",
      hostPort: 5901,
      deniedRange: "5900-5999",
      setting: "NETFORGE_DENIED_HOST_PORTS",
    });
  });
});

describe("hostIp of a port forward", () => {
  const spec: NetSpec = {
    type: "nat",
    name: "web",
    uuid: "3e3fce45-4f53-4fa7-bb32-11f34168329c",
    description: "",
    createdAt: "2026-12-06T00:00:00.000Z",
    bridge: "nf-web",
    cidr: "10.5.0.0/24",
    gateway: "10.5.0.1",
    dhcp: { enabled: true, start: "10.5.0.100", end: "10.5.0.200", leaseTime: 3600 },
    reservations: [],
  };
  const idle = { active: true, leases: [] };

  it("the schema takes an IPv4 or IPv6 hostIp (optional) and refuses anything else", () => {
    const body = { name: "web", protocol: "tcp", hostPort: 2222, vmIp: "10.5.0.5" };
    expect(ConfigurePortForwardBody.parse(body)).not.toHaveProperty("hostIp");
    expect(ConfigurePortForwardBody.parse({ ...body, hostIp: "198.51.100.2" }).hostIp).toBe("198.51.100.2");
    expect(ConfigurePortForwardBody.parse({ ...body, hostIp: "fd00:99::2" }).hostIp).toBe("fd00:99::2");
    for (const hostIp of ["198.51.100.256", "fd00:99::2/64", "fd00:::2", "198.51.100.2/32", "eth0", "", 7]) {
      const r = ConfigurePortForwardBody.safeParse({ ...body, hostIp });
      expect(r.success, String(hostIp)).toBe(false);
      expect(r.error?.issues[0]?.path).toEqual(["hostIp"]);
    }
  });

  it("goes into the spec, the libvirt metadata (a fifth field) and back; four-field items stay every-address", () => {
    const change = changeOfBody("configure-network-port-forward", {
      action: "add",
      protocol: "tcp",
      hostPort: 2222,
      vmIp: "10.5.0.5",
      vmPort: 22,
      hostIp: "198.51.100.2",
    });
    const plan = planChange(spec, change, idle);
    expect(plan.spec).toMatchObject({
      portForwards: [{ protocol: "tcp", hostPort: 2222, vmIp: "10.5.0.5", vmPort: 22, hostIp: "198.51.100.2" }],
    });
    const withAll = {
      ...plan.spec,
      portForwards: [
        ...((plan.spec as NetSpec & { portForwards: [] }).portForwards ?? []),
        { protocol: "udp", hostPort: 53, vmIp: "10.5.0.6", vmPort: 53 },
      ],
    } as NetSpec;
    const xml = renderNetworkXml(withAll);
    expect(xml).toContain("<nf:portForwards>tcp,2222,10.5.0.5,22,198.51.100.2 udp,53,10.5.0.6,53</nf:portForwards>");
    expect(parseNetworkXml(xml).spec).toMatchObject({
      portForwards: [
        { protocol: "tcp", hostPort: 2222, vmIp: "10.5.0.5", vmPort: 22, hostIp: "198.51.100.2" },
        { protocol: "udp", hostPort: 53, vmIp: "10.5.0.6", vmPort: 53 },
      ],
    });
    expect((parseNetworkXml(xml).spec as { portForwards: object[] }).portForwards[1]).not.toHaveProperty("hostIp");
  });

  it("one network: two addresses of one port coexist; every address and one address of it do not; remove names the address", () => {
    const withBound: NetSpec = {
      ...spec,
      portForwards: [{ protocol: "tcp", hostPort: 2222, vmIp: "10.5.0.5", vmPort: 22, hostIp: "198.51.100.2" }],
    } as NetSpec;
    const add = (p: Record<string, unknown>) =>
      changeOfBody("configure-network-port-forward", { action: "add", protocol: "tcp", hostPort: 2222, vmIp: "10.5.0.6", ...p });
    expect(() => checkChange(withBound, add({ hostIp: "198.51.100.3" }), idle)).not.toThrow();
    expect(() => checkChange(withBound, add({}), idle)).toThrow(expect.objectContaining({ code: "PORT_CONFLICT" }));
    // Same address: re-targets the forward (as before hostIp existed).
    expect(planChange(withBound, add({ hostIp: "198.51.100.2" }), idle).changed).toEqual([
      "forward tcp 198.51.100.2:2222 -> 10.5.0.5:22 now -> 10.5.0.6:2222",
    ]);
    const remove = (p: Record<string, unknown>) =>
      changeOfBody("configure-network-port-forward", { action: "remove", protocol: "tcp", hostPort: 2222, ...p });
    expect(() => checkChange(withBound, remove({}), idle)).toThrow(expect.objectContaining({ code: "NOT_FOUND" }));
    expect(planChange(withBound, remove({ hostIp: "198.51.100.2" }), idle).changed).toEqual([
      "removed forward tcp 198.51.100.2:2222 -> 10.5.0.5:22",
    ]);
  });
});

describe("denied host ports: bounds", () => {
  it("65535 is a port, at either end of a range; 65536 is not", () => {
    expect(parseDeniedHostPorts("tcp:65535")).toEqual({ tcp: [[65535, 65535]], udp: [] });
    expect(parseDeniedHostPorts("udp:1-65535")).toEqual({ tcp: [], udp: [[1, 65535]] });
    for (const bad of ["tcp:65536", "tcp:1-65536"]) expect(() => parseDeniedHostPorts(bad), bad).toThrow(/is not \[tcp:\|udp:\]port/);
  });
  it("ranges are sorted by their start before merging (a later, wider range that starts lower wins)", () => {
    expect(parseDeniedHostPorts("tcp:10-20,tcp:5-30")).toEqual({ tcp: [[5, 30]], udp: [] });
  });
  it("a denied range holds its first and last port", () => {
    const denied = parseDeniedHostPorts("tcp:5900-5999");
    expect([deniedRange(denied, "tcp", 5900), deniedRange(denied, "tcp", 5999)]).toEqual([
      [5900, 5999],
      [5900, 5999],
    ]);
    expect([deniedRange(denied, "tcp", 5899), deniedRange(denied, "tcp", 6000), deniedRange(denied, "udp", 5900)]).toEqual([
      null,
      null,
      null,
    ]);
  });
  it("a single denied port is named as that port, a range as low-high", () => {
    const denied = parseDeniedHostPorts("tcp:22,tcp:5900-5999");
    expect(() => checkHostPortAllowed("h1", denied, "tcp", 22)).toThrow(
      expect.objectContaining({ code: "NOT_ALLOWED", details: expect.objectContaining({ deniedRange: "22" }) }),
    );
    expect(() => checkHostPortAllowed("h1", denied, "tcp", 5950)).toThrow(
      expect.objectContaining({ details: expect.objectContaining({ deniedRange: "5900-5999" }) }),
    );
  });
});

describe("denied host ports: what is not an entry", () => {
  it("text that is no port, and a range whose start is above its end, are refused naming the entry", () => {
    for (const bad of ["ssh", "tcp:", "sctp:22", "tcp:20-10"]) {
      expect(() => parseDeniedHostPorts(bad), bad).toThrow(
        `NETFORGE_DENIED_HOST_PORTS: '${bad}' is not [tcp:|udp:]port or [tcp:|udp:]low-high (1-65535)`,
      );
    }
  });
});

import { describe, expect, it } from "vitest";
import { AppError } from "../errors";
import { checkJobPayload } from "./job-payload";
import { CreateNetworkBody, resolveCreate } from "./network";

const HOST = "hv1";
const EXTRAS = { uuid: "0b8f5d3e-3c1a-4c52-9f0e-6d7b2a1c9e11", host: HOST, createdAt: "2026-12-06T11:00:00.000Z" };

/** What the API queues for a create body (job-preparers: the resolved spec without requestedHost, plus uuid, host, createdAt). */
function createPayload(body: object): Record<string, unknown> {
  const { requestedHost: _r, ...resolved } = resolveCreate(CreateNetworkBody.parse(body));
  return JSON.parse(JSON.stringify({ ...resolved, ...EXTRAS }));
}

function refusal(action: string, payload: unknown, network = "net1"): AppError | null {
  try {
    checkJobPayload(action as never, payload, { network, host: HOST });
    return null;
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    return err;
  }
}

describe("checkJobPayload: the worker re-validates what it reads from Redis", () => {
  const bodies = [
    { name: "net1", type: "nat", cidr: "192.168.100.0/24" },
    { name: "net1", type: "nat", cidr: "10.9.0.0/16", gateway: "10.9.0.254", dhcp: { start: "10.9.1.1", end: "10.9.1.9", leaseTime: 600 } },
    { name: "net1", type: "isolated", cidr: "172.16.5.0/24", dhcp: false, autostart: false, start: false, description: "lab" },
    { name: "net1", type: "bridge", interface: "enp3s0f0.100" },
    { name: "net1", type: "bridge", bridge: "br0" },
    { name: "net1", type: "sriov", pf: "enp3s0f0" },
    { name: "net1", type: "sriov", pf: "enp3s0f0", vfs: 4, vlan: 100 },
  ];
  for (const body of bodies) {
    it(`accepts what the API queues for ${JSON.stringify(body)}`, () => {
      expect(refusal("create-network", createPayload(body))).toBeNull();
    });
  }

  const nat = () => createPayload(bodies[0] as object);
  const tampered: [string, (p: Record<string, unknown>) => unknown, string][] = [
    ["an added field", (p) => ({ ...p, bridge: "eth0" }), "payload.bridge"],
    ["a subnet whose gateway and range it does not hold", (p) => ({ ...p, cidr: "10.0.0.0/8" }), "payload.gateway"],
    ["a reserved subnet", (p) => ({ ...p, cidr: "127.0.0.0/24" }), "payload.cidr"],
    ["a DHCP range over the gateway", (p) => ({ ...p, dhcp: { ...(p.dhcp as object), start: "192.168.100.1" } }), "payload.dhcp.start"],
    ["a dropped field", ({ autostart: _a, ...p }) => p, "payload.autostart"],
    ["another host", (p) => ({ ...p, host: "hv2" }), "payload.host"],
    ["another network than the job's", (p) => ({ ...p, name: "net2" }), "payload.name"],
    ["a bad uuid", (p) => ({ ...p, uuid: "../x" }), "payload.uuid"],
    ["a description with a newline", (p) => ({ ...p, description: "a\nb" }), "payload.description"],
  ];
  for (const [what, change, path] of tampered) {
    it(`refuses a create payload with ${what} (VALIDATION_FAILED, final, naming ${path})`, () => {
      const err = refusal("create-network", change(nat()));
      expect(err?.code).toBe("VALIDATION_FAILED");
      expect(err?.retryable).toBe(false);
      expect(err?.message).toContain("nothing was changed");
      expect(((err?.details.issues ?? []) as { path: string }[]).map((i) => i.path)).toContain(path);
    });
  }

  it("refuses dot-only interface, bridge and PF names, in bodies and in queued payloads", () => {
    for (const name of [".", "..", "..."]) {
      expect(CreateNetworkBody.safeParse({ name: "lan", type: "bridge", interface: name }).success).toBe(false);
      expect(CreateNetworkBody.safeParse({ name: "lan", type: "bridge", bridge: name }).success).toBe(false);
      expect(CreateNetworkBody.safeParse({ name: "fast", type: "sriov", pf: name }).success).toBe(false);
      const bridge = createPayload(bodies[3] as object);
      expect(refusal("create-network", { ...bridge, l2: { kind: "interface", interface: name } })?.code).toBe("VALIDATION_FAILED");
      const sriov = createPayload(bodies[5] as object);
      expect(refusal("create-network", { ...sriov, l2: { kind: "sriov", pf: name, vfs: null, vlan: null } })?.code).toBe(
        "VALIDATION_FAILED",
      );
    }
    expect(CreateNetworkBody.safeParse({ name: "lan", type: "bridge", interface: "a.b" }).success).toBe(true);
  });

  it("checks the other actions against their body schemas, and their network against the job's", () => {
    expect(refusal("delete-network", { name: "net1" })).toBeNull();
    expect(refusal("delete-network", { name: "net2" })?.message).toContain("payload.name");
    expect(refusal("stop-network", { name: "net1", force: true })?.code).toBe("VALIDATION_FAILED");
    expect(refusal("configure-network-dhcp", { name: "net1", start: "192.168.100.10", end: "192.168.100.20" })).toBeNull();
    expect(refusal("configure-network-dhcp", { name: "net1", start: "192.168.100.10", end: "x" })?.code).toBe("VALIDATION_FAILED");
    const forward = { name: "net1", action: "add", protocol: "tcp", hostPort: 8080, vmIp: "192.168.100.5", vmPort: 80 };
    expect(refusal("configure-network-port-forward", forward)).toBeNull();
    expect(refusal("configure-network-port-forward", { ...forward, hostPort: 0 })?.code).toBe("VALIDATION_FAILED");
    expect(refusal("assign-static-ip", { name: "net1", mac: "52:54:00:zz:00:01", ip: "192.168.100.5" })?.code).toBe("VALIDATION_FAILED");
    expect(
      refusal("configure-network-firewall", { name: "net1", defaultInbound: "accept", defaultOutbound: "accept", rules: [] }),
    ).toBeNull();
    expect(refusal("nuke-host", { name: "net1" })?.code).toBe("VALIDATION_FAILED");
    expect(refusal("delete-network", "net1")?.code).toBe("VALIDATION_FAILED");
    expect(refusal("delete-network", null)?.code).toBe("VALIDATION_FAILED");
  });
});

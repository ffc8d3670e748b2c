import { describe, expect, it } from "vitest";
import { AppError } from "../errors";
import { planCreate } from "../plan/lifecycle";
import { parseCreatePayload } from "../schemas/payload-parse";
import { parseNetworkXml } from "../render/network-xml";
import { OVERLAY_IPS, overlayMembers, overlaySpec } from "./__fixtures__/overlay-spec";
import { type OverlayNetSpec, overlayModel, overlaySpecFor } from "./overlay";
import { guardInPlace } from "./overlay-drift";
import {
  guardReplaceArgv,
  memberCreatePayload,
  memberSpec,
  membersDiff,
  nextOverlayMembers,
  planMembersChange,
  planMembersUpdate,
} from "./overlay-members";

const IPS = OVERLAY_IPS;
const spec = (self: string, ids = ["hv1", "hv2", "hv3"]): OverlayNetSpec => overlaySpec(self, { members: overlayMembers(ids) });
const ipOf = (id: string) => IPS[id] as string;
const refusal = (f: () => unknown): AppError => {
  try {
    f();
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error("not refused");
};

describe("the member list after a configure-network-hosts", () => {
  it("keeps the members' order, drops the removed and appends the added", () => {
    const next = nextOverlayMembers(spec("hv2"), { add: ["hv4"], remove: ["hv1"] }, ipOf);
    expect(next).toEqual([
      { id: "hv2", ip: IPS.hv2 },
      { id: "hv3", ip: IPS.hv3 },
      { id: "hv4", ip: IPS.hv4 },
    ]);
    expect(membersDiff(spec("hv2").members, next)).toEqual({
      added: [{ id: "hv4", ip: IPS.hv4 }],
      removed: [{ id: "hv1", ip: IPS.hv1 }],
      staying: [
        { id: "hv2", ip: IPS.hv2 },
        { id: "hv3", ip: IPS.hv3 },
      ],
    });
  });

  it("refuses a request naming nothing, a host twice or in both lists (400), with the field", () => {
    expect(refusal(() => nextOverlayMembers(spec("hv2"), { add: [], remove: [] }, ipOf)).code).toBe("VALIDATION_FAILED");
    const twice = refusal(() => nextOverlayMembers(spec("hv2"), { add: ["hv4", "hv4"], remove: [] }, ipOf));
    expect(twice.details.issues).toEqual([{ path: "add.1", message: "host 'hv4' is listed twice" }]);
    const both = refusal(() => nextOverlayMembers(spec("hv2"), { add: ["hv3"], remove: ["hv3"] }, ipOf));
    expect(both.details.issues).toEqual([{ path: "remove.0", message: "host 'hv3' is both added and removed" }]);
  });

  it("refuses adding a member, removing a non-member and removing the gateway host, saying why", () => {
    const member = refusal(() => nextOverlayMembers(spec("hv2"), { add: ["hv3"], remove: [] }, ipOf));
    expect(member.code).toBe("INVALID_STATE");
    expect(member.message).toBe("host 'hv3' is already a member of overlay 'tenant-a' (hv1, hv2, hv3)");
    const stranger = refusal(() => nextOverlayMembers(spec("hv2"), { add: [], remove: ["hv4"] }, ipOf));
    expect(stranger.message).toBe("host 'hv4' is not a member of overlay 'tenant-a' (hv1, hv2, hv3)");
    const gw = refusal(() => nextOverlayMembers(spec("hv2"), { add: [], remove: ["hv2"] }, ipOf));
    expect(gw.code).toBe("INVALID_STATE");
    expect(gw.message).toContain("host 'hv2' is the gateway host of overlay 'tenant-a'");
    expect(gw.details).toMatchObject({ host: "hv2", gatewayHost: "hv2" });
  });
});

describe("a remaining member's update", () => {
  const next = nextOverlayMembers(spec("hv1"), { add: ["hv4"], remove: ["hv3"] }, ipOf);

  it("running: a flood entry toward the added, none toward the removed, the guard replaced in one transaction, the spec written", () => {
    const plan = planMembersUpdate(spec("hv1"), next, true);
    const steps = plan.hostSteps.map((s) =>
      s.kind === "command" ? { argv: s.argv.join(" "), undo: (s.undo as string[]).join(" ") } : s.kind,
    );
    expect(steps).toEqual([
      {
        argv: "bridge fdb append 00:00:00:00:00:00 dev nfvx10000 dst 172.30.9.4",
        undo: "bridge fdb del 00:00:00:00:00:00 dev nfvx10000 dst 172.30.9.4",
      },
      {
        argv: "bridge fdb del 00:00:00:00:00:00 dev nfvx10000 dst 172.30.9.3",
        undo: "bridge fdb append 00:00:00:00:00:00 dev nfvx10000 dst 172.30.9.3",
      },
      {
        argv: expect.stringContaining("ip saddr != { 172.30.9.1, 172.30.9.2, 172.30.9.4 } counter drop"),
        undo: expect.stringContaining("ip saddr != { 172.30.9.1, 172.30.9.2, 172.30.9.3 } counter drop"),
      },
      "xml",
    ]);
    // The guard is one nft argument: flush and add in one invocation (one transaction).
    const guard = plan.hostSteps[2];
    expect(guard?.kind === "command" && guard.argv.length).toBe(2);
    expect(guard?.kind === "command" && guard.argv[1]).toMatch(
      /^flush chain inet netforge-vx10000 guard; add rule inet netforge-vx10000 guard /,
    );
    // The written definition carries the new members (what reconcile keeps), for the same host.
    const xml = plan.hostSteps[3];
    const written = xml?.kind === "xml" ? parseNetworkXml(xml.xml).spec : null;
    expect(written).toEqual({ ...spec("hv1"), members: next });
    expect(plan.spec).toEqual(written);
    expect(xml?.kind === "xml" && xml.undo).toEqual({ xml: expect.stringContaining("172.30.9.3") });
  });

  it("the guard's rule is what reconcile checks for the new member list", () => {
    const argv = guardReplaceArgv({ ...spec("hv1"), members: next });
    const rule = (argv[1] as string).split("; add rule inet netforge-vx10000 guard ")[1] as string;
    const text = [
      "table inet netforge-vx10000 {",
      "\tchain guard {",
      "\t\ttype filter hook prerouting priority raw; policy accept;",
      `\t\t${rule.replace("@th,96,24 10000", "@th,96,24 0x2710").replace("counter drop", "counter packets 0 bytes 0 drop")}`,
      "\t}",
      "}",
    ].join("\n");
    expect(guardInPlace({ ...spec("hv1"), members: next }, text)).toBe(true);
    expect(guardInPlace(spec("hv1"), text)).toBe(false);
  });

  it("stopped: only the spec written; a member not in the new list is refused", () => {
    expect(planMembersUpdate(spec("hv1"), next, false).hostSteps.map((s) => s.kind)).toEqual(["xml"]);
    expect(refusal(() => planMembersUpdate(spec("hv3"), next, true)).code).toBe("INVALID_STATE");
  });

  it("refuses an underlay address that is no IPv4 address before any command is built", () => {
    expect(() => guardReplaceArgv({ ...spec("hv1"), members: [{ id: "hv1", ip: "1.2.3.4; flush ruleset" }] })).toThrow(/not an IPv4/);
  });
});

describe("an added member's part", () => {
  it("is a create-network payload the worker accepts, planning that member's spec with the new member list", () => {
    const next = nextOverlayMembers(spec("hv2"), { add: ["hv4"], remove: [] }, ipOf);
    const payload = memberCreatePayload(spec("hv2"), next, "hv4", { start: true, autostart: true });
    const parsed = parseCreatePayload(JSON.parse(JSON.stringify(payload)));
    expect(parsed.ok, JSON.stringify(parsed)).toBe(true);
    expect(overlaySpecFor(payload, "hv4")).toEqual(memberSpec(spec("hv2"), "hv4", next));
  });

  it("carries the overlay's firewall: an added member filters its VMs with the rules every member holds", () => {
    const firewall = {
      defaultInbound: "drop" as const,
      defaultOutbound: "accept" as const,
      rules: [
        {
          direction: "inbound" as const,
          protocol: "tcp" as const,
          source: "10.0.0.0/8",
          destination: null,
          ports: "22",
          action: "accept" as const,
          comment: "ssh",
        },
        {
          direction: "outbound" as const,
          protocol: "any" as const,
          source: null,
          destination: null,
          ports: null,
          action: "reject" as const,
          comment: null,
        },
      ],
      hostServices: [{ protocol: "tcp" as const, ports: "3128" }],
    };
    const s = { ...spec("hv2"), firewall };
    const next = nextOverlayMembers(s, { add: ["hv4"], remove: [] }, ipOf);
    const payload = memberCreatePayload(s, next, "hv4", { start: true, autostart: true });
    const parsed = parseCreatePayload(JSON.parse(JSON.stringify(payload)));
    expect(parsed.ok, JSON.stringify(parsed)).toBe(true);
    const theirs = overlaySpecFor(payload, "hv4");
    expect(theirs.firewall).toEqual(firewall);
    expect(theirs).toEqual(memberSpec(s, "hv4", next));
    // Its create applies the member's table part with those rules.
    expect(overlayModel.firewall(theirs)).toMatchObject({ firewall, overlayMember: { gateway: "10.50.0.1" } });
  });

  it("carries the overlay's bandwidth limits: an added member shapes its VMs from its start (its create's qos step)", () => {
    const qos = { network: { outbound: { averageKbps: 40_000 } }, vms: [{ mac: "52:54:00:00:00:0b", inbound: { averageKbps: 20_000 } }] };
    const s = { ...spec("hv2"), qos };
    const next = nextOverlayMembers(s, { add: ["hv4"], remove: [] }, ipOf);
    const payload = memberCreatePayload(s, next, "hv4", { start: true, autostart: true });
    const parsed = parseCreatePayload(JSON.parse(JSON.stringify(payload)));
    expect(parsed.ok, JSON.stringify(parsed)).toBe(true);
    const theirs = overlaySpecFor(payload, "hv4");
    expect(theirs).toEqual(memberSpec(s, "hv4", next));
    const steps = planCreate(theirs, { start: true, autostart: true }, { links: [], pfs: [] }, "hv4").phases.flatMap((p) => p.hostSteps);
    const at = steps.findIndex((st) => st.kind === "qos");
    expect(steps[at]?.name).toContain("VMs' bandwidth limits on this member's ports");
    // After the VXLAN device and the rest of the type's steps (the bridge and its ports are there).
    expect(at).toBeGreaterThan(steps.findIndex((st) => st.kind === "command" && st.argv.join(" ").includes("type vxlan")));
  });

  it("without DHCP and stopped, too", () => {
    const s = { ...spec("hv2"), dhcp: { enabled: false, start: null, end: null, leaseTime: null }, nat: false };
    const payload = memberCreatePayload(s, s.members, "hv3", { start: false, autostart: false });
    expect(parseCreatePayload(JSON.parse(JSON.stringify(payload))).ok).toBe(true);
    expect(overlaySpecFor(payload, "hv3")).toEqual(memberSpec(s, "hv3", s.members));
    expect(payload).toMatchObject({ start: false, autostart: false });
  });
});

describe("the dry run's plan across hosts", () => {
  it("the removed members' parts first, then the others', the added members', the gateway's own last", () => {
    const next = nextOverlayMembers(spec("hv2"), { add: ["hv4"], remove: ["hv3"] }, ipOf);
    const plan = planMembersChange(spec("hv2"), next, { active: true, autostart: true });
    expect(plan.phases.map((p) => p.step)).toEqual([
      "host hv3: delete-network",
      "host hv1: configure-network-hosts",
      "host hv4: create-network",
      "updating members",
    ]);
    // A command and the lines it reads on stdin (a batch), each as its own entry.
    const cmds = (i: number) =>
      plan.phases[i]?.hostSteps.flatMap((s) => (s.kind === "command" ? [s.argv.join(" "), ...(s.input?.split("\n") ?? [])] : [s.kind])) ??
      [];
    expect(cmds(0)).toContain("ip link del nfvx10000");
    expect(cmds(0)).toContain("ip link del nfov10000");
    expect(cmds(2)).toContain("ip link add nfvx10000 type vxlan id 10000 local 172.30.9.4 dstport 4789 nolearning");
    expect(cmds(2)).toContain("fdb append 00:00:00:00:00:00 dev nfvx10000 dst 172.30.9.2");
    expect(cmds(3)).toContain("bridge fdb append 00:00:00:00:00:00 dev nfvx10000 dst 172.30.9.4");
    expect(cmds(3)).toContain("bridge fdb del 00:00:00:00:00:00 dev nfvx10000 dst 172.30.9.3");
  });
});

import { describe, expect, it } from "vitest";
import { HOST_HEARTBEAT_MS, HOST_OFFLINE_AFTER_MS, HostRecord, HostView, ListHostsBody } from "./host";
import { JOB_ACTIONS, JOB_STATES, JobId, JobView, ListJobsBody, StepState } from "./job";
import { ListNetworksBody, NetworkRef, NetworkSummary, NetworkView } from "./network";

const hostRecord = {
  id: "h1",
  hostname: "h1.example",
  libvirtVersion: "10.0.0",
  interfaces: [{ name: "eth0", kind: null, mac: "52:54:00:12:34:56", state: "UP", master: null, addresses: ["198.51.100.2/24"] }],
  occupied: [{ cidr: "198.51.100.0/24", owner: "interface eth0" }],
  networks: 2,
  sriovPfs: [{ pf: "enp3s0f0", vfsTotal: 8, vfsConfigured: 2 }],
  startedAt: "2026-11-28T00:00:00.000Z",
  lastSeenAt: "2026-11-28T00:01:00.000Z",
};

describe("host records", () => {
  it("round-trip unchanged, stoppedAt optional", () => {
    expect(HostRecord.parse(hostRecord)).toEqual(hostRecord);
    expect(HostRecord.parse({ ...hostRecord, stoppedAt: null }).stoppedAt).toBeNull();
  });
  it("the view hides what only workers need and adds a status", () => {
    const { occupied: _o, startedAt: _s, ...rest } = hostRecord;
    const view = HostView.parse({ ...hostRecord, stoppedAt: "x", status: "online" });
    expect(view).toEqual({ ...rest, status: "online" });
    expect(HostView.safeParse({ ...rest, status: "gone" }).success).toBe(false);
  });
  it("refuses a record missing a field, and list-hosts takes no fields", () => {
    const { networks: _n, ...partial } = hostRecord;
    expect(HostRecord.safeParse(partial).success).toBe(false);
    expect(ListHostsBody.safeParse({}).success).toBe(true);
    expect(ListHostsBody.safeParse({ x: 1 }).success).toBe(false);
  });
  it("a host is offline after three missed heartbeats", () => {
    expect(HOST_OFFLINE_AFTER_MS / HOST_HEARTBEAT_MS).toBe(3);
  });
});

describe("job records", () => {
  const view = {
    id: "j_abcdefghij0123456789",
    action: "create-network",
    network: "web",
    host: "h1",
    state: "running",
    progress: { percent: 50, step: "define", steps: [{ name: "define", state: "running", startedAt: "t", finishedAt: null }] },
    result: null,
    error: { code: "HOST_COMMAND_FAILED", message: "m", details: { a: 1 } },
    warnings: ["w"],
    attempts: 1,
    createdAt: "t",
    startedAt: "t",
    finishedAt: null,
    links: { self: "/api/jobs/j_abcdefghij0123456789", events: "/api/jobs/j_abcdefghij0123456789/events" },
  };
  it("round-trip unchanged", () => {
    expect(JobView.parse(view)).toEqual(view);
  });
  it("progress is 0-100 percent", () => {
    expect(JobView.safeParse({ ...view, progress: { ...view.progress, percent: 0 } }).success).toBe(true);
    expect(JobView.safeParse({ ...view, progress: { ...view.progress, percent: 100 } }).success).toBe(true);
    expect(JobView.safeParse({ ...view, progress: { ...view.progress, percent: 101 } }).success).toBe(false);
    expect(JobView.safeParse({ ...view, progress: { ...view.progress, percent: -1 } }).success).toBe(false);
  });
  it("names the actions, states and step states", () => {
    expect(JOB_ACTIONS).toEqual([
      "create-network",
      "delete-network",
      "start-network",
      "stop-network",
      "configure-network-dhcp",
      "assign-static-ip",
      "unassign-static-ip",
      "configure-network-firewall",
      "configure-network-port-forward",
      "configure-network-dns",
      "configure-network-mtu",
      "configure-network-qos",
      "configure-network-hosts",
    ]);
    expect(JOB_STATES).toEqual(["queued", "running", "succeeded", "failed"]);
    expect(StepState.options).toEqual(["pending", "running", "succeeded", "failed", "undone", "skipped"]);
  });
  it("job ids are j_ and 10-40 url-safe characters, anchored", () => {
    for (const id of ["j_abcdefghij", `j_${"a".repeat(40)}`, "j_AZaz09_-xyz"]) expect(JobId.safeParse(id).success, id).toBe(true);
    for (const id of ["j_abcdefghi", `j_${"a".repeat(41)}`, "xj_abcdefghij", "j_abcdefghij/", "k_abcdefghij", "j_abcdefghi!"])
      expect(JobId.safeParse(id).success, id).toBe(false);
  });
  it("list-jobs filters are validated", () => {
    expect(ListJobsBody.safeParse({ network: "web", state: "failed", host: "h1", limit: 5 }).success).toBe(true);
    expect(ListJobsBody.safeParse({ network: "Web" }).success).toBe(false);
    expect(ListJobsBody.safeParse({ bogus: 1 }).success).toBe(false);
  });
});

describe("network records and list bodies", () => {
  it("list-networks: name filter is part of a name, anchored; cursor bounded", () => {
    expect(ListNetworksBody.safeParse({ name: "" }).success).toBe(true);
    expect(ListNetworksBody.safeParse({ name: "Web-1" }).success).toBe(true);
    expect(ListNetworksBody.safeParse({ name: "x".repeat(64) }).success).toBe(true);
    expect(ListNetworksBody.safeParse({ name: "x".repeat(65) }).success).toBe(false);
    expect(ListNetworksBody.safeParse({ name: "web*" }).error?.issues[0]?.message).toBe(
      "must be part of a network name (letters, digits, '-')",
    );
    expect(ListNetworksBody.safeParse({ name: "*web" }).success).toBe(false);
    expect(ListNetworksBody.safeParse({ cursor: "c".repeat(128) }).success).toBe(true);
    expect(ListNetworksBody.safeParse({ cursor: "c".repeat(129) }).success).toBe(false);
    expect(ListNetworksBody.safeParse({ state: "active", type: "nat" }).success).toBe(true);
    expect(ListNetworksBody.safeParse({ state: "paused" }).success).toBe(false);
  });
  it("NetworkRef is a name and nothing else", () => {
    expect(NetworkRef.parse({ name: "web" })).toEqual({ name: "web" });
    expect(NetworkRef.safeParse({ name: "web", host: "h1" }).success).toBe(false);
  });
  it("a summary is exactly the list columns of a view", () => {
    expect(Object.keys(NetworkSummary.shape).sort()).toEqual(
      ["autostart", "cidr", "host", "name", "state", "type", "uuid", "managedBy", "version"].sort(),
    );
    expect(Object.keys(NetworkView.shape)).toContain("portForwards");
  });
});

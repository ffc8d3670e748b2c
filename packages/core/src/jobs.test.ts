import { describe, expect, it } from "vitest";
import { CONFIGURE_STEPS, JOB_STEPS, partUndoOf } from "./jobs";
import { JOB_ACTIONS } from "./schemas/job";

describe("the steps each job reports (its progress from the first event)", () => {
  it("every job action has its steps", () => {
    expect(Object.keys(JOB_STEPS).sort()).toEqual([...JOB_ACTIONS].sort());
  });
  it("create, delete, start and stop: their host steps in order", () => {
    expect(JOB_STEPS["create-network"]).toEqual([
      "checking host",
      "defining network",
      "starting network",
      "setting autostart",
      "verifying DHCP",
    ]);
    expect(JOB_STEPS["delete-network"]).toEqual(["checking attachments", "stopping network", "removing definition"]);
    expect(JOB_STEPS["start-network"]).toEqual(["starting network", "verifying DHCP"]);
    expect(JOB_STEPS["stop-network"]).toEqual(["checking attachments", "stopping network"]);
  });
  it("configure jobs check the change, then apply it; a port forward first reads the host's ports", () => {
    expect(CONFIGURE_STEPS).toEqual(["checking change", "applying change"]);
    for (const a of ["configure-network-dhcp", "assign-static-ip", "unassign-static-ip", "configure-network-firewall"] as const) {
      expect(JOB_STEPS[a]).toEqual(["checking change", "applying change"]);
    }
    expect(JOB_STEPS["configure-network-port-forward"]).toEqual(["checking host port", "checking change", "applying change"]);
  });
});

describe("partUndoOf: what takes back a member's part of a job spanning hosts (the definition's partUndoneBy)", () => {
  it("a create by a delete, a start and a stop by each other, a member list change by itself; a delete by nothing", () => {
    expect(partUndoOf("create-network")).toBe("delete-network");
    expect(partUndoOf("start-network")).toBe("stop-network");
    expect(partUndoOf("stop-network")).toBe("start-network");
    expect(partUndoOf("configure-network-hosts")).toBe("configure-network-hosts");
    expect(partUndoOf("delete-network")).toBeNull();
    expect(partUndoOf("configure-network-dhcp")).toBeNull();
  });
});

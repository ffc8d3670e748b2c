import { describe, expect, it } from "vitest";
import { ACTIONS, type ActionName, ROLES, type Role, roleAllows } from "./api-contract";
import { JOB_ACTIONS } from "./schemas/job";

describe("roles", () => {
  it("viewer < operator < admin, each allowed what the ones below it are", () => {
    expect(ROLES).toEqual(["viewer", "operator", "admin"]);
    const allowed = (have: Role) => ROLES.filter((need) => roleAllows(have, need));
    expect(allowed("viewer")).toEqual(["viewer"]);
    expect(allowed("operator")).toEqual(["viewer", "operator"]);
    expect(allowed("admin")).toEqual(["viewer", "operator", "admin"]);
  });
});

describe("the action table", () => {
  const names = Object.keys(ACTIONS) as ActionName[];
  it("every job action runs as a job under its own name; the others are answered at once", () => {
    const jobs = names.filter((n) => ACTIONS[n].kind === "job");
    expect(jobs.sort()).toEqual([...JOB_ACTIONS].sort());
    // A job action's definition carries its job's steps (it runs as a job under its own name: the definition's key).
    for (const n of jobs) expect(ACTIONS[n]).toMatchObject({ kind: "job", steps: expect.any(Array) });
    expect(names.filter((n) => ACTIONS[n].kind === "query").sort()).toEqual([
      "describe-network",
      "list-hosts",
      "list-jobs",
      "list-network-ips",
      "list-networks",
      "release-network-claim",
    ]);
    for (const n of names) if (ACTIONS[n].kind === "query") expect("action" in ACTIONS[n], n).toBe(false);
  });
  it("viewers read, operators change networks, only admins release claims (API.md, 'Roles')", () => {
    const byRole = (r: Role) => names.filter((n) => ACTIONS[n].role === r).sort();
    expect(byRole("viewer")).toEqual(["describe-network", "list-hosts", "list-jobs", "list-network-ips", "list-networks"]);
    expect(byRole("operator")).toEqual([...JOB_ACTIONS].sort());
    expect(byRole("admin")).toEqual(["release-network-claim"]);
  });
  it("each action has a summary of its own for the OpenAPI document", () => {
    const summaries = names.map((n) => ACTIONS[n].summary);
    for (const [i, s] of summaries.entries()) expect(s.length, names[i]).toBeGreaterThan(10);
    expect(new Set(summaries).size).toBe(names.length);
  });
});

/**
 * Network versions end to end on a sandbox host (real Redis, API, worker, libvirt): create makes version 1 and
 * every change +1; If-Match with the current version runs, a stale one is 412 at the door; and the race the
 * door cannot see: two changes sent with the same If-Match both pass the door, the worker runs one and fails the
 * other with 412 PRECONDITION_FAILED before any step (nothing of it applied). managedBy is kept in the
 * network's definition and survives the worker rebuilding the index. Under the e2e lock.
 */
import type { SandboxHost } from "@netforge/sandbox";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster, waitFor } from "./support/cluster";

let c: Cluster;
let h: SandboxHost;

beforeAll(async () => {
  c = await startCluster({ hosts: [{ id: "ver" }], label: "ver" });
  h = c.hosts.get("ver") as SandboxHost;
});
afterAll(async () => {
  await c?.stop();
});

const describeNet = async () => (await c.call("describe-network", { name: "vnet" })).body.network;

describe("versions and If-Match", () => {
  it('create makes version 1 (ETag "1"), with managedBy kept in the definition', async () => {
    const r = await c.call("create-network", { name: "vnet", type: "nat", cidr: "10.88.0.0/24", managedBy: "fleet-v" }, { wait: 30 });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const d = await c.call("describe-network", { name: "vnet" });
    expect(d.body.network).toMatchObject({ version: 1, managedBy: "fleet-v" });
    expect(d.headers.get("etag")).toBe('"1"');
    const xml = await h.virsh(["net-dumpxml", "vnet"]);
    expect(xml.stdout).toContain("<nf:managedBy>fleet-v</nf:managedBy>");
  });

  it("a change with the current If-Match runs and makes version 2; the old one is then 412 at the door", async () => {
    const body = { name: "vnet", start: "10.88.0.50", end: "10.88.0.60" };
    const ok = await c.call("configure-network-dhcp", body, { wait: 30, headers: { "If-Match": '"1"' } });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect((await describeNet()).version).toBe(2);
    const stale = await c.call("configure-network-dhcp", { ...body, end: "10.88.0.70" }, { headers: { "If-Match": '"1"' } });
    expect(stale.status).toBe(412);
    expect(stale.body.error).toMatchObject({ code: "PRECONDITION_FAILED", details: { expected: 1, current: 2 } });
    expect((await describeNet()).dhcp.end).toBe("10.88.0.60");
  });

  it("two changes with the same If-Match: both pass the door, one runs, the worker fails the other with 412 before any step", async () => {
    const a = { name: "vnet", start: "10.88.0.50", end: "10.88.0.80" };
    const b = { name: "vnet", start: "10.88.0.50", end: "10.88.0.90" };
    const [ra, rb] = await Promise.all([
      c.call("configure-network-dhcp", a, { headers: { "If-Match": '"2"' } }),
      c.call("configure-network-dhcp", b, { headers: { "If-Match": '"2"' } }),
    ]);
    expect([ra.status, rb.status]).toEqual([202, 202]);
    const ends = await Promise.all(
      [ra, rb].map((r) =>
        waitFor("the job's end", async () => {
          const j = (await c.get(`/api/jobs/${r.body.job.id}`)).body.job;
          return j.state === "succeeded" || j.state === "failed" ? j : null;
        }),
      ),
    );
    const won = ends.filter((j) => j.state === "succeeded");
    const lost = ends.filter((j) => j.state === "failed");
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0].error).toMatchObject({ code: "PRECONDITION_FAILED", details: { expected: 2, current: 3 } });
    // Failed before any step: nothing ran, nothing undone.
    expect(lost[0].progress.steps.every((s: { state: string }) => s.state === "pending")).toBe(true);
    const d = await describeNet();
    expect(d.version).toBe(3);
    expect(d.dhcp.end).toBe(won[0].id === ra.body.job.id ? a.end : b.end);
  });

  it("the worker rebuilding the index keeps version and managedBy (one from Redis, the other from libvirt)", async () => {
    await c.redis.del(c.keys.network("vnet"));
    await c.startWorker("ver");
    await waitFor("the record rebuilt", async () => (await c.redis.exists(c.keys.network("vnet"))) === 1, 30_000);
    expect(await describeNet()).toMatchObject({ version: 3, managedBy: "fleet-v" });
  });
});

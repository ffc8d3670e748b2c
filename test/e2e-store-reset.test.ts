/**
 * A store that lost its data is known at once (issue 16, ADR 0047), with real workers on two sandbox hosts and
 * the reconcile round set far away (10 min), so only the store epoch can bring the index back:
 * - after every key of the run's prefix is deleted (what FLUSHALL does to netforge), the index is whole again
 *   within 10 s, and a stream of creates that would take a name or subnet still held on a host never gets
 *   through in between (each is answered 503 or a conflict, never 2xx);
 * - a host that was offline during the reset comes back holding a name that was taken again meanwhile on the
 *   other host: both networks are kept, list-hosts and describe-network report the conflict, nothing is deleted
 *   on either host; once the other one is deleted, the returning host's network takes its name back.
 */
import type { SandboxHost } from "@netforge/sandbox";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster, waitFor } from "./support/cluster";
import { deleteKeysUnder } from "./support/redis";

const A = "sra";
const B = "srb";
const SLOW_RECONCILE = { NETFORGE_RECONCILE_MS: "600000" };
let c: Cluster;

beforeAll(async () => {
  c = await startCluster({ hosts: [{ id: A }, { id: B }], label: "sreset", workerEnv: SLOW_RECONCILE });
});
afterAll(async () => {
  await c?.stop();
});

async function create(name: string, host: string, cidr: string): Promise<void> {
  const r = await c.call("create-network", { name, type: "nat", cidr, host }, { wait: 60 });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
}
async function onHost(host: string, name: string): Promise<boolean> {
  const r = await (c.hosts.get(host) as SandboxHost).virsh(["net-list", "--all", "--name"]);
  return r.stdout
    .split("\n")
    .map((s) => s.trim())
    .includes(name);
}
const describeNet = (name: string) => c.call("describe-network", { name });

describe("the store emptied under running workers", () => {
  it("is whole again within 10 s, and no name or subnet still held on a host is granted in between", async () => {
    await create("keep", A, "10.96.0.0/24");
    const answers: number[] = [];
    let probing = true;
    // Two creates that must never succeed: the name held on A (placed on B), and a subnet inside keep's on A.
    const probe = (async () => {
      while (probing) {
        const [byName, bySubnet] = await Promise.all([
          c.call("create-network", { name: "keep", type: "nat", cidr: "10.97.0.0/24", host: B }),
          c.call("create-network", { name: "keep-too", type: "nat", cidr: "10.96.0.0/25", host: A }),
        ]);
        answers.push(byName.status, bySubnet.status);
        for (const r of [byName, bySubnet]) expect(r.status, JSON.stringify(r.body)).not.toBeLessThan(300);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await new Promise((r) => setTimeout(r, 300));
    const epochBefore = await c.redis.hget(c.keys.storeEpoch, "id");
    expect(epochBefore).not.toBeNull();
    await deleteKeysUnder(c.redis, c.prefix);
    const t0 = Date.now();
    const whole = await waitFor(
      "the index whole again",
      async () => {
        const [d, hosts] = await Promise.all([describeNet("keep"), c.call("list-hosts", {})]);
        const online = (hosts.body.hosts ?? []).filter((x: { status: string }) => x.status === "online").length;
        return d.status === 200 && online === 2 ? Date.now() - t0 : null;
      },
      20_000,
      50,
    );
    await new Promise((r) => setTimeout(r, 500));
    probing = false;
    await probe;
    console.log(`store reset: index whole after ${whole} ms; probe answers ${JSON.stringify(countBy(answers))}`);
    expect(whole).toBeLessThan(10_000);
    expect(await c.redis.hget(c.keys.storeEpoch, "id")).not.toBe(epochBefore);
    expect(await c.redis.hget(c.keys.claimedNames, "keep")).toBe(A);
    expect(await c.redis.hget(c.keys.claimedSubnets(A), "keep")).not.toBeNull();
    // The probe saw the door closed (503) while the hosts re-published, and conflicts once they had.
    expect(answers.every((s) => s === 503 || s === 409)).toBe(true);
    expect(answers).toContain(409);
    const again = await c.call("create-network", { name: "keep", type: "nat", cidr: "10.97.0.0/24", host: B });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("NAME_TAKEN");
  });
});

describe("a host offline during the reset", () => {
  it("comes back with a name taken again meanwhile: both kept, reported, nothing deleted; the name returns once freed", async () => {
    await c.workers.get(A)?.stop();
    await deleteKeysUnder(c.redis, c.prefix);
    // B re-publishes alone; A's "keep" is unknown to the index now, so its name can be taken on B.
    await waitFor(
      "B online again",
      async () => {
        const hosts = (await c.call("list-hosts", {})).body.hosts ?? [];
        return hosts.some((x: { id: string; status: string }) => x.id === B && x.status === "online");
      },
      20_000,
      100,
    );
    await create("keep", B, "10.98.0.0/24");
    // A returns (a reconcile round every 2 s from now on, to see the name come back below).
    await c.startWorker(A, { env: { NETFORGE_RECONCILE_MS: "2000" } });
    const hostA = await waitFor(
      "A reports the conflict",
      async () => {
        const hosts = (await c.call("list-hosts", {})).body.hosts ?? [];
        const a = hosts.find((x: { id: string }) => x.id === A);
        return a?.nameConflicts?.length ? a : null;
      },
      20_000,
      100,
    );
    expect(hostA.nameConflicts).toEqual([{ network: "keep", heldBy: B }]);
    const d = await describeNet("keep");
    expect(d.status).toBe(200);
    expect(d.body.network.host).toBe(B);
    expect(d.body.network.cidr).toBe("10.98.0.0/24");
    expect(d.body.network.conflicts).toEqual([{ host: A, since: expect.any(String) }]);
    // Several reconcile rounds later: still both, on both hosts, and the index still shows B's.
    await new Promise((r) => setTimeout(r, 4_500));
    expect(await onHost(A, "keep")).toBe(true);
    expect(await onHost(B, "keep")).toBe(true);
    expect((await describeNet("keep")).body.network.host).toBe(B);
    // The operator deletes B's: A's network takes its name back at its next round, the conflict is gone.
    const del = await c.call("delete-network", { name: "keep" }, { wait: 60 });
    expect(del.status, JSON.stringify(del.body)).toBe(200);
    expect(await onHost(B, "keep")).toBe(false);
    const back = await waitFor(
      "keep indexed on A",
      async () => {
        const r = await describeNet("keep");
        return r.status === 200 && r.body.network.host === A ? r.body.network : null;
      },
      20_000,
      200,
    );
    expect(back.cidr).toBe("10.96.0.0/24");
    expect(back.conflicts).toBeUndefined();
    await waitFor(
      "A's conflict cleared in list-hosts",
      async () => {
        const hosts = (await c.call("list-hosts", {})).body.hosts ?? [];
        return hosts.find((x: { id: string }) => x.id === A)?.nameConflicts === undefined;
      },
      10_000,
      200,
    );
    const gone = await c.call("delete-network", { name: "keep" }, { wait: 60 });
    expect(gone.status, JSON.stringify(gone.body)).toBe(200);
    expect(await onHost(A, "keep")).toBe(false);
  });
});

function countBy(xs: number[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}

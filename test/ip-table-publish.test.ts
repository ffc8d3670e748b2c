/**
 * The heartbeat republishes every network's IP table and stats: an unchanged
 * network is written again only once its last publish is older than the
 * given age (so idle networks cost a host no Redis writes between expiry
 * refreshes), while a change, and every publish without that option (jobs,
 * lease changes), is written at once. Against a real Redis.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseNetworkXml, renderNetworkXml, specFromCreate } from "@netforge/core/model";
import { type NetworkRecord, putNetwork } from "@netforge/core/store";
import { afterAll, describe, expect, it } from "vitest";
import type { HostContext } from "@netforge/worker";
import { publishIpTable } from "@netforge/worker/testing";
import { testRedis } from "./support/redis";

const t = testRedis("iptable");

const spec = specFromCreate({
  name: "pub",
  type: "nat",
  uuid: "00000000-0000-4000-8000-000000000072",
  host: "h1",
  description: "",
  cidr: "10.72.0.0/24",
  gateway: "10.72.0.1",
  dhcp: { enabled: true, start: "10.72.0.100", end: "10.72.0.150", leaseTime: 600 },
  autostart: true,
  bridge: "nf-pub",
  createdAt: "2026-01-01T00:00:00.000Z",
});
const entry = { name: "pub", uuid: "u", active: false, persistent: true, autostart: true, def: parseNetworkXml(renderNetworkXml(spec)) };
const leasesDir = mkdtempSync(join(tmpdir(), "nf-leases-"));
const ctx = { hostId: "h1", redis: t.redis, keys: t.keys, leasesDir } as unknown as HostContext;
afterAll(async () => {
  await t.cleanup();
  rmSync(leasesDir, { recursive: true, force: true });
});

describe("publishing a network's IP table", () => {
  it("skips an unchanged table within the age, writes a changed one and any publish without the age", async () => {
    await putNetwork(t.redis, t.keys, { name: "pub", host: "h1", state: "inactive" } as NetworkRecord);
    const owners = new Map<string, string>();
    await publishIpTable(ctx, entry, { owners, connectedVms: 0, unchangedForMs: 30_000 });
    expect(await t.redis.exists(t.keys.networkIps("pub"), t.keys.networkStats("pub"))).toBe(2);

    // Unchanged and recent: not written (the keys deleted here stay deleted).
    await t.redis.del(t.keys.networkIps("pub"), t.keys.networkStats("pub"));
    await publishIpTable(ctx, entry, { owners, connectedVms: 0, unchangedForMs: 30_000 });
    expect(await t.redis.exists(t.keys.networkIps("pub"), t.keys.networkStats("pub"))).toBe(0);

    // Changed (a VM connected): written.
    await publishIpTable(ctx, entry, { owners, connectedVms: 1, unchangedForMs: 30_000 });
    expect(JSON.parse((await t.redis.get(t.keys.networkStats("pub"))) as string).connectedVms).toBe(1);

    // Unchanged but older than the age: written.
    await t.redis.del(t.keys.networkIps("pub"), t.keys.networkStats("pub"));
    await new Promise((r) => setTimeout(r, 30));
    await publishIpTable(ctx, entry, { owners, connectedVms: 1, unchangedForMs: 20 });
    expect(await t.redis.exists(t.keys.networkIps("pub"), t.keys.networkStats("pub"))).toBe(2);

    // Without the age (a job, a lease change): always written.
    await t.redis.del(t.keys.networkIps("pub"), t.keys.networkStats("pub"));
    await publishIpTable(ctx, entry, { owners, connectedVms: 1 });
    expect(await t.redis.exists(t.keys.networkIps("pub"), t.keys.networkStats("pub"))).toBe(2);
  });
});

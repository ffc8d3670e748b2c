/**
 * list-networks reads pre-serialised summaries kept beside each index record:
 * they follow every put and remove, and a record without one (written before
 * summaries existed) is still listed, from the record.
 */
import {
  bumpNetworkVersion,
  getNetworkSummariesAfter,
  type NetworkRecord,
  networkSummary,
  putNetwork,
  removeNetwork,
} from "@netforge/core/store";
import { afterAll, describe, expect, it } from "vitest";
import { testRedis } from "./support/redis";

const t = testRedis("netsum");
afterAll(() => t.cleanup());

const rec = (name: string, over: Partial<NetworkRecord> = {}): NetworkRecord =>
  ({
    name,
    host: "h1",
    uuid: "00000000-0000-4000-8000-000000000001",
    type: "nat",
    description: "a long description that the summary leaves out",
    cidr: "10.70.0.0/24",
    gateway: null,
    dhcp: { enabled: false, start: null, end: null, leaseTime: null },
    state: "active",
    autostart: true,
    bridge: { name: `nf-${name}`, interface: null },
    sriov: null,
    firewall: { defaultInbound: "accept", defaultOutbound: "accept", rules: [] },
    portForwards: [],
    createdAt: "2026-01-01T00:00:00.000Z",
    updatedAt: "2026-01-01T00:00:00.000Z",
    ...over,
  }) as NetworkRecord;

/** A summary as listed: the record's, with the network's version (0: none recorded) added when read. */
const listed = (r: NetworkRecord, version = 0) => ({ ...networkSummary(r), version });

describe("network summaries", () => {
  it("follow put (also a re-put that changes state) and remove, in the order of the names asked", async () => {
    await putNetwork(t.redis, t.keys, rec("sa"));
    await putNetwork(t.redis, t.keys, rec("sb", { host: "h2", cidr: "10.71.0.0/24" }));
    expect(await getNetworkSummariesAfter(t.redis, t.keys, null, 1000)).toEqual([
      listed(rec("sa")),
      listed(rec("sb", { host: "h2", cidr: "10.71.0.0/24" })),
    ]);
    expect(await getNetworkSummariesAfter(t.redis, t.keys, "sa", 1000)).toEqual([listed(rec("sb", { host: "h2", cidr: "10.71.0.0/24" }))]);
    expect(await getNetworkSummariesAfter(t.redis, t.keys, null, 1)).toEqual([listed(rec("sa"))]);
    // A job that succeeded on sb: its row shows the version.
    expect(await bumpNetworkVersion(t.redis, t.keys, "sb")).toBe(1);
    expect((await getNetworkSummariesAfter(t.redis, t.keys, "sa", 1000))[0]?.version).toBe(1);
    await putNetwork(t.redis, t.keys, rec("sa", { state: "inactive", autostart: false }));
    expect((await getNetworkSummariesAfter(t.redis, t.keys, null, 1))[0]).toMatchObject({ state: "inactive", autostart: false });
    await removeNetwork(t.redis, t.keys, "sa");
    expect(await t.redis.hexists(t.keys.networkSummaries, "sa")).toBe(0);
    expect(await getNetworkSummariesAfter(t.redis, t.keys, null, 1000)).toEqual([
      listed(rec("sb", { host: "h2", cidr: "10.71.0.0/24" }), 1),
    ]);
    // Removing a network removes its version.
    await removeNetwork(t.redis, t.keys, "sb");
    expect(await t.redis.hexists(t.keys.networkVersions, "sb")).toBe(0);
  });

  it("a record stored without a summary is listed from the record, with the summary's fields only", async () => {
    await t.redis.set(t.keys.network("old"), JSON.stringify(rec("old", { type: "isolated" })));
    await t.redis.zadd(t.keys.networks, 0, "old");
    const [s] = await getNetworkSummariesAfter(t.redis, t.keys, "hz", 1000);
    expect(s).toEqual({
      name: "old",
      uuid: rec("old").uuid,
      type: "isolated",
      host: "h1",
      cidr: "10.70.0.0/24",
      state: "active",
      autostart: true,
      managedBy: null,
      version: 0,
    });
    expect(Object.keys(s as object)).toEqual(["name", "uuid", "type", "host", "cidr", "state", "autostart", "managedBy", "version"]);
  });
});

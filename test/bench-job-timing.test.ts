/**
 * The concurrency benchmark's proof that jobs of one network never overlap
 * (bench/job-timing.ts) must be able to fail: it is checked here on job
 * records built by hand, including the touching-but-not-overlapping case.
 */
import type { JobRecord } from "@netforge/core/store";
import { describe, expect, it } from "vitest";
import { overlaps, stepSamples, throughput } from "../bench/job-timing";

const at = (ms: number) => new Date(Date.UTC(2026, 10, 29, 12, 0, 0, ms)).toISOString();
function job(network: string, start: number, end: number, created = start): JobRecord {
  return {
    id: `j_${network}${start}`,
    action: "configure-network-firewall",
    network,
    host: "h1",
    state: "succeeded",
    progress: {
      percent: 100,
      step: null,
      steps: [{ name: "applying change", state: "succeeded", startedAt: at(start), finishedAt: at(end) }],
    },
    result: null,
    error: null,
    warnings: [],
    attempts: 1,
    createdAt: at(created),
    startedAt: at(start),
    finishedAt: at(end),
    payload: {},
    requestId: null,
  };
}

describe("bench job timing", () => {
  it("reports two jobs of one network that ran at the same time", () => {
    const r = overlaps([job("a", 0, 100), job("a", 50, 150), job("b", 0, 100)]);
    expect(r.sameNetwork).toHaveLength(1);
    expect(r.maxParallel).toBe(3);
  });

  it("accepts one network's jobs back to back (one ends the ms the next starts) and counts parallel networks", () => {
    const r = overlaps([job("a", 0, 100), job("a", 100, 200), job("b", 20, 120), job("c", 30, 90)]);
    expect(r.sameNetwork).toEqual([]);
    expect(r.maxParallel).toBe(3);
  });

  it("throughput runs from the first submission to the last finish; steps are grouped by name", () => {
    const jobs = [job("a", 100, 600, 0), job("b", 200, 1000, 0)];
    expect(throughput(jobs)).toEqual({ perSec: 2, seconds: 1 });
    expect(stepSamples(jobs).get("applying change")).toEqual([500, 800]);
  });
});

/**
 * The nft session (one libnftables context kept open in a helper process)
 * applies exactly what `nft -f -` applies, reports nft's errors, and when it
 * cannot run the backend falls back to `nft -f -`. Everything runs in a
 * network namespace this test creates (`unshare -n` around a sleeping anchor
 * that the test kills by its pid); nothing of the machine's firewall is
 * touched.
 */
import { type FirewallNetwork, renderHostTable } from "@netforge/core/model";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ExecaRunner } from "@netforge/worker";
import { NftBackend, NftSession, webNetwork } from "@netforge/worker/testing";
import { NamespaceRunner as NsRunner, startNetnsAnchor } from "./support/netns-runner";

let ns: { pid: number; stop: () => void } | null = null;
class NamespaceRunner extends NsRunner {
  constructor(python?: string) {
    super(() => ns?.pid ?? 0, python);
  }
}

beforeAll(async () => {
  ns = await startNetnsAnchor();
});
afterAll(() => ns?.stop());

const listing = async (r: ExecaRunner) => (await r.run("nft", ["list", "table", "inet", "netforge"], { allowFailure: true })).stdout;

const net = (over: Partial<FirewallNetwork> = {}): FirewallNetwork => webNetwork([], over);
const rulesOf = (k: number) =>
  Array.from({ length: 100 }, (_, j) => ({
    direction: j % 2 ? ("inbound" as const) : ("outbound" as const),
    protocol: "tcp" as const,
    source: `10.${(j + k) % 250}.0.0/16`,
    destination: null,
    ports: `${1000 + j + k}`,
    action: j % 3 ? ("accept" as const) : ("reject" as const),
    comment: null,
  }));

describe("nft session", () => {
  it("applies whole tables and deltas through one helper, with no nft process, to the same table nft -f gives", async () => {
    const runner = new NamespaceRunner();
    const b = new NftBackend(runner);
    try {
      const states = [
        [net({ firewall: { defaultInbound: "drop", defaultOutbound: "accept", rules: rulesOf(0) } })],
        [net({ firewall: { defaultInbound: "drop", defaultOutbound: "accept", rules: rulesOf(1) } })],
        [net({ portForwards: [{ protocol: "tcp", hostPort: 2222, vmIp: "10.70.0.5", vmPort: 22 }] })],
      ];
      for (const s of states) {
        await b.replace(s);
        const viaSession = await listing(runner);
        // The same state loaded whole by a plain `nft -f -` process, in the same namespace.
        await runner.run("nft", ["-f", "-"], { input: renderHostTable(s) });
        // The reference load starts the traffic counters' clock anew ("since"): the rest must be the same.
        const since = (t: string) => t.replace(/comment "since \d+"/g, 'comment "since <t>"');
        expect(since(viaSession)).toBe(since(await listing(runner)));
        expect(viaSession).toContain("table inet netforge");
      }
      // Only the reference loads above were nft processes: every apply went through the session.
      expect(runner.nftProcesses).toBe(states.length);
      await b.clear();
      expect(await listing(runner)).toBe("");
    } finally {
      b.close();
    }
  });

  it("reports nft's own error for a transaction the kernel refuses, and applies none of it", async () => {
    const runner = new NamespaceRunner();
    const s = new NftSession(runner);
    try {
      const ok = await s.run("add table inet nfsession-t\nadd chain inet nfsession-t c\n");
      expect(ok).toEqual({ ok: true, error: "" });
      const bad = await s.run("add rule inet nfsession-t c accept\nadd rule inet nfsession-t nosuch accept\n");
      expect(bad?.ok).toBe(false);
      expect(bad?.error).toMatch(/Error: .*No such file or directory/);
      // Atomic: the first, valid rule of the refused transaction is not there either.
      expect((await runner.run("nft", ["list", "chain", "inet", "nfsession-t", "c"])).stdout).not.toContain("accept");
      expect(await s.run("delete table inet nfsession-t\n")).toEqual({ ok: true, error: "" });
    } finally {
      s.close();
    }
  });

  it("answers null when its helper cannot run, and the backend then applies with nft -f", async () => {
    const runner = new NamespaceRunner("/nonexistent/python3");
    const s = new NftSession(runner, { retryAfterMs: 60_000 });
    expect(await s.run("add table inet nfsession-x\n")).toBeNull();
    // Not started again for a while: no second failed start per change.
    expect(s.usable).toBe(false);
    s.close();

    const b = new NftBackend(runner);
    try {
      await b.replace([net()]);
      expect(runner.nftProcesses).toBe(1);
      expect(await listing(runner)).toContain("chain web-in");
      await b.clear();
      expect(runner.nftProcesses).toBe(2);
    } finally {
      b.close();
    }
  });
});

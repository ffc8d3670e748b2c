/**
 * Port security's table (render/nft-bridge.ts) in the real kernel: the whole table loads, and a delta of set
 * elements (renderPortSecurityDelta) applied to one state's table gives exactly the listing the whole renderer
 * gives for the next state. Loaded by the real `nft` in a fresh network namespace (unshare -n, gone when nft
 * exits; nothing of the machine's firewall is touched).
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type FirewallNetwork, renderPortSecurityDelta, renderPortSecurityTable } from "@netforge/core/model";
import { execa } from "execa";
import { afterAll, describe, expect, it } from "vitest";
import { webNetwork } from "@netforge/worker/testing";

let dir = "";
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function listingAfter(...texts: string[]): Promise<string> {
  dir ||= await mkdtemp(join(tmpdir(), "nft-bridge-"));
  const files: string[] = [];
  for (const [i, text] of texts.entries()) {
    const f = join(dir, `${i}-${Math.random().toString(36).slice(2)}.nft`);
    await writeFile(f, text);
    files.push(f);
  }
  const script = 'for f in "$@"; do nft -f "$f" || exit 1; done; nft list table bridge netforge';
  const r = await execa("unshare", ["-n", "--", "sh", "-c", script, "sh", ...files], { reject: false });
  if (r.exitCode !== 0) throw new Error(`nft failed: ${r.stderr}`);
  return r.stdout;
}

const pair = (k: number) => ({
  mac: `52:54:00:00:${(k >> 8).toString(16).padStart(2, "0")}:${(k & 255).toString(16).padStart(2, "0")}`,
  ip: `10.70.${k >> 8}.${k & 255}`,
});
const net = (pairs: number[], ports: string[], over: Partial<FirewallNetwork> = {}): FirewallNetwork =>
  webNetwork([], { portSecurity: { pairs: pairs.map(pair), ports }, ...over });
const iso = (pairs: number[], ports: string[]) =>
  net(pairs, ports, { name: "iso", reachOutside: false, masquerade: false, forwardsPorts: false, bridge: "nf-iso", cidr: "10.71.0.0/24" });

describe("port security table in the kernel", () => {
  it("the whole table loads (two networks, many pairs, ports) and lists what was rendered", async () => {
    const text = renderPortSecurityTable([net([1, 2, 3, 300], ["vnet0", "nv1"]), iso([], [])]);
    const listing = await listingAfter(text);
    expect(listing).toContain("iifname @web-ports jump web-port");
    expect(listing).toContain("update @web-acked");
    expect(listing).toMatch(/0x52540000012c \. 0xa46012c/);
  });

  it("a delta of leases and ports gives the same table as the whole render of the next state", async () => {
    const before = [net([1, 2, 3], ["vnet0", "vnet1"]), iso([5], ["vnet2"])];
    const after = [net([2, 3, 4, 5], ["vnet1", "vnet7"]), iso([], [])];
    const delta = renderPortSecurityDelta(before, after);
    expect(delta).not.toBeNull();
    expect(await listingAfter(renderPortSecurityTable(before), delta as string)).toBe(await listingAfter(renderPortSecurityTable(after)));
  });
});

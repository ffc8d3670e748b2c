/**
 * nftables backend: netforge's rules are one table (`inet netforge`),
 * replaced whole by one `nft -f -` transaction (render/nft.ts), so the kernel
 * swaps old for new atomically. Drift is seen by comparing `nft list table`
 * with the listing taken after our last apply.
 */
import { type FirewallNetwork, NFT_FAMILY, NFT_TABLE, renderHostTable, renderTableDelta } from "@netforge/core";
import type { CommandRunner } from "../host/command-runner";
import type { FirewallBackend } from "./backend";

interface NftChain {
  family: string;
  table: string;
  name: string;
  hook?: string;
  policy?: string;
}

export class NftBackend implements FirewallBackend {
  /** `nft list table` right after our last apply (taken lazily at the first check); null: not known yet. */
  private baseline: string | null = null;
  /** Whether our last apply put a table there at all. */
  private applied = false;

  constructor(private readonly runner: CommandRunner) {}

  /** What the last successful apply carried (for deltas). */
  private last: readonly FirewallNetwork[] | null = null;

  async replace(networks: readonly FirewallNetwork[], opts: { whole?: boolean } = {}): Promise<string> {
    // Only forwards and rule sets changed since our last apply: change the map's elements and refill the changed
    // rule chains (one small transaction, see renderTableDelta).
    const delta = this.last && !opts.whole ? renderTableDelta(this.last, networks) : null;
    if (delta !== null) {
      const ok =
        delta === "" || (await this.runner.run("nft", ["-f", "-"], { input: delta, timeoutMs: 30_000, allowFailure: true })).exitCode === 0;
      if (ok) {
        this.last = networks;
        this.baseline = null;
        return delta;
      }
      // The table is not what we left (flushed by hand?): replace it whole below.
    }
    const text = renderHostTable(networks);
    await this.runner.run("nft", ["-f", "-"], { input: text, timeoutMs: 30_000 });
    this.last = networks;
    this.baseline = null;
    this.applied = true;
    return text;
  }

  async clear(): Promise<void> {
    await this.runner.run("nft", ["-f", "-"], { input: `table ${NFT_FAMILY} ${NFT_TABLE} {}\ndelete table ${NFT_FAMILY} ${NFT_TABLE}\n` });
    this.baseline = null;
    this.applied = false;
    this.last = null;
  }

  async inPlace(): Promise<boolean> {
    const r = await this.runner.run("nft", ["list", "table", NFT_FAMILY, NFT_TABLE], { allowFailure: true, timeoutMs: 10_000 });
    if (r.exitCode !== 0) return !this.applied;
    if (!this.applied) return true;
    if (this.baseline === null) {
      this.baseline = r.stdout;
      return true;
    }
    return r.stdout === this.baseline;
  }

  async overridingPolicies(): Promise<string[]> {
    const r = await this.runner.run("nft", ["-j", "list", "chains"], { allowFailure: true, timeoutMs: 10_000 });
    if (r.exitCode !== 0) return [];
    return overridingFromChains(r.stdout);
  }
}

/** Base chains of other tables whose drop policy wins over our accepts (pure; `nft -j list chains` output). */
export function overridingFromChains(json: string): string[] {
  let doc: { nftables?: { chain?: NftChain }[] };
  try {
    doc = JSON.parse(json) as typeof doc;
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const item of doc.nftables ?? []) {
    const c = item.chain;
    if (!c) continue;
    if (c.policy !== "drop" || (c.family === NFT_FAMILY && c.table === NFT_TABLE)) continue;
    if (c.family !== "ip" && c.family !== "inet") continue;
    if (c.hook === "forward") {
      out.push(
        `host firewall: chain '${c.name}' of table ${c.family} ${c.table} (hook forward) has policy drop; it drops the NAT, VM-to-VM and port-forward traffic netforge's rules accept unless it accepts that traffic itself`,
      );
    } else if (c.hook === "input") {
      out.push(
        `host firewall: chain '${c.name}' of table ${c.family} ${c.table} (hook input) has policy drop; VMs get no DHCP/DNS from the host unless it accepts udp 53,67 and tcp 53 from netforge's bridges`,
      );
    }
  }
  return out;
}

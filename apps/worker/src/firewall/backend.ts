/**
 * The firewall interface the worker talks to. One implementation today
 * (nftables.ts); the rest of the worker only knows "replace netforge's
 * rules with these networks' rules", "are they still in place", and "what
 * on this host would override them".
 */
import type { FirewallNetwork, LanCounted, OverlayCounted } from "@netforge/core/model";
import type { TrafficState } from "./nftables";

export interface FirewallBackend {
  /**
   * Replace all of netforge's rules on the host with those of `networks`, atomically. Returns the text applied.
   * `whole`: rewrite everything even if the backend believes only part changed (repairing drift).
   */
  replace(
    networks: readonly FirewallNetwork[],
    opts?: { whole?: boolean; lan?: readonly LanCounted[]; overlays?: readonly OverlayCounted[] },
  ): Promise<string>;
  /** Whether the rules applied last are still on the host unchanged (false: someone flushed or edited them). */
  inPlace(): Promise<boolean>;
  /**
   * Host firewall settings that win over netforge's accepts, as warnings: other tables' drop policies and the
   * drop/reject rules of other firewalls that hit netforge's traffic (foreign-rules.ts).
   */
  overridingPolicies(): Promise<string[]>;
  /** The traffic counters of the networks (by counter name, render/nft.ts trafficCounterNames), kept across re-renders. */
  /** `fresh: false`: the values last read, without reading the host (a job's publish). */
  trafficCounts?(opts?: { fresh?: boolean }): Promise<TrafficState>;
  /**
   * Drop a deleted network's traffic counters and its bridge's per-VM elements: now from the kernel unless
   * `rendered` (its rules still use them), and from every later whole table until it is rendered again.
   */
  forgetTraffic?(name: string, bridge: string | null, rendered: boolean): Promise<void>;
  /** Drop the traffic counters of networks neither in `names` nor rendered, and per-VM ones of other bridges (deleted networks'). */
  forgetTrafficExcept?(names: ReadonlySet<string>, bridges: ReadonlySet<string>): Promise<string[]>;
  /** Remove netforge's rules entirely (nothing left when no network runs). */
  clear(): Promise<void>;
}

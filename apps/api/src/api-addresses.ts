/**
 * Publishes the addresses this API is reached on (core's store/api-addresses),
 * so every worker protects them: a network whose subnet contains the API's
 * address would cut its host off from the API. The list comes from
 * NETFORGE_API_ADDRESSES, else HOST when it is one concrete address, else
 * ("redis-local") the address this process's Redis connection leaves from:
 * the address of this machine on the network its workers share.
 */
import { isIPv4 } from "node:net";
import { type Keys, publishApiAddresses, type Redis } from "@netforge/core/store";
import type { Logger } from "pino";

/** What an API instance publishes: listed addresses, or the local address of its Redis connection. */
export type PublishedAddresses = readonly string[] | "redis-local";

/** How often an instance renews its addresses; they live three times as long. */
export const API_ADDRESS_RENEW_MS = 60_000;

/** The addresses to publish for NETFORGE_API_ADDRESSES (already checked) and HOST. */
export function publishedAddressesFor(listed: readonly string[] | undefined, host: string): PublishedAddresses {
  if (listed && listed.length > 0) return listed;
  if (isIPv4(host) && host !== "0.0.0.0" && !host.startsWith("127.")) return [host];
  return "redis-local";
}

/** Parse NETFORGE_API_ADDRESSES: IPv4 addresses separated by commas and/or spaces; throws naming bad entries. */
export function parseApiAddresses(text: string): string[] {
  const entries = text.split(/[\s,]+/).filter((e) => e !== "");
  const bad = entries.filter((e) => !isIPv4(e));
  if (bad.length > 0) throw new Error(`not IPv4 addresses: ${bad.join(", ")}`);
  return entries;
}

export class ApiAddressPublisher {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly what: PublishedAddresses,
    private readonly logger: Logger,
  ) {}

  /** The addresses to publish now (none while the Redis connection has no TCP socket, or for loopback). */
  addresses(): string[] {
    if (this.what !== "redis-local") return [...this.what];
    // ioredis types the socket as always there; it is not before the first connect (nor while reconnecting).
    const stream: { localAddress?: string } | undefined = this.redis.stream;
    const local = stream?.localAddress ?? "";
    const ip = local.startsWith("::ffff:") ? local.slice(7) : local;
    return isIPv4(ip) && !ip.startsWith("127.") ? [ip] : [];
  }

  async publish(): Promise<void> {
    const addresses = this.addresses();
    if (addresses.length > 0) await publishApiAddresses(this.redis, this.keys, addresses, 3 * API_ADDRESS_RENEW_MS);
  }

  /** Publish once connected, then every API_ADDRESS_RENEW_MS. */
  start(connected: Promise<void>): void {
    if (this.what !== "redis-local" && this.what.length === 0) return;
    const run = () =>
      this.publish().catch((err: unknown) => this.logger.warn({ err: (err as Error).message }, "could not publish the API's addresses"));
    connected.then(run, () => undefined);
    this.timer = setInterval(run, API_ADDRESS_RENEW_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

/** What every benchmark of bench/ shares: medians, p95, ms formatting, and waiting for a network's DHCP socket. */
import type { SandboxHost } from "@netforge/sandbox";

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

export const p95 = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(s.length * 0.95) - 1)] as number;
};

export const ms = (n: number) => `${n.toFixed(1)} ms`;

/** Wait until dnsmasq holds its DHCP socket on `bridge` (what netforge's create proves before it succeeds). */
export async function dhcpListening(h: SandboxHost, bridge: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const r = await h.exec(["ss", "-H", "-u", "-l", "-n", "-p", "sport", "=", ":67"], { reject: false });
    if (r.stdout.includes(`%${bridge}:67`)) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no DHCP on ${bridge}`);
}

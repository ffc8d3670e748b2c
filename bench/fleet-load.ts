/**
 * Load driver of the fleet benchmark, in its own process (never in the API's
 * or the workers' event loop): FLEET_PER_HOST create-network per host in
 * FLEET_HOSTS, interleaved across hosts (request i goes to host i mod N) so
 * every host gets work from the start, over LOAD_CONNECTIONS concurrent
 * keep-alive connections. Prints JSON: accepted job ids, non-202 count, own CPU.
 */
export {};

const base = process.env.LOAD_BASE as string;
const token = process.env.LOAD_TOKEN as string;
const hosts = (process.env.FLEET_HOSTS ?? "").split(",").filter(Boolean);
const perHost = Number(process.env.FLEET_PER_HOST ?? 20);
const connections = Number(process.env.LOAD_CONNECTIONS ?? 32);
const total = hosts.length * perHost;
/** Rounds of one run use their own names and subnets (the previous round's networks are being deleted). */
const round = Number(process.env.FLEET_ROUND ?? 0);

const ids: string[] = [];
const errors: string[] = [];
let next = 0;
const cpu0 = process.cpuUsage();
const t0 = performance.now();
await Promise.all(
  Array.from({ length: Math.min(connections, total) }, async () => {
    while (next < total) {
      const i = next++;
      const body = {
        name: `f${round}x${i}`,
        type: "nat",
        host: hosts[i % hosts.length],
        cidr: `10.${16 + round * 10 + Math.floor(i / 256)}.${i % 256}.0/24`,
      };
      const r = await fetch(`${base}/api/create-network`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      const b = (await r.json()) as { job?: { id: string } };
      if (r.status === 202 && b.job) ids.push(b.job.id);
      else if (errors.length < 5) errors.push(`${r.status} ${JSON.stringify(b).slice(0, 200)}`);
      else errors.push("");
    }
  }),
);
const cpu = process.cpuUsage(cpu0);
process.stdout.write(
  `${JSON.stringify({ ids, errors: errors.length, firstErrors: errors.slice(0, 5), submitMs: performance.now() - t0, cpuMs: (cpu.user + cpu.system) / 1000 })}\n`,
);

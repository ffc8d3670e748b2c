/**
 * The load generator, run as its own process by bench/scale.ts (never in the
 * API's event loop): autocannon against one endpoint, result as JSON on stdout.
 * LOAD_MODE=submit posts create-network with a unique name and /24 per request;
 * LOAD_MODE=get|post sends the same request every time.
 */
import http from "node:http";
import autocannon from "autocannon";

const url = process.env.LOAD_URL as string;
const mode = process.env.LOAD_MODE ?? "get";
const token = process.env.LOAD_TOKEN as string;
const connections = Number(process.env.LOAD_CONNECTIONS ?? 64);
const duration = Number(process.env.LOAD_SECONDS ?? 10);
const host = process.env.LOAD_HOST ?? "bench-q";
const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };

let i = 0;
const opts: autocannon.Options = { url, connections, duration, headers, method: mode === "get" ? "GET" : "POST" };
if (mode === "submit") {
  opts.requests = [
    {
      method: "POST",
      setupRequest: (req) => {
        const n = i++;
        // 10.<16..255>.<0..255>.0/24: ~61,000 distinct subnets, one per request.
        const body = { name: `s${n}`, type: "nat", cidr: `10.${16 + Math.floor(n / 256)}.${n % 256}.0/24`, host };
        return { ...req, body: JSON.stringify(body) };
      },
    },
  ];
} else if (mode === "post") {
  opts.body = process.env.LOAD_BODY ?? "{}";
}

if (mode === "latency-get" || mode === "latency-post") {
  // Sub-millisecond medians: one keep-alive connection, sequential requests timed with performance.now()
  // (autocannon's histogram counts whole milliseconds). LOAD_CLIENT=fetch (undici, what a Node program or a
  // browser-like client uses; ~0.6-0.9 ms of its own per request on this box) or http (node:http with a
  // keep-alive agent: the lighter client, closer to curl or Go's net/http).
  const n = Number(process.env.LOAD_REQUESTS ?? 2000);
  const client = process.env.LOAD_CLIENT ?? "fetch";
  const body = mode === "latency-get" ? undefined : (process.env.LOAD_BODY ?? "{}");
  const init: RequestInit = body === undefined ? { headers } : { method: "POST", headers, body };
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const u = new URL(url);
  const viaHttp = (): Promise<number> =>
    new Promise((resolve, reject) => {
      const h: Record<string, string> = { ...headers };
      if (body !== undefined) h["content-length"] = String(Buffer.byteLength(body));
      const req = http.request(
        { agent, host: u.hostname, port: u.port, path: u.pathname + u.search, method: body === undefined ? "GET" : "POST", headers: h },
        (res) => {
          res.on("data", () => undefined);
          res.on("end", () => resolve(res.statusCode ?? 0));
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  const viaFetch = async (): Promise<number> => {
    const res = await fetch(url, init);
    await res.arrayBuffer();
    return res.status;
  };
  const once = client === "http" ? viaHttp : viaFetch;
  const times: number[] = [];
  let non2xx = 0;
  for (let k = 0; k < n + 100; k++) {
    const t0 = performance.now();
    const status = await once();
    const dt = performance.now() - t0;
    if (status >= 300) non2xx++;
    if (k >= 100) times.push(dt); // the first 100 warm up
  }
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(times.length * q))] as number;
  process.stdout.write(
    `${JSON.stringify({ rps: 0, total: n, p50: at(0.5), p99: at(0.99), non2xx, errors: 0, timeouts: 0, statusCodes: {} })}\n`,
  );
  process.exit(0);
}

const r = await autocannon(opts);
const usage = process.resourceUsage();
process.stdout.write(
  `${JSON.stringify({
    // This process's own CPU (ms): the load generator's share of the machine.
    cpuMs: (usage.userCPUTime + usage.systemCPUTime) / 1000,
    rps: r.requests.average,
    total: r.requests.total,
    p50: r.latency.p50,
    p99: r.latency.p99,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    statusCodes: r.statusCodeStats,
  })}\n`,
);

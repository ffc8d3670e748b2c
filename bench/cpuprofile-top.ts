/**
 * Where the time went, from a V8 CPU profile (node --cpu-prof; bench/scale.ts
 * writes one with BENCH_API_PROF=<dir>): self time grouped by package (or
 * netforge source file), then the top functions. `tsx bench/cpuprofile-top.ts <file>`.
 */
import { readFileSync } from "node:fs";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
const prof = JSON.parse(readFileSync(process.argv[2] as string, "utf8")) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
const self = new Map<number, number>();
prof.samples.forEach((id, i) => {
  self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0));
});
const total = [...self.values()].reduce((a, b) => a + b, 0);
const byNode = new Map(prof.nodes.map((n) => [n.id, n]));
const group = (url: string): string => {
  if (!url) return "(native/gc/idle)";
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1] as string;
  const own = /\/(apps|packages)\/(.+)$/.exec(url);
  if (own) return `netforge ${own[1]}/${own[2]}`;
  if (url.startsWith("node:")) return url;
  return url.split("/").slice(-2).join("/");
};
const groups = new Map<string, number>();
const fns = new Map<string, number>();
for (const [id, t] of self) {
  const n = byNode.get(id);
  if (!n) continue;
  const g = n.callFrame.functionName === "(idle)" ? "(idle)" : group(n.callFrame.url);
  groups.set(g, (groups.get(g) ?? 0) + t);
  const f = `${n.callFrame.functionName || "(anonymous)"} ${group(n.callFrame.url)}:${n.callFrame.lineNumber}`;
  fns.set(f, (fns.get(f) ?? 0) + t);
}
const pct = (t: number) => `${((t / total) * 100).toFixed(1)}%`;
console.log(`total ${(total / 1e6).toFixed(1)} s sampled`);
for (const [g, t] of [...groups].sort((a, b) => b[1] - a[1]).slice(0, 20)) console.log(`${pct(t).padStart(6)}  ${g}`);
console.log("--- top functions (self) ---");
for (const [f, t] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`${pct(t).padStart(6)}  ${f}`);

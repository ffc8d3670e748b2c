/**
 * What a V8 heap snapshot holds, by constructor / object name (self sizes):
 * `tsx bench/heap-top.ts <before.heapsnapshot> <after.heapsnapshot> [streams]`
 * prints the difference per name (and per stream when given), largest first.
 */
import { readFileSync } from "node:fs";

function byName(file: string): Map<string, { size: number; count: number }> {
  const snap = JSON.parse(readFileSync(file, "utf8")) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const f = snap.snapshot.meta.node_fields;
  const stride = f.length;
  const iType = f.indexOf("type");
  const iName = f.indexOf("name");
  const iSize = f.indexOf("self_size");
  const types = snap.snapshot.meta.node_types[0];
  const out = new Map<string, { size: number; count: number }>();
  for (let i = 0; i < snap.nodes.length; i += stride) {
    const type = types[snap.nodes[i + iType] as number] as string;
    const name = type === "object" || type === "closure" ? (snap.strings[snap.nodes[i + iName] as number] as string) : `(${type})`;
    const e = out.get(name) ?? { size: 0, count: 0 };
    e.size += snap.nodes[i + iSize] as number;
    e.count += 1;
    out.set(name, e);
  }
  return out;
}

const [a, b, streamsArg] = process.argv.slice(2);
const before = byName(a as string);
const after = byName(b as string);
const streams = Number(streamsArg ?? 1);
const rows = [...after]
  .map(([name, v]) => ({ name, size: v.size - (before.get(name)?.size ?? 0), count: v.count - (before.get(name)?.count ?? 0) }))
  .sort((x, y) => y.size - x.size)
  .slice(0, 30);
const total = rows.reduce((s, r) => s + r.size, 0);
console.log(`top 30 growth: ${(total / 1024 / 1024).toFixed(1)} MB, ${(total / streams).toFixed(0)} B per stream`);
for (const r of rows) {
  console.log(
    `${(r.size / streams).toFixed(0).padStart(6)} B/stream ${String(Math.round(r.count / streams)).padStart(4)}x  ${r.name.slice(0, 80)}`,
  );
}

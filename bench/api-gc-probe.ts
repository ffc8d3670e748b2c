/**
 * Preloaded into the API by bench/scale.ts only (`node --expose-gc --import
 * bench/api-gc-probe.ts`): on SIGUSR2, a full garbage collection, then the
 * process's memory (process.memoryUsage) written to BENCH_GC_PROBE_OUT. The
 * bench samples RSS both without (what the process holds at that moment,
 * collected garbage or not) and after this GC (what the streams keep alive),
 * so the figure no longer depends on when V8 last collected. Not part of
 * the product: the API itself never forces a collection.
 */
import { writeFileSync } from "node:fs";
import { writeHeapSnapshot } from "node:v8";

const out = process.env.BENCH_GC_PROBE_OUT;
if (out) {
  process.on("SIGUSR2", () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    gc?.();
    const memory = process.memoryUsage();
    // BENCH_HEAP_SNAPSHOT=<dir>: also a heap snapshot (what each stream keeps; bench/heap-top.ts summarises it).
    if (process.env.BENCH_HEAP_SNAPSHOT) writeHeapSnapshot(`${process.env.BENCH_HEAP_SNAPSHOT}/api-${Date.now()}.heapsnapshot`);
    writeFileSync(out, JSON.stringify({ gc: gc !== undefined, ...memory }));
  });
}

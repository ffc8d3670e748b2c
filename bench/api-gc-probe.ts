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

const out = process.env.BENCH_GC_PROBE_OUT;
if (out) {
  process.on("SIGUSR2", () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    gc?.();
    writeFileSync(out, JSON.stringify({ gc: gc !== undefined, ...process.memoryUsage() }));
  });
}

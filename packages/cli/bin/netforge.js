#!/usr/bin/env node
// In a checkout (sources and tsx present) the TypeScript sources run through tsx, so they are never stale;
// in a production install only the compiled dist/main.js (npm run build) is there.
import { existsSync } from "node:fs";

const src = new URL("../src/main.ts", import.meta.url);
const dist = new URL("../dist/main.js", import.meta.url);
let mod;
let tsx = null;
if (existsSync(src)) tsx = await import("tsx/esm/api").catch(() => null);
if (tsx) {
  tsx.register();
  mod = await import(src.href);
} else if (existsSync(dist)) {
  mod = await import(dist.href);
} else {
  process.stderr.write("netforge: neither the sources with tsx nor a build (npm run build) were found\n");
  process.exit(1);
}
await mod.main();

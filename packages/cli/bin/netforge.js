#!/usr/bin/env node
// The checkout's launcher (`npx netforge`): with the sources and tsx present the TypeScript sources run through
// tsx, so they are never stale; else the compiled dist/main.js (npm run build). The installed command is another
// file: dist/netforge.js, a standalone bundle that scripts/install-cli.sh installs (see the README).
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

#!/usr/bin/env node
// The compiled CLI when built (npm run build), else the TypeScript sources through tsx (a workspace after npm ci).
import { existsSync } from "node:fs";

const dist = new URL("../dist/main.js", import.meta.url);
let mod;
if (existsSync(dist)) {
  mod = await import(dist.href);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  mod = await import(new URL("../src/main.ts", import.meta.url).href);
}
await mod.main();

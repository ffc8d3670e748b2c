/** Reading netforge's systemd units (deploy/systemd/) in tests: their settings and the worker's capability set. */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const DEPLOY_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "deploy");

/** Section -> key -> every value assigned, in order (systemd's own rule: an empty assignment resets the list). */
export type UnitSettings = Map<string, Map<string, string[]>>;

export function parseUnit(text: string): UnitSettings {
  const out: UnitSettings = new Map();
  let section = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const s = /^\[(.+)\]$/.exec(line);
    if (s) {
      section = s[1] as string;
      if (!out.has(section)) out.set(section, new Map());
      continue;
    }
    const eq = line.indexOf("=");
    if (eq < 0) throw new Error(`not a setting: ${line}`);
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    const keys = out.get(section) ?? new Map<string, string[]>();
    out.set(section, keys);
    keys.set(key, value === "" ? [] : [...(keys.get(key) ?? []), value]);
  }
  return out;
}

export function readUnit(name: string): { path: string; text: string; settings: UnitSettings } {
  const path = join(DEPLOY_DIR, "systemd", name);
  const text = readFileSync(path, "utf8");
  return { path, text, settings: parseUnit(text) };
}

/** A [Service] setting's values as one space-separated list (CapabilityBoundingSet=, RestrictAddressFamilies=...). */
export function serviceList(settings: UnitSettings, key: string): string[] {
  return (settings.get("Service")?.get(key) ?? []).flatMap((v) => v.split(/\s+/)).filter((x) => x !== "");
}

/**
 * The capabilities a unit grants: its CapabilityBoundingSet= (what a uid 0 service gets) and its
 * AmbientCapabilities=, as setpriv names them (lowercase, no CAP_ prefix).
 */
export function unitCapabilities(name: string): { bounding: string[]; ambient: string[] } {
  const { settings } = readUnit(name);
  const norm = (l: string[]) => l.map((c) => c.replace(/^CAP_/i, "").toLowerCase()).sort();
  return { bounding: norm(serviceList(settings, "CapabilityBoundingSet")), ambient: norm(serviceList(settings, "AmbientCapabilities")) };
}

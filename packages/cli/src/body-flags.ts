/**
 * Command-line flags derived from an action's request schema (its JSON
 * Schema, generated from the same zod schema the API validates with), and
 * the request body built back from them. Nested fields become dashed flags
 * (dhcp.leaseTime -> --dhcp-lease-time), booleans get --x/--no-x, a field
 * that may be `false` instead of an object gets --no-<field>, variants of a
 * discriminated union are merged (their discriminator becomes a choice).
 */
import { CliError, EXIT } from "./exit-codes";

type JsonSchema = Record<string, any>;

export type FlagKind = "string" | "integer" | "number" | "boolean" | "false" | "list" | "json";

export interface FlagSpec {
  /** Path of the field in the body. */
  path: string[];
  /** Long option name without dashes. */
  flag: string;
  kind: FlagKind;
  choices?: string[];
  description?: string;
  /** Element kind of a list. */
  itemKind?: "string" | "integer" | "number";
}

export const kebab = (s: string) => s.replace(/([a-z0-9])([A-Z])/g, "$1-$2").toLowerCase();

function variantsOf(s: JsonSchema): JsonSchema[] {
  return [...(s.oneOf ?? []), ...(s.anyOf ?? [])];
}

function kindOf(s: JsonSchema): FlagKind {
  switch (
    s.type // not-a-network-type: a JSON Schema type
  ) {
    case "string":
      return "string";
    case "integer":
      return "integer";
    case "number":
      return "number";
    case "boolean":
      return "boolean";
    case "array":
      // A list of objects (firewall rules, host services) is given whole, as a JSON array.
      return s.items?.type === "object" ? "json" : "list";
    default:
      return "json";
  }
}

/** Every field of the body as a flag, in schema order, variants merged. */
export function flagsOf(schema: JsonSchema, exclude: string[] = []): FlagSpec[] {
  const byFlag = new Map<string, FlagSpec>();
  const add = (spec: FlagSpec) => {
    const had = byFlag.get(spec.flag);
    if (!had) {
      byFlag.set(spec.flag, spec);
      return;
    }
    if (spec.choices) had.choices = [...new Set([...(had.choices ?? []), ...spec.choices])];
    had.description ??= spec.description;
  };
  const walk = (s: JsonSchema, path: string[]) => {
    const variants = variantsOf(s);
    if (variants.length > 0 && path.length > 0 && variants.some((v) => v.const === false)) {
      add({ path, flag: path.map(kebab).join("-"), kind: "false", description: `no ${path.join(".")}` });
    }
    for (const v of variants) if (v.const !== false) walk(v, path);
    if (variants.length > 0) return;
    if (s.type === "object" && s.properties) {
      for (const [k, sub] of Object.entries(s.properties as Record<string, JsonSchema>)) {
        if (path.length === 0 && exclude.includes(k)) continue;
        walk(sub, [...path, k]);
      }
      return;
    }
    if (path.length === 0) return;
    const spec: FlagSpec = { path, flag: path.map(kebab).join("-"), kind: kindOf(s) };
    if (typeof s.description === "string") spec.description = s.description;
    if (s.const !== undefined && typeof s.const === "string") spec.choices = [s.const];
    if (Array.isArray(s.enum)) spec.choices = s.enum.map(String);
    if (spec.kind === "list") {
      const it = kindOf(s.items ?? {});
      spec.itemKind = it === "integer" || it === "number" ? it : "string";
    }
    add(spec);
  };
  walk(schema, []);
  return [...byFlag.values()];
}

/** The field given as the positional argument: a required `name` (or `network`) of the body. */
export function positionalOf(schema: JsonSchema): string | null {
  const required = new Set<string>();
  const collect = (s: JsonSchema) => {
    for (const r of s.required ?? []) required.add(r);
    for (const v of variantsOf(s)) collect(v);
  };
  collect(schema);
  for (const k of ["name", "network"]) if (required.has(k)) return k;
  return null;
}

function parseScalar(raw: string, kind: "string" | "integer" | "number", flag: string): string | number {
  if (kind === "string") return raw;
  const n = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(n) || (kind === "integer" && !Number.isInteger(n))) {
    throw new CliError(`--${flag}: '${raw}' is not ${kind === "integer" ? "an integer" : "a number"}`, EXIT.VALIDATION);
  }
  return n;
}

/** The value of one flag as commander handed it over, converted for the body. */
export function convertFlag(spec: FlagSpec, raw: unknown): unknown {
  switch (spec.kind) {
    case "boolean":
      return Boolean(raw);
    case "false":
      return false;
    case "integer":
    case "number":
      return parseScalar(String(raw), spec.kind, spec.flag);
    case "list": {
      const parts = (Array.isArray(raw) ? raw : [raw])
        .flatMap((r) => String(r).split(","))
        .map((p) => p.trim())
        .filter((p) => p !== "");
      return parts.map((p) => parseScalar(p, spec.itemKind ?? "string", spec.flag));
    }
    case "json":
      try {
        return JSON.parse(String(raw));
      } catch {
        throw new CliError(`--${spec.flag}: expected JSON, got '${String(raw)}'`, EXIT.VALIDATION);
      }
    default:
      if (spec.choices && !spec.choices.includes(String(raw))) {
        throw new CliError(`--${spec.flag}: '${String(raw)}' is not one of ${spec.choices.join(", ")}`, EXIT.VALIDATION);
      }
      return String(raw);
  }
}

/** Set `value` at `path` in `body`, refusing to put fields into a value that is not an object (e.g. --no-dhcp with --dhcp-start). */
export function setPath(body: Record<string, unknown>, path: string[], value: unknown, flag: string): void {
  let o = body;
  for (const [i, k] of path.slice(0, -1).entries()) {
    const next = o[k];
    if (next === undefined) o[k] = {};
    else if (next === null || typeof next !== "object" || Array.isArray(next)) {
      throw new CliError(`--${flag} cannot be combined with ${path.slice(0, i + 1).join(".")}=${JSON.stringify(next)}`, EXIT.VALIDATION);
    }
    o = o[k] as Record<string, unknown>;
  }
  const last = path[path.length - 1] as string;
  if (value === false && typeof o[last] === "object" && o[last] !== null) {
    throw new CliError(`--${flag} cannot be combined with flags setting ${path.join(".")}.*`, EXIT.VALIDATION);
  }
  o[last] = value;
}

/** The request body: the --file object, then the positional, then the flags given (flags win). */
export function buildBody(
  specs: FlagSpec[],
  options: Record<string, unknown>,
  base: Record<string, unknown>,
  positional: { key: string; value: string } | null,
): Record<string, unknown> {
  const body: Record<string, unknown> = structuredClone(base);
  if (positional) body[positional.key] = positional.value;
  // "false" flags first, so combining --no-dhcp with --dhcp-start is reported whichever order they were typed in.
  const ordered = [...specs.filter((s) => s.kind === "false"), ...specs.filter((s) => s.kind !== "false")];
  for (const spec of ordered) {
    const raw = options[optionKey(spec)];
    if (raw === undefined) continue;
    if (spec.kind === "false" && raw !== false) continue;
    setPath(body, spec.path, convertFlag(spec, raw), spec.flag);
  }
  return body;
}

/** The key commander stores an option under (camelCase of the flag; "false" flags are the negation of that key). */
export function optionKey(spec: FlagSpec): string {
  return spec.flag.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

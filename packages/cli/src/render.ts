/**
 * Readable output of API answers, generic over the action table: a list
 * answer ({ <things>: [...] }) becomes a table, a single object
 * ({ network: {...} }) a list of "key: value" lines with nested fields dotted.
 */
import Table from "cli-table3";

/** How a command prints its answer: tables and key lines for people, JSON or YAML for programs. */
export type Format = "table" | "json" | "yaml";

/** The format of the global flags: -o/--output wins, --json is -o json, else table. */
export function formatOf(g: { output?: string; json?: boolean }): Format {
  if (g.output === "json" || g.output === "yaml" || g.output === "table") return g.output;
  return g.json === true ? "json" : "table";
}

let yaml: typeof import("yaml") | null = null;
/** Load the YAML writer (runCli does when the arguments ask for YAML): only -o yaml pays for it at start. */
export async function loadYaml(): Promise<void> {
  // yaml is CommonJS: the bundle's import() may hand back module.exports as `default`.
  const m = (await import("yaml")) as typeof import("yaml") & { default?: typeof import("yaml") };
  yaml ??= typeof m.stringify === "function" ? m : (m.default ?? null);
}

/** `value` as JSON (2-space indent) or YAML (loadYaml first). */
export function serialize(format: "json" | "yaml" | Format, value: unknown): string {
  if (format === "yaml") {
    if (!yaml) throw new Error("YAML output asked for before loadYaml()");
    return yaml.stringify(value, { lineWidth: 0 }).replace(/\n$/, "");
  }
  return JSON.stringify(value, null, 2);
}

/** Columns shown first for known row kinds; other scalar fields follow (within the column budget). */
const PREFERRED_COLUMNS: Record<string, string[]> = {
  networks: ["name", "type", "state", "cidr", "host", "autostart"],
  hosts: ["id", "status", "hostname", "networks", "libvirtVersion", "lastSeenAt"],
  jobs: ["id", "action", "network", "host", "state", "createdAt", "finishedAt"],
};
const MAX_COLUMNS = 8;

function isScalar(v: unknown): boolean {
  return v === null || ["string", "number", "boolean"].includes(typeof v);
}

export function cell(v: unknown): string {
  if (v === null || v === undefined) return "-";
  if (Array.isArray(v)) return v.every(isScalar) ? v.map(cell).join(", ") || "-" : `${v.length} item(s)`;
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

/** A table cell on one line and of bounded width (the full value is in --json). */
export function short(text: string, max = 60): string {
  const one = text.replace(/\s*\n\s*/g, " ");
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}

/** `rows` as a borderless table with upper-case headers. */
export function table(rows: Record<string, unknown>[], kind: string): string {
  if (rows.length === 0) return `(no ${kind})`;
  const first = rows[0] as Record<string, unknown>;
  const scalarKeys = Object.keys(first).filter(
    (k) => isScalar(first[k]) || (Array.isArray(first[k]) && (first[k] as unknown[]).every(isScalar)),
  );
  const preferred = (PREFERRED_COLUMNS[kind] ?? []).filter((k) => k in first);
  const columns = [...preferred, ...scalarKeys.filter((k) => !preferred.includes(k))].slice(0, MAX_COLUMNS);
  const t = new Table({
    head: columns.map((c) => c.replace(/([a-z])([A-Z])/g, "$1 $2").toUpperCase()),
    style: { head: [], border: [], "padding-left": 0, "padding-right": 2 },
    chars: {
      top: "",
      "top-mid": "",
      "top-left": "",
      "top-right": "",
      bottom: "",
      "bottom-mid": "",
      "bottom-left": "",
      "bottom-right": "",
      left: "",
      "left-mid": "",
      mid: "",
      "mid-mid": "",
      right: "",
      "right-mid": "",
      middle: "",
    },
  });
  for (const r of rows) t.push(columns.map((c) => short(cell(r[c]))));
  return t
    .toString()
    .split("\n")
    .map((l) => l.trimEnd())
    .join("\n");
}

/** Flatten nested objects to dotted keys. */
export function flatten(o: Record<string, unknown>, prefix = ""): [string, unknown][] {
  const out: [string, unknown][] = [];
  for (const [k, v] of Object.entries(o)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length > 0)
      out.push(...flatten(v as Record<string, unknown>, key));
    else out.push([key, v]);
  }
  return out;
}

/** An argv as one line a shell runs as the same argv (so a plan's commands can be pasted). */
export function shellQuote(argv: readonly string[]): string {
  return argv.map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(" ");
}

const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === "string");
const isObjectList = (v: unknown): v is Record<string, unknown>[] =>
  Array.isArray(v) && v.length > 0 && v.every((r) => r !== null && typeof r === "object" && !Array.isArray(r));

/** One object of a nested list (a firewall rule, a host service) on one line: its set fields as key=value. */
function inline(o: Record<string, unknown>): string {
  return flatten(o)
    .filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => `${k}=${/\s/.test(cell(v)) ? JSON.stringify(cell(v)) : cell(v)}`)
    .join(" ");
}

export function keyValues(o: Record<string, unknown>): string {
  const pairs = flatten(o);
  const width = Math.max(...pairs.map(([k]) => k.length));
  return pairs
    .map(([k, v]) => {
      // A list of objects (a network's firewall rules) is shown, one per line, not counted.
      if (isObjectList(v)) return `${k}:\n${v.map((x) => `    - ${inline(x)}`).join("\n")}`;
      const text = cell(v);
      // Multi-line values (libvirt XML of a plan) start on their own line, indented.
      if (text.includes("\n")) return `${k}:\n${text.replace(/^/gm, "    ")}`;
      return `${`${k}:`.padEnd(width + 2)}${text}`;
    })
    .join("\n");
}

/** Render any answer of a query action. */
export function renderAnswer(body: unknown): string {
  if (body === null || typeof body !== "object") return String(body);
  const o = body as Record<string, unknown>;
  const lists = Object.entries(o).filter(([, v]) => Array.isArray(v));
  const out: string[] = [];
  // A list answer ({ networks: [...], nextCursor }): one list beside scalars only; anything else is one object.
  const othersScalar = Object.entries(o).every(([, v]) => Array.isArray(v) || isScalar(v));
  if (lists.length === 1 && othersScalar) {
    const [kind, rows] = lists[0] as [string, unknown[]];
    out.push(
      rows.every((r) => r !== null && typeof r === "object") ? table(rows as Record<string, unknown>[], kind) : rows.map(cell).join("\n"),
    );
    const rest = Object.fromEntries(Object.entries(o).filter(([k, v]) => k !== kind && v !== null && v !== undefined));
    if ("nextCursor" in rest) out.push(`(more: repeat with --cursor ${cell(rest.nextCursor)})`);
    return out.join("\n");
  }
  const objects = Object.values(o).filter((v) => v !== null && typeof v === "object" && !Array.isArray(v));
  if (objects.length === 1 && Object.keys(o).length === 1) return describeObject(objects[0] as Record<string, unknown>);
  return describeObject(o);
}

const isRowList = (v: unknown): v is Record<string, unknown>[] =>
  Array.isArray(v) && v.length > 0 && v.every((r) => r !== null && typeof r === "object" && !Array.isArray(r));

/** A step that runs a command (a plan's step, a result's applied step): it carries `command`, an argv. */
const isCommandList = (v: Record<string, unknown>[]): boolean => v.every((r) => isStringList(r.command));

/**
 * Steps with their commands, numbered, each command on its own line as a shell would run it, and the text it
 * feeds (libvirt XML, nft) indented below it.
 */
export function renderSteps(steps: Record<string, unknown>[]): string {
  return steps
    .map((s, i) => {
      const name = typeof s.name === "string" ? s.name : typeof s.step === "string" ? s.step : `step ${i + 1}`;
      const lines = [`  ${i + 1}. ${name}${s.live === false ? " (not live: the definition only)" : ""}`];
      lines.push(`       $ ${shellQuote(s.command as string[])}`);
      for (const k of ["xml", "nft"]) {
        const text = s[k];
        if (typeof text === "string" && text !== "") lines.push(text.trimEnd().replace(/^/gm, "         "));
      }
      return lines.join("\n");
    })
    .join("\n");
}

/** "key: value" lines, then each list of objects in it (a plan's steps, a result's applied commands) as a table. */
export function describeObject(o: Record<string, unknown>): string {
  // A text a step shows under itself (a plan's libvirtXml is its define step's XML) is not shown twice.
  const underSteps = new Set(
    Object.values(o)
      .filter(isRowList)
      .flatMap((rows) => (isCommandList(rows) ? rows.flatMap((r) => [r.xml, r.nft]) : []))
      .filter((t): t is string => typeof t === "string" && t !== ""),
  );
  const scalars = Object.fromEntries(Object.entries(o).filter(([, v]) => !isRowList(v) && !(typeof v === "string" && underSteps.has(v))));
  const out = Object.keys(scalars).length > 0 ? [keyValues(scalars)] : [];
  for (const [k, v] of Object.entries(o)) {
    if (!isRowList(v)) continue;
    out.push(`${k}:\n${isCommandList(v) ? renderSteps(v) : table(v, k)}`);
  }
  return out.join("\n\n");
}

/**
 * docs/api.md (the contract in the repository) and /openapi.json (what the API serves) say the same thing:
 * - every operation of the document has its place in the doc (an action: a `### <action>` section under
 *   "## Actions"; any other path: its `GET <path>` named), and every action section is an operation;
 * - each action's role and kind in "Actions at a glance" are the document's;
 * - the error table has every code of core's errors.ts with its HTTP status, and no other code;
 * - every top-level request body property of an action (create-network: of every type's variant) is named,
 *   as `field`, in that action's section;
 * - every environment variable the code reads (the API, the worker, core, the CLI) is named in
 *   "## Configuration", and every variable the configuration tables list is read by the code.
 * Each check reports what is missing on which side.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildOpenApiDocument } from "@netforge/api/openapi";
import { ERROR_STATUS } from "@netforge/core/contract";
import { describe, expect, it } from "vitest";
import { variablesRead } from "./support/env-vars";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const DOC_PATH = "docs/api.md";
const DOC = readFileSync(join(ROOT, DOC_PATH), "utf8");

type JsonSchema = { properties?: Record<string, unknown>; oneOf?: JsonSchema[]; anyOf?: JsonSchema[] };
interface Operation {
  description?: string;
  requestBody?: { content: { "application/json": { schema: JsonSchema } } };
  responses: Record<string, unknown>;
}
const openapi = buildOpenApiDocument() as { paths: Record<string, Record<string, Operation>> };

/** The doc's lines outside fenced code blocks, with their heading level (0: not a heading). */
function lines(md: string): { text: string; level: number }[] {
  let fenced = false;
  return md.split("\n").map((text) => {
    if (/^\s*```/.test(text)) fenced = !fenced;
    const m = fenced ? null : /^(#{1,6}) /.exec(text);
    return { text, level: m ? (m[1] as string).length : 0 };
  });
}

/** Sections of one heading level: title -> its text up to the next heading of that level or above. */
function sections(md: string, level: number): Map<string, string> {
  const out = new Map<string, string>();
  let title: string | null = null;
  let body: string[] = [];
  const flush = () => {
    if (title !== null) out.set(title, body.join("\n"));
  };
  for (const l of lines(md)) {
    if (l.level > 0 && l.level <= level) {
      flush();
      title = l.level === level ? l.text.slice(level + 1).trim() : null;
      body = [];
    } else if (title !== null) body.push(l.text);
  }
  flush();
  return out;
}

function section(md: string, level: number, title: string): string {
  const s = sections(md, level).get(title);
  if (s === undefined) throw new Error(`${DOC_PATH} has no ${"#".repeat(level)} ${title} section`);
  return s;
}

/** The markdown tables of a text: each a list of rows of trimmed cells, the header row first. */
function tables(md: string): string[][][] {
  const out: string[][][] = [];
  let cur: string[][] | null = null;
  for (const { text } of lines(md)) {
    if (!/^\s*\|/.test(text)) {
      cur = null;
      continue;
    }
    // Split on pipes that are not escaped (`tcp \| udp` inside a cell).
    const cells = text
      .trim()
      .replace(/^\||\|$/g, "")
      .split(/(?<!\\)\|/)
      .map((c) => c.trim());
    if (cells.every((c) => /^:?-+:?$/.test(c))) continue;
    if (cur === null) {
      cur = [];
      out.push(cur);
    }
    cur.push(cells);
  }
  return out;
}

/** The table whose header starts with these cells. */
function tableWithHeader(md: string, header: string[]): string[][] {
  const t = tables(md).find((rows) => header.every((h, i) => rows[0]?.[i] === h));
  if (!t) throw new Error(`${DOC_PATH} has no table with the header | ${header.join(" | ")} |`);
  return t.slice(1);
}

const unquote = (cell: string) => cell.replace(/^`|`$/g, "");
/** What one side has that the other lacks, for a readable failure. */
const sides = (doc: Iterable<string>, code: Iterable<string>, docName: string, codeName: string) => {
  const d = new Set(doc);
  const c = new Set(code);
  return {
    [`in ${codeName}, missing from ${docName}`]: [...c].filter((x) => !d.has(x)).sort(),
    [`in ${docName}, missing from ${codeName}`]: [...d].filter((x) => !c.has(x)).sort(),
  };
};
const noneMissing = (docName: string, codeName: string) => ({
  [`in ${codeName}, missing from ${docName}`]: [],
  [`in ${docName}, missing from ${codeName}`]: [],
});

/** The actions of the document: its `POST /api/<action>` operations. */
const ACTION_PATH = /^\/api\/([a-z][a-z0-9-]*)$/;
const documentActions = Object.entries(openapi.paths)
  .filter(([path, ops]) => ACTION_PATH.test(path) && ops.post !== undefined)
  .map(([path, ops]) => ({ name: (ACTION_PATH.exec(path) as RegExpExecArray)[1] as string, op: ops.post as Operation }));
const actionSections = sections(section(DOC, 2, "Actions"), 3);

describe(`${DOC_PATH} and the OpenAPI document`, () => {
  it("every operation of the document has its `### <action>` section under ## Actions, and every section is an operation", () => {
    expect(documentActions.length).toBeGreaterThan(10);
    expect(
      sides(
        actionSections.keys(),
        documentActions.map((a) => a.name),
        `${DOC_PATH} ## Actions`,
        "/openapi.json",
      ),
    ).toEqual(noneMissing(`${DOC_PATH} ## Actions`, "/openapi.json"));
  });

  it("every other path of the document is named in the doc (as `GET /path`, {param} written <param>)", () => {
    const others = Object.entries(openapi.paths).flatMap(([path, ops]) =>
      Object.keys(ops)
        .filter((method) => !(method === "post" && ACTION_PATH.test(path)))
        .map((method) => `${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, "<$1>")}`),
    );
    expect(others.length).toBeGreaterThan(3);
    expect(others.filter((o) => !DOC.includes(o))).toEqual([]);
  });

  it("each action's role and kind in 'Actions at a glance' are the document's", () => {
    const rows = tableWithHeader(section(DOC, 2, "Actions at a glance"), ["Action", "Kind", "Role"]);
    const inDoc = rows.map((r) => `${unquote(r[0] as string)}: ${r[1]}, role ${r[2]}`);
    const inDocument = documentActions.map(({ name, op }) => {
      const role = /Requires role '(\w+)'/.exec(op.description ?? "")?.[1] ?? "(none)";
      return `${name}: ${op.responses["202"] ? "job" : "query"}, role ${role}`;
    });
    expect(sides(inDoc, inDocument, "the glance table", "/openapi.json")).toEqual(noneMissing("the glance table", "/openapi.json"));
  });

  it("the error table has every code of errors.ts with its HTTP status, and no other", () => {
    const rows = tableWithHeader(section(DOC, 3, "Errors"), ["Code", "HTTP", "When"]);
    expect(rows.length).toBeGreaterThan(10);
    const inDoc = rows.map((r) => `${unquote(r[0] as string)} ${r[1]}`);
    const inCode = Object.entries(ERROR_STATUS).map(([code, status]) => `${code} ${status}`);
    for (const r of rows) expect(r[2], `the When of ${r[0]}`).not.toBe("");
    expect(sides(inDoc, inCode, "the error table", "errors.ts")).toEqual(noneMissing("the error table", "errors.ts"));
  });

  it("every top-level request body property of an action is named in its section", () => {
    const missing: string[] = [];
    let checked = 0;
    for (const { name, op } of documentActions) {
      const schema = op.requestBody?.content["application/json"].schema;
      if (!schema) {
        missing.push(`${name}: the document has no request body schema`);
        continue;
      }
      // A union (create-network: one variant per type): every variant's properties.
      const variants = [schema, ...(schema.oneOf ?? []), ...(schema.anyOf ?? [])];
      const props = new Set(variants.flatMap((v) => Object.keys(v.properties ?? {})));
      const text = actionSections.get(name);
      if (text === undefined) continue; // reported by the section check above
      for (const p of props) {
        checked += 1;
        if (!text.includes(`\`${p}\``)) missing.push(`${name}: \`${p}\` is not named in ### ${name}`);
      }
    }
    expect(checked).toBeGreaterThan(40);
    expect(missing).toEqual([]);
  });
});

describe(`${DOC_PATH} ## Configuration`, () => {
  const config = section(DOC, 2, "Configuration");
  const read = variablesRead();

  it("names every environment variable the code reads", () => {
    // What the scan must find (a scan finding nothing would pass vacuously).
    for (const v of ["REDIS_URL", "HOST_ID", "PORT", "NETFORGE_TOKENS", "NETFORGE_MAX_RULES_PER_HOST", "NETFORGE_JOB_RETENTION_SECONDS"]) {
      expect(read.has(v), `${v} found in the sources`).toBe(true);
    }
    const missing = [...read].filter(([v]) => !config.includes(`\`${v}\``)).map(([v, file]) => `${v} (read in ${file})`);
    expect(missing).toEqual([]);
  });

  it("lists in its tables only variables the code reads", () => {
    const listed = tables(config).flatMap((rows) =>
      rows.slice(1).flatMap((r) => [...(r[0] ?? "").matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map((m) => m[1] as string)),
    );
    expect(listed.length).toBeGreaterThan(30);
    expect(listed.filter((v) => !read.has(v))).toEqual([]);
  });
});

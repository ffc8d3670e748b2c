/**
 * docs/api.md's action tables are written from the action definitions: each action's kind, role, CLI words,
 * summary, job steps and extra query errors, as an operator reads them. A definition changed without the
 * documented contract (or the reverse) fails here, naming the action and the column.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ACTIONS, JOB_DEFINITIONS, QUERY_DEFINITIONS } from "./index";

const DOC = readFileSync(join(__dirname, "..", "..", "..", "..", "docs", "api.md"), "utf8");

/** The rows of the markdown table whose header row is exactly `header` (cells trimmed, backticks kept). */
function table(header: readonly string[]): string[][] {
  const lines = DOC.split("\n");
  const cells = (l: string) =>
    l
      .trim()
      .replace(/^\||\|$/g, "")
      .split("|")
      .map((c) => c.trim());
  const start = lines.findIndex((l) => l.trim().startsWith("|") && cells(l).join("\u0000") === header.join("\u0000"));
  if (start < 0) throw new Error(`docs/api.md has no table with the header ${header.join(" | ")}`);
  const rows: string[][] = [];
  for (const l of lines.slice(start + 2)) {
    if (!l.trim().startsWith("|")) break;
    rows.push(cells(l));
  }
  return rows;
}
const unquote = (c: string) => c.replace(/^`|`$/g, "");

describe("docs/api.md's action tables match the definitions", () => {
  it("at a glance: every action once, in the definitions' order, with its kind, role, CLI words and summary", () => {
    const rows = table(["Action", "Kind", "Role", "CLI", "Summary"]);
    const documented = rows.map(([action, kind, role, cli, summary]) => ({ action: unquote(action ?? ""), kind, role, cli, summary }));
    const defined = Object.entries(ACTIONS).map(([action, d]) => ({
      action,
      kind: d.kind,
      role: d.role,
      cli: `\`netforge ${d.cli.join(" ")}\``,
      summary: d.summary,
    }));
    expect(documented).toEqual(defined);
  });

  it("the steps of every job action, in order", () => {
    const rows = table(["Action", "Steps its job reports, in order"]);
    const documented = Object.fromEntries(rows.map(([action, steps]) => [unquote(action ?? ""), (steps ?? "").split(" → ").map(unquote)]));
    const defined = Object.fromEntries(Object.entries(JOB_DEFINITIONS).map(([action, d]) => [action, [...d.steps]]));
    expect(documented).toEqual(defined);
  });

  it("the answers of a query beyond the common errors", () => {
    const rows = table(["Action", "HTTP", "When"]);
    const documented = rows.map(([action, status, when]) => [unquote(action ?? ""), status, when]);
    const defined = Object.entries(QUERY_DEFINITIONS).flatMap(([action, d]) =>
      Object.entries(("errors" in d ? d.errors : undefined) ?? {}).map(([status, when]) => [action, status, when]),
    );
    expect(documented).toEqual(defined);
  });

  it("each action's section opens with its definition's description (the OpenAPI operation's text)", () => {
    const flat = (t: string) => t.replace(/\s+/g, " ").trim();
    for (const [name, d] of Object.entries(ACTIONS)) {
      const start = DOC.indexOf(`\n### ${name}\n`);
      expect(start, `docs/api.md has no section ### ${name}`).toBeGreaterThan(0);
      const firstParagraph = DOC.slice(start).split("\n\n")[1] ?? "";
      expect(flat(firstParagraph), name).toBe(flat(d.description));
    }
  });
});

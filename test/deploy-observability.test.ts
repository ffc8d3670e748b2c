/**
 * deploy/prometheus/netforge-rules.yml passes `promtool check rules` (Debian package prometheus: scripts/setup.sh
 * installs it; missing, this test fails and says so), deploy/grafana/netforge.json's queries are valid PromQL
 * (checked by promtool as recording rules), and every metric the rules and the dashboard name is one a running
 * API's /metrics exposes.
 */
import { spawnSync } from "node:child_process";
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { type ApiHarness, natBody, startApiHarness } from "./support/api-harness";
import { DEPLOY_DIR } from "./support/systemd-unit";

const PROMTOOL = "/usr/bin/promtool";
const RULES = join(DEPLOY_DIR, "prometheus", "netforge-rules.yml");
const DASHBOARD = join(DEPLOY_DIR, "grafana", "netforge.json");
const work = mkdtempSync(join(tmpdir(), "netforge-obs-"));

type Rule = { alert?: string; record?: string; expr: string; annotations?: Record<string, string> };
const rules = (parse(readFileSync(RULES, "utf8")) as { groups: { name: string; rules: Rule[] }[] }).groups.flatMap((g) => g.rules);
type Panel = { id: number; type: string; title: string; targets?: { expr: string }[]; datasource?: unknown };
const dashboard = JSON.parse(readFileSync(DASHBOARD, "utf8")) as {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string; query: { query: string } }[] };
};
const dashboardExprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));

function promtool(args: string[]): { status: number | null; out: string } {
  const r = spawnSync(PROMTOOL, args, { encoding: "utf8" });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** Metric names a PromQL text uses (netforge's own and the process/Node.js ones prom-client adds). */
function metricNames(text: string): string[] {
  return [...text.matchAll(/\b((?:netforge|process|nodejs)_[a-z0-9_]+)\b/g)].map((m) => m[1] as string);
}

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("promtool", () => {
  it("is installed (Debian package prometheus; scripts/setup.sh installs it)", () => {
    let ok = true;
    try {
      accessSync(PROMTOOL, constants.X_OK);
    } catch {
      ok = false;
    }
    expect(ok, `${PROMTOOL} is missing: apt-get install --no-install-recommends prometheus (or run scripts/setup.sh)`).toBe(true);
  });

  it("accepts deploy/prometheus/netforge-rules.yml", () => {
    const r = promtool(["check", "rules", RULES]);
    expect(r.status, r.out).toBe(0);
    expect(r.out).toContain(`SUCCESS: ${rules.length} rules found`);
  });

  it("refuses a rule file with a broken expression (the check above can fail)", () => {
    const file = join(work, "broken.yml");
    writeFileSync(file, stringify({ groups: [{ name: "x", rules: [{ alert: "Broken", expr: "sum(netforge_host_up" }] }] }));
    expect(promtool(["check", "rules", file]).status).not.toBe(0);
  });

  it("accepts every dashboard query as PromQL (as recording rules, Grafana's variables filled in)", () => {
    expect(dashboardExprs.length).toBeGreaterThan(15);
    const file = join(work, "dashboard-rules.yml");
    const asRules = [
      ...dashboardExprs,
      ...dashboard.templating.list.map((v) => v.query.query.replace(/^label_values\((\w+),.*\)$/, "$1")),
    ].map((expr, i) => ({
      record: `netforge:dashboard_query_${i}`,
      expr: expr.replaceAll("$__rate_interval", "5m").replaceAll("$host", ".*"),
    }));
    writeFileSync(file, stringify({ groups: [{ name: "dashboard", rules: asRules }] }));
    const r = promtool(["check", "rules", file]);
    expect(r.status, r.out).toBe(0);
  });
});

describe("the alert rules", () => {
  it("cover a host offline, the job failure ratio, drift repairs and the queue's age", () => {
    const byName = new Map(rules.map((r) => [r.alert, r.expr]));
    expect(byName.get("NetforgeHostOffline")).toMatch(/netforge_host_up/);
    expect(byName.get("NetforgeJobFailureRatioHigh")).toMatch(/netforge_jobs_finished_total\{outcome="failed"\}/);
    expect(byName.get("NetforgeDriftRepairs")).toMatch(/netforge_drift_repairs_total/);
    expect(byName.get("NetforgeQueueStuck")).toMatch(/netforge_queue_oldest_waiting_seconds/);
  });
});

describe("the dashboard", () => {
  it("has unique panel ids, a datasource and at least one query on every panel but rows", () => {
    expect(dashboard.uid).toBe("netforge");
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const bad = dashboard.panels.filter((p) => p.type !== "row" && (!p.datasource || (p.targets ?? []).length === 0)).map((p) => p.title);
    expect(bad).toEqual([]);
  });
});

describe("metric names of the rules and the dashboard", () => {
  let h: ApiHarness;
  /** Families of a scrape: name -> type (from the # TYPE lines). */
  const families = new Map<string, string>();
  beforeAll(async () => {
    h = await startApiHarness("obs");
    await h.addHost("h1");
    await h.addNetwork({ name: "o1", host: "h1" });
    const base = await h.listen();
    expect((await h.call("create-network", natBody("o2", "10.93.0.0/24"), { role: "operator" })).status).toBe(202);
    const text = await (await fetch(`${base}/metrics`)).text();
    for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) families.set(m[1] as string, m[2] as string);
  });
  afterAll(async () => {
    await h?.close();
  });

  /** Exposed: a family, or a histogram's _bucket/_sum/_count series. */
  function exposed(name: string): boolean {
    if (families.has(name)) return true;
    const m = /^(.+)_(bucket|sum|count)$/.exec(name);
    return !!m && ["histogram", "summary"].includes(families.get(m[1] as string) ?? "");
  }

  it("every one is a metric the API's /metrics exposes", () => {
    expect(families.size).toBeGreaterThan(20);
    const used = new Set([
      ...rules.flatMap((r) => [...metricNames(r.expr), ...Object.values(r.annotations ?? {}).flatMap(metricNames)]),
      ...dashboardExprs.flatMap(metricNames),
      ...dashboard.templating.list.flatMap((v) => metricNames(v.query.query)),
    ]);
    expect(used.size).toBeGreaterThan(10);
    expect([...used].filter((n) => !exposed(n)).sort()).toEqual([]);
  });

  it("the check sees a name /metrics does not expose", () => {
    expect(exposed("netforge_host_up")).toBe(true);
    expect(exposed("netforge_job_duration_seconds_bucket")).toBe(true);
    expect(exposed("netforge_hosts_up")).toBe(false);
    expect(exposed("netforge_jobs_finished_total_bucket")).toBe(false);
  });
});

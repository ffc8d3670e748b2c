/**
 * The web console (/console) in headless Chromium (Debian's chromium through playwright-core) against a real
 * API, worker and sandbox host: sign in, the fleet live, a NAT network created through the form after its
 * preview with its job followed live, a reservation and a firewall rule added with a preview, a second tab
 * updated live by a change made elsewhere, a viewer refused with the contract's error, the network deleted.
 * Round two: the create form per type (a bridge network made on a NIC of the sandbox host through its form
 * after its preview, the sriov form showing the API's refusal with its code and field: there is no SR-IOV
 * hardware here; the nat form's IPv6 in dhcpv6 mode), the fleet's QoS capability column, DNS records, bandwidth
 * limits and an IPv6 reservation by DUID set through their forms (checked in libvirt's definition and the
 * host's tc classes), an admin opening /admin/queues from the console with no token in any URL the page
 * requested or navigated to, a viewer seeing no link and refused by the endpoint (403).
 * Text an outsider controls renders as text. Every page is checked by axe-core (no serious or critical
 * violation) and screenshotted to .netforge/console-*.png.
 */
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { addLanNic, type SandboxHost } from "@netforge/sandbox";
import { execa } from "execa";
import type { BrowserContext, Page } from "playwright-core";
import { type HeadlessChromium, startChromium } from "./support/chromium";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster, TOKENS, waitFor } from "./support/cluster";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const SHOT_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", ".netforge");
const AXE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
const NET = "conweb";
const XSS = `<img src=x onerror="window.__xss=1">`;
const LAN = "conlan";

let c: Cluster;
let browser: BrowserContext;
let chrome: HeadlessChromium;
const problems: string[] = [];
const foreign: string[] = [];
/** Every URL a tab requested or navigated to (the token must be in none of them). */
const urls: string[] = [];

beforeAll(async () => {
  c = await startCluster({ hosts: [{ id: "con" }], label: "console" });
  // An unconfigured NIC of the host (a veth whose peer is the outside namespace) for the bridge form.
  const h = c.hosts.get("con") as SandboxHost;
  await addLanNic(h, { hostIfname: "lan0", outsideIfname: "lan0-peer", outsideCidr: "192.0.2.1/24" });
  await waitFor("lan0 in the inventory", async () =>
    (await c.call("list-hosts", {})).body.hosts?.[0]?.interfaces?.some((i: { name: string }) => i.name === "lan0"),
  );
  chrome = await startChromium({ viewport: { width: 1280, height: 1400 } });
  browser = chrome.browser;
  mkdirSync(SHOT_DIR, { recursive: true });
}, 180_000);

afterAll(async () => {
  await chrome?.close();
  await c?.stop();
});

/** A new tab (its own sessionStorage) that records script errors, dialogs and requests leaving the API's origin. */
async function tab(): Promise<Page> {
  const page = await browser.newPage();
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    // An answer the page shows as an error (the viewer's 403, a deleted network's 404) is also logged by the
    // browser as a failed resource: expected; any other console error is a problem.
    if (m.type() === "error" && !/Failed to load resource: the server responded with a status of 4\d\d/.test(m.text()))
      problems.push(`console: ${m.text()}`);
  });
  page.on("dialog", (d) => {
    problems.push(`dialog: ${d.message()}`);
    void d.dismiss();
  });
  page.on("request", (r) => {
    urls.push(r.url());
    if (!r.url().startsWith(c.baseUrl)) foreign.push(r.url());
  });
  page.on("framenavigated", (f) => urls.push(f.url()));
  return page;
}

async function signIn(page: Page, token: string): Promise<void> {
  await page.goto(`${c.baseUrl}/console`);
  await page.getByLabel("API token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("navigation", { name: "Pages" }).waitFor();
}

/** axe-core on the page as it is now: the serious and critical violations (none expected). */
async function axe(page: Page, what: string): Promise<void> {
  await page.evaluate(AXE);
  const found = (await page.evaluate(
    `axe.run(document, { resultTypes: ["violations"] }).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length })))`,
  )) as { id: string; impact: string; nodes: number }[];
  expect(
    found.filter((v) => v.impact === "serious" || v.impact === "critical"),
    `${what}: ${JSON.stringify(found)}`,
  ).toEqual([]);
}

const shot = (page: Page, name: string) => page.screenshot({ path: join(SHOT_DIR, `console-${name}.png`), fullPage: true });

/** Preview, check the plan is shown, apply, and wait for the job's terminal state on the page. */
async function previewAndApply(page: Page, label: string, planShows: RegExp, opts: { thenUrl?: RegExp } = {}): Promise<void> {
  // The form's own preview/apply block (a page has several).
  const flow = page.locator(".flow", { has: page.getByRole("button", { name: `Preview ${label}` }) });
  await flow.getByRole("button", { name: `Preview ${label}` }).click();
  const plan = flow.getByRole("region", { name: "Preview" });
  // The preview, or the error the dry run answered (shown on the page): fail with its text.
  await plan.or(flow.getByRole("alert")).first().waitFor();
  if (!(await plan.isVisible())) throw new Error(`preview of ${label} refused: ${await flow.getByRole("alert").first().textContent()}`);
  await expect.poll(() => plan.textContent()).toMatch(planShows);
  await flow.getByRole("button", { name: `Apply ${label}` }).click();
  // A job whose success leaves the page (a deletion goes back to the list): its new address is the proof.
  if (opts.thenUrl) return page.waitForURL(opts.thenUrl, { timeout: 60_000 });
  await flow.locator(".job .state-succeeded, .job .state-failed").first().waitFor({ timeout: 60_000 });
  const state = await flow.locator(".job strong.state").textContent();
  expect(state, (await flow.locator(".job").textContent()) ?? "").toBe("succeeded");
}

/** The network page shows the network's current version (read again after a change): the next form starts from it. */
async function settled(page: Page): Promise<void> {
  const v = (await c.call("describe-network", { name: NET })).body.network.version as number;
  await expect.poll(() => page.locator("dl.kv").textContent()).toContain(`version${v}`);
}

describe("the console in headless Chromium", () => {
  let page: Page;

  it("serves one document with a strict CSP and a small bundle", async () => {
    const r = await fetch(`${c.baseUrl}/console`);
    expect(r.status).toBe(200);
    const csp = r.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).not.toContain("unsafe-inline");
    const js = await fetch(`${c.baseUrl}/console/app.js`).then((x) => x.arrayBuffer());
    const { gzipSync } = await import("node:zlib");
    // The budget: under 150 KB gzipped.
    expect(gzipSync(Buffer.from(js)).length).toBeLessThan(150 * 1024);
  });

  it("signs in with a token kept in the tab only; the fleet shows the host online, live", async () => {
    page = await tab();
    await signIn(page, TOKENS.operator);
    expect(page.url()).not.toContain(TOKENS.operator);
    expect(await page.evaluate(`sessionStorage.getItem("netforge.token")`)).toBe(TOKENS.operator);
    expect(await page.evaluate("localStorage.length")).toBe(0);
    const row = page.getByRole("row", { name: /con .*online/ });
    await row.waitFor();
    await shot(page, "fleet");
    await axe(page, "fleet");
  });

  it("the fleet shows each host's QoS capability and underlay as list-hosts gives them", async () => {
    const host = (await c.call("list-hosts", {})).body.hosts[0];
    const qos = host.qos as { supported: boolean; missing: string[] };
    expect(qos).toBeDefined();
    const col = await page.locator("thead th").allTextContents();
    const i = col.indexOf("QoS");
    expect(i).toBeGreaterThan(0);
    const cell = page
      .getByRole("row", { name: /con .*online/ })
      .locator("td")
      .nth(i);
    await expect.poll(() => cell.textContent()).toBe(qos.supported ? "yes" : `no (missing: ${qos.missing.join(", ")})`);
    // The sandbox host's default route leaves through its uplink: that is its underlay.
    const u = col.indexOf("Underlay");
    expect(u).toBeGreaterThan(0);
    const underlay = host.underlay as { ip: string; interface: string; mtu: number };
    expect(underlay.interface).toBe("uplink0");
    const ucell = page
      .getByRole("row", { name: /con .*online/ })
      .locator("td")
      .nth(u);
    await expect.poll(() => ucell.textContent()).toBe(`${underlay.ip} on uplink0, MTU ${underlay.mtu}`);
  });

  it("the sriov form shows the API's refusal with its code and the field (no SR-IOV hardware here)", async () => {
    await page.getByRole("link", { name: "New network" }).click();
    await page.getByLabel("Type").selectOption("sriov");
    // The type's own fields, not the addressed types'.
    expect(await page.getByLabel("Subnet").count()).toBe(0);
    await page.getByLabel("Name", { exact: true }).fill("consr");
    await page.getByLabel(/^Host/).selectOption("con");
    await page.getByLabel("Physical function (pf)").fill("lan0");
    await page.getByLabel("VF count (optional)").fill("4");
    await page.getByLabel("VLAN (optional)").fill("100");
    await page.getByRole("button", { name: "Preview network" }).click();
    const alert = page.locator(".flow").getByRole("alert");
    await alert.waitFor();
    const text = (await alert.textContent()) ?? "";
    expect(text).toMatch(/SRIOV_UNAVAILABLE \(HTTP 422\)/);
    expect(text).toMatch(/SR-IOV PF lan0 on host con is unavailable/);
    expect(await alert.locator("code").allTextContents()).toEqual(["pf"]);
    expect(await page.getByRole("button", { name: "Apply network" }).count()).toBe(0);
    await axe(page, "create: sriov refused");
    await shot(page, "create-sriov-refused");
    expect((await c.call("describe-network", { name: "consr" })).status).toBe(404);
  });

  it("creates a bridge network on a NIC of the host through its form after its preview, then deletes it", async () => {
    await page.getByLabel("Type").selectOption("bridge");
    await page.getByLabel("Name", { exact: true }).fill(LAN);
    await page.getByLabel(/^Host/).selectOption("con");
    expect(await page.getByLabel("Attach to").inputValue()).toBe("interface");
    // The NIC is offered from the host's inventory (list-hosts), then chosen.
    await expect.poll(() => page.locator(`datalist#suggest-interface option[value="lan0"]`).count()).toBe(1);
    await page.getByLabel("NIC (interface)").fill("lan0");
    await page.getByRole("button", { name: "Preview network" }).click();
    const plan = page.getByRole("region", { name: "Preview" });
    await plan.waitFor();
    expect(await plan.textContent()).toContain(`ip link set dev lan0 master nf-${LAN}`);
    await axe(page, "create: bridge preview");
    await shot(page, "create-bridge-preview");
    await page.getByRole("button", { name: "Apply network" }).click();
    await page.getByRole("heading", { name: `Network ${LAN}` }).waitFor({ timeout: 60_000 });
    const n = (await c.call("describe-network", { name: LAN })).body.network;
    expect(n).toMatchObject({ type: "bridge", state: "active", cidr: null, bridge: { name: `nf-${LAN}`, interface: "lan0" } });
    const master = (await c.hosts.get("con")?.exec(["ip", "-j", "link", "show", "dev", "lan0"]))?.stdout ?? "[]";
    expect(JSON.parse(master)[0].master).toBe(`nf-${LAN}`);
    // The type's page offers none of the addressed types' forms (the API refuses them on bridge networks).
    for (const region of ["Reservations", "Firewall", "DNS records", "Bandwidth limits"])
      expect(await page.getByRole("region", { name: region, exact: true }).count()).toBe(0);
    await axe(page, "bridge network");
    await shot(page, "network-bridge");
    await previewAndApply(page, `deletion of ${LAN}`, /net-undefine/, { thenUrl: /#\/networks$/ });
    await waitFor("the bridge network gone", async () => (await c.call("describe-network", { name: LAN })).status === 404);
  });

  it("creates a NAT network through the form after its preview, its job followed live to success", async () => {
    await page.getByRole("link", { name: "New network" }).click();
    await page.getByLabel("Name", { exact: true }).fill(NET);
    await page.getByLabel(/^Host/).selectOption("con");
    await page.getByLabel("Subnet").fill("10.81.0.0/24");
    // IPv6 beside it, leased by DHCPv6 (the mode that takes reservations by DUID).
    await page.getByLabel("IPv6 prefix (optional)").fill("fd00:81::/64");
    await page.getByLabel("IPv6 mode").selectOption("dhcpv6");
    await page.getByLabel("Description (optional)").fill(XSS);
    await page.getByRole("button", { name: "Preview network" }).click();
    await page.getByRole("region", { name: "Preview" }).waitFor();
    await axe(page, "create preview");
    await shot(page, "create-preview");
    // The plan is the server's dry run, verbatim: the exact commands.
    expect(await page.getByRole("region", { name: "Preview" }).textContent()).toMatch(/virsh net-define/);
    await page.getByRole("button", { name: "Apply network" }).click();
    // Done: the page moves to the network's page.
    await page.getByRole("heading", { name: `Network ${NET}` }).waitFor({ timeout: 60_000 });
    const created = (await c.call("describe-network", { name: NET })).body.network;
    expect(created.state).toBe("active");
    expect(created.ipv6).toMatchObject({ cidr: "fd00:81::/64", mode: "dhcpv6" });
    // The description (free text from whoever created the network) is text, not markup.
    await expect.poll(() => page.locator("dl.kv").textContent()).toContain(XSS);
    expect(await page.locator("main img").count()).toBe(0);
    expect(await page.evaluate("window.__xss")).toBeUndefined();
    await shot(page, "network");
    await axe(page, "network");
  });

  it("adds a reservation and a firewall rule, each after its preview, applied live", async () => {
    const res = page.getByRole("region", { name: "Reservations", exact: true });
    await res.getByLabel("MAC").fill("52:54:00:81:00:01");
    await res.getByLabel("IP").fill("10.81.0.50");
    await res.getByLabel("Hostname").fill("db1");
    await previewAndApply(page, "reservation", /add DHCP host 52:54:00:81:00:01 -> 10\.81\.0\.50/);
    await settled(page);
    await res.getByRole("row", { name: /52:54:00:81:00:01 10\.81\.0\.50 db1/ }).waitFor();
    const fw = page.getByRole("region", { name: "Firewall" });
    await fw.getByLabel("Ports").fill("22");
    await fw.getByRole("button", { name: "Add rule" }).click();
    await previewAndApply(page, "firewall", /apply firewall \(one nft transaction\)/);
    await settled(page);
    const n = (await c.call("describe-network", { name: NET })).body.network;
    expect(n.reservations).toEqual([{ mac: "52:54:00:81:00:01", ip: "10.81.0.50", hostname: "db1" }]);
    expect(n.firewall.rules).toEqual([{ direction: "inbound", protocol: "tcp", ports: "22", action: "accept" }]);
    // The rule is in the host's table.
    const h = c.hosts.get("con");
    const table = (await h?.exec(["nft", "list", "table", "inet", "netforge"]))?.stdout ?? "";
    expect(table).toMatch(/tcp dport 22 accept/);
    // The DHCP pool moved and a port forward added, each previewed first.
    const dhcp = page.getByRole("region", { name: "DHCP" });
    await dhcp.getByLabel("Range start").fill("10.81.0.100");
    await dhcp.getByLabel("Range end").fill("10.81.0.120");
    await dhcp.getByLabel("Lease time (s)").fill("600");
    await previewAndApply(page, "DHCP range", /add DHCP range 10\.81\.0\.100-10\.81\.0\.120 lease 600 s/);
    await settled(page);
    const fwd = page.getByRole("region", { name: "Port forwards" });
    await fwd.getByLabel("Host port", { exact: true }).fill("2281");
    await fwd.getByLabel("VM address").fill("10.81.0.50");
    await fwd.getByLabel("VM port (default: the host port)").fill("22");
    await previewAndApply(page, "forward", /2281/);
    await settled(page);
    await fwd.getByRole("row", { name: /tcp 2281 10\.81\.0\.50:22/ }).waitFor();
    const after = (await c.call("describe-network", { name: NET })).body.network;
    expect(after.dhcp).toMatchObject({ start: "10.81.0.100", end: "10.81.0.120", leaseTime: 600 });
    expect(after.portForwards).toEqual([{ protocol: "tcp", hostPort: 2281, vmIp: "10.81.0.50", vmPort: 22 }]);
    await shot(page, "network-changed");
    await axe(page, "network with its forms used");
  });

  it("sets DNS records, bandwidth limits and an IPv6 reservation by DUID through their forms, each after its preview", async () => {
    const dns = page.getByRole("region", { name: "DNS records" });
    await dns.getByLabel("Record address").fill("10.81.0.50");
    await dns.getByLabel("DNS names (space separated)").fill("db db.internal");
    await dns.getByRole("button", { name: "Add record" }).click();
    await previewAndApply(page, "DNS records", /dns-host/);
    await settled(page);
    await dns.getByRole("row", { name: /10\.81\.0\.50 db db\.internal/ }).waitFor();
    expect((await c.call("describe-network", { name: NET })).body.network.dnsHosts).toEqual([
      { ip: "10.81.0.50", names: ["db", "db.internal"] },
    ]);
    const xml = (await c.hosts.get("con")?.virsh(["net-dumpxml", NET]))?.stdout ?? "";
    expect(xml).toMatch(/<host ip=['"]10\.81\.0\.50['"]>\s*<hostname>db<\/hostname>\s*<hostname>db\.internal<\/hostname>/);

    const qos = page.getByRole("region", { name: "Bandwidth limits" });
    await qos.getByLabel("Inbound (to the VMs) average kbit/s", { exact: true }).fill("20000");
    await qos.getByLabel("Inbound (to the VMs) peak kbit/s (optional)", { exact: true }).fill("40000");
    await qos.getByLabel("Outbound (from the VMs) average kbit/s", { exact: true }).fill("10000");
    await qos.getByLabel("VM MAC").fill("52:54:00:81:00:01");
    await qos.getByLabel("VM inbound kbit/s").fill("5000");
    await qos.getByRole("button", { name: "Add VM limit" }).click();
    await previewAndApply(page, "bandwidth limits", /tc /);
    await settled(page);
    const set = (await c.call("describe-network", { name: NET })).body.network;
    expect(set.qos).toEqual({
      network: { inbound: { averageKbps: 20000, peakKbps: 40000 }, outbound: { averageKbps: 10000 } },
      vms: [{ mac: "52:54:00:81:00:01", inbound: { averageKbps: 5000 } }],
    });
    // Shown on the page, and shaping on the host: the network's class on its bridge at 20 Mbit/s (a peak without
    // a burst has nothing to spend above the average: ADR 0044, so the class's ceiling is its rate).
    await expect
      .poll(() => page.locator("dl.kv").textContent())
      .toContain("network: inbound 20000 kbit/s, outbound 10000 kbit/s; 1 VM limit(s)");
    await qos.getByRole("row", { name: /52:54:00:81:00:01 5000 kbit\/s/ }).waitFor();
    const classes = (await c.hosts.get("con")?.exec(["tc", "class", "show", "dev", set.bridge.name]))?.stdout ?? "";
    expect(classes).toMatch(/class htb 1:1 root .*rate 20Mbit ceil 20Mbit/);

    const r6 = page.getByRole("region", { name: "IPv6 reservations" });
    await r6.getByLabel("DUID").fill("00:03:00:01:52:54:00:81:00:01");
    await r6.getByLabel("IPv6 address").fill("fd00:81::50");
    await r6.getByLabel("Hostname").fill("db6");
    await previewAndApply(page, "IPv6 reservation", /fd00:81::50/);
    await settled(page);
    await r6.getByRole("row", { name: /00:03:00:01:52:54:00:81:00:01 fd00:81::50 db6/ }).waitFor();
    expect((await c.call("describe-network", { name: NET })).body.network.reservations6).toEqual([
      { duid: "00:03:00:01:52:54:00:81:00:01", ip: "fd00:81::50", hostname: "db6" },
    ]);
    await shot(page, "network-dns-qos");
    await axe(page, "network with DNS, QoS and IPv6 reservation forms used");
  });

  it("an admin opens /admin/queues from the console; no URL the tab requested or went to carries the token", async () => {
    const admin = await tab();
    await signIn(admin, TOKENS.admin);
    await admin.getByText("Role: admin").waitFor();
    await axe(admin, "admin header");
    await admin.getByRole("link", { name: "Queue dashboard" }).click();
    await admin.waitForURL(`${c.baseUrl}/admin/queues`);
    // The board loaded: its title and the host's queue, read through its own API with the cookie.
    await admin.getByText("netforge queues").first().waitFor({ timeout: 30_000 });
    await admin.getByText("host-con").first().waitFor({ timeout: 30_000 });
    await shot(admin, "admin-queues");
    // The cookie is HttpOnly: no script of the page reads it.
    expect(await admin.evaluate("document.cookie")).not.toContain(TOKENS.admin);
    expect(urls.some((u) => u.includes("/admin/queues"))).toBe(true);
    expect(urls.filter((u) => u.includes(TOKENS.admin) || u.includes("access_token"))).toEqual([]);
    // Back in the console (the tab's history): still signed in.
    await admin.goBack();
    await admin.getByRole("navigation", { name: "Pages" }).waitFor();
    await admin.close();
  });

  it("a viewer sees no link to the queue dashboard, and the endpoint refuses it with 403", async () => {
    const v = await tab();
    await signIn(v, TOKENS.viewer);
    await v.getByText("Role: viewer").waitFor();
    expect(await v.getByRole("link", { name: "Queue dashboard" }).count()).toBe(0);
    const r =
      (await v.evaluate(`fetch("/api/queue-dashboard/session", { method: "POST", headers: { authorization: "Bearer " + sessionStorage.getItem("netforge.token") } })
      .then(async (r) => ({ status: r.status, body: await r.json() }))`)) as {
        status: number;
        body: { error: { code: string; details: unknown } };
      };
    expect(r.status).toBe(403);
    expect(r.body.error.code).toBe("FORBIDDEN");
    expect(r.body.error.details).toEqual({ role: "viewer", required: "admin" });
    // Nor does the board let it in with the cookie the browser has (none).
    expect((await fetch(`${c.baseUrl}/admin/queues`, { headers: { authorization: `Bearer ${TOKENS.viewer}` } })).status).toBe(403);
    await v.close();
  });

  it("a second tab on the network updates live when the network changes elsewhere", async () => {
    const second = await tab();
    await signIn(second, TOKENS.viewer);
    await second.goto(`${c.baseUrl}/console#/network/${NET}`);
    await second.getByRole("heading", { name: `Network ${NET}` }).waitFor();
    // The change comes from the CLI, as an operator at a terminal would make it.
    const cli = await execa("npx", ["netforge", "network", "ip", "assign", NET, "--mac", "52:54:00:81:00:02", "--ip", "10.81.0.51"], {
      cwd: ROOT,
      env: { NETFORGE_URL: c.baseUrl, NETFORGE_TOKEN: TOKENS.operator },
      reject: false,
    });
    expect(cli.exitCode, `${cli.stdout}\n${cli.stderr}`).toBe(0);
    await second
      .getByRole("row", { name: /52:54:00:81:00:02 10\.81\.0\.51/ })
      .first()
      .waitFor({ timeout: 15_000 });
    // A viewer sees, but a change is refused with the contract's code.
    await second.getByRole("button", { name: `Preview deletion of ${NET}` }).click();
    await expect.poll(() => second.getByRole("alert").first().textContent()).toMatch(/FORBIDDEN/);
    await shot(second, "viewer-refused");
    await second.close();
  });

  it("the networks and jobs pages list what happened; the network is deleted after its preview", async () => {
    await page.getByRole("link", { name: "Networks" }).click();
    await page.getByRole("row", { name: new RegExp(`${NET} nat con 10\\.81\\.0\\.0/24 active`) }).waitFor();
    await axe(page, "networks");
    await shot(page, "networks");
    await page.getByRole("link", { name: "Jobs" }).click();
    await page.getByRole("row", { name: /create-network conweb con succeeded/ }).waitFor();
    await axe(page, "jobs");
    await shot(page, "jobs");
    await page.goto(`${c.baseUrl}/console#/network/${NET}`);
    await page.getByRole("heading", { name: `Network ${NET}` }).waitFor();
    await previewAndApply(page, `deletion of ${NET}`, /net-undefine/, { thenUrl: /#\/networks$/ });
    await waitFor("the network gone", async () => (await c.call("describe-network", { name: NET })).status === 404);
    expect((await c.hosts.get("con")?.virsh(["net-list", "--all", "--name"]))?.stdout).not.toContain(NET);
  });

  it("works from the keyboard alone: sign in, then reach a page through the navigation", async () => {
    const kb = await tab();
    await kb.goto(`${c.baseUrl}/console`);
    await kb.keyboard.press("Tab");
    expect(await kb.evaluate("document.activeElement && document.activeElement.name")).toBe("token");
    await kb.keyboard.type(TOKENS.viewer);
    await kb.keyboard.press("Enter");
    await kb.getByRole("navigation", { name: "Pages" }).waitFor();
    let reached = false;
    for (let i = 0; i < 12 && !reached; i++) {
      await kb.keyboard.press("Tab");
      reached = (await kb.evaluate("document.activeElement && document.activeElement.textContent")) === "Jobs";
    }
    expect(reached).toBe(true);
    await kb.keyboard.press("Enter");
    await kb.getByRole("heading", { name: "Jobs" }).waitFor();
    await kb.close();
  });

  it("no script error, no dialog, no request outside the API's origin", () => {
    expect(problems).toEqual([]);
    expect(foreign).toEqual([]);
  });
});

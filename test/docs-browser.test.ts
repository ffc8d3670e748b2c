/**
 * /docs in a real browser (headless Chromium from Debian, driven by
 * playwright-core): the page renders the operations list from assets served
 * by the API itself (no request leaves the API's origin), the Authorize box
 * takes a bearer token, and "Try it out" of list-networks gets a 200 with the
 * networks. A screenshot is kept in .netforge/docs.png.
 */
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ACTIONS } from "@netforge/core/contract";
import type { BrowserContext } from "playwright-core";
import { type HeadlessChromium, startChromium } from "./support/chromium";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiHarness, startApiHarness, TOKENS } from "./support/api-harness";

const SHOT_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", ".netforge");

let h: ApiHarness;
let base: string;
let browser: BrowserContext;
let chrome: HeadlessChromium;

beforeAll(async () => {
  h = await startApiHarness("docs");
  await h.addHost("h1");
  await h.addNetwork({ name: "docs-net", host: "h1" });
  base = await h.listen();
  chrome = await startChromium({ viewport: { width: 1280, height: 1600 } });
  browser = chrome.browser;
}, 60_000);

afterAll(async () => {
  await chrome?.close();
  await h?.close();
});

describe("/docs in headless Chromium", () => {
  it("renders every operation from local assets and runs list-networks with a bearer token", async () => {
    const page = await browser.newPage();
    const foreign: string[] = [];
    const pageErrors: string[] = [];
    page.on("request", (r) => {
      if (!r.url().startsWith(base) && !r.url().startsWith("data:")) foreign.push(r.url());
    });
    page.on("pageerror", (e) => pageErrors.push(e.message));
    page.on("console", (m) => {
      if (m.type() === "error") pageErrors.push(m.text());
    });

    await page.goto(`${base}/docs`);
    await page.locator(".opblock").first().waitFor({ timeout: 30_000 });
    const paths = await page.locator(".opblock .opblock-summary-path").allInnerTexts();
    for (const name of Object.keys(ACTIONS)) expect(paths.map((p) => p.replace(/\u200b/g, ""))).toContain(`/api/${name}`);
    mkdirSync(SHOT_DIR, { recursive: true });
    await page.screenshot({ path: join(SHOT_DIR, "docs.png"), fullPage: false });

    // Authorize with a bearer token.
    await page.locator("button.authorize").first().click();
    await page.locator(".modal-ux input").first().fill(TOKENS.viewer);
    await page.locator(".modal-ux .auth-btn-wrapper button.authorize").click();
    await page.locator(".modal-ux button.btn-done").click();

    // Try it out: list-networks.
    const op = page.locator(".opblock", { has: page.locator(".opblock-summary-path", { hasText: "/api/list-networks" }) });
    await op.locator(".opblock-summary").click();
    await op.locator("button.try-out__btn").click();
    await op.locator("textarea.body-param__text").fill("{}");
    await op.locator("button.execute").click();
    const status = op.locator(".live-responses-table .response .response-col_status").first();
    await status.waitFor({ timeout: 15_000 });
    expect((await status.textContent())?.trim()).toBe("200");
    const body = await op.locator(".live-responses-table .response-col_description pre").first().textContent();
    expect(JSON.parse(body ?? "").networks.map((n: { name: string }) => n.name)).toEqual(["docs-net"]);
    await page.screenshot({ path: join(SHOT_DIR, "docs-try-it.png"), fullPage: false });

    expect(foreign, "requests to other origins").toEqual([]);
    expect(pageErrors).toEqual([]);
  });

  it("the queue dashboard renders every host's queue for an admin, from the API's origin only", async () => {
    const page = await browser.newPage();
    const foreign: string[] = [];
    const pageErrors: string[] = [];
    page.on("request", (r) => {
      if (!r.url().startsWith(base) && !r.url().startsWith("data:")) foreign.push(r.url());
    });
    page.on("pageerror", (e) => pageErrors.push(e.message));
    await page.goto(`${base}/admin/queues?access_token=${TOKENS.admin}`);
    // Logged in by cookie, the token is gone from the address.
    expect(page.url()).toBe(`${base}/admin/queues`);
    await page.getByText("host-h1").first().waitFor({ timeout: 30_000 });
    await page.waitForLoadState("networkidle", { timeout: 10_000 }).catch(() => undefined);
    await page.screenshot({ path: join(SHOT_DIR, "queues.png"), fullPage: false });
    // The page links Google fonts upstream; the API removes those links.
    expect(foreign).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});

/**
 * 12. The console's first paint (BENCH_ONLY=console): headless Chromium (Debian's) opens /console#/networks on
 * the real API process over 1,000 networks (its own Redis), signed in (the token put in the tab's
 * sessionStorage first), and times from the navigation's start to the first page of rows on screen, and the
 * next page through the cursor. BENCH_CONSOLE_ROUNDS (default 10) rounds after one warm-up; target: under 1 s.
 * The browser and the API run in their own processes, never in this one's event loop.
 */
import { randomBytes } from "node:crypto";
import { startRedisServer } from "@netforge/devstack";
import { chromium } from "playwright-core";
import { startApiProcess } from "./api-process";
import { seedNetworks } from "./cli";
import { median, ms, p95 } from "./stats";

export const CONSOLE_PAINT_TARGET_MS = 1000;

export async function benchConsole(): Promise<string[][]> {
  const redisServer = await startRedisServer();
  const prefix = `bench-console-${randomBytes(3).toString("hex")}`;
  const token = `bench-console-${randomBytes(12).toString("hex")}`;
  await seedNetworks(redisServer.url, prefix, 1000);
  const api = await startApiProcess({ redisUrl: redisServer.url, prefix, token });
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: ["--no-sandbox", "--disable-gpu"] });
  const first: number[] = [];
  const next: number[] = [];
  const rounds = Number(process.env.BENCH_CONSOLE_ROUNDS ?? 10);
  try {
    for (let i = 0; i < rounds + 1; i++) {
      const page = await browser.newPage();
      await page.goto(`${api.base}/console#/fleet`);
      await page.evaluate(`sessionStorage.setItem("netforge.token", ${JSON.stringify(token)})`);
      await page.goto("about:blank");
      const t0 = Date.now();
      await page.goto(`${api.base}/console#/networks`);
      // The first page: 100 rows on screen.
      await page.locator("tbody tr").nth(99).waitFor();
      const painted = Date.now() - t0;
      const firstRow = await page.locator("tbody tr").first().textContent();
      const t1 = Date.now();
      await page.getByRole("button", { name: "Next page" }).click();
      // Locators, not waitForFunction with a string: the console's CSP (no 'unsafe-eval') refuses that string.
      await page
        .locator("tbody tr")
        .first()
        .filter({ hasNotText: firstRow ?? "" })
        .waitFor();
      await page.locator("tbody tr").nth(99).waitFor();
      if (i > 0) {
        first.push(painted);
        next.push(Date.now() - t1);
      }
      await page.close();
    }
  } finally {
    await browser.close();
    await api.stop();
    await redisServer.stop();
  }
  return [
    [
      "console: networks page first paint (1,000 networks, 100 rows)",
      `${first.length}`,
      ms(median(first)),
      ms(p95(first)),
      `target < ${CONSOLE_PAINT_TARGET_MS} ms: ${median(first) < CONSOLE_PAINT_TARGET_MS ? "met" : "missed"}`,
    ],
    ["console: next page (cursor)", `${next.length}`, ms(median(next)), ms(p95(next)), ""],
  ];
}

/**
 * Debian's headless Chromium through playwright-core (which downloads no browser), as the browser suites
 * start it: a throw-away profile, no background traffic of the browser's own, removed on close.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";

export interface HeadlessChromium {
  browser: BrowserContext;
  close(): Promise<void>;
}

export async function startChromium(opts: { viewport: { width: number; height: number } }): Promise<HeadlessChromium> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/setup.sh (Debian package chromium)`);
  const profile = mkdtempSync(join(tmpdir(), "netforge-chromium-"));
  try {
    const browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
      viewport: opts.viewport,
    });
    return {
      browser,
      async close() {
        await browser.close().catch(() => undefined);
        rmSync(profile, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    throw err;
  }
}

/**
 * /console: the web console (packages/console), served by this process like /docs: nothing fetched from
 * elsewhere, a strict Content-Security-Policy (scripts, styles and requests from this origin only; no inline
 * script or style), one document whose fragment routes the pages. The bundle comes from `npm run build`
 * (dist/console/ beside the compiled API) or, when the API runs from its sources, is built once in memory.
 */
import { readFile } from "node:fs/promises";
import { type ConsoleAssets, buildConsole } from "@netforge/console/bundle";
import { Hono } from "hono";
import type { AppEnv } from "../context";

export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

const PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>netforge console</title>
  <link rel="stylesheet" href="/console/app.css">
  <script type="module" src="/console/app.js"></script>
</head>
<body>
  <div id="app"></div>
  <noscript>The netforge console needs JavaScript; the CLI (netforge) and the API (/docs) do not.</noscript>
</body>
</html>
`;

/** The built files when `npm run build` wrote them beside the compiled API, else null. */
async function prebuilt(): Promise<ConsoleAssets | null> {
  try {
    const [js, css] = await Promise.all([
      readFile(new URL("./console/app.js", import.meta.url), "utf8"),
      readFile(new URL("./console/app.css", import.meta.url), "utf8"),
    ]);
    return { js, css };
  } catch {
    return null;
  }
}

export function consoleRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  let assets: Promise<ConsoleAssets> | null = null;
  const load = () => {
    assets ??= prebuilt().then((p) => p ?? buildConsole());
    // A failed build is not cached: the next request tries again.
    assets.catch(() => {
      assets = null;
    });
    return assets;
  };
  const headers = { "Content-Security-Policy": CONSOLE_CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer" };
  app.get("/console", (c) => c.html(PAGE, 200, { ...headers, "Cache-Control": "no-cache" }));
  app.get("/console/", (c) => c.redirect("/console"));
  app.get("/console/app.js", async (c) =>
    c.body((await load()).js, 200, { ...headers, "Content-Type": "text/javascript; charset=utf-8", "Cache-Control": "no-cache" }),
  );
  app.get("/console/app.css", async (c) =>
    c.body((await load()).css, 200, { ...headers, "Content-Type": "text/css; charset=utf-8", "Cache-Control": "no-cache" }),
  );
  return app;
}

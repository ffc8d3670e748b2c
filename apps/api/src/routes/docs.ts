/**
 * /docs: Swagger UI served entirely by this process from the swagger-ui-dist
 * package (nothing fetched from the internet: it works offline, and a token
 * typed into its Authorize box reaches no third-party script). A strict
 * Content-Security-Policy keeps every script and request on this origin.
 */
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { Hono } from "hono";
import type { AppEnv } from "../context";

const DIST = dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));

/** The only files served from the package (no path from the request reaches the filesystem). */
const ASSETS: Record<string, string> = {
  "swagger-ui.css": "text/css; charset=utf-8",
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
  "favicon-32x32.png": "image/png",
};

const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  // Swagger UI sets style attributes.
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
].join("; ");

const PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>netforge API</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
`;

// Authorize (the lock button) takes the bearer token; it is kept in this page only (persistAuthorization off).
const INIT = `window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  persistAuthorization: false,
  displayRequestDuration: true,
  tryItOutEnabled: false,
});
`;

export function docsRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const cache = new Map<string, Buffer>();
  const headers = { "Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff" };

  app.get("/docs", (c) => c.html(PAGE, 200, headers));
  app.get("/docs/", (c) => c.redirect("/docs"));
  app.get("/docs/init.js", (c) => c.body(INIT, 200, { ...headers, "Content-Type": "text/javascript; charset=utf-8" }));
  app.get("/docs/:file", async (c) => {
    const file = c.req.param("file");
    const type = ASSETS[file];
    if (!type) return c.notFound();
    let data = cache.get(file);
    if (!data) {
      data = await readFile(join(DIST, file));
      cache.set(file, data);
    }
    return c.body(new Uint8Array(data), 200, { ...headers, "Content-Type": type, "Cache-Control": "public, max-age=86400" });
  });
  return app;
}

/**
 * Where the CLI finds the API and its token: flags, then the environment
 * (NETFORGE_URL, NETFORGE_TOKEN), then a config file (--config,
 * NETFORGE_CONFIG, or ~/.config/netforge/config.json), then, for a local
 * development stack, the token file scripts/up.sh writes (.netforge/tokens in
 * the current directory). The token is never printed: `describeConfig` masks it.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { CliError, EXIT } from "./exit-codes";

export const DEFAULT_URL = "http://127.0.0.1:8080";

export interface CliConfig {
  url: string;
  token: string | null;
  /** Where each value came from (shown by `netforge config`). */
  from: { url: string; token: string };
  /** The config file looked at (named when no token was found anywhere). */
  configFile?: string;
}

export interface ConfigInputs {
  flags: { url?: string; token?: string; config?: string };
  env: Record<string, string | undefined>;
  cwd: string;
  home?: string;
}

interface FileConfig {
  url?: string;
  token?: string;
}

/**
 * A config file holds a token: refuse one that other users may read (they
 * would have the token) or write (they could point `url` at themselves), as
 * ssh does with a private key. POSIX permissions only (not on Windows).
 */
function refuseOpenPermissions(path: string, platform: NodeJS.Platform = process.platform): void {
  if (platform === "win32") return;
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o066) === 0) return;
  const who = (mode & 0o044) !== 0 ? "readable" : "writable";
  throw new CliError(
    `config file ${path} is ${who} by other users (mode ${mode.toString(8).padStart(4, "0")}) and may hold a token: ` +
      `run 'chmod 600 ${path}' (or chmod go-rw)`,
    EXIT.AUTH,
  );
}

function readConfigFile(path: string, required: boolean): FileConfig | null {
  if (!existsSync(path)) {
    if (required) throw new CliError(`config file ${path} does not exist`, EXIT.VALIDATION);
    return null;
  }
  refuseOpenPermissions(path);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new CliError(`config file ${path} is not valid JSON: ${(err as Error).message}`, EXIT.VALIDATION);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new CliError(`config file ${path} must hold a JSON object like {"url": "...", "token": "..."}`, EXIT.VALIDATION);
  }
  const o = parsed as Record<string, unknown>;
  const out: FileConfig = {};
  for (const k of ["url", "token"] as const) {
    if (o[k] === undefined) continue;
    if (typeof o[k] !== "string") throw new CliError(`config file ${path}: "${k}" must be a string`, EXIT.VALIDATION);
    out[k] = o[k] as string;
  }
  return out;
}

/** The first token of a `token:role` file (the format of NETFORGE_TOKENS files). */
function firstTokenOf(path: string): string | null {
  if (!existsSync(path)) return null;
  for (const raw of readFileSync(path, "utf8").split(/\r?\n/)) {
    const entry =
      raw
        .replace(/(^|\s)#.*$/, "")
        .split(",")[0]
        ?.trim() ?? "";
    const sep = entry.lastIndexOf(":");
    // A hashed entry (sha256:<hex>:role) is no token the CLI could send.
    if (sep > 0 && !/^sha256:[0-9a-f]{64}$/i.test(entry.slice(0, sep))) return entry.slice(0, sep);
  }
  return null;
}

export function resolveConfig(inp: ConfigInputs): CliConfig {
  const home = inp.home ?? homedir();
  const explicit = inp.flags.config ?? inp.env.NETFORGE_CONFIG;
  const path = explicit ?? join(inp.env.XDG_CONFIG_HOME ?? join(home, ".config"), "netforge", "config.json");
  const file = readConfigFile(path, explicit !== undefined) ?? {};

  let url = DEFAULT_URL;
  let urlFrom = "default";
  if (inp.flags.url) [url, urlFrom] = [inp.flags.url, "--url"];
  else if (inp.env.NETFORGE_URL) [url, urlFrom] = [inp.env.NETFORGE_URL, "NETFORGE_URL"];
  else if (file.url) [url, urlFrom] = [file.url, path];
  try {
    const u = new URL(url);
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error("not http(s)");
  } catch {
    throw new CliError(`API URL '${url}' (from ${urlFrom}) is not an http(s) URL`, EXIT.VALIDATION);
  }

  let token: string | null = null;
  let tokenFrom = "none";
  const devTokens = join(inp.cwd, ".netforge", "tokens");
  if (inp.flags.token) [token, tokenFrom] = [inp.flags.token, "--token"];
  else if (inp.env.NETFORGE_TOKEN) [token, tokenFrom] = [inp.env.NETFORGE_TOKEN, "NETFORGE_TOKEN"];
  else if (file.token) [token, tokenFrom] = [file.token, path];
  else {
    const dev = firstTokenOf(devTokens);
    if (dev) [token, tokenFrom] = [dev, devTokens];
  }
  return { url: url.replace(/\/+$/, ""), token, from: { url: urlFrom, token: tokenFrom }, configFile: path };
}

/** The token as it may be shown: never its value. */
export function maskToken(token: string | null): string {
  return token === null ? "(none)" : `(set, ${token.length} characters)`;
}

/** The configuration as `netforge config` shows it. */
export function describeConfig(c: CliConfig): Record<string, string> {
  return { url: c.url, urlFrom: c.from.url, token: maskToken(c.token), tokenFrom: c.from.token };
}

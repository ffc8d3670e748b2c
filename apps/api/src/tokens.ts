/**
 * API tokens from NETFORGE_TOKENS: either an inline list `tok:role,tok:role`
 * or the path of a file holding such entries (one per line or comma
 * separated, `#` comments). Tokens themselves are never echoed in errors.
 */
import { readFileSync } from "node:fs";
import { ROLES, type Role } from "@netforge/core";

// Printable ASCII without space and comma: what fits a Bearer header and our list syntax.
const TOKEN_CHARS = /^[\x21-\x2b\x2d-\x7e]+$/;

/** Shortest accepted token: shorter ones are guessable even with the failed-authentication limit. */
export const MIN_TOKEN_LENGTH = 16;

function isRole(s: string): s is Role {
  return (ROLES as readonly string[]).includes(s);
}

/** Parse `tok:role` entries separated by commas and/or newlines. Throws on any malformed entry. */
export function parseTokenList(text: string, source = "NETFORGE_TOKENS"): Map<string, Role> {
  const tokens = new Map<string, Role>();
  const lines = text.split(/\r?\n/);
  lines.forEach((rawLine, lineIndex) => {
    const line = rawLine.replace(/(^|\s)#.*$/, "").trim();
    if (line === "") return;
    line.split(",").forEach((rawEntry, entryIndex) => {
      const entry = rawEntry.trim();
      if (entry === "") return;
      const where = `${source} line ${lineIndex + 1}, entry ${entryIndex + 1}`;
      // The role is after the last ':' so a token may itself contain ':'.
      const sep = entry.lastIndexOf(":");
      if (sep <= 0) throw new Error(`${where}: expected "token:role" (roles: ${ROLES.join(", ")})`);
      const token = entry.slice(0, sep);
      const role = entry
        .slice(sep + 1)
        .trim()
        .toLowerCase();
      if (!TOKEN_CHARS.test(token)) throw new Error(`${where}: a token must be printable ASCII without spaces or commas`);
      if (token.length < MIN_TOKEN_LENGTH) {
        throw new Error(`${where}: the token is shorter than ${MIN_TOKEN_LENGTH} characters (generate one with: openssl rand -base64 24)`);
      }
      if (!isRole(role)) throw new Error(`${where}: unknown role '${role}' (roles: ${ROLES.join(", ")})`);
      const prev = tokens.get(token);
      if (prev !== undefined && prev !== role) throw new Error(`${where}: the same token is listed with two roles`);
      tokens.set(token, role);
    });
  });
  return tokens;
}

/** True when the NETFORGE_TOKENS value names a file rather than listing tokens. */
export function looksLikeTokenFilePath(value: string): boolean {
  return !value.includes(":") || /^(\/|\.\.?\/|~\/)/.test(value);
}

/** Tokens from the NETFORGE_TOKENS value (inline list or file path). */
export function loadTokens(value: string, readFile: (path: string) => string = (p) => readFileSync(p, "utf8")): Map<string, Role> {
  if (looksLikeTokenFilePath(value)) {
    let text: string;
    try {
      text = readFile(value);
    } catch (err) {
      throw new Error(`NETFORGE_TOKENS: cannot read token file ${value}: ${(err as Error).message}`);
    }
    return parseTokenList(text, value);
  }
  return parseTokenList(value);
}

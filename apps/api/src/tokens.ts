/**
 * API tokens from NETFORGE_TOKENS: either an inline list `tok:role,tok:role`
 * or the path of a file holding such entries (one per line or comma
 * separated, `#` comments). An entry may give the token's SHA-256 instead of
 * the token (`sha256:<64 hex>:role`), so the API host need not keep the
 * plaintext. Tokens themselves are never echoed in errors, and the API keeps
 * only their hashes (TokenTable).
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { ROLES, type Role } from "@netforge/core/contract";

// Printable ASCII without space and comma: what fits a Bearer header and our list syntax.
const TOKEN_CHARS = /^[\x21-\x2b\x2d-\x7e]+$/;

/** Shortest accepted token: shorter ones are guessable even with the failed-authentication limit. */
export const MIN_TOKEN_LENGTH = 16;

/** A hashed entry's token part: `sha256:` and the hex SHA-256 of the token. */
const HASHED = /^sha256:[0-9a-f]{64}$/i;

/** The hex SHA-256 of a token (what `printf %s "$TOKEN" | sha256sum` prints). */
export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

function isRole(s: string): s is Role {
  return (ROLES as readonly string[]).includes(s);
}

/**
 * Parse `tok:role` entries separated by commas and/or newlines. Throws on any
 * malformed entry. Hashed entries (`sha256:<hex>:role`) keep their
 * `sha256:<lowercase hex>` key; plaintext ones their token.
 */
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
      const hashed = HASHED.test(entry.slice(0, sep));
      const token = hashed ? entry.slice(0, sep).toLowerCase() : entry.slice(0, sep);
      const role = entry
        .slice(sep + 1)
        .trim()
        .toLowerCase();
      if (!TOKEN_CHARS.test(token)) throw new Error(`${where}: a token must be printable ASCII without spaces or commas`);
      if (!hashed && token.length < MIN_TOKEN_LENGTH) {
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

/**
 * What the API keeps of its tokens: their SHA-256 and role, never the
 * plaintext. A presented token is hashed and compared with every entry in
 * constant time (timingSafeEqual, no early exit), so neither the answer's
 * timing nor a map lookup tells a guesser anything about the stored hashes.
 */
export class TokenTable {
  private readonly entries: { hash: Buffer; hex: string; role: Role }[] = [];

  /** Entries keyed by plaintext token or `sha256:<hex>` (what parseTokenList returns). */
  constructor(tokens: Iterable<[string, Role]> = []) {
    const seen = new Map<string, Role>();
    for (const [key, role] of tokens) {
      const hex = HASHED.test(key) ? key.slice("sha256:".length).toLowerCase() : hashToken(key);
      const prev = seen.get(hex);
      if (prev !== undefined && prev !== role) throw new Error("NETFORGE_TOKENS: the same token is listed with two roles");
      if (prev !== undefined) continue;
      seen.set(hex, role);
      this.entries.push({ hash: Buffer.from(hex, "hex"), hex, role });
    }
  }

  /** A table from a `Map` (plaintext or hashed keys), or the table itself. */
  static of(tokens: TokenTable | Map<string, Role>): TokenTable {
    return tokens instanceof TokenTable ? tokens : new TokenTable(tokens);
  }

  /** The presented token's role and id (its hex SHA-256: what rate limits and idempotency keys are per), if it is known. */
  lookup(presented: string): { id: string; role: Role } | undefined {
    const h = createHash("sha256").update(presented, "utf8").digest();
    let found: { id: string; role: Role } | undefined;
    for (const e of this.entries) if (timingSafeEqual(e.hash, h) && found === undefined) found = { id: e.hex, role: e.role };
    return found;
  }

  get size(): number {
    return this.entries.length;
  }
}

import { describe, expect, it } from "vitest";
import { hashToken, loadTokens, looksLikeTokenFilePath, MIN_TOKEN_LENGTH, parseTokenList, TokenTable } from "./tokens";

// Tokens of the fixtures: 16+ characters, as the parser requires.
const A = "a1-token-0123456789";
const B = "b2-token-0123456789";
const C = "c3-token-0123456789";
const D = "d:4-token-0123456789";

describe("parseTokenList", () => {
  it("parses comma lists, lines, comments and tokens containing ':'", () => {
    const m = parseTokenList(`${A}:admin, ${B}:operator\n# comment\n\n${C}:viewer,${D}:Viewer  # trailing comment\n`);
    expect([...m]).toEqual([
      [A, "admin"],
      [B, "operator"],
      [C, "viewer"],
      [D, "viewer"],
    ]);
  });
  it.each([
    ["nocolon", /expected "token:role"/],
    [":admin", /expected "token:role"/],
    [`${A}:root`, /unknown role 'root'/],
    ["to k-0123456789abcdef:admin", /printable ASCII/],
    [`${A}:admin,${A}:viewer`, /two roles/],
  ])("rejects %j", (text, err) => {
    expect(() => parseTokenList(text)).toThrow(err);
  });
  it("never puts the token in an error message", () => {
    expect(() => parseTokenList("s3cr3t-value-0123456789:superuser")).toThrow(/^(?!.*s3cr3t).*$/s);
  });
  it(`refuses a token shorter than ${MIN_TOKEN_LENGTH} characters, naming the line and entry but not the token`, () => {
    const text = `${A}:admin\n${B}:viewer, short-s3cret:operator\n`;
    let message = "";
    try {
      parseTokenList(text, "/etc/netforge/tokens");
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toBe(
      "/etc/netforge/tokens line 2, entry 2: the token is shorter than 16 characters (generate one with: openssl rand -base64 24)",
    );
    expect(message).not.toContain("short-s3cret");
    expect(() => parseTokenList(`${"x".repeat(15)}:admin`)).toThrow(/NETFORGE_TOKENS line 1, entry 1: the token is shorter/);
    expect(parseTokenList(`${"x".repeat(16)}:admin`).size).toBe(1);
  });
});

describe("loadTokens", () => {
  it("tells a file path from an inline list", () => {
    expect(looksLikeTokenFilePath("/etc/netforge/tokens")).toBe(true);
    expect(looksLikeTokenFilePath("./tokens.txt")).toBe(true);
    expect(looksLikeTokenFilePath("tokens.txt")).toBe(true);
    expect(looksLikeTokenFilePath("abc:admin")).toBe(false);
  });
  it("reads a file of entries", () => {
    const m = loadTokens("/x/tokens", (p) => (p === "/x/tokens" ? `${A}:admin\n${B}:viewer,${C}:operator\n` : ""));
    expect(m.size).toBe(3);
    expect(m.get(C)).toBe("operator");
  });
  it("explains an unreadable file", () => {
    expect(() =>
      loadTokens("/nope", () => {
        throw new Error("ENOENT");
      }),
    ).toThrow(/cannot read token file \/nope/);
  });
});

describe("hashed entries and TokenTable", () => {
  const hex = hashToken(A);
  it("parses sha256:<hex>:role (any case), with no length rule on the hash's token", () => {
    const m = parseTokenList(`sha256:${hex.toUpperCase()}:operator\n${B}:viewer`);
    expect([...m]).toEqual([
      [`sha256:${hex}`, "operator"],
      [B, "viewer"],
    ]);
    // Not 64 hex digits: an ordinary (plaintext) token.
    expect([...parseTokenList(`sha256:${hex.slice(1)}:viewer`)]).toEqual([[`sha256:${hex.slice(1)}`, "viewer"]]);
  });
  it("looks tokens up by hash, plaintext and hashed entries alike; a hash is not a token", () => {
    const t = new TokenTable(parseTokenList(`sha256:${hex}:operator,${B}:viewer`));
    expect(t.size).toBe(2);
    expect(t.lookup(A)).toEqual({ id: hex, role: "operator" });
    expect(t.lookup(B)).toEqual({ id: hashToken(B), role: "viewer" });
    expect(t.lookup(`sha256:${hex}`)).toBeUndefined();
    expect(t.lookup(hex)).toBeUndefined();
    expect(t.lookup(C)).toBeUndefined();
  });
  it("refuses one token listed in plaintext and hashed with two roles", () => {
    expect(() => new TokenTable(parseTokenList(`sha256:${hex}:operator,${A}:viewer`))).toThrow(/two roles/);
    expect(new TokenTable(parseTokenList(`sha256:${hex}:viewer,${A}:viewer`)).size).toBe(1);
  });
});

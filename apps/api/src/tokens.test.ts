import { describe, expect, it } from "vitest";
import { loadTokens, looksLikeTokenFilePath, parseTokenList } from "./tokens";

describe("parseTokenList", () => {
  it("parses comma lists, lines, comments and tokens containing ':'", () => {
    const m = parseTokenList("a1:admin, b2:operator\n# comment\n\nc3:viewer,d:4:Viewer  # trailing comment\n");
    expect([...m]).toEqual([
      ["a1", "admin"],
      ["b2", "operator"],
      ["c3", "viewer"],
      ["d:4", "viewer"],
    ]);
  });
  it.each([
    ["nocolon", /expected "token:role"/],
    [":admin", /expected "token:role"/],
    ["tok:root", /unknown role 'root'/],
    ["to k:admin", /printable ASCII/],
    ["t:admin,t:viewer", /two roles/],
  ])("rejects %j", (text, err) => {
    expect(() => parseTokenList(text)).toThrow(err);
  });
  it("never puts the token in an error message", () => {
    expect(() => parseTokenList("s3cr3t-value:superuser")).toThrow(/^(?!.*s3cr3t).*$/s);
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
    const m = loadTokens("/x/tokens", (p) => (p === "/x/tokens" ? "a:admin\nb:viewer,c:operator\n" : ""));
    expect(m.size).toBe(3);
    expect(m.get("c")).toBe("operator");
  });
  it("explains an unreadable file", () => {
    expect(() =>
      loadTokens("/nope", () => {
        throw new Error("ENOENT");
      }),
    ).toThrow(/cannot read token file \/nope/);
  });
});

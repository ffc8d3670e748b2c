import { describe, expect, it } from "vitest";
import { sha256Hex, XML_DIFF_MAX_LINES, xmlDigest } from "./xml-digest";

describe("xmlDigest, the edges", () => {
  it("lists every non-empty line of a first definition as added", () => {
    expect(xmlDigest(null, "<network>\n  <name>a</name>\n</network>\n").xmlDiff).toEqual([
      "+ <network>",
      "+ <name>a</name>",
      "+ </network>",
    ]);
    expect(xmlDigest(undefined, "<a/>").xmlDiff).toEqual(["+ <a/>"]);
    expect(xmlDigest("", "<a/>").xmlDiff).toEqual(["+ <a/>"]);
  });

  it("compares lines without their indentation, and leaves out blank lines", () => {
    expect(xmlDigest("<a>\n  <b/>\n</a>", "<a>\n    <b/>  \n</a>").xmlDiff).toEqual([]);
    expect(xmlDigest("<a>\n<x/>\n\n<y/>\n</a>", "<a>\n<z/>\n\n<w/>\n</a>").xmlDiff).toEqual(["- <x/>", "- <y/>", "+ <z/>", "+ <w/>"]);
  });

  it("counts a repeated line once when head and tail meet (a line added to a run of equal lines)", () => {
    expect(xmlDigest("a\na", "a\na\na").xmlDiff).toEqual(["+ a"]);
    expect(xmlDigest("a\na\na", "a\na").xmlDiff).toEqual(["- a"]);
    expect(xmlDigest("h\nx\nt", "h\nt").xmlDiff).toEqual(["- x"]);
    expect(xmlDigest("h\nt", "h\ny\nt").xmlDiff).toEqual(["+ y"]);
  });

  it(`shows exactly ${XML_DIFF_MAX_LINES} changed lines without a count`, () => {
    const lines = Array.from({ length: XML_DIFF_MAX_LINES }, (_, i) => `<host n='${i}'/>`);
    const d = xmlDigest("<network>\n</network>", `<network>\n${lines.join("\n")}\n</network>`);
    expect(d.xmlDiff).toEqual(lines.map((l) => `+ ${l}`));
    expect(XML_DIFF_MAX_LINES).toBe(40);
  });

  it("hashes the text given, as sha256 hex", () => {
    expect(sha256Hex("")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect(xmlDigest(null, "").xmlSha256).toBe(sha256Hex(""));
  });
});

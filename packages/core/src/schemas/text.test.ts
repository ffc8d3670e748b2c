import { describe, expect, it } from "vitest";
import { findForbiddenChar, forbiddenCharReason, formatCodePoint, operatorText } from "./text";

const CONTROL = "a control character";
const SURROGATE = "an unpaired surrogate (not valid Unicode text)";
const NONCHAR = "a Unicode noncharacter";
const BIDI = "a bidirectional override or isolate";
const ZERO_WIDTH = "a zero-width character";
const SEPARATOR = "a line or paragraph separator";

describe("formatCodePoint", () => {
  it("writes U+ and at least four upper-case hex digits", () => {
    expect(formatCodePoint(0)).toBe("U+0000");
    expect(formatCodePoint(0xfffe)).toBe("U+FFFE");
    expect(formatCodePoint(0x1f600)).toBe("U+1F600");
  });
});

describe("forbiddenCharReason", () => {
  it.each([
    [0x00, CONTROL],
    [0x09, CONTROL],
    [0x0a, CONTROL],
    [0x1f, CONTROL],
    [0x7f, CONTROL],
    [0x80, CONTROL],
    [0x9f, CONTROL],
    [0xd800, SURROGATE],
    [0xdfff, SURROGATE],
    [0xfdd0, NONCHAR],
    [0xfdef, NONCHAR],
    [0xfffe, NONCHAR],
    [0xffff, NONCHAR],
    [0x1fffe, NONCHAR],
    [0x10ffff, NONCHAR],
    [0x202a, BIDI],
    [0x202e, BIDI],
    [0x2066, BIDI],
    [0x2069, BIDI],
    [0x200b, ZERO_WIDTH],
    [0x200c, ZERO_WIDTH],
    [0x200d, ZERO_WIDTH],
    [0x2060, ZERO_WIDTH],
    [0xfeff, ZERO_WIDTH],
    [0x2028, SEPARATOR],
    [0x2029, SEPARATOR],
  ])("refuses %i: %s", (cp, why) => expect(forbiddenCharReason(cp)).toBe(why));

  it.each([
    0x20, 0x7e, 0xa0, 0xe9, 0x200a, 0x200e, 0x200f, 0x2027, 0x202f, 0x2061, 0x2065, 0x206a, 0xd7ff, 0xe000, 0xfdcf, 0xfdf0, 0xfefe, 0xff00,
    0xfffd, 0x10000, 0x1f600, 0x1fffd, 0x10fffd,
  ])("allows %i", (cp) => expect(forbiddenCharReason(cp)).toBeNull());
});

describe("findForbiddenChar", () => {
  it("names the first offending character and its position, counting characters from 1", () => {
    expect(findForbiddenChar("ab\uFFFFc\uFFFE")).toEqual({ char: "U+FFFF", position: 3, why: NONCHAR });
    expect(findForbiddenChar("\u202Eevil")).toEqual({ char: "U+202E", position: 1, why: BIDI });
  });
  it("counts an emoji (a surrogate pair) as one character, and allows it", () => {
    expect(findForbiddenChar("😀 ok")).toBeNull();
    expect(findForbiddenChar("😀\u200Bx")).toEqual({ char: "U+200B", position: 2, why: ZERO_WIDTH });
  });
  it("catches an unpaired surrogate", () => {
    expect(findForbiddenChar("x\uD83D")).toEqual({ char: "U+D83D", position: 2, why: SURROGATE });
  });
  it("allows ordinary text in any script", () => {
    expect(findForbiddenChar("frontend VMs — café, 東京, שלום, Ελλάδα")).toBeNull();
    expect(findForbiddenChar("")).toBeNull();
  });
});

describe("operatorText", () => {
  const schema = operatorText(10);
  it("accepts up to max characters", () => {
    expect(schema.safeParse("0123456789").success).toBe(true);
  });
  it("refuses more, saying the limit", () => {
    const r = schema.safeParse("01234567890");
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.message).toBe("must be at most 10 characters");
  });
  it("refuses a forbidden character with a message naming it and its position", () => {
    const r = schema.safeParse("ab\u2066c");
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.message).toBe("must not contain U+2066 (a bidirectional override or isolate) at position 3");
    expect(r.error?.issues).toHaveLength(1);
    expect(r.error?.issues[0]).toMatchObject({ code: "custom", params: { char: "U+2066", position: 3 } });
  });
});

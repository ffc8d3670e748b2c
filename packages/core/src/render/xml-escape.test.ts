import { describe, expect, it } from "vitest";
import { AppError } from "../errors";
import { xmlEscape } from "./xml-escape";

describe("xmlEscape", () => {
  it("escapes each of the five markup characters to its own entity", () => {
    expect(xmlEscape("&")).toBe("&amp;");
    expect(xmlEscape("<")).toBe("&lt;");
    expect(xmlEscape(">")).toBe("&gt;");
    expect(xmlEscape('"')).toBe("&quot;");
    expect(xmlEscape("'")).toBe("&apos;");
    expect(xmlEscape(`a<b>"c"&'d'`)).toBe("a&lt;b&gt;&quot;c&quot;&amp;&apos;d&apos;");
  });
  it("leaves other text alone, in any script and outside the BMP", () => {
    expect(xmlEscape("frontend VMs — 東京 😀 \t\n\r")).toBe("frontend VMs — 東京 😀 \t\n\r");
    expect(xmlEscape("\uD7FF\uE000\uFFFD\u{10000}\u{10FFFF} ")).toBe("\uD7FF\uE000\uFFFD\u{10000}\u{10FFFF} ");
  });
  it.each([
    ["\u0000", "U+0000"],
    ["a\u0008", "U+0008"],
    ["\u000B", "U+000B"],
    ["\u001F", "U+001F"],
    ["x\uFFFE", "U+FFFE"],
    ["\uFFFF", "U+FFFF"],
    ["\uD800", "U+D800"],
    ["ok\uDFFF", "U+DFFF"],
  ])("refuses %j, which XML 1.0 cannot carry, as a permanent VALIDATION_FAILED naming %s", (s, char) => {
    let err: unknown;
    try {
      xmlEscape(s);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe("VALIDATION_FAILED");
    expect((err as AppError).retryable).toBe(false);
    expect((err as AppError).message).toBe(`text contains ${char}, which XML 1.0 cannot represent`);
    expect((err as AppError).details).toEqual({ char });
  });
});

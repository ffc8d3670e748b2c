import { describe, expect, it } from "vitest";
import { attr, compactItems, firewallFromMetadata, forwardOf, str, unfield, xmlUnescape } from "./xml-metadata";

describe("xmlUnescape: the entities XML may write", () => {
  it("decodes the five named entities and decimal and hex character references of any length", () => {
    expect(xmlUnescape("&lt;a&gt; &amp; &apos;b&apos; &quot;c&quot;")).toBe("<a> & 'b' \"c\"");
    expect(xmlUnescape("&#65;&#128512;&#x41;&#x1F600;&#xe9;")).toBe("A😀A😀é");
  });
  it("leaves what is not an entity as it is", () => {
    for (const s of ["&nbsp;", "&#;", "&#x;", "&#xZZ;", "&#12a;", "& lt;", "&amp"]) expect(xmlUnescape(s)).toBe(s);
  });
});

describe("str and attr: text and attribute values, entities decoded", () => {
  it("reads a plain text node, an element's #text, and nothing else", () => {
    expect(str("a&amp;b")).toBe("a&b");
    expect(str("plain")).toBe("plain");
    expect(str({ "#text": "x&lt;y", "@a": "1" })).toBe("x<y");
    expect(str({ "#text": 42 })).toBe("42");
    for (const v of [undefined, null, 0, "", {}, { "@a": "1" }]) expect(str(v)).toBe(v === "" ? "" : null);
  });
  it("reads an attribute only when it is a string", () => {
    expect(attr({ "@a": "x&quot;y" }, "a")).toBe('x"y');
    expect(attr({ "@a": 1 }, "a")).toBeNull();
    expect(attr({}, "a")).toBeNull();
  });
});

describe("unfield and compactItems", () => {
  it("decodes percent-encoding; '-', a missing field and a broken escape are none", () => {
    expect(unfield("a%2Cb%20c")).toBe("a,b c");
    expect(unfield("-")).toBeNull();
    expect(unfield(undefined)).toBeNull();
    expect(unfield("%E0%A4%A")).toBeNull();
  });
  it("splits items at any run of whitespace (libvirt may re-indent) and fields at commas", () => {
    expect(compactItems("a,b\n      c,d\t\te")).toEqual([["a", "b"], ["c", "d"], ["e"]]);
    expect(compactItems("  a  ")).toEqual([["a"]]);
    expect(compactItems(null)).toEqual([]);
  });
});

describe("forwardOf", () => {
  it("keeps a tcp or udp forward with a VM address, with its host address only when one is set", () => {
    expect(forwardOf("tcp", "8080", "10.0.0.5", "80")).toEqual([{ protocol: "tcp", hostPort: 8080, vmIp: "10.0.0.5", vmPort: 80 }]);
    expect(forwardOf("udp", "53", "10.0.0.5", "53", "192.0.2.1")).toEqual([
      { protocol: "udp", hostPort: 53, vmIp: "10.0.0.5", vmPort: 53, hostIp: "192.0.2.1" },
    ]);
  });
  it("drops another protocol or a missing VM address", () => {
    expect(forwardOf("icmp", "1", "10.0.0.5", "1")).toEqual([]);
    expect(forwardOf(null, "1", "10.0.0.5", "1")).toEqual([]);
    expect(forwardOf("tcp", "1", null, "1")).toEqual([]);
    expect(forwardOf("udp", "1", "", "1")).toEqual([]);
  });
});

describe("firewallFromMetadata", () => {
  it("an empty element is a firewall with accept defaults and no rules; no element or a non-element is none", () => {
    expect(firewallFromMetadata("")).toEqual({ defaultInbound: "accept", defaultOutbound: "accept", rules: [] });
    for (const v of [undefined, null, 0, "x", false]) expect(firewallFromMetadata(v)).toBeNull();
  });
  it("reads the defaults; a verdict it does not know, or none, is accept", () => {
    expect(firewallFromMetadata({ "@defaultInbound": "drop", "@defaultOutbound": "reject" })).toEqual({
      defaultInbound: "drop",
      defaultOutbound: "reject",
      rules: [],
    });
    expect(firewallFromMetadata({ "@defaultInbound": "allow", "@defaultOutbound": "constructor" })).toMatchObject({
      defaultInbound: "accept",
      defaultOutbound: "accept",
    });
    expect(firewallFromMetadata({})).toMatchObject({ defaultInbound: "accept", defaultOutbound: "accept" });
  });
  it("reads rules in the element form, then the compact list, filling what a rule leaves out", () => {
    const fw = firewallFromMetadata({
      rule: [{ "@direction": "outbound", "@protocol": "tcp", "@ports": "22", "@action": "drop", "@comment": "no ssh" }, {}],
      rules: "inbound,udp,10.0.0.0%2F8,-,53,reject,dns - ",
    });
    expect(fw?.rules).toEqual([
      { direction: "outbound", protocol: "tcp", source: null, destination: null, ports: "22", action: "drop", comment: "no ssh" },
      { direction: "inbound", protocol: "any", source: null, destination: null, ports: null, action: "accept", comment: null },
      { direction: "inbound", protocol: "udp", source: "10.0.0.0/8", destination: null, ports: "53", action: "reject", comment: "dns" },
      { direction: "inbound", protocol: "any", source: null, destination: null, ports: null, action: "accept", comment: null },
    ]);
  });
  it("keeps host services of tcp and udp with a port range; others are skipped, none is no key", () => {
    expect(firewallFromMetadata({ hostServices: "tcp,22 udp,53-54 icmp,1 tcp,- tcp" })?.hostServices).toEqual([
      { protocol: "tcp", ports: "22" },
      { protocol: "udp", ports: "53-54" },
    ]);
    expect(firewallFromMetadata({ hostServices: "icmp,1" })).not.toHaveProperty("hostServices");
  });
});

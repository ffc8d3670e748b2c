import { describe, expect, it } from "vitest";
import { CidrString, Description, HostId, IPv4, Limit, MacAddress, MAX_PREFIX, MIN_PREFIX, NetworkName } from "./common";

const messageOf = (r: { error?: { issues: { message: string }[] } }) => r.error?.issues[0]?.message;

describe("MacAddress", () => {
  it("accepts any case and returns lower case", () => {
    expect(MacAddress.parse("52:54:00:AB:cd:Ef")).toBe("52:54:00:ab:cd:ef");
  });
  it.each([
    "x52:54:00:12:34:56",
    "52:54:00:12:34:56x",
    "52:54:00:12:34",
    "52:54:00:12:34:56:78",
    "52-54-00-12-34-56",
    "52:54:00:12:34:5g",
    "",
  ])("refuses %j (anchored at both ends)", (s) =>
    expect(messageOf(MacAddress.safeParse(s))).toBe("must be a MAC address like 52:54:00:12:34:56"),
  );
});

describe("HostId", () => {
  it.each(["h", "h1", "hv-1.example.com", "A_b", "9", "a".repeat(63)])("accepts %j", (s) => expect(HostId.safeParse(s).success).toBe(true));
  it.each(["", "-h", ".h", "_h", "h 1", "h1\n", " h1", "h1!", "a".repeat(64)])("refuses %j (anchored at both ends)", (s) =>
    expect(messageOf(HostId.safeParse(s))).toBe("must be 1-63 characters of letters, digits, '.', '_' and '-'"),
  );
});

describe("NetworkName", () => {
  it.each(["a", "web-1", `a${"b".repeat(31)}`])("accepts %j", (s) => expect(NetworkName.safeParse(s).success).toBe(true));
  it.each(["", "1a", "-a", "a_b", "A", "web ", " web", `a${"b".repeat(32)}`])("refuses %j", (s) =>
    expect(messageOf(NetworkName.safeParse(s))).toBe("must be 1-32 characters of a-z, 0-9 and '-', starting with a letter"),
  );
});

describe("IPv4 and CidrString", () => {
  it("IPv4 refuses over 15 characters with the same message", () => {
    expect(IPv4.safeParse("192.168.100.100").success).toBe(true);
    expect(messageOf(IPv4.safeParse("192.168.100.1000"))).toBe("must be an IPv4 address like 192.168.100.1");
    expect(IPv4.safeParse("192.168.100.1000").error?.issues).toHaveLength(2);
  });
  it("CidrString refuses over 18 characters", () => {
    expect(CidrString.safeParse("192.168.100.128/25").success).toBe(true);
    expect(messageOf(CidrString.safeParse("192.168.100.128/25 "))).toBe("must be an IPv4 subnet like 192.168.100.0/24");
  });
  it("host bits: the hint is in the issue's params", () => {
    expect(CidrString.safeParse("0.0.0.0/4").error?.issues[0]).toMatchObject({
      code: "custom",
      message: "prefix length 4 is out of range: must be 8-30",
    });
    expect(CidrString.safeParse("10.0.0.0").error?.issues[0]?.code).toBe("custom");
    expect(CidrString.safeParse("127.0.0.0/8").error?.issues[0]?.code).toBe("custom");
    expect(CidrString.safeParse("10.0.0.1/8").error?.issues[0]).toMatchObject({
      code: "custom",
      message: "host bits must be zero: did you mean 10.0.0.0/8?",
      params: { hint: "10.0.0.0/8" },
    });
  });
  it("one issue per problem: prefix out of range is not also a reserved range", () => {
    expect(CidrString.safeParse("0.0.0.0/4").error?.issues.map((i) => i.message)).toEqual([
      "prefix length 4 is out of range: must be 8-30",
    ]);
    expect([MIN_PREFIX, MAX_PREFIX]).toEqual([8, 30]);
  });
  it("refuses a reserved range with why", () => {
    expect(messageOf(CidrString.safeParse("169.254.0.0/16"))).toBe(
      "must not use a reserved range: 169.254.0.0/16 overlaps 169.254.0.0/16 (link-local): automatic link-local addresses, never routed (RFC 3927)",
    );
  });
});

describe("Description and Limit", () => {
  it("Description is operator text of at most 256 characters", () => {
    expect(Description.safeParse("é".repeat(256)).success).toBe(true);
    expect(messageOf(Description.safeParse("é".repeat(257)))).toBe("must be at most 256 characters");
    expect(messageOf(Description.safeParse("a\u202Eb"))).toBe(
      "must not contain U+202E (a bidirectional override or isolate) at position 2",
    );
  });
  it("Limit is an integer 1-1000", () => {
    expect([1, 1000].map((n) => Limit.safeParse(n).success)).toEqual([true, true]);
    expect([0, 1001, 1.5].map((n) => Limit.safeParse(n).success)).toEqual([false, false, false]);
  });
});

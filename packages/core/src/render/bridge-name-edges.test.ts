/**
 * Bridge names are kept on the hosts (a network's bridge device, its spec's `bridge`): the hashed form of a
 * long name must stay the same from one release to the next, so it is pinned here character by character.
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { bridgeNameFor, MAX_IFNAME } from "./bridge-name";

const hash5 = (s: string) => createHash("sha256").update(s).digest("hex").slice(0, 5);

describe("bridgeNameFor, the hashed form", () => {
  it("is nf-<first 6 characters>-<5 hex digits of the name's sha256> once nf-<name> passes 15 characters", () => {
    expect(MAX_IFNAME).toBe(15);
    expect(bridgeNameFor("abcdefghijklm")).toBe(`nf-abcdef-${hash5("abcdefghijklm")}`);
    expect(bridgeNameFor("production-frontend-a")).toBe(`nf-produc-${hash5("production-frontend-a")}`);
    expect(bridgeNameFor("abcdefghijklm")).toHaveLength(15);
  });

  it("drops the dashes the head would end with, not those inside it", () => {
    expect(bridgeNameFor("abcd---xxxxxxxxx")).toBe(`nf-abcd-${hash5("abcd---xxxxxxxxx")}`);
    expect(bridgeNameFor("ab-cdefghijklmno")).toBe(`nf-ab-cde-${hash5("ab-cdefghijklmno")}`);
  });

  it("hashes a short name whose nf- form is taken, then salts the hash with #1, #2... while taken", () => {
    expect(bridgeNameFor("web", new Set(["nf-web"]))).toBe(`nf-web-${hash5("web")}`);
    const first = `nf-web-${hash5("web")}`;
    const second = `nf-web-${hash5("web#1")}`;
    expect(bridgeNameFor("web", new Set(["nf-web", first]))).toBe(second);
    expect(bridgeNameFor("web", new Set(["nf-web", first, second]))).toBe(`nf-web-${hash5("web#2")}`);
  });

  it("gives up after the direct name and 1,000 hashed ones, naming the network", () => {
    let asked = 0;
    const everything: ReadonlySet<string> = Object.assign(new Set<string>(), {
      has: () => {
        asked++;
        return true;
      },
    });
    expect(() => bridgeNameFor("web", everything)).toThrow("no free bridge name for web");
    expect(asked).toBe(1001);
  });
});

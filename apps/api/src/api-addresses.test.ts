import { describe, expect, it } from "vitest";
import { parseApiAddresses, publishedAddressesFor } from "./api-addresses";

describe("the addresses the API publishes for workers to protect", () => {
  it("NETFORGE_API_ADDRESSES first, else HOST when it is one concrete address, else its Redis connection's local address", () => {
    expect(publishedAddressesFor(["192.0.2.10"], "0.0.0.0")).toEqual(["192.0.2.10"]);
    expect(publishedAddressesFor(undefined, "10.1.2.3")).toEqual(["10.1.2.3"]);
    for (const host of ["0.0.0.0", "127.0.0.1", "::", "api.internal"]) expect(publishedAddressesFor(undefined, host)).toBe("redis-local");
  });
  it("parses a list of IPv4 addresses, naming the bad ones", () => {
    expect(parseApiAddresses("10.1.2.3, 192.0.2.10 ")).toEqual(["10.1.2.3", "192.0.2.10"]);
    expect(() => parseApiAddresses("10.1.2.3,api.example,10.0.0.0/8")).toThrow("not IPv4 addresses: api.example, 10.0.0.0/8");
  });
});

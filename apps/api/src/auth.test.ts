import { describe, expect, it } from "vitest";
import { isSseRoute } from "./auth";

describe("isSseRoute", () => {
  it("only the two event streams take ?access_token", () => {
    expect(isSseRoute("GET", "/api/events")).toBe(true);
    expect(isSseRoute("GET", "/api/jobs/j_abcdefghijkl/events")).toBe(true);
    expect(isSseRoute("POST", "/api/events")).toBe(false);
    expect(isSseRoute("GET", "/api/jobs/j_abcdefghijkl")).toBe(false);
    expect(isSseRoute("POST", "/api/create-network")).toBe(false);
    expect(isSseRoute("GET", "/api/jobs/a/b/events")).toBe(false);
  });
});

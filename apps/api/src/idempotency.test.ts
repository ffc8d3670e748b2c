import { AppError } from "@netforge/core/contract";
import { makeKeys } from "@netforge/core/store";
import { describe, expect, it } from "vitest";
import { canonicalJson, idempotencyRedisKey, parseIdempotencyKey, requestFingerprint } from "./idempotency";

describe("idempotency helpers", () => {
  it("canonical JSON ignores key order and whitespace, keeps array order", () => {
    expect(canonicalJson({ b: 1, a: { d: [2, 1], c: null } })).toBe('{"a":{"c":null,"d":[2,1]},"b":1}');
    expect(canonicalJson(JSON.parse('{ "a" : 1, "b":2 }'))).toBe(canonicalJson({ b: 2, a: 1 }));
  });
  it("treats a __proto__ key as data", () => {
    const body = JSON.parse('{"__proto__":{"x":1},"a":1}');
    expect(canonicalJson(body)).toBe('{"__proto__":{"x":1},"a":1}');
  });
  it("fingerprints action and body", () => {
    expect(requestFingerprint("create-network", { a: 1, b: 2 })).toBe(requestFingerprint("create-network", { b: 2, a: 1 }));
    expect(requestFingerprint("create-network", { a: 1 })).not.toBe(requestFingerprint("delete-network", { a: 1 }));
    expect(requestFingerprint("x", { a: 1 })).not.toBe(requestFingerprint("x", { a: "1" }));
  });
  it("scopes keys per token and keeps both out of Redis key names", () => {
    const keys = makeKeys("p");
    const a = idempotencyRedisKey(keys, "tokA", "k1");
    expect(a).toMatch(/^p:idem:[0-9a-f]{64}$/);
    expect(a).not.toBe(idempotencyRedisKey(keys, "tokB", "k1"));
  });
  it("scopes are unambiguous when tokens and keys contain ':'", () => {
    const keys = makeKeys("p");
    expect(idempotencyRedisKey(keys, "x", "y:k1")).not.toBe(idempotencyRedisKey(keys, "x:y", "k1"));
    expect(idempotencyRedisKey(keys, "x:", "k")).not.toBe(idempotencyRedisKey(keys, "x", ":k"));
  });
  it("accepts 1-200 printable characters", () => {
    expect(parseIdempotencyKey(undefined)).toBeNull();
    expect(parseIdempotencyKey("abc 123 !~")).toBe("abc 123 !~");
    expect(parseIdempotencyKey("x".repeat(200))).toBe("x".repeat(200));
    for (const bad of ["", "x".repeat(201), "tab\there", "ünï"]) {
      expect(() => parseIdempotencyKey(bad)).toThrow(AppError);
    }
  });
});

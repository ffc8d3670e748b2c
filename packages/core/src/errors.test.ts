import { describe, expect, it } from "vitest";
import { AppError, ERROR_STATUS, type ErrorCode, isErrorCode, NON_RETRYABLE_CODES, toAppError } from "./errors";

describe("error codes and their HTTP status (API.md, 'Errors')", () => {
  it("each code answers with the status the contract gives it", () => {
    expect(ERROR_STATUS).toEqual({
      VALIDATION_FAILED: 400,
      UNAUTHORIZED: 401,
      FORBIDDEN: 403,
      NOT_FOUND: 404,
      METHOD_NOT_ALLOWED: 405,
      NAME_TAKEN: 409,
      CIDR_CONFLICT: 409,
      NETWORK_IN_USE: 409,
      PORT_CONFLICT: 409,
      IP_CONFLICT: 409,
      INVALID_STATE: 409,
      IDEMPOTENCY_MISMATCH: 409,
      LIMIT_REACHED: 409,
      PRECONDITION_FAILED: 412,
      PAYLOAD_TOO_LARGE: 413,
      UNSUPPORTED_FOR_TYPE: 422,
      SRIOV_UNAVAILABLE: 422,
      NOT_ALLOWED: 422,
      RATE_LIMITED: 429,
      INTERNAL: 500,
      HOST_COMMAND_FAILED: 502,
      NO_HOST: 503,
      HOST_UNAVAILABLE: 503,
      UNAVAILABLE: 503,
    });
    expect(new AppError("CIDR_CONFLICT", "x").status).toBe(409);
    expect(new AppError("METHOD_NOT_ALLOWED", "x").status).toBe(405);
  });
  it("a retry cannot help with a refusal of the request itself; it can with host, store and internal failures", () => {
    const never: ErrorCode[] = [
      "VALIDATION_FAILED",
      "NOT_FOUND",
      "NAME_TAKEN",
      "CIDR_CONFLICT",
      "NETWORK_IN_USE",
      "PORT_CONFLICT",
      "IP_CONFLICT",
      "INVALID_STATE",
      "UNSUPPORTED_FOR_TYPE",
      "SRIOV_UNAVAILABLE",
      "IDEMPOTENCY_MISMATCH",
      "NOT_ALLOWED",
      "LIMIT_REACHED",
      "PRECONDITION_FAILED",
    ];
    expect([...NON_RETRYABLE_CODES].sort()).toEqual([...never].sort());
    for (const code of Object.keys(ERROR_STATUS) as ErrorCode[]) {
      expect(new AppError(code, "x").retryable, code).toBe(!never.includes(code));
    }
  });
});

describe("AppError", () => {
  it("carries its code, message and details (none: an empty object), named AppError", () => {
    const e = new AppError("NOT_FOUND", "network 'web' not found", { name: "web" });
    expect(e).toBeInstanceOf(Error);
    expect([e.name, e.code, e.message, e.details]).toEqual(["AppError", "NOT_FOUND", "network 'web' not found", { name: "web" }]);
    expect(new AppError("INTERNAL", "boom").details).toEqual({});
  });
  it("retryable can be forced either way", () => {
    expect(new AppError("HOST_COMMAND_FAILED", "x", {}, { retryable: false }).retryable).toBe(false);
    expect(new AppError("INVALID_STATE", "x", {}, { retryable: true }).retryable).toBe(true);
  });
  it("keeps a cause only when one is given", () => {
    const cause = new Error("virsh exited 1");
    expect(new AppError("HOST_COMMAND_FAILED", "x", {}, { cause }).cause).toBe(cause);
    expect("cause" in new AppError("HOST_COMMAND_FAILED", "x")).toBe(false);
    expect("cause" in new AppError("HOST_COMMAND_FAILED", "x", {}, { retryable: true })).toBe(false);
  });
  it("serialises to the body's shape, with the request id only when there is one", () => {
    const e = new AppError("IP_CONFLICT", "taken", { ip: "10.0.0.5" });
    expect(e.toBody()).toEqual({ code: "IP_CONFLICT", message: "taken", details: { ip: "10.0.0.5" } });
    expect("requestId" in e.toBody()).toBe(false);
    expect(e.toBody("r_1")).toEqual({ code: "IP_CONFLICT", message: "taken", details: { ip: "10.0.0.5" }, requestId: "r_1" });
  });
  it("rebuilds from a stored body; an unknown code becomes INTERNAL, missing details an empty object", () => {
    const back = AppError.fromBody({ code: "PORT_CONFLICT", message: "held", details: { hostPort: 80 } });
    expect([back.code, back.message, back.details, back.retryable]).toEqual(["PORT_CONFLICT", "held", { hostPort: 80 }, false]);
    const odd = JSON.parse('{"code":"NO_SUCH_CODE","message":"old worker"}');
    const e = AppError.fromBody(odd);
    expect([e.code, e.message, e.details]).toEqual(["INTERNAL", "old worker", {}]);
  });
});

describe("isErrorCode and toAppError", () => {
  it("only the table's own codes are codes", () => {
    expect(isErrorCode("NOT_FOUND")).toBe(true);
    for (const v of ["not_found", "", "toString", "constructor", 404, null, undefined, { code: "NOT_FOUND" }]) {
      expect(isErrorCode(v), String(v)).toBe(false);
    }
  });
  it("an AppError stays itself; an Error becomes INTERNAL with its message and as cause; anything else its string", () => {
    const app = new AppError("NAME_TAKEN", "taken");
    expect(toAppError(app)).toBe(app);
    const err = new TypeError("x is undefined");
    const wrapped = toAppError(err);
    expect([wrapped.code, wrapped.message, wrapped.cause, wrapped.details]).toEqual(["INTERNAL", "x is undefined", err, {}]);
    expect(toAppError("socket closed").message).toBe("socket closed");
    expect(toAppError(42).message).toBe("42");
  });
});

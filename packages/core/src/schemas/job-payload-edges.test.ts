import { describe, expect, it } from "vitest";
import { AppError } from "../errors";
import { checkJobPayload } from "./job-payload";
import { CreateNetworkBody, resolveCreate } from "./network";

const expectFor = { network: "net1", host: "hv1" };

function refusal(action: unknown, payload: unknown): AppError {
  try {
    checkJobPayload(action as "delete-network", payload, expectFor);
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error("accepted");
}

describe("checkJobPayload, its refusals word by word", () => {
  it("refuses an action no definition has (own keys only), naming it, as the whole payload's issue", () => {
    const err = refusal("nuke-host", { name: "net1" });
    expect(err.message).toBe("the worker refused the queued job's payload (payload: unknown job action 'nuke-host'); nothing was changed");
    expect(err.details).toEqual({ issues: [{ path: "payload", message: "unknown job action 'nuke-host'" }], payloadRefused: true });
    expect(err.retryable).toBe(false);
    expect(refusal("constructor", { name: "net1" }).message).toContain("unknown job action 'constructor'");
    expect(refusal("toString", { name: "net1" }).message).toContain("unknown job action 'toString'");
    expect(refusal(42, { name: "net1" }).message).toContain("unknown job action '42'");
  });

  it("refuses a payload that is not an object: an array, a string, null", () => {
    for (const p of [[{ name: "net1" }], "net1", null]) {
      expect(refusal("delete-network", p).details.issues).toEqual([{ path: "payload", message: "must be an object" }]);
    }
  });

  it("prefixes each field's path with payload. and names the job's network", () => {
    const err = refusal("delete-network", { name: "net2" });
    expect(err.message).toBe(
      "the worker refused the queued job's payload (payload.name: must be the job's network 'net1'); nothing was changed",
    );
    expect(err.details.issues).toEqual([{ path: "payload.name", message: "must be the job's network 'net1'" }]);
  });

  it("refuses a create resolved for another host, naming this worker's host", () => {
    const { requestedHost: _r, ...resolved } = resolveCreate(
      CreateNetworkBody.parse({ name: "net1", type: "nat", cidr: "192.168.100.0/24" }),
    );
    const payload = JSON.parse(
      JSON.stringify({ ...resolved, uuid: "0b8f5d3e-3c1a-4c52-9f0e-6d7b2a1c9e11", host: "hv2", createdAt: "2026-12-06T11:00:00.000Z" }),
    );
    expect(refusal("create-network", payload).details.issues).toEqual([
      { path: "payload.host", message: "must be this worker's host 'hv1'" },
    ]);
  });

  it("returns the parsed payload (MAC lower-cased) when it is the job's", () => {
    expect(checkJobPayload("unassign-static-ip", { name: "net1", mac: "52:54:00:AA:00:01" }, expectFor)).toEqual({
      name: "net1",
      mac: "52:54:00:aa:00:01",
    });
  });
});

/**
 * A queued job's payload checked again by the worker, with the same schemas
 * the API used: the worker trusts nothing it reads from Redis. Every action
 * but create-network queues its parsed body (without dryRun), so its body
 * schema is its payload schema. create-network queues the resolved spec; it is
 * turned back into the body it stands for, parsed with CreateNetworkBody and
 * resolved again with resolveCreate, and must come out exactly as queued (so
 * no field can be added, dropped or altered), plus the fields the API added
 * (uuid, host, createdAt).
 */
import { z } from "zod";
import { ACTIONS } from "../api-contract";
import { AppError } from "../errors";
import type { JobAction } from "./job";
import { HostId } from "./common";
import { CreateNetworkBody, type FieldIssue, resolveCreate } from "./network";

const CreateExtras = z.strictObject({
  uuid: z.string().uuid(),
  host: HostId,
  createdAt: z.string().datetime({ offset: true }),
});

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** JSON with object keys sorted: equal texts <=> equal values. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (isObject(v)) {
    const keys = Object.keys(v)
      .filter((k) => v[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(",")}}`;
  }
  return JSON.stringify(v) ?? "null";
}

function zodIssues(err: z.ZodError): FieldIssue[] {
  return err.issues.flatMap((i) => {
    const at = i.path.map(String);
    // An unknown key is named by its own path ("payload.bridge"), not its object's.
    if (i.code === "unrecognized_keys")
      return i.keys.map((k) => ({ path: [...at, k].join("."), message: "is not a field of this action" }));
    return [{ path: at.join("."), message: i.message }];
  });
}

/** The create body a resolved payload stands for (new fields pass through as they are). */
function createBodyOf(p: Record<string, unknown>): Record<string, unknown> {
  const { uuid: _u, host: _h, createdAt: _c, cidr, gateway, dhcp, l2, ...rest } = p;
  const body: Record<string, unknown> = { ...rest };
  if (p.type === "nat" || p.type === "isolated") {
    body.cidr = cidr;
    body.gateway = gateway;
    if (isObject(dhcp)) {
      body.dhcp = dhcp.enabled === true ? { start: dhcp.start, end: dhcp.end, leaseTime: dhcp.leaseTime } : false;
    } else body.dhcp = dhcp;
  } else if (isObject(l2)) {
    if (l2.kind === "interface") body.interface = l2.interface;
    else if (l2.kind === "bridge") body.bridge = l2.bridge;
    else if (l2.kind === "sriov") {
      body.pf = l2.pf;
      if (l2.vfs !== null) body.vfs = l2.vfs;
      if (l2.vlan !== null) body.vlan = l2.vlan;
    } else body.l2 = l2;
  } else if (l2 !== undefined) body.l2 = l2;
  return body;
}

function checkCreate(payload: Record<string, unknown>): FieldIssue[] {
  const extras = CreateExtras.safeParse({ uuid: payload.uuid, host: payload.host, createdAt: payload.createdAt });
  if (!extras.success) return zodIssues(extras.error);
  const body = CreateNetworkBody.safeParse(createBodyOf(payload));
  if (!body.success) return zodIssues(body.error);
  let resolved: Record<string, unknown>;
  try {
    const { requestedHost: _r, ...r } = resolveCreate(body.data);
    resolved = r;
  } catch (err) {
    if (err instanceof AppError) return (err.details.issues as FieldIssue[] | undefined) ?? [{ path: "", message: err.message }];
    throw err;
  }
  const { uuid: _u, host: _h, createdAt: _c, ...queued } = payload;
  if (canonical(queued) !== canonical(resolved)) {
    const fields = [...new Set([...Object.keys(queued), ...Object.keys(resolved)])].filter(
      (k) => canonical(queued[k]) !== canonical(resolved[k]),
    );
    return fields.map((f) => ({ path: f, message: "is not what the API resolves for this request" }));
  }
  return [];
}

/**
 * Check a job's payload against its action's schema; throws VALIDATION_FAILED (non-retryable) naming the
 * fields. `expect`: what the job record says the payload must name (its network) and the host running it.
 */
export function checkJobPayload(action: JobAction, payload: unknown, expect: { network: string; host: string }): void {
  const fail = (found: FieldIssue[]): never => {
    const issues = found.map((i) => ({ ...i, path: i.path ? `payload.${i.path}` : "payload" }));
    const first = issues[0] as FieldIssue;
    throw new AppError(
      "VALIDATION_FAILED",
      `the worker refused the queued job's payload (${first.path}: ${first.message}); nothing was changed`,
      { issues, payloadRefused: true },
      { retryable: false },
    );
  };
  const def = (ACTIONS as Record<string, { kind: string; body: z.ZodType }>)[action];
  if (def?.kind !== "job") fail([{ path: "", message: `unknown job action '${String(action)}'` }]);
  if (!isObject(payload)) {
    fail([{ path: "", message: "must be an object" }]);
    return;
  }
  if (action === "create-network") {
    const issues = checkCreate(payload);
    if (issues.length > 0) fail(issues);
    if (payload.host !== expect.host) fail([{ path: "host", message: `must be this worker's host '${expect.host}'` }]);
  } else {
    const r = (def as { body: z.ZodType }).body.safeParse(payload);
    if (!r.success) fail(zodIssues(r.error));
  }
  if (payload.name !== expect.network) fail([{ path: "name", message: `must be the job's network '${expect.network}'` }]);
}

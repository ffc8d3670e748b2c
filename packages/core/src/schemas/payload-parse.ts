/**
 * Job payloads read back from Redis, parsed into their typed value: the
 * worker trusts nothing it reads there. Every action but create-network
 * queues its parsed body (without dryRun), so its body schema parses its
 * payload. create-network queues the resolved spec; it is turned back into
 * the body it stands for, parsed with CreateNetworkBody and resolved again
 * with resolveCreate, and must come out exactly as queued (so no field can be
 * added, dropped or altered), plus the fields the API added (uuid, host,
 * createdAt).
 */
import { z } from "zod";
import { AppError } from "../errors";
import { HostId } from "./common";
import { FirewallBodyPart } from "./firewall";
import { CreateNetworkBody, type FieldIssue, type NetworkSpec, resolveCreate } from "./network";
import { QosSet } from "./qos";
import { typeBodyFields } from "./types/create-body";

/**
 * What the API's door adds to an overlay's create payload: the VXLAN id it claimed and each member's underlay
 * address from the hosts' records (the workers program these; each checks its own is still its address).
 */
export interface OverlayDoorPart {
  vni: number;
  underlay: Record<string, string>;
  /** The overlay's MTU: the body's, else the smallest member underlay MTU less the VXLAN overhead. */
  mtu: number;
  /**
   * The overlay's firewall, in configure-network-firewall's body form: a member added to a running overlay
   * (configure-network-hosts) starts with the rules every other member holds. Absent: open (a new overlay).
   */
  firewall?: FirewallBodyPart;
  /** The overlay's bandwidth limits: a member added to a running overlay shapes its VMs from its start. Absent: none. */
  qos?: QosSet;
}

/** Payload of create-network: the resolved spec (bridge chosen on the host) plus whether to start it. */
export type CreateNetworkPayload = Omit<NetworkSpec, "bridge"> & { start: boolean; overlayDoor?: OverlayDoorPart };

/** A payload parsed into its action's type, or the fields that are wrong (paths relative to the payload). */
export type PayloadResult<P> = { ok: true; value: P } | { ok: false; issues: FieldIssue[] };

const CreateExtras = z.strictObject({
  uuid: z.string().uuid(),
  host: HostId,
  createdAt: z.string().datetime({ offset: true }),
  overlayDoor: z
    .strictObject({
      vni: z.number().int().min(1).max(16_777_215),
      underlay: z.record(HostId, z.string().regex(/^\d{1,3}(\.\d{1,3}){3}$/)),
      mtu: z.number().int().min(576).max(9000),
      firewall: FirewallBodyPart.optional(),
      qos: QosSet.optional(),
    })
    .optional(),
});

export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** JSON with object keys sorted: equal texts <=> equal values. */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (isObject(v)) {
    const keys = Object.keys(v)
      .filter((k) => v[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(",")}}`;
  }
  return JSON.stringify(v) ?? "null";
}

export function zodIssues(err: z.ZodError): FieldIssue[] {
  return err.issues.flatMap((i) => {
    const at = i.path.map(String);
    // An unknown key is named by its own path ("payload.bridge"), not its object's.
    if (i.code === "unrecognized_keys")
      return i.keys.map((k) => ({ path: [...at, k].join("."), message: "is not a field of this action" }));
    return [{ path: at.join("."), message: i.message }];
  });
}

/** The parser of a payload that is its action's parsed body. */
export function bodyPayload<S extends z.ZodType>(schema: S): (p: Record<string, unknown>) => PayloadResult<z.output<S>> {
  return (p) => {
    const r = schema.safeParse(p);
    return r.success ? { ok: true, value: r.data } : { ok: false, issues: zodIssues(r.error) };
  };
}

/** The create body a resolved payload stands for (new fields pass through as they are; the type's own by its schema file). */
function createBodyOf(p: Record<string, unknown>): Record<string, unknown> {
  const { uuid: _u, host: _h, createdAt: _c, cidr: _ci, gateway: _g, dhcp: _d, l2: _l, overlay: _o, overlayDoor: _od, ...rest } = p;
  return { ...rest, ...typeBodyFields(p, isObject) };
}

/** A queued create-network payload: exactly what the API resolves for the body it stands for, plus uuid, host, createdAt. */
export function parseCreatePayload(payload: Record<string, unknown>): PayloadResult<CreateNetworkPayload> {
  const extras = CreateExtras.safeParse({
    uuid: payload.uuid,
    host: payload.host,
    createdAt: payload.createdAt,
    ...(payload.overlayDoor === undefined ? {} : { overlayDoor: payload.overlayDoor }),
  });
  if (!extras.success) return { ok: false, issues: zodIssues(extras.error) };
  const body = CreateNetworkBody.safeParse(createBodyOf(payload));
  if (!body.success) return { ok: false, issues: zodIssues(body.error) };
  let resolved: Omit<CreateNetworkPayload, "uuid" | "host" | "createdAt">;
  try {
    const { requestedHost: _r, ...r } = resolveCreate(body.data);
    resolved = r;
  } catch (err) {
    if (err instanceof AppError) {
      const issues = err.details.issues;
      return { ok: false, issues: Array.isArray(issues) ? issues.filter(isFieldIssue) : [{ path: "", message: err.message }] };
    }
    throw err;
  }
  const { uuid: _u, host: _h, createdAt: _c, overlayDoor: _od, ...queued } = payload;
  const resolvedFields: Record<string, unknown> = { ...resolved };
  if (canonical(queued) !== canonical(resolvedFields)) {
    const fields = [...new Set([...Object.keys(queued), ...Object.keys(resolvedFields)])].filter(
      (k) => canonical(queued[k]) !== canonical(resolvedFields[k]),
    );
    return { ok: false, issues: fields.map((f) => ({ path: f, message: "is not what the API resolves for this request" })) };
  }
  return { ok: true, value: { ...resolved, ...extras.data } };
}

function isFieldIssue(v: unknown): v is FieldIssue {
  return isObject(v) && typeof v.path === "string" && typeof v.message === "string";
}

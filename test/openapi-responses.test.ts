/**
 * Real responses conform to /openapi.json. Driven by the action table: every
 * action is called for real (in-process API, real Redis) with a valid body,
 * an invalid one, no token and, for actions naming a network, a missing
 * network; each answer's status must be documented for that operation and
 * its body must validate against the documented schema. The recorded
 * answers are kept in .netforge/recorded-responses.json.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildOpenApiDocument } from "@netforge/api/openapi";
import { ACTIONS, type ActionName } from "@netforge/core/contract";
import type { NetSpec } from "@netforge/core/model";
import { putHost, putNetworkIps, putNetworkSpec } from "@netforge/core/store";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiHarness, hostRecord, natBody, startApiHarness } from "./support/api-harness";

const OUT = join(dirname(fileURLToPath(import.meta.url)), "..", ".netforge", "recorded-responses.json");
const doc = buildOpenApiDocument() as any;
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);

/**
 * A body that succeeds, per action, given the fixtures below (networks "present", and "stopped" inactive, on host "h1").
 * An action missing here still gets its error answers checked; the last test lists such actions.
 */
const VALID_BODIES: Partial<Record<string, unknown>> = {
  "create-network": natBody("fresh", "10.77.0.0/24"),
  "delete-network": { name: "present" },
  "start-network": { name: "stopped" },
  "stop-network": { name: "present" },
  "list-networks": {},
  "describe-network": { name: "present" },
  "list-jobs": {},
  "list-hosts": {},
  "release-network-claim": { name: "orphan" },
  "configure-network-dhcp": { name: "ipnet", start: "10.83.0.120", end: "10.83.0.220", leaseTime: 7200 },
  "assign-static-ip": { name: "ipnet", mac: "52:54:00:00:00:02", ip: "10.83.0.11" },
  "unassign-static-ip": { name: "ipnet", mac: "52:54:00:00:00:01" },
  "list-network-ips": { name: "ipnet" },
  "configure-network-firewall": {
    name: "ipnet",
    defaultInbound: "drop",
    rules: [{ direction: "inbound", protocol: "tcp", source: "10.0.0.0/8", ports: "22", action: "accept" }],
  },
  "configure-network-port-forward": { name: "ipnet", protocol: "tcp", hostPort: 2222, vmIp: "10.83.0.10", vmPort: 22 },
  "configure-network-dns": { name: "ipnet", hosts: [{ ip: "10.83.0.10", names: ["db"] }] },
  "configure-network-mtu": { name: "ipnet", mtu: 1400 },
  "configure-network-qos": { name: "ipnet", network: { inbound: { averageKbps: 10000 } }, vms: [] },
  "configure-network-hosts": { name: "ovnet", add: ["h2"] },
};

/** The spec and IP table a worker would have published for "ipnet" (IP management answers from them). */
const IPNET: NetSpec = {
  type: "nat",
  name: "ipnet",
  uuid: "3e3fce45-4f53-4fa7-bb32-11f34168329d",
  description: "",
  createdAt: "2026-11-28T00:00:00.000Z",
  bridge: "nf-ipnet",
  cidr: "10.83.0.0/24",
  gateway: "10.83.0.1",
  dhcp: { enabled: true, start: "10.83.0.100", end: "10.83.0.200", leaseTime: 3600 },
  reservations: [{ mac: "52:54:00:00:00:01", ip: "10.83.0.10", hostname: null }],
};

interface Recorded {
  operation: string;
  method: string;
  path: string;
  case: string;
  status: number;
  body: unknown;
}
const recorded: Recorded[] = [];
let h: ApiHarness;

beforeAll(async () => {
  // No grace for claims: the orphan below may be released at once.
  h = await startApiHarness("oas-resp", { claimGraceMs: 0 });
  await h.addHost("h1");
  await h.addNetwork({ name: "present", host: "h1", cidr: "10.78.0.0/24" });
  await h.addNetwork({ name: "stopped", host: "h1", cidr: "10.81.0.0/24", state: "inactive" });
  await h.addNetwork({ name: "waited", host: "h1", cidr: "10.82.0.0/24", state: "inactive" });
  await h.addNetwork({ name: "ipnet", host: "h1", cidr: IPNET.cidr, gateway: IPNET.gateway, state: "active" });
  await putNetworkSpec(h.redis, h.keys, IPNET);
  // A worker publishes every network's spec (reconcile): start's dry run plans from it.
  await putNetworkSpec(h.redis, h.keys, {
    ...IPNET,
    name: "stopped",
    uuid: "3e3fce45-4f53-4fa7-bb32-11f34168329e",
    bridge: "nf-stopped",
    cidr: "10.81.0.0/24",
    gateway: "10.81.0.1",
    dhcp: { enabled: true, start: "10.81.0.100", end: "10.81.0.200", leaseTime: 3600 },
    reservations: [],
  });
  await putNetworkIps(h.redis, h.keys, "ipnet", {
    observedAt: new Date().toISOString(),
    ips: [{ ip: "10.83.0.10", mac: "52:54:00:00:00:01", vmName: null, hostname: null, static: true, leaseExpiresAt: null }],
  });
  // An overlay on h1 and a host with an underlay to add to it (configure-network-hosts).
  await putHost(h.redis, h.keys, hostRecord("h2", { underlay: { ip: "172.30.9.2", interface: "eth0", mtu: 1500, source: "setting" } }));
  await h.addNetwork({
    name: "ovnet",
    host: "h1",
    type: "overlay",
    cidr: "10.84.0.0/24",
    state: "active",
    overlay: { vni: 10000, gatewayHost: "h1", hosts: [{ id: "h1", state: "active", connectedVms: 0 }] },
  });
  await putNetworkSpec(h.redis, h.keys, {
    type: "overlay",
    name: "ovnet",
    uuid: "3e3fce45-4f53-4fa7-bb32-11f34168329f",
    description: "",
    createdAt: "2026-11-28T00:00:00.000Z",
    bridge: "nfov10000",
    cidr: "10.84.0.0/24",
    gateway: "10.84.0.1",
    dhcp: { enabled: true, start: "10.84.0.128", end: "10.84.0.254", leaseTime: 3600 },
    mtu: 1450,
    vni: 10000,
    gatewayHost: "h1",
    nat: true,
    members: [{ id: "h1", ip: "172.30.9.1" }],
    self: "h1",
  });
  // A claim with no network behind it on an online host and no job: what release-network-claim frees.
  await h.addNetwork({ name: "orphan", host: "gone-host", cidr: "10.79.0.0/24" });
});
afterAll(async () => {
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, `${JSON.stringify(recorded, null, 2)}\n`);
  await h?.close();
});

/** Check one answer against the document: status documented, body valid. */
function conforms(method: string, path: string, status: number, body: unknown): string[] {
  const op = doc.paths[path]?.[method];
  if (!op) return [`${method.toUpperCase()} ${path} is not in the document`];
  const res = op.responses[String(status)] ?? op.responses.default;
  if (!res)
    return [`${method.toUpperCase()} ${path}: status ${status} is not documented (documented: ${Object.keys(op.responses).join(", ")})`];
  const schema = res.content?.["application/json"]?.schema;
  if (!schema) return [];
  const validate = ajv.compile({ ...schema, components: doc.components });
  return validate(body) ? [] : [`${method.toUpperCase()} ${path} ${status}: ${ajv.errorsText(validate.errors)}`];
}

function record(operation: string, method: string, path: string, kase: string, status: number, body: unknown): string[] {
  recorded.push({ operation, method, path, case: kase, status, body });
  return conforms(method, path, status, body);
}

describe("real responses conform to /openapi.json", () => {
  for (const name of Object.keys(ACTIONS) as ActionName[]) {
    const path = `/api/${name}`;
    it(`${name}: success (and dry run), validation error, no token, missing network`, async () => {
      const problems: string[] = [];
      const valid = VALID_BODIES[name];
      if (valid !== undefined && ACTIONS[name].kind === "job") {
        // A dry run first (it changes nothing): 200 with the plan.
        const plan = await h.call(name, { ...(valid as object), dryRun: true }, { role: "admin" });
        expect(plan.status, JSON.stringify(plan.body)).toBe(200);
        problems.push(...record(name, "post", path, "dry run", plan.status, plan.body));
      }
      if (valid !== undefined) {
        const r = await h.call(name, valid, { role: "admin" });
        expect(r.status, JSON.stringify(r.body)).toBeLessThan(300);
        problems.push(...record(name, "post", path, "valid", r.status, r.body));
      }
      const bad = await h.call(name, { "not-a-field": 1 }, { role: "admin" });
      expect(bad.status).toBe(400);
      problems.push(...record(name, "post", path, "invalid body", bad.status, bad.body));
      const anon = await h.call(name, {}, { role: null });
      expect(anon.status).toBe(401);
      problems.push(...record(name, "post", path, "no token", anon.status, anon.body));
      // The success body naming a network that does not exist.
      if (valid !== undefined && typeof (valid as { name?: unknown }).name === "string" && name !== "create-network") {
        const missing = await h.call(name, { ...(valid as object), name: "no-such-net" }, { role: "admin" });
        expect(missing.status).toBe(404);
        problems.push(...record(name, "post", path, "missing network", missing.status, missing.body));
      }
      expect(problems).toEqual([]);
    });
  }

  it("GET /api/jobs/{id}: a job and a missing one", async () => {
    const created = await h.call("create-network", natBody("jobref", "10.80.0.0/24"), { role: "operator" });
    const id = created.body.job.id as string;
    const r = await h.get(`/api/jobs/${id}`, { role: "viewer" });
    expect(r.status).toBe(200);
    const missing = await h.get("/api/jobs/j_doesnotexist000", { role: "viewer" });
    expect(missing.status).toBe(404);
    expect([
      ...record("get-job", "get", "/api/jobs/{id}", "present", r.status, r.body),
      ...record("get-job", "get", "/api/jobs/{id}", "missing", missing.status, missing.body),
    ]).toEqual([]);
  });

  it("a finished job (Prefer: wait) answers 200 with the documented job shape", async () => {
    const pending = h.call("start-network", { name: "waited" }, { role: "operator", headers: { prefer: "wait=10" } });
    // Play the worker: take the newest queued job of "present" and finish it.
    let jobId: string | undefined;
    for (let i = 0; i < 100 && !jobId; i++) {
      const jobs = await h.call("list-jobs", { network: "waited", state: "queued" }, { role: "viewer" });
      jobId = jobs.body.jobs.find((j: { action: string }) => j.action === "start-network")?.id;
      if (!jobId) await new Promise((r) => setTimeout(r, 20));
    }
    if (!jobId) throw new Error("no queued start-network job");
    await h.advance(jobId, "progress", (r) => {
      r.state = "running";
    });
    await h.advance(jobId, "succeeded", (r) => {
      r.state = "succeeded";
      r.result = { network: { name: "waited" } };
    });
    const r = await pending;
    expect(r.status).toBe(200);
    expect(record("start-network", "post", "/api/start-network", "waited", r.status, r.body)).toEqual([]);
  });

  it("every action of the table has a success case here", () => {
    // A new action is still checked above for its error answers; this names it so a success body is added.
    const without = Object.keys(ACTIONS).filter((a) => VALID_BODIES[a] === undefined);
    expect(without).toEqual([]);
  });
});

/** The OpenAPI 3.1 document, generated from the ACTIONS table and the core zod schemas (never written by hand). */
import { ACTIONS, type ActionName, DryRunFlag, JobView } from "@netforge/core/contract";
import { z } from "zod";

type JsonSchema = Record<string, unknown>;

function schemaOf(s: z.ZodType, io: "input" | "output"): JsonSchema {
  const { $schema: _drop, ...rest } = z.toJSONSchema(s, { io, unrepresentable: "any" }) as JsonSchema;
  return rest;
}

const ErrorSchema: JsonSchema = {
  type: "object",
  required: ["error"],
  properties: {
    error: {
      type: "object",
      required: ["code", "message", "details", "requestId"],
      properties: {
        code: { type: "string", description: "stable machine code (VALIDATION_FAILED, NAME_TAKEN, ...)" },
        message: { type: "string" },
        details: { type: "object", description: "for VALIDATION_FAILED: { issues: [{ path, message }] }" },
        requestId: { type: "string" },
      },
    },
  },
};

/** The answer of a job action called with `"dryRun": true` (see dry-run.ts). */
const PlanResponseSchema: JsonSchema = {
  type: "object",
  required: ["plan"],
  additionalProperties: false,
  properties: {
    plan: {
      type: "object",
      required: ["host", "steps", "planHash", "warnings"],
      additionalProperties: false,
      properties: {
        host: { type: "string" },
        planHash: {
          type: "string",
          pattern: "^[0-9a-f]{32}$",
          description: "the plan's fingerprint: send it as expectPlan with the real call to run exactly this plan",
        },
        steps: {
          type: "array",
          items: {
            type: "object",
            required: ["step", "name", "command", "live"],
            additionalProperties: false,
            properties: {
              step: { type: "string", description: "the job step it runs in (as the job's progress names it)" },
              name: { type: "string" },
              command: { type: "array", items: { type: "string" } },
              xml: { type: "string", description: "the XML the command is given" },
              nft: { type: "string", description: "the nft text of an nft step (this network's chains)" },
              tc: { type: "string", description: "the tc lines of a bandwidth-limits step (conditional lines marked)" },
              input: {
                type: "string",
                description: "what the command reads on stdin: an ip or bridge batch (-batch -), an nft script (-f -)",
              },
              live: { type: "boolean", description: "takes effect on the running network at once" },
            },
          },
        },
        libvirtXml: { type: "string" },
        nft: { type: "string", description: "the network's nft chains after the change (firewall, forwards, create)" },
        changed: { type: "array", items: { type: "string" } },
        notLive: { type: "array", items: { type: "string" } },
        warnings: { type: "array", items: { type: "string" } },
      },
    },
  },
};

const EXPECT_PLAN = {
  type: "string",
  pattern: "^[0-9a-f]{32}$",
  description:
    "the planHash of a dry run: the worker plans again under the network's lock and fails the job (409 INVALID_STATE) instead of running a different plan",
};

/** Every job action takes `dryRun` and `expectPlan` beside its body (read by the action route alone: core's splitDryRun). */
function withDryRun(schema: JsonSchema): JsonSchema {
  const props = (schema.properties ?? {}) as Record<string, unknown>;
  const dryRun = "dryRun" in props ? {} : { dryRun: { type: "boolean", description: DryRunFlag.description } };
  return { ...schema, properties: { ...props, ...dryRun, expectPlan: EXPECT_PLAN } };
}

const errorRef = (description: string) => ({
  description,
  content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
});
const jobRef = (description: string) => ({
  description,
  content: { "application/json": { schema: { $ref: "#/components/schemas/JobResponse" } } },
});
const COMMON_ERRORS = {
  "400": errorRef("VALIDATION_FAILED"),
  "401": errorRef("UNAUTHORIZED"),
  "403": errorRef("FORBIDDEN"),
  "413": errorRef("PAYLOAD_TOO_LARGE"),
  "429": errorRef("RATE_LIMITED (see Retry-After)"),
  "503": errorRef("UNAVAILABLE (Redis cannot be reached; the request had no effect)"),
};

function actionOperation(name: ActionName): JsonSchema {
  const def = ACTIONS[name];
  const op: JsonSchema = {
    operationId: name,
    summary: def.summary,
    description: `${def.description} Requires role '${def.role}'.`,
    tags: [def.kind === "job" ? "jobs (asynchronous)" : "queries"],
  };
  const examples: Record<string, { summary: string; value: unknown }> = def.examples;
  const body = schemaOf(def.body, "input");
  op.requestBody = {
    required: false,
    content: { "application/json": { schema: def.kind === "job" ? withDryRun(body) : body, examples } },
  };
  if (def.kind === "job") {
    op.parameters = [
      {
        name: "Idempotency-Key",
        in: "header",
        required: false,
        description: "a retried request with the same key and body returns the first one's job instead of queueing another",
        schema: { type: "string", minLength: 1, maxLength: 200 },
      },
      {
        name: "If-Match",
        in: "header",
        required: false,
        description:
          "the network's version the request is made against, as describe-network's ETag gives it (\"7\"): another version (or no such network) is 412 PRECONDITION_FAILED (details.expected, details.current), at once or by the job before any step",
        schema: { type: "string", pattern: '^"[0-9]{1,15}"$', example: '"7"' },
      },
      {
        name: "Prefer",
        in: "header",
        required: false,
        description: "wait=<seconds>: hold the answer until the job ends (at most 60 s); 200 with the finished job, else 202",
        schema: { type: "string", example: "wait=30" },
      },
    ];
    op.responses = {
      "202": { ...jobRef("queued; Location: /api/jobs/<id>"), headers: { Location: { schema: { type: "string" } } } },
      "200": {
        description: "finished within Prefer: wait (succeeded): { job }; with dryRun: { plan }",
        content: {
          "application/json": {
            schema: { oneOf: [{ $ref: "#/components/schemas/JobResponse" }, { $ref: "#/components/schemas/PlanResponse" }] },
          },
        },
      },
      ...COMMON_ERRORS,
      "404": errorRef("NOT_FOUND"),
      "409": errorRef(
        "NAME_TAKEN, CIDR_CONFLICT, INVALID_STATE, IDEMPOTENCY_MISMATCH, LIMIT_REACHED (details.limit), or a failed job's code",
      ),
      "412": errorRef("PRECONDITION_FAILED: If-Match is not the network's version (details.expected, details.current)"),
      "422": errorRef("UNSUPPORTED_FOR_TYPE"),
      "503": errorRef("NO_HOST, HOST_UNAVAILABLE, UNAVAILABLE"),
    };
  } else {
    op.responses = {
      "200": {
        description: "OK",
        content: { "application/json": { schema: schemaOf(def.response, "output") } },
        ...(def.headers
          ? {
              headers: Object.fromEntries(Object.entries(def.headers).map(([h, d]) => [h, { description: d, schema: { type: "string" } }])),
            }
          : {}),
      },
      ...COMMON_ERRORS,
      "404": errorRef("NOT_FOUND"),
    };
    for (const [status, what] of Object.entries(def.errors ?? {})) (op.responses as JsonSchema)[status] = errorRef(what);
  }
  return { post: op };
}

const sseResponse = {
  description: "text/event-stream; events: snapshot (job streams only), progress, succeeded, failed; data = the job",
  content: { "text/event-stream": { schema: { type: "string" } } },
};

/** Build the document. */
export function buildOpenApiDocument(): JsonSchema {
  const paths: Record<string, JsonSchema> = {};
  for (const name of Object.keys(ACTIONS) as ActionName[]) paths[`/api/${name}`] = actionOperation(name);
  const jobIdParam = { name: "id", in: "path", required: true, description: "job id (j_...)", schema: { type: "string" } };
  const tokenParam = {
    name: "access_token",
    in: "query",
    required: false,
    description: "the bearer token, for EventSource clients that cannot send headers",
    schema: { type: "string" },
  };
  paths["/api/jobs/{id}"] = {
    get: {
      operationId: "get-job",
      summary: "One job",
      description: "The job's state, steps, result or error. Requires role 'viewer'.",
      tags: ["jobs (asynchronous)"],
      parameters: [jobIdParam],
      responses: { "200": jobRef("the job"), "404": errorRef("NOT_FOUND") },
    },
  };
  paths["/api/jobs/{id}/events"] = {
    get: {
      operationId: "job-events",
      summary: "Server-Sent Events of one job",
      description:
        "snapshot, progress..., one terminal event (succeeded or failed), then the stream closes. Reconnect with Last-Event-ID to get what was missed. Requires role 'viewer'.",
      tags: ["jobs (asynchronous)"],
      parameters: [
        jobIdParam,
        tokenParam,
        {
          name: "Last-Event-ID",
          in: "header",
          required: false,
          description: "resume after this event id (the id of the last event received)",
          schema: { type: "string" },
        },
      ],
      responses: { "200": sseResponse, "404": errorRef("NOT_FOUND") },
    },
  };
  paths["/api/events"] = {
    get: {
      operationId: "all-events",
      summary: "Server-Sent Events of every job",
      description: "Every job event (optionally one network's), for dashboards. Requires role 'viewer'.",
      tags: ["jobs (asynchronous)"],
      parameters: [
        { name: "network", in: "query", required: false, description: "only this network's jobs", schema: { type: "string" } },
        tokenParam,
      ],
      responses: { "200": sseResponse },
    },
  };
  paths["/api/whoami"] = {
    get: {
      operationId: "whoami",
      summary: "The caller's role",
      description:
        "The role of the token presented (viewer, operator or admin), for a client to show what it may do. Requires role 'viewer'.",
      tags: ["queries"],
      responses: {
        "200": {
          description: "the token's role",
          content: {
            "application/json": {
              schema: {
                type: "object",
                required: ["role"],
                properties: { role: { type: "string", enum: ["viewer", "operator", "admin"] } },
              },
            },
          },
        },
      },
    },
  };
  paths["/api/queue-dashboard/session"] = {
    post: {
      operationId: "queue-dashboard-session",
      summary: "Open the queue dashboard (/admin/queues) in this browser",
      description:
        "Sets the dashboard's cookie (HttpOnly, SameSite=Strict, Path=/admin/queues) to the bearer token of the request, so a browser opens /admin/queues with no token in any URL. Requires role 'admin' (others: 403 FORBIDDEN).",
      tags: ["operations"],
      responses: {
        "200": {
          description: "the cookie is set; open the dashboard's address",
          headers: {
            "Set-Cookie": {
              description: "netforge_dashboard=<token>; Path=/admin/queues; HttpOnly; SameSite=Strict",
              schema: { type: "string" },
            },
          },
          content: {
            "application/json": {
              schema: { type: "object", required: ["dashboard"], properties: { dashboard: { type: "string", const: "/admin/queues" } } },
            },
          },
        },
        "403": errorRef("FORBIDDEN"),
      },
    },
    delete: {
      operationId: "queue-dashboard-session-end",
      summary: "Clear the queue dashboard's cookie in this browser",
      description: "Expires the dashboard's cookie (a console signing out). Requires role 'viewer'.",
      tags: ["operations"],
      responses: { "204": { description: "the cookie is cleared" } },
    },
  };
  for (const [path, summary, description] of [
    ["/healthz", "Liveness", "The process is up (no token)."],
    [
      "/readyz",
      "Readiness",
      "Redis answers and at least one worker is online, else 503 (no token; a failed check says only `error: store unreachable`, the error is logged).",
    ],
    [
      "/metrics",
      "Prometheus metrics",
      "Prometheus text exposition format (no API token; `Authorization: Bearer <NETFORGE_METRICS_TOKEN>` when that is set, else 401). A scrape within NETFORGE_METRICS_CACHE_SECONDS (2) of the last gets the same text.",
    ],
  ] as const) {
    paths[path] = {
      get: {
        operationId: path.slice(1),
        summary,
        description,
        tags: ["operations"],
        security: [],
        responses: {
          "200": { description: "OK" },
          ...(path === "/readyz" ? { "503": { description: "not ready" } } : {}),
          ...(path === "/metrics" ? { "401": { description: "NETFORGE_METRICS_TOKEN is set and was not presented" } } : {}),
        },
      },
    };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "netforge API",
      version: "1",
      description: "Network control plane for KVM/libvirt hosts. Every operation is `POST /api/<action>` with a JSON body.",
      contact: { name: "netforge maintainers (see the repository README)" },
    },
    tags: [
      { name: "jobs (asynchronous)", description: "Changes run as jobs on the network's host: 202 + a job to poll or watch (SSE)" },
      { name: "operations", description: "Health, readiness and metrics (no token)" },
      { name: "queries", description: "Answered at once from the cluster index" },
    ],
    servers: [{ url: "/" }],
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
      schemas: {
        Error: ErrorSchema,
        Job: schemaOf(JobView, "output"),
        JobResponse: { type: "object", required: ["job"], properties: { job: { $ref: "#/components/schemas/Job" } } },
        PlanResponse: PlanResponseSchema,
      },
    },
  };
}

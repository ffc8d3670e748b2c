/** The HTTP side of the CLI: POST /api/<action>, GET a job, open a job's event stream. */
import { randomUUID } from "node:crypto";
import type { CliConfig } from "./config";
import { type ApiErrorBody, CliError, EXIT, exitCodeForApiError } from "./exit-codes";
import { type FetchLike, httpFetch, type RequestLike, type ResponseLike } from "./http-fetch";

/** Why fetch failed, in words (ECONNREFUSED, ENOTFOUND...), never with the request's headers. */
function networkReason(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message;
}

export function connectionError(url: string, err: unknown): CliError {
  return new CliError(`cannot reach the netforge API at ${url}: ${networkReason(err)} (set --url or NETFORGE_URL)`, EXIT.CONNECTION);
}

/** Turn an error answer into a CliError with the API's code, message and details. */
export async function errorFromResponse(res: ResponseLike): Promise<CliError> {
  const text = await res.text();
  let body: ApiErrorBody | null = null;
  try {
    const parsed = JSON.parse(text) as { error?: ApiErrorBody };
    if (parsed.error && typeof parsed.error.code === "string") body = parsed.error;
  } catch {
    // not JSON: a proxy's page, say
  }
  if (!body) body = { code: `HTTP_${res.status}`, message: text.slice(0, 200) || res.statusText, details: {} };
  return new CliError(`${body.code}: ${body.message}`, exitCodeForApiError(res.status, body.code), body);
}

/** True for a URL host only this machine can reach (127.0.0.0/8, ::1, localhost). */
export function isLoopbackUrlHost(hostname: string): boolean {
  const h = hostname.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  return h === "localhost" || h.endsWith(".localhost") || h === "::1" || /^(::ffff:)?127\.\d+\.\d+\.\d+$/.test(h);
}

/** The warning due before a token goes over plain HTTP to `url`, or null. */
export function plainHttpWarning(url: string, token: string | null): string | null {
  if (token === null) return null;
  const u = new URL(url);
  if (u.protocol !== "http:" || isLoopbackUrlHost(u.hostname)) return null;
  return (
    `netforge: warning: sending the API token over plain HTTP to ${u.host}: anyone on the path can read and reuse it; ` +
    "use an https:// URL (TLS terminated in front of the API)"
  );
}

export class ApiClient {
  private warned = false;

  constructor(
    readonly config: CliConfig,
    private readonly fetchImpl: FetchLike = httpFetch,
    /** Where the plain-HTTP warning goes (once per client): stderr by default. */
    private readonly warn: (text: string) => void = (t) => process.stderr.write(`${t}\n`),
  ) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    const h: Record<string, string> = { accept: "application/json", ...extra };
    if (this.config.token !== null) h.authorization = `Bearer ${this.config.token}`;
    return h;
  }

  private async request(path: string, init: RequestLike): Promise<ResponseLike> {
    if (!this.warned) {
      this.warned = true;
      const warning = plainHttpWarning(this.config.url, this.config.token);
      if (warning !== null) this.warn(warning);
    }
    try {
      return await this.fetchImpl(`${this.config.url}${path}`, init);
    } catch (err) {
      if ((err as Error).name === "AbortError") throw err;
      throw connectionError(this.config.url, err);
    }
  }

  /** POST /api/<action>; the parsed body of a 2xx answer, else a CliError. Job submissions carry an Idempotency-Key. */
  async action(
    action: string,
    body: unknown,
    opts: { idempotent?: boolean; headers?: Record<string, string> } = {},
  ): Promise<{ status: number; body: any }> {
    const extra: Record<string, string> = { "content-type": "application/json", ...opts.headers };
    if (opts.idempotent) extra["idempotency-key"] = randomUUID();
    const res = await this.request(`/api/${action}`, { method: "POST", headers: this.headers(extra), body: JSON.stringify(body) });
    if (!res.ok) throw await errorFromResponse(res);
    return { status: res.status, body: await res.json() };
  }

  async getJob(id: string): Promise<any> {
    const res = await this.request(`/api/jobs/${encodeURIComponent(id)}`, { headers: this.headers() });
    if (!res.ok) throw await errorFromResponse(res);
    return ((await res.json()) as { job: unknown }).job;
  }

  /** Open a job's event stream (resuming after `lastEventId`); the Response of a 200, else a CliError. */
  async openJobEvents(id: string, lastEventId: string | null, signal: AbortSignal): Promise<ResponseLike> {
    const extra: Record<string, string> = { accept: "text/event-stream" };
    if (lastEventId !== null) extra["last-event-id"] = lastEventId;
    const res = await this.request(`/api/jobs/${encodeURIComponent(id)}/events`, { headers: this.headers(extra), signal });
    if (!res.ok) throw await errorFromResponse(res);
    return res;
  }
}

/**
 * The console's side of the HTTP contract (docs/api.md): POST /api/<action> with the bearer token, and
 * Server-Sent Events read through fetch (never EventSource: it cannot send an Authorization header, and a
 * token in a URL ends up in logs and history). The token lives in this tab's sessionStorage only.
 */

const TOKEN_KEY = "netforge.token";

export const session = {
  token: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  signIn: (token: string): void => sessionStorage.setItem(TOKEN_KEY, token),
  signOut: (): void => sessionStorage.removeItem(TOKEN_KEY),
};

/** An error answer of the API, as the contract shapes it. */
export interface ApiErrorBody {
  code: string;
  message: string;
  details: Record<string, unknown>;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: ApiErrorBody,
  ) {
    super(`${body.code}: ${body.message}`);
  }
  /** The fields the error concerns (`details.issues[].path`, `details.field`), for the form to mark. */
  get fields(): string[] {
    const issues = (this.body.details.issues ?? []) as { path?: string }[];
    const out = issues.map((i) => i.path ?? "").filter((p) => p !== "");
    if (typeof this.body.details.field === "string") out.push(this.body.details.field);
    return out;
  }
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const h: Record<string, string> = { accept: "application/json", ...extra };
  const t = session.token();
  if (t !== null) h.authorization = `Bearer ${t}`;
  return h;
}

async function errorOf(res: Response): Promise<ApiError> {
  const text = await res.text();
  try {
    const parsed = JSON.parse(text) as { error?: ApiErrorBody };
    if (parsed.error && typeof parsed.error.code === "string") return new ApiError(res.status, parsed.error);
  } catch {
    // not JSON (a proxy's page)
  }
  return new ApiError(res.status, { code: `HTTP_${res.status}`, message: text.slice(0, 200) || res.statusText, details: {} });
}

export interface CallOptions {
  /** If-Match: the network version the change was previewed on (412 when it changed meanwhile). */
  ifMatch?: number;
}

/** POST /api/<action>: the parsed body of a 2xx answer, else an ApiError. */
export async function call<T = any>(action: string, body: unknown, opts: CallOptions = {}): Promise<T> {
  const extra: Record<string, string> = { "content-type": "application/json" };
  if (opts.ifMatch !== undefined) extra["if-match"] = `"${opts.ifMatch}"`;
  const res = await fetch(`/api/${action}`, { method: "POST", headers: headers(extra), body: JSON.stringify(body) });
  if (!res.ok) throw await errorOf(res);
  return (await res.json()) as T;
}

/** Another route of the contract (`GET /api/whoami`, `POST /api/queue-dashboard/session`): its JSON, else an ApiError. */
export async function request<T = any>(method: string, path: string): Promise<T | null> {
  const res = await fetch(path, { method, headers: headers() });
  if (!res.ok) throw await errorOf(res);
  return res.status === 204 ? null : ((await res.json()) as T);
}

export interface SseEvent {
  event: string;
  data: string;
  id: string | null;
}

/** Parse an event stream's text into events (fields per the SSE spec; comments dropped). */
export function* parseEvents(buffer: { text: string }): Generator<SseEvent> {
  for (;;) {
    const end = buffer.text.search(/\r?\n\r?\n/);
    if (end < 0) return;
    const block = buffer.text.slice(0, end);
    buffer.text = buffer.text.slice(end).replace(/^\r?\n\r?\n/, "");
    let event = "message";
    let id: string | null = null;
    const data: string[] = [];
    for (const line of block.split(/\r?\n/)) {
      if (line === "" || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
      else if (field === "id") id = value;
    }
    if (data.length > 0) yield { event, data: data.join("\n"), id };
  }
}

/** GET an event stream (`/api/jobs/<id>/events`, `/api/events`) and hand each event to `onEvent` until it ends or `signal` aborts. */
export async function stream(path: string, onEvent: (e: SseEvent) => void, signal: AbortSignal): Promise<void> {
  const res = await fetch(path, { headers: headers({ accept: "text/event-stream" }), signal });
  if (!res.ok || !res.body) throw await errorOf(res);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  const buffer = { text: "" };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer.text += value;
    for (const e of parseEvents(buffer)) onEvent(e);
  }
}

/** A command line as a person would paste it: arguments with spaces or quotes in single quotes. */
export function shellLine(argv: readonly string[]): string {
  return argv.map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'"'"'`)}'`)).join(" ");
}

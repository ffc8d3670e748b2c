/**
 * The CLI's HTTP client on node:http/https instead of node's fetch. A CLI run makes one or two requests, and
 * the first call of node's fetch (undici, loaded and compiled on first use) costs more start-up time than the
 * rest of a `netforge network list` together: measured on the bench machine, `node -e` of one fetch of a local
 * URL took ~330 ms more than `node -e 0`, one `http.get` ~40 ms (docs/adr/0043-declarative-plan-apply.md,
 * "the CLI's start").
 *
 * Only what the CLI's ApiClient reads of a Response is offered: status, text/json, and the body as a web
 * stream (the job event stream's parser reads one).
 */
import { type IncomingMessage, request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { Readable } from "node:stream";

/** What the CLI reads of an answer: a real fetch Response has all of it. */
export interface ResponseLike {
  readonly ok: boolean;
  readonly status: number;
  readonly statusText: string;
  text(): Promise<string>;
  json(): Promise<unknown>;
  readonly body: ReadableStream<Uint8Array> | null;
}

/** What the CLI sends: method, headers (a plain object), a string body, an abort signal. */
export interface RequestLike {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
}

export type FetchLike = (url: string, init: RequestLike) => Promise<ResponseLike>;

/**
 * One request. A connection failure rejects as fetch does (a TypeError whose `cause` carries the system error
 * and its code, e.g. ECONNREFUSED); an aborted one with an error named AbortError. No connection is kept
 * (`agent: false`): a CLI process makes a request or two and ends.
 */
export const httpFetch: FetchLike = (url, init) => {
  const u = new URL(url);
  const send = u.protocol === "https:" ? httpsRequest : u.protocol === "http:" ? httpRequest : null;
  if (send === null) return Promise.reject(new TypeError(`fetch failed`, { cause: new Error(`unsupported protocol ${u.protocol}`) }));
  return new Promise((resolve, reject) => {
    const req = send(u, { method: init.method ?? "GET", headers: init.headers ?? {}, agent: false, signal: init.signal }, (res) =>
      resolve(responseOf(res)),
    );
    req.on("error", (err) => reject(err.name === "AbortError" ? err : new TypeError("fetch failed", { cause: err })));
    req.end(init.body);
  });
};

function responseOf(res: IncomingMessage): ResponseLike {
  const status = res.statusCode ?? 0;
  const text = () =>
    new Promise<string>((resolve, reject) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
      res.on("error", reject);
    });
  return {
    ok: status >= 200 && status < 300,
    status,
    statusText: res.statusMessage ?? "",
    text,
    json: async () => JSON.parse(await text()) as unknown,
    get body() {
      return Readable.toWeb(res) as ReadableStream<Uint8Array>;
    },
  };
}

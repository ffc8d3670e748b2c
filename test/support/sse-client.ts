/** A minimal Server-Sent Events reader over fetch, keeping comments (heartbeats) too. */

export interface SseMessage {
  event: string;
  id: string | undefined;
  data: string;
}

export interface SseConnection {
  status: number;
  headers: Headers;
  /** Next event (comments skipped); null when the stream ended. Rejects after `timeoutMs`. */
  next(timeoutMs?: number): Promise<SseMessage | null>;
  /** Comment lines seen so far (": hb" -> "hb"). */
  comments: string[];
  /** True once the server closed the stream. */
  ended(): boolean;
  /** Wait for the server to end the stream. */
  waitEnd(timeoutMs?: number): Promise<void>;
  close(): void;
}

export async function openSse(url: string, headers: Record<string, string> = {}): Promise<SseConnection> {
  const ac = new AbortController();
  const res = await fetch(url, { headers: { accept: "text/event-stream", ...headers }, signal: ac.signal });
  const comments: string[] = [];
  const queue: (SseMessage | null)[] = [];
  const waiters: ((m: SseMessage | null) => void)[] = [];
  let done = false;
  const deliver = (m: SseMessage | null) => {
    const w = waiters.shift();
    if (w) w(m);
    else queue.push(m);
  };

  if (res.body) {
    void (async () => {
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      try {
        for (;;) {
          const { done: d, value } = await reader.read();
          if (d) break;
          buf += value;
          let idx = buf.indexOf("\n\n");
          while (idx >= 0) {
            const block = buf.slice(0, idx);
            buf = buf.slice(idx + 2);
            let event = "message";
            let id: string | undefined;
            const data: string[] = [];
            let isEvent = false;
            for (const line of block.split("\n")) {
              if (line.startsWith(":")) {
                comments.push(line.slice(1).trim());
                continue;
              }
              isEvent = true;
              if (line.startsWith("event: ")) event = line.slice(7);
              else if (line.startsWith("id: ")) id = line.slice(4);
              else if (line.startsWith("data: ")) data.push(line.slice(6));
            }
            // As EventSource does: a block without data (e.g. only "retry:") dispatches nothing.
            if (isEvent && data.length > 0) deliver({ event, id, data: data.join("\n") });
            idx = buf.indexOf("\n\n");
          }
        }
      } catch {
        // aborted by close()
      }
      done = true;
      deliver(null);
    })();
  } else {
    done = true;
  }

  const conn: SseConnection = {
    status: res.status,
    headers: res.headers,
    comments,
    ended: () => done,
    next(timeoutMs = 5000) {
      const m = queue.shift();
      if (m !== undefined) return Promise.resolve(m);
      if (done) return Promise.resolve(null);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          const i = waiters.indexOf(w);
          if (i >= 0) waiters.splice(i, 1);
          reject(new Error(`no SSE event within ${timeoutMs} ms`));
        }, timeoutMs);
        const w = (v: SseMessage | null) => {
          clearTimeout(timer);
          resolve(v);
        };
        waiters.push(w);
      });
    },
    async waitEnd(timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (!done) {
        if (Date.now() > deadline) throw new Error("SSE stream did not end");
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    close() {
      ac.abort();
    },
  };
  return conn;
}

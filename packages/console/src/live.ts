/** Live updates: the fleet-wide job event stream (/api/events), and a clock for ages. */
import { useEffect, useRef, useState } from "preact/hooks";
import { stream } from "./api";

/**
 * Call `onChange` (at most every 300 ms) when a job of `network` (or of any network) ends: the page reads again.
 * The stream is reopened after a pause when it drops.
 */
export function useJobEvents(onChange: (e: { event: string; job: { network: string | null } }) => void, network?: string): void {
  const last = useRef(onChange);
  last.current = onChange;
  useEffect(() => {
    const ac = new AbortController();
    let timer: ReturnType<typeof setTimeout> | null = null;
    const path = network ? `/api/events?network=${encodeURIComponent(network)}` : "/api/events";
    const open = () => {
      stream(
        path,
        (e) => {
          const job = JSON.parse(e.data) as { network: string | null };
          if (timer !== null) clearTimeout(timer);
          timer = setTimeout(() => last.current({ event: e.event, job }), 300);
        },
        ac.signal,
      )
        .catch(() => {})
        .finally(() => {
          if (!ac.signal.aborted) setTimeout(open, 2000);
        });
    };
    open();
    return () => {
      ac.abort();
      if (timer !== null) clearTimeout(timer);
    };
  }, [network]);
}

/** Re-render every `ms` (heartbeat ages). */
export function useTick(ms: number): number {
  const [n, setN] = useState(0);
  useEffect(() => {
    const t = setInterval(() => setN((x) => x + 1), ms);
    return () => clearInterval(t);
  }, [ms]);
  return n;
}

export const ageOf = (iso: string | null, now = Date.now()): string => {
  if (!iso) return "never";
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  return s < 120 ? `${s} s ago` : `${Math.round(s / 60)} min ago`;
};

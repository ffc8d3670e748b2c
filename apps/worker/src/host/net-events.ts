/**
 * Lines of `virsh net-event --event lifecycle --loop [--timestamp]`, the
 * stream that keeps the worker's network catalog current. libvirt 9.0 prints
 * one line per event:
 *
 *   event 'lifecycle' for network web: Started
 *   2026-11-29 10:13:57.359+0000: event 'lifecycle' for network web: Defined
 *
 * and, when the loop ends, "events received: N". Pure: no I/O.
 */

/** The lifecycle events libvirt 9.0 emits for networks. */
export type NetEventKind = "Defined" | "Undefined" | "Started" | "Stopped";

export interface NetEvent {
  name: string;
  /** The event, or "other" for a lifecycle detail this libvirt names differently (the catalog re-reads the network). */
  event: NetEventKind | "other";
}

const KINDS: ReadonlySet<string> = new Set(["Defined", "Undefined", "Started", "Stopped"]);

// The name runs to the LAST ": " (names may contain spaces and colons); the event word is the rest of the line.
const LINE = /^(?:\d{4}-\d{2}-\d{2} [0-9:.]+[+-]\d{4}: )?event '([A-Za-z-]+)' for network (.+): ([A-Za-z ]+)$/;

/** One event from one output line; null for lines that are not a network lifecycle event. */
export function parseNetEventLine(line: string): NetEvent | null {
  const m = LINE.exec(line.replace(/\r?$/, "").trim());
  if (!m?.[1] || !m[2] || !m[3]) return null;
  if (m[1] !== "lifecycle") return null;
  const word = m[3].trim();
  return { name: m[2], event: KINDS.has(word) ? (word as NetEventKind) : "other" };
}

/**
 * Splits a byte stream into lines across chunk boundaries: feed chunks, get complete lines back;
 * the unfinished tail waits for the next chunk.
 */
export class LineSplitter {
  private tail = "";

  push(chunk: string): string[] {
    const text = this.tail + chunk;
    const parts = text.split("\n");
    this.tail = parts.pop() ?? "";
    return parts;
  }
}

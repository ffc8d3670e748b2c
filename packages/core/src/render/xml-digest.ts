/**
 * What a job result says of a definition it wrote: the sha256 of the XML applied and a compact line diff from
 * the definition before, never the whole text (1,000 forwards make ~25 KB of XML, and a result is kept in the
 * record, the event stream and pub/sub for the job's whole retention). Dry runs still show the whole text.
 */
import { createHash } from "node:crypto";

/** Changed lines shown at most; the rest is counted. */
export const XML_DIFF_MAX_LINES = 40;

export interface XmlDigest {
  /** sha256 (hex) of the XML given to net-define (a dry run's libvirtXml hashes alike; libvirt's re-serialised dump does not). */
  xmlSha256: string;
  /** "- old line" / "+ new line" for the lines between the unchanged head and tail, trimmed, capped. */
  xmlDiff: string[];
}

export function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/**
 * The digest of `after` as a change from `before`: the lines of the common head and tail are dropped and what
 * is left of each side is listed (one change is usually one run of lines: a rule, a host, a forward).
 */
export function xmlDigest(before: string | null | undefined, after: string): XmlDigest {
  const a = (before ?? "").split("\n").map((l) => l.trim());
  const b = after.split("\n").map((l) => l.trim());
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const lines = [
    ...a
      .slice(head, a.length - tail)
      .filter((l) => l !== "")
      .map((l) => `- ${l}`),
    ...b
      .slice(head, b.length - tail)
      .filter((l) => l !== "")
      .map((l) => `+ ${l}`),
  ];
  const xmlDiff =
    lines.length > XML_DIFF_MAX_LINES
      ? [...lines.slice(0, XML_DIFF_MAX_LINES), `(${lines.length - XML_DIFF_MAX_LINES} more changed lines)`]
      : lines;
  return { xmlSha256: sha256Hex(after), xmlDiff };
}

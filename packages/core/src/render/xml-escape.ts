import { AppError } from "../errors";
import { formatCodePoint } from "../schemas/text";

/** Characters XML 1.0 cannot carry at all (outside its Char production), escaped or not. */
const NOT_XML_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

/**
 * Escape text for XML content and attribute values (quotes included), so no
 * input can close an element. Text XML cannot represent is refused here
 * (permanent VALIDATION_FAILED) rather than sent to libvirt, whose parser would
 * reject the whole definition on the host.
 */
export function xmlEscape(s: string): string {
  const bad = NOT_XML_CHAR.exec(s);
  if (bad) {
    const char = formatCodePoint(bad[0].codePointAt(0) as number);
    throw new AppError("VALIDATION_FAILED", `text contains ${char}, which XML 1.0 cannot represent`, { char });
  }
  return s.replace(/[&<>"']/g, (c) => (c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === '"' ? "&quot;" : "&apos;"));
}

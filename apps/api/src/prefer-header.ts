/** RFC 7240 `Prefer` header: only the `wait` preference matters to us. */

/**
 * The `wait=<seconds>` preference, or null when absent or not understood
 * (RFC 7240 says to ignore preferences a server cannot parse, not to fail).
 */
export function parsePreferWait(header: string | undefined | null): number | null {
  if (!header) return null;
  for (const part of header.split(",")) {
    // A preference may carry ";param" suffixes; only its own token=value counts.
    const [pref = ""] = part.split(";");
    const m = /^\s*wait\s*=\s*"?(\d{1,9})"?\s*$/i.exec(pref);
    if (m) return Number(m[1]);
  }
  return null;
}

/**
 * Rules for free text that operators read (descriptions, and any comment or
 * hostname field a schema adds): it must be storable in libvirt's XML and must
 * look like what it is. Refused, each named in the message as U+XXXX with its
 * position (counting characters from 1):
 * - what XML 1.0 cannot carry (its Char production): C0 controls, unpaired
 *   surrogates, U+FFFE/U+FFFF; libvirt's parser rejects the whole definition;
 * - every other control character (DEL, C1 controls, tab and newline: the
 *   text is one line), the line and paragraph separators, and the other
 *   Unicode noncharacters (U+FDD0-U+FDEF, U+nFFFE/U+nFFFF of every plane);
 * - bidi overrides and isolates (U+202A-U+202E, U+2066-U+2069), which make
 *   text display in a different order than it is stored ("Trojan Source");
 * - zero-width characters (U+200B-U+200D, U+2060, U+FEFF), which make two
 *   different texts look the same.
 */
import { z } from "zod";

/** A character that free text may not contain, and where it is. */
export interface ForbiddenChar {
  /** "U+202E" */
  char: string;
  /** 1-based position counted in characters (code points), as an editor shows it. */
  position: number;
  /** What kind of character it is. */
  why: string;
}

/** "U+00E9", "U+1F600": at least four hex digits, upper case. */
export function formatCodePoint(cp: number): string {
  return `U+${cp.toString(16).toUpperCase().padStart(4, "0")}`;
}

/** Why a code point is refused in operator text, or null when it is fine. */
export function forbiddenCharReason(cp: number): string | null {
  if (cp <= 0x1f || (cp >= 0x7f && cp <= 0x9f)) return "a control character";
  if (cp >= 0xd800 && cp <= 0xdfff) return "an unpaired surrogate (not valid Unicode text)";
  if ((cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) === 0xfffe) return "a Unicode noncharacter";
  if ((cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069)) return "a bidirectional override or isolate";
  if ((cp >= 0x200b && cp <= 0x200d) || cp === 0x2060 || cp === 0xfeff) return "a zero-width character";
  if (cp === 0x2028 || cp === 0x2029) return "a line or paragraph separator";
  return null;
}

/** The first character of `s` that operator text may not contain, or null. */
export function findForbiddenChar(s: string): ForbiddenChar | null {
  let position = 0;
  // for..of walks code points: a valid surrogate pair is one character, a lone surrogate is one too.
  for (const ch of s) {
    position++;
    const cp = ch.codePointAt(0) as number;
    const why = forbiddenCharReason(cp);
    if (why !== null) return { char: formatCodePoint(cp), position, why };
  }
  return null;
}

/** The message for a forbidden character: "must not contain U+202E (a bidirectional override or isolate) at position 4". */
export function forbiddenCharMessage(f: ForbiddenChar): string {
  return `must not contain ${f.char} (${f.why}) at position ${f.position}`;
}

/** A schema for one-line free text of at most `max` characters that follows the rules above. */
export function operatorText(max: number) {
  return z
    .string()
    .max(max, `must be at most ${max} characters`)
    .superRefine((s, ctx) => {
      const f = findForbiddenChar(s);
      if (f) ctx.addIssue({ code: "custom", message: forbiddenCharMessage(f), params: { char: f.char, position: f.position } });
    });
}

/** The keys of a JSON object text at its top level, in order, duplicates kept (JSON.parse would fold them). */
export function topLevelKeys(text: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  let i = 0;
  while (i < text.length) {
    const ch = text[i] as string;
    if (ch === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      const str = text.slice(i + 1, j);
      let k = j + 1;
      while (text[k] === " ") k++;
      if (depth === 1 && text[k] === ":") keys.push(JSON.parse(`"${str}"`) as string);
      i = j + 1;
      continue;
    }
    if (ch === "{" || ch === "[") depth++;
    else if (ch === "}" || ch === "]") depth--;
    i++;
  }
  return keys;
}

/** Keys that appear more than once at the top level of a JSON log line. */
export function duplicateKeys(line: string): string[] {
  const seen = new Set<string>();
  const dups = new Set<string>();
  for (const k of topLevelKeys(line)) (seen.has(k) ? dups : seen).add(k);
  return [...dups];
}

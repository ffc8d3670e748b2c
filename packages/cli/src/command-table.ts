/**
 * Where each API action lives on the command line: the words its definition
 * gives (core's actions/, `cli`); any other action gets a command derived from
 * its name (<verb>-<noun>[-<rest>] -> "<noun> <verb>[-<rest>]").
 */
import { actionTable } from "./action-table";

const NOUNS: Record<string, string> = { network: "network", networks: "network", host: "host", hosts: "host", job: "job", jobs: "job" };

/** The command words of an action. */
export function cliPathOf(action: string): string[] {
  const known = actionTable().find((a) => a.name === action);
  if (known) return [...known.cli];
  const words = action.split("-");
  const i = words.findIndex((w) => w in NOUNS);
  if (i < 0) return ["action", action];
  const rest = [...words.slice(0, i), ...words.slice(i + 1)];
  return [NOUNS[words[i] as string] as string, rest.join("-") || "show"];
}

/** The action whose command is `words` (e.g. ["network", "describe"]): commands built on others name them so. */
export function actionAt(...words: string[]): string {
  const found = actionTable().find((a) => a.cli.join(" ") === words.join(" "));
  if (!found) throw new Error(`no action has the command netforge ${words.join(" ")}`);
  return found.name;
}

/**
 * Where each API action lives on the command line. Known actions have their
 * words here; any other action of the table gets a command derived from its
 * name (<verb>-<noun>[-<rest>] -> "<noun> <verb>[-<rest>]"), so actions added
 * to the API appear in the CLI without a change here.
 */
export const CLI_PATHS: Record<string, string[]> = {
  "create-network": ["network", "create"],
  "delete-network": ["network", "delete"],
  "start-network": ["network", "start"],
  "stop-network": ["network", "stop"],
  "list-networks": ["network", "list"],
  "describe-network": ["network", "describe"],
  "release-network-claim": ["network", "release-claim"],
  "configure-network-dhcp": ["network", "dhcp"],
  "assign-static-ip": ["network", "ip", "assign"],
  "unassign-static-ip": ["network", "ip", "unassign"],
  "list-network-ips": ["network", "ips"],
  "configure-network-firewall": ["network", "firewall"],
  "configure-network-port-forward": ["network", "forward"],
  "list-jobs": ["job", "list"],
  "list-hosts": ["host", "list"],
};

const NOUNS: Record<string, string> = { network: "network", networks: "network", host: "host", hosts: "host", job: "job", jobs: "job" };

/** The command words of an action. */
export function cliPathOf(action: string): string[] {
  const known = CLI_PATHS[action];
  if (known) return known;
  const words = action.split("-");
  const i = words.findIndex((w) => w in NOUNS);
  if (i < 0) return ["action", action];
  const rest = [...words.slice(0, i), ...words.slice(i + 1)];
  return [NOUNS[words[i] as string] as string, rest.join("-") || "show"];
}

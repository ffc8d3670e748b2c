/**
 * Commands that are not one API action each: they read a network (describe-network), change one part of it
 * and send the whole of that part back with the action that owns it.
 *
 *   network set NAME key=value...              single fields (SETTABLE_KEYS) -> their configure action
 *   network firewall show NAME                 the rule set, numbered
 *   network firewall add-rule NAME --direction .. --protocol .. [--ports ..] [--source ..] --action ..
 *   network firewall remove-rule NAME INDEX    (INDEX as `show` numbers it, from 1)
 *   network forward list NAME                  the network's port forwards
 *
 * `network firewall` and `network forward` are groups whose default subcommand `set` is the whole action
 * (program.ts, GROUPED_COMMANDS): `network firewall NAME --rules ...` runs `network firewall set NAME --rules ...`.
 */
import { type Command, Option } from "commander";
import type { ApiClient } from "./client";
import { actionAt } from "./command-table";
import { CliError, EXIT } from "./exit-codes";
import type { Format } from "./render";
import { serialize, table } from "./render";
import { clientFor, configure, type Io, submitJob } from "./program";

type Verdict = "accept" | "drop" | "reject";
/** A rule as the firewall action takes it (the API checks its fields). */
type Rule = Record<string, unknown>;
interface FirewallView {
  defaultInbound: Verdict;
  defaultOutbound: Verdict;
  rules: Record<string, unknown>[];
  hostServices?: { protocol: string; ports: string }[];
}
interface NetworkLike {
  name: string;
  dhcp: { enabled: boolean; start: string | null; end: string | null; leaseTime: number | null };
  firewall: FirewallView;
  portForwards: Record<string, unknown>[];
}

async function describe(client: ApiClient, name: string): Promise<NetworkLike> {
  const res = await client.action(actionAt("network", "describe"), { name });
  return res.body.network as NetworkLike;
}

/** A rule as `network describe` shows it (absent fields null) -> as the firewall action takes it. */
export function ruleBody(r: Record<string, unknown>): Rule {
  return Object.fromEntries(Object.entries(r).filter(([, v]) => v !== null && v !== undefined));
}

/** The whole firewall body of `name` from its current view, with `rules` instead of the current ones when given. */
export function firewallBody(name: string, fw: FirewallView, rules?: Rule[]): Record<string, unknown> {
  return {
    name,
    defaultInbound: fw.defaultInbound,
    defaultOutbound: fw.defaultOutbound,
    rules: rules ?? fw.rules.map(ruleBody),
    hostServices: fw.hostServices ?? [],
  };
}

/** One field `network set` accepts: the action it goes to and how its value is read. */
interface Settable {
  /** The command (its action) the key's group goes to. */
  group: "dhcp" | "firewall" | "mtu";
  help: string;
  parse(v: string): string | number;
}
const integer = (key: string) => (v: string) => {
  if (!/^\d+$/.test(v)) throw new CliError(`${key}=${v}: must be a whole number`, EXIT.VALIDATION);
  return Number(v);
};
const verdict = (key: string) => (v: string) => {
  if (!["accept", "drop", "reject"].includes(v)) throw new CliError(`${key}=${v}: must be accept, drop or reject`, EXIT.VALIDATION);
  return v;
};
export const SETTABLE_KEYS: Record<string, Settable> = {
  "dhcp.start": { group: "dhcp", help: "first address of the DHCP range", parse: (v) => v },
  "dhcp.end": { group: "dhcp", help: "last address of the DHCP range", parse: (v) => v },
  "dhcp.leaseTime": { group: "dhcp", help: "DHCP lease time in seconds", parse: integer("dhcp.leaseTime") },
  "firewall.defaultInbound": {
    group: "firewall",
    help: "verdict for inbound traffic no rule matched (accept|drop|reject)",
    parse: verdict("firewall.defaultInbound"),
  },
  "firewall.defaultOutbound": {
    group: "firewall",
    help: "verdict for outbound traffic no rule matched (accept|drop|reject)",
    parse: verdict("firewall.defaultOutbound"),
  },
  mtu: { group: "mtu", help: "the network's MTU (576-9000; the bridge and its ports at once)", parse: integer("mtu") },
};

/** The request `network set` sends for `pairs` (key=value) on `net`: [action, body]. */
export function setRequest(net: NetworkLike, pairs: string[]): [string, Record<string, unknown>] {
  if (pairs.length === 0) throw new CliError("network set: give at least one key=value", EXIT.VALIDATION);
  const values = new Map<string, string | number>();
  for (const p of pairs) {
    const eq = p.indexOf("=");
    const key = eq < 0 ? p : p.slice(0, eq);
    const s = SETTABLE_KEYS[key];
    if (eq < 0 || !s) {
      throw new CliError(
        `network set: ${eq < 0 ? `"${p}" is not key=value` : `"${key}" cannot be set`}; supported keys: ${Object.keys(SETTABLE_KEYS).join(", ")}`,
        EXIT.VALIDATION,
      );
    }
    values.set(key, s.parse(p.slice(eq + 1)));
  }
  const groups = new Set([...values.keys()].map((k) => SETTABLE_KEYS[k]?.group));
  if (groups.size > 1) {
    throw new CliError("network set: dhcp.*, firewall.* and mtu keys go in separate commands (each is one change)", EXIT.VALIDATION);
  }
  const get = (k: string) => values.get(k);
  if (groups.has("dhcp")) {
    const d = net.dhcp;
    const start = get("dhcp.start") ?? d.start;
    const end = get("dhcp.end") ?? d.end;
    if (start === null || end === null) {
      throw new CliError(`network ${net.name} has no DHCP range: give both dhcp.start and dhcp.end`, EXIT.VALIDATION);
    }
    const leaseTime = get("dhcp.leaseTime") ?? d.leaseTime;
    return [actionAt("network", "dhcp"), { name: net.name, start, end, ...(leaseTime === null ? {} : { leaseTime }) }];
  }
  if (groups.has("mtu")) return [actionAt("network", "mtu"), { name: net.name, mtu: get("mtu") }];
  const body = firewallBody(net.name, net.firewall);
  if (values.has("firewall.defaultInbound")) body.defaultInbound = get("firewall.defaultInbound");
  if (values.has("firewall.defaultOutbound")) body.defaultOutbound = get("firewall.defaultOutbound");
  return [FIREWALL(), body];
}

/** The rules of a firewall view numbered from 1, as `firewall show` prints and `remove-rule` counts them. */
function numbered(fw: FirewallView): Record<string, unknown>[] {
  return fw.rules.map((r, i) => ({
    "#": i + 1,
    direction: r.direction,
    protocol: r.protocol,
    source: r.source ?? null,
    destination: r.destination ?? null,
    ports: r.ports ?? null,
    action: r.action,
    comment: r.comment ?? null,
  }));
}

function printFirewall(io: Io, format: Format, net: NetworkLike): void {
  if (format !== "table") {
    io.out(serialize(format, { name: net.name, firewall: net.firewall }));
    return;
  }
  const fw = net.firewall;
  io.out(`network ${net.name}: default inbound ${fw.defaultInbound}, default outbound ${fw.defaultOutbound}`);
  const services = (fw.hostServices ?? []).map((s) => `${s.protocol}/${s.ports}`);
  if (services.length > 0) io.out(`host services: ${services.join(", ")}`);
  io.out(table(numbered(fw), "rules"));
}

function jobOptions(cmd: Command): Command {
  return cmd
    .option("--dry-run", "validate and plan only: print the exact commands it would run; nothing is queued or changed")
    .option("--no-wait", "print the job id and return at once instead of following the job");
}

/** The subcommand `word` of `parent` (made by the action table). */
function sub(parent: Command, word: string): Command {
  const c = parent.commands.find((x) => x.name() === word);
  if (!c) throw new Error(`the command group ${parent.name()} has no ${word}`);
  return c;
}

export function addConvenienceCommands(io: Io, program: Command, setExit: (code: number) => void): void {
  const network = sub(program, "network");
  const firewall = sub(network, "firewall");
  const forward = sub(network, "forward");
  // Options after a subcommand's name are that subcommand's (firewall's own --dry-run must not take add-rule's).
  firewall.enablePositionalOptions();
  forward.enablePositionalOptions();
  const shadow = (group: string, subs: string) =>
    `\nA first word that is one of ${subs} is that subcommand; any other is the network name of the whole-action form (netforge network ${group} NAME ...).`;
  firewall.addHelpText(
    "after",
    `${shadow("firewall", "set, show, add-rule, remove-rule")} For a network named like a subcommand: netforge network firewall set NAME ...`,
  );
  forward.addHelpText("after", shadow("forward", "list"));

  const send = async (c: Command, action: string, body: Record<string, unknown>) => {
    const opts = c.opts() as { dryRun?: boolean; wait?: boolean };
    const { client, format } = clientFor(io, c);
    if (opts.dryRun === true) body.dryRun = true;
    setExit(await submitJob(io, client, action, body, { wait: opts.wait !== false }, format));
  };

  const keysHelp = Object.entries(SETTABLE_KEYS)
    .map(([k, s]) => `  ${k.padEnd(26)} ${s.help}  (${actionAt("network", s.group)})`)
    .join("\n");
  configure(
    jobOptions(
      network
        .command("set")
        .description("Change single fields of a network: reads its current settings and sends the action owning the fields")
        .argument("<name>", "the network name")
        .argument("<key=value...>", "the fields to change (supported keys below)"),
    )
      .addHelpText(
        "after",
        `\nSupported keys (any other is refused; dhcp.* and firewall.* go in separate commands):\n${keysHelp}\n\nExample:\n  netforge network set web dhcp.end=192.168.100.200 dhcp.leaseTime=7200`,
      )
      .action(async (name: string, pairs: string[], _o: unknown, c: Command) => {
        // Refuse unknown keys before anything is read.
        setRequest({ name, dhcp: { enabled: true, start: "", end: "", leaseTime: null }, firewall: EMPTY_FW, portForwards: [] }, pairs);
        const { client } = clientFor(io, c);
        const [action, body] = setRequest(await describe(client, name), pairs);
        await send(c, action, body);
      }),
  );

  configure(
    firewall
      .command("show")
      .description("A network's firewall: its defaults, host services and rules, numbered as remove-rule counts them")
      .argument("<name>", "the network name")
      .action(async (name: string, _o: unknown, c: Command) => {
        const { client, format } = clientFor(io, c);
        printFirewall(io, format, await describe(client, name));
      }),
  );

  const addRule = firewall
    .command("add-rule")
    .description("Add one rule to a network's firewall (at the end, or at --position); sends the whole rule set")
    .argument("<name>", "the network name")
    .addOption(
      new Option("--direction <direction>", "traffic direction the rule matches").choices(["inbound", "outbound"]).makeOptionMandatory(),
    )
    .addOption(
      new Option("--protocol <protocol>", "protocol the rule matches").choices(["tcp", "udp", "icmp", "any"]).makeOptionMandatory(),
    )
    .option("--ports <ports>", 'destination port "22" or range "8000-8100" (tcp or udp only)')
    .option("--source <cidr>", "source IPv4 CIDR the rule matches")
    .option("--destination <cidr>", "destination IPv4 CIDR the rule matches")
    .addOption(
      new Option("--action <verdict>", "what the rule does with matching traffic")
        .choices(["accept", "drop", "reject"])
        .makeOptionMandatory(),
    )
    .option("--comment <text>", "free text shown with the rule")
    .option("--position <n>", "insert as rule n (1 = first; first match wins); default: last");
  configure(
    jobOptions(addRule).action(async (name: string, o: Record<string, string | undefined>, c: Command) => {
      const { client } = clientFor(io, c);
      const net = await describe(client, name);
      const rules = net.firewall.rules.map(ruleBody);
      const rule = ruleBody({
        direction: o.direction,
        protocol: o.protocol,
        source: o.source,
        destination: o.destination,
        ports: o.ports,
        action: o.action,
        comment: o.comment,
      });
      let at = rules.length;
      if (o.position !== undefined) {
        const n = Number(o.position);
        if (!Number.isInteger(n) || n < 1 || n > rules.length + 1) {
          throw new CliError(`--position ${o.position}: must be 1..${rules.length + 1}`, EXIT.VALIDATION);
        }
        at = n - 1;
      }
      rules.splice(at, 0, rule);
      await send(c, FIREWALL(), firewallBody(name, net.firewall, rules));
    }),
  );

  configure(
    jobOptions(
      firewall
        .command("remove-rule")
        .description("Remove rule INDEX (as `network firewall show` numbers it, from 1); sends the whole rule set")
        .argument("<name>", "the network name")
        .argument("<index>", "the rule's number in `network firewall show NAME`"),
    ).action(async (name: string, index: string, _o: unknown, c: Command) => {
      const { client } = clientFor(io, c);
      const net = await describe(client, name);
      const n = Number(index);
      if (!/^\d+$/.test(index) || n < 1 || n > net.firewall.rules.length) {
        throw new CliError(
          `remove-rule ${index}: network ${name} has ${net.firewall.rules.length} rule(s); give 1..${net.firewall.rules.length} (see netforge network firewall show ${name})`,
          EXIT.VALIDATION,
        );
      }
      const rules = net.firewall.rules.map(ruleBody);
      rules.splice(n - 1, 1);
      await send(c, FIREWALL(), firewallBody(name, net.firewall, rules));
    }),
  );

  configure(
    forward
      .command("list")
      .description("A network's port forwards (host port -> VM address and port)")
      .argument("<name>", "the network name")
      .action(async (name: string, _o: unknown, c: Command) => {
        const { client, format } = clientFor(io, c);
        const net = await describe(client, name);
        if (format !== "table") return io.out(serialize(format, { portForwards: net.portForwards }));
        io.out(
          table(
            net.portForwards.map((f) => ({
              protocol: f.protocol,
              hostPort: f.hostPort,
              vmIp: f.vmIp,
              vmPort: f.vmPort,
              hostIp: f.hostIp ?? null,
            })),
            "port forwards",
          ),
        );
      }),
  );
}

/** The action replacing a network's whole firewall (`netforge network firewall`). */
const FIREWALL = () => actionAt("network", "firewall");
const EMPTY_FW: FirewallView = { defaultInbound: "accept", defaultOutbound: "accept", rules: [] };

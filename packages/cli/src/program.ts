/**
 * The `netforge` command tree, built from the API's action table: every
 * action is a command (see command-table.ts), its request fields are flags
 * (see body-flags.ts), job actions follow their job live.
 */
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline/promises";
import { Argument, Command, CommanderError, Option } from "commander";
import { flagsOf, type FlagSpec, positionalOf, buildBody } from "./body-flags";
import { ApiClient } from "./client";
import type { FetchLike } from "./http-fetch";
import { type ActionEntry, actionTable } from "./action-table";
import { cliPathOf } from "./command-table";
import { completionScript } from "./completion";
import { addConvenienceCommands } from "./convenience";
import { describeConfig, resolveConfig } from "./config";
import { CliError, EXIT, EXIT_CODE_HELP } from "./exit-codes";
import { followWithProgress } from "./job-progress";
import type { JobViewLike } from "./job-stream";
import { type Format, formatOf, keyValues, loadYaml, renderAnswer, serialize, table } from "./render";
import { VERSION } from "./version";

/** Where a command writes, and what it reads: the process by default, swapped in tests. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  env: Record<string, string | undefined>;
  cwd: string;
  readStdin(): string;
  /** A person at a terminal (stdin and stdout are TTYs): destructive commands ask before they act. */
  interactive?: boolean;
  /** Ask `question` on the terminal; the answer line. */
  ask?(question: string): Promise<string>;
  /** The HTTP client (default: node:http, http-fetch.ts); tests pass a fake API. */
  fetch?: FetchLike;
}

export const processIo: Io = {
  out: (t) => process.stdout.write(`${t}\n`),
  err: (t) => process.stderr.write(`${t}\n`),
  env: process.env,
  cwd: process.cwd(),
  readStdin: () => readFileSync(0, "utf8"),
  interactive: process.stdin.isTTY === true && process.stdout.isTTY === true,
  ask: async (question) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      return await rl.question(question);
    } finally {
      rl.close();
    }
  },
};

/**
 * Commands of actions that are also groups (convenience.ts adds show, add-rule... beside them): the action
 * is the group's default subcommand `set`, so `netforge network firewall web --rules ...` runs it as before and
 * `netforge network firewall set web ...` names it (for a network called like a subcommand).
 */
export const GROUPED_COMMANDS: ReadonlySet<string> = new Set(["network firewall", "network forward"]);

const HELP_AFTER = `
Configuration (first found wins):
  API URL   --url, NETFORGE_URL, "url" in the config file, else http://127.0.0.1:8080
  token     --token, NETFORGE_TOKEN, "token" in the config file, else the first
            token of ./.netforge/tokens (written by scripts/up.sh)
  config    --config <file>, NETFORGE_CONFIG, else ~/.config/netforge/config.json
            (JSON: {"url": "...", "token": "..."}). The token is never printed.

Mutations (network create|delete|start|stop...) follow their job live and end
with its result; --no-wait prints the job id instead. Ctrl-C while following
detaches (the job goes on): netforge job watch <job id> follows it again.

${EXIT_CODE_HELP}

Examples:
  netforge network create web --type nat --cidr 192.168.100.0/24 --dhcp-lease-time 3600
  netforge network list --type nat
  netforge network describe web
  netforge network delete web
  netforge job watch <job id>
  netforge export > fleet.yaml; netforge plan -f fleet.yaml; netforge apply -f fleet.yaml`;

function readBodyFile(io: Io, path: string): Record<string, unknown> {
  let text: string;
  try {
    text = path === "-" ? io.readStdin() : readFileSync(path, "utf8");
  } catch (err) {
    throw new CliError(`--file ${path}: ${(err as Error).message}`, EXIT.VALIDATION);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new CliError(`--file ${path}: not valid JSON: ${(err as Error).message}`, EXIT.VALIDATION);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new CliError(`--file ${path}: must hold a JSON object (the request body)`, EXIT.VALIDATION);
  }
  return parsed as Record<string, unknown>;
}

/** The API client of a command and the output format its global flags ask for (-o json|yaml|table, --json). */
export function clientFor(io: Io, cmd: Command): { client: ApiClient; format: Format } {
  const g = cmd.optsWithGlobals() as { url?: string; token?: string; config?: string; json?: boolean; output?: string };
  const config = resolveConfig({ flags: { url: g.url, token: g.token, config: g.config }, env: io.env, cwd: io.cwd });
  if (config.token === null) {
    throw new CliError(
      `no API token: pass --token <token>, set NETFORGE_TOKEN, or put "token" in the config file (${config.configFile ?? "~/.config/netforge/config.json"})`,
      EXIT.AUTH,
    );
  }
  return { client: new ApiClient(config, io.fetch, io.err), format: formatOf(g) };
}

/** Follow a job to its end and report it; the exit code. */
export async function followAndReport(io: Io, client: ApiClient, job: JobViewLike, format: Format): Promise<number> {
  const json = format !== "table";
  const outcome = await followWithProgress(client, job, { quiet: json });
  const j = outcome.job;
  if (outcome.kind === "detached") {
    io.err(`detached: job ${j.id} continues on host ${j.host}; follow it again with: netforge job watch ${j.id}`);
    return EXIT.DETACHED;
  }
  if (json) io.out(serialize(format, { job: j }));
  if (j.state === "succeeded") {
    if (!json) {
      io.out(`✔ ${j.action} ${j.network} succeeded on host ${j.host}`);
      for (const w of j.warnings) io.out(`  warning: ${w}`);
      if (j.result !== null && j.result !== undefined && typeof j.result === "object" && Object.keys(j.result).length > 0) {
        io.out(renderAnswer(j.result));
      }
    }
    return EXIT.OK;
  }
  if (!json) {
    const e = j.error ?? { code: "FAILED", message: "the job failed", details: {} };
    io.err(`✖ ${j.action} ${j.network} failed on host ${j.host}: ${e.code}: ${e.message}`);
    if (Object.keys(e.details).length > 0) io.err(indent(keyValues(e.details)));
    const undone = j.progress.steps.filter((s) => s.state === "undone").map((s) => s.name);
    if (undone.length > 0) io.err(`  undone: ${undone.join(", ")}`);
  }
  return EXIT.JOB_FAILED;
}

const indent = (s: string) =>
  s
    .split("\n")
    .map((l) => `  ${l}`)
    .join("\n");

/** The message of a failed command, with the API's details (validation issues one per line). */
export function describeError(err: CliError): string {
  const api = err.apiError;
  const issues = (api?.details as { issues?: { path: string; message: string }[] } | undefined)?.issues;
  // The API's message repeats its issues ("invalid request: a: ...; b: ..."): list them once, one per line.
  const listed = api && Array.isArray(issues) && issues.length > 0;
  // A desired-state file's issues (plan/apply) say which file; an API request's, the request.
  const what =
    typeof api?.details.file === "string" ? `${api.details.file} is invalid (nothing was read or changed)` : "the request is invalid";
  const lines = [listed ? `error: ${api.code}: ${what}:` : `error: ${err.message}`];
  if (api) {
    if (listed) for (const i of issues) lines.push(`  - ${i.path || "(body)"}: ${i.message}`);
    const rest = Object.fromEntries(Object.entries(api.details).filter(([k]) => k !== "issues" && k !== "file"));
    if (Object.keys(rest).length > 0) lines.push(indent(keyValues(rest)));
    if (api.requestId) lines.push(`  (request id ${api.requestId})`);
  }
  return lines.join("\n");
}

function addBodyOption(cmd: Command, spec: FlagSpec): void {
  const desc = spec.description ?? spec.path.join(".");
  switch (spec.kind) {
    case "boolean":
      cmd.option(`--${spec.flag}`, desc);
      cmd.option(`--no-${spec.flag}`, `the opposite of --${spec.flag}`);
      return;
    case "false":
      cmd.option(`--no-${spec.flag}`, desc);
      return;
    case "list":
      cmd.option(`--${spec.flag} <values>`, `${desc} (comma-separated or repeated)`, (v: string, prev: string[] = []) => [...prev, v]);
      return;
    case "json":
      cmd.option(`--${spec.flag} <json>`, `${desc} (JSON)`);
      return;
    default: {
      const o = new Option(`--${spec.flag} <${spec.kind === "string" ? "value" : spec.kind}>`, desc);
      if (spec.choices) o.choices(spec.choices);
      cmd.addOption(o);
    }
  }
}

/** The command at `words` under `root`, creating the groups on the way. */
export function commandAt(root: Command, words: string[], isDefault = false): Command {
  let parent = root;
  for (const w of words.slice(0, -1)) {
    let next = parent.commands.find((c) => c.name() === w);
    if (!next) {
      next = parent.command(w).description(`${w} commands`);
      configure(next);
    }
    parent = next;
  }
  const leaf = parent.command(words[words.length - 1] as string, { isDefault });
  configure(leaf);
  return leaf;
}

export function configure(cmd: Command): void {
  cmd.exitOverride();
  cmd.showHelpAfterError("(add --help for usage)");
}

function addActionCommand(io: Io, root: Command, def: ActionEntry, setExit: (code: number) => void): void {
  const name = def.name;
  // An action whose words are also a group of commands is that group's default subcommand `set`.
  const grouped = GROUPED_COMMANDS.has(cliPathOf(name).join(" "));
  const path = grouped ? [...cliPathOf(name), "set"] : cliPathOf(name);
  const schema = def.schema;
  const positional = positionalOf(schema);
  // dryRun is every job action's flag (read beside the body by the API), added below once for all of them.
  const specs = flagsOf(schema, [...(positional ? [positional] : []), "dryRun"]);
  const cmd = commandAt(root, path, grouped).description(`${def.summary} (API action ${name}, role ${def.role})`);
  if (positional) cmd.argument(`[${positional}]`, `the ${positional === "name" ? "network name" : positional} (or in --file)`);
  for (const spec of specs) addBodyOption(cmd, spec);
  cmd.option("--file <path>", "the whole request body as a JSON file ('-': stdin); flags override its fields");
  if (def.kind === "job") {
    cmd.option("--dry-run", "validate and plan only: print the exact commands it would run; nothing is queued or changed");
    cmd.option("--no-wait", "print the job id and return at once instead of following the job");
  }
  // Actions that remove something for good (their definition says so) ask first on a terminal.
  const confirmed = def.irreversible === true;
  if (confirmed) cmd.option("-y, --yes", "do not ask for confirmation on a terminal");
  cmd.action(async (...args: unknown[]) => {
    const c = args[args.length - 1] as Command;
    const opts = c.opts() as Record<string, unknown>;
    const posValue = positional ? (args[0] as string | undefined) : undefined;
    const base = typeof opts.file === "string" ? readBodyFile(io, opts.file) : {};
    if (positional && posValue === undefined && base[positional] === undefined) {
      throw new CliError(`missing the ${positional} (netforge ${cliPathOf(name).join(" ")} <${positional}> ...)`, EXIT.VALIDATION);
    }
    const body = buildBody(specs, opts, base, positional && posValue !== undefined ? { key: positional, value: posValue } : null);
    if (opts.dryRun === true) body.dryRun = true;
    const { client, format } = clientFor(io, c);
    if (confirmed && opts.yes !== true && opts.dryRun !== true && io.interactive === true && io.ask) {
      const what = `${cliPathOf(name).join(" ")} ${String(body.name ?? "")}`.trim();
      const answer = await io.ask(`${what}: this cannot be undone. Continue? [y/N] `);
      if (!/^y(es)?$/i.test(answer.trim())) {
        io.err("cancelled: nothing was sent");
        setExit(EXIT.CANCELLED);
        return;
      }
    }
    if (def.kind === "query") {
      const res = await client.action(name, body);
      io.out(format === "table" ? renderAnswer(res.body) : serialize(format, res.body));
      return;
    }
    setExit(await submitJob(io, client, name, body, { wait: opts.wait !== false }, format));
  });
}

/** Send a job action; print its plan (dry run), its job id (no wait) or follow it; the exit code. */
export async function submitJob(
  io: Io,
  client: ApiClient,
  name: string,
  body: Record<string, unknown>,
  opts: { wait: boolean },
  format: Format,
): Promise<number> {
  const res = await client.action(name, body, { idempotent: true });
  if (!res.body?.job) {
    // A dry run answers its plan, not a job.
    io.out(format === "table" ? renderAnswer(res.body) : serialize(format, res.body));
    return EXIT.OK;
  }
  const job = res.body.job as JobViewLike;
  if (!opts.wait) {
    if (format !== "table") io.out(serialize(format, res.body));
    else io.out(`job ${job.id} queued: ${job.action} ${job.network} on host ${job.host}\nfollow it with: netforge job watch ${job.id}`);
    return EXIT.OK;
  }
  return followAndReport(io, client, job, format);
}

/** Build the whole program; `setExit` receives the exit code of a command that ends with other than success-by-default. */
export function buildProgram(io: Io, setExit: (code: number) => void): Command {
  const program = new Command("netforge")
    .description("Command-line client of the netforge API: networks on KVM hypervisors, their jobs and hosts.")
    .option("--url <url>", "API base URL (env NETFORGE_URL)")
    .option("--token <token>", "bearer token (env NETFORGE_TOKEN; prefer the environment: flags show in ps)")
    .option("--config <file>", "config file (env NETFORGE_CONFIG; default ~/.config/netforge/config.json)")
    .version(VERSION, "-V, --version", "print the version of netforge")
    .addOption(new Option("-o, --output <format>", "output format: table (default), json or yaml").choices(["table", "json", "yaml"]))
    .option("--json", "machine-readable JSON output (the same as -o json)")
    .addHelpText("after", HELP_AFTER)
    .configureOutput({ writeOut: (s) => io.out(s.replace(/\n$/, "")), writeErr: (s) => io.err(s.replace(/\n$/, "")) });
  configure(program);

  for (const def of actionTable()) addActionCommand(io, program, def, setExit);
  addConvenienceCommands(io, program, setExit);
  addFleetCommands(io, program, setExit);

  const job = program.commands.find((c) => c.name() === "job") ?? commandAt(program, ["job", "x"]).parent!;
  configure(
    job
      .command("show")
      .description("One job: state, steps, result or error")
      .argument("<id>", "job id (j_...)")
      .action(async (id: string, _o: unknown, c: Command) => {
        const { client, format } = clientFor(io, c);
        const j = (await client.getJob(id)) as JobViewLike & Record<string, unknown>;
        if (format !== "table") return io.out(serialize(format, { job: j }));
        const { progress, ...rest } = j;
        io.out(keyValues(rest));
        if (progress.steps.length > 0) io.out(`\n${table(progress.steps, "steps")}`);
      }),
  );
  configure(
    job
      .command("watch")
      .description("Follow a job live until it ends (exit code as for the mutation that started it)")
      .argument("<id>", "job id (j_...)")
      .action(async (id: string, _o: unknown, c: Command) => {
        const { client, format } = clientFor(io, c);
        const j = (await client.getJob(id)) as JobViewLike;
        setExit(await followAndReport(io, client, j, format));
      }),
  );
  configure(
    program
      .command("completion")
      .description(
        "Print a shell completion script (bash: source <(netforge completion bash); zsh: the same, or save it as _netforge in $fpath)",
      )
      .addArgument(new Argument("<shell>", "the shell").choices(["bash", "zsh"]))
      .action((shell: "bash" | "zsh") => {
        io.out(completionScript(shell, program).replace(/\n$/, ""));
      }),
  );
  configure(
    program
      .command("config")
      .description("Show the API URL and where the token comes from (never the token itself)")
      .action((_o: unknown, c: Command) => {
        const g = c.optsWithGlobals() as { url?: string; token?: string; config?: string };
        const cfg = resolveConfig({ flags: { url: g.url, token: g.token, config: g.config }, env: io.env, cwd: io.cwd });
        io.out(keyValues(describeConfig(cfg)));
      }),
  );
  return program;
}

const parallelOf = (v: unknown): number => {
  const n = Number(v ?? 4);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new CliError("--parallel: a whole number from 1 to 64", EXIT.VALIDATION);
  return n;
};

/**
 * plan, apply and export: the desired state of networks as a file (docs/adr/0043). Their code (fleet*.ts, the
 * file's schemas) is loaded only when one of them runs.
 */
function addFleetCommands(io: Io, program: Command, setExit: (code: number) => void): void {
  const fileOption = (c: Command) =>
    c
      .requiredOption("-f, --file <path>", "the desired-state file, YAML or JSON ('-': stdin)")
      .option("--prune", "also delete networks an earlier apply of this file created that it no longer lists")
      .option("--parallel <n>", "networks read and changed at the same time (default 4)");
  configure(
    fileOption(
      program
        .command("plan")
        .description(
          "Compare a desired-state file with the cluster and print, per network, the changes and the exact commands of each (dry runs); changes nothing",
        ),
    )
      .option("--allow-replace", "(apply's flag; plan shows replacements either way)")
      .action(async (_o: unknown, c: Command) => {
        const opts = c.opts() as { file: string; prune?: boolean; parallel?: string; allowReplace?: boolean };
        // The file first, as a whole: an invalid one is refused before anything else is needed or read.
        const { runPlan, loadFleet } = await import("./fleet-commands");
        const fleet = await loadFleet(io, opts.file);
        const { client, format } = clientFor(io, c);
        setExit(
          await runPlan(io, client, format, fleet, {
            prune: opts.prune === true,
            allowReplace: opts.allowReplace === true,
            parallel: parallelOf(opts.parallel),
          }),
        );
      }),
  );
  configure(
    fileOption(
      program
        .command("apply")
        .description(
          "Plan as `netforge plan` does, ask (on a terminal, unless --yes), then make the cluster match the file: each network's changes in order with If-Match, networks in parallel, steps printed live",
        ),
    )
      .option("--allow-replace", "run replacements (delete, then create) a change of type, host, cidr or another fixed field needs")
      .option("-y, --yes", "do not ask; needed off a terminal when the plan deletes networks (--prune, replacements)")
      .action(async (_o: unknown, c: Command) => {
        const opts = c.opts() as { file: string; prune?: boolean; parallel?: string; allowReplace?: boolean; yes?: boolean };
        // The file first, as a whole: an invalid one is refused before anything else is needed or read.
        const { runApply, loadFleet } = await import("./fleet-commands");
        const fleet = await loadFleet(io, opts.file);
        const { client, format } = clientFor(io, c);
        setExit(
          await runApply(io, client, format, fleet, {
            prune: opts.prune === true,
            allowReplace: opts.allowReplace === true,
            parallel: parallelOf(opts.parallel),
            yes: opts.yes === true,
          }),
        );
      }),
  );
  configure(
    program
      .command("export")
      .description(
        "Write the current state of networks as a desired-state file (YAML; -o json for JSON): export, then apply, has nothing to do",
      )
      .argument("[names...]", "only these networks (default: every network)")
      .option("--host <host>", "only the networks of this host")
      .option("--name <name>", "the file's metadata.name (default: the managedBy the networks share, else exported)")
      .action(async (names: string[], _o: unknown, c: Command) => {
        const opts = c.opts() as { host?: string; name?: string };
        const { client, format } = clientFor(io, c);
        const { runExport } = await import("./fleet-commands");
        setExit(
          await runExport(io, client, format, {
            names,
            ...(opts.host ? { host: opts.host } : {}),
            ...(opts.name ? { name: opts.name } : {}),
          }),
        );
      }),
  );
}

/** A CliError as the API's error object: the API's own, or one named after the exit class for the CLI's own errors. */
export function jsonError(err: CliError): { code: string; message: string; details: Record<string, unknown>; requestId?: string } {
  if (err.apiError) return err.apiError;
  const cls = Object.entries(EXIT).find(([, v]) => v === err.exitCode)?.[0] ?? "UNEXPECTED";
  return { code: `CLI_${cls}`, message: err.message, details: {} };
}

/** json or yaml when argv asks for machine output (--json, -o/--output json|yaml), else null. */
export function machineFormatOf(argv: string[]): "json" | "yaml" | null {
  let fmt: "json" | "yaml" | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === "--") break;
    if (a === "--json") fmt = "json";
    const v = a === "-o" || a === "--output" ? argv[i + 1] : /^(?:-o|--output=)(.+)$/.exec(a)?.[1];
    if (v === "json" || v === "yaml") fmt = v;
    else if (v === "table") fmt = null;
  }
  return fmt;
}

/** Run `argv` (without node and script); the exit code. */
export async function runCli(argv: string[], io: Io = processIo): Promise<number> {
  let code: number = EXIT.OK;
  if (argv.some((a) => /yaml/.test(a))) await loadYaml();
  const program = buildProgram(io, (c) => {
    code = c;
  });
  try {
    await program.parseAsync(argv, { from: "user" });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === "commander.helpDisplayed" || err.code === "commander.help" || err.code === "commander.version") return EXIT.OK;
      // Commander printed the message already; a command group run without a subcommand lands here too.
      return err.exitCode === 0 ? EXIT.OK : EXIT.VALIDATION;
    }
    if (err instanceof CliError) {
      // Under --json the error is JSON too, in the API's shape, on stdout where the answer would have been.
      const fmt = machineFormatOf(argv);
      if (fmt) io.out(serialize(fmt, { error: jsonError(err) }));
      else io.err(describeError(err));
      return err.exitCode;
    }
    io.err(`error: ${(err as Error).stack ?? String(err)}`);
    return EXIT.UNEXPECTED;
  }
}

/**
 * netforge sandbox CLI (needs root):
 *
 *   npx tsx packages/sandbox/src/cli.ts up   [--id h1] [--uplink 198.51.100.0/24] [--dir <state dir>] [--keep-default-network]
 *   npx tsx packages/sandbox/src/cli.ts down --id h1 [--dir <state dir>] | --all   [--fast: skip virsh destroy/net-destroy, just kill]
 *   npx tsx packages/sandbox/src/cli.ts list
 *   npx tsx packages/sandbox/src/cli.ts exec --id h1 [--outside] [--dir <state dir>] -- <argv...>
 *   npx tsx packages/sandbox/src/cli.ts reboot --id h1 [--dir <state dir>] [--host-id ID] [--no-firewall-unit]
 *
 * `up` prints JSON: id, dir, netns, outsideNetns, libvirtUri, libvirtdPid, nsenterPrefix, hostAddress, outsideAddress, uplinkInterface.
 * `down --all` destroys every host with a state dir under /tmp/netforge-sandbox and any orphan nfh-/nfo-/nfv- namespaces.
 * `exec` runs the command inside the host (libvirtd's mount + network namespaces), or with --outside in the
 * outside namespace, with the terminal attached; exits with the command's exit code.
 * `reboot` power-cycles the host's networking (stop its worker first) and boots it: deploy/netforge-firewall.service's
 * commands (boot file of worker HOST_ID `--host-id`, default the sandbox id), then libvirtd; prints each boot
 * command's exit code.
 */
import { execa } from "execa";
import {
  createSandboxHost,
  destroyAllSandboxHosts,
  destroySandboxHost,
  listSandboxHosts,
  loadSandboxHost,
  netforgeFirewallBoot,
  rebootSandboxHost,
} from "./index.js";

const USAGE = `usage:
  cli.ts up   [--id h1] [--uplink 198.51.100.0/24] [--dir DIR] [--keep-default-network]
  cli.ts down --id h1 [--dir DIR] | --all   [--fast]
  cli.ts list
  cli.ts exec --id h1 [--outside] [--dir DIR] -- <argv...>
  cli.ts reboot --id h1 [--dir DIR] [--host-id ID] [--no-firewall-unit]`;

interface Parsed {
  flags: Map<string, string | true>;
  rest: string[];
}

function parse(args: string[], valued: string[]): Parsed {
  const flags = new Map<string, string | true>();
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--") {
      i++;
      break;
    }
    if (!a.startsWith("--")) throw new Error(`unexpected argument ${a}\n${USAGE}`);
    const [k, v] = a.includes("=") ? [a.slice(2, a.indexOf("=")), a.slice(a.indexOf("=") + 1)] : [a.slice(2), undefined];
    if (valued.includes(k)) {
      const val = v ?? args[++i];
      if (val === undefined) throw new Error(`--${k} needs a value`);
      flags.set(k, val);
    } else {
      flags.set(k, true);
    }
  }
  return { flags, rest: args.slice(i) };
}

const str = (p: Parsed, k: string): string | undefined => {
  const v = p.flags.get(k);
  return typeof v === "string" ? v : undefined;
};

async function main(argv: string[]): Promise<number> {
  const [cmd, ...args] = argv;
  switch (cmd) {
    case "up": {
      const p = parse(args, ["id", "uplink", "dir"]);
      const t0 = Date.now();
      const h = await createSandboxHost({
        id: str(p, "id") ?? "h1",
        ...(str(p, "uplink") ? { uplinkCidr: str(p, "uplink")! } : {}),
        ...(str(p, "dir") ? { baseDir: str(p, "dir")! } : {}),
        keepDefaultNetwork: p.flags.has("keep-default-network"),
      });
      const out = {
        id: h.id,
        dir: h.dir,
        netns: h.netns,
        outsideNetns: h.outsideNetns,
        libvirtUri: h.libvirtUri,
        libvirtdPid: h.libvirtdPid,
        nsenterPrefix: h.nsenterPrefix,
        hostAddress: h.hostAddress,
        outsideAddress: h.outsideAddress,
        uplinkInterface: h.uplinkInterface,
        createMs: Date.now() - t0,
      };
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      return 0;
    }
    case "down": {
      const p = parse(args, ["id", "dir"]);
      if (p.flags.has("all")) {
        const ids = await destroyAllSandboxHosts({ graceful: !p.flags.has("fast") });
        process.stdout.write(`${JSON.stringify({ destroyed: ids })}\n`);
        return 0;
      }
      const id = str(p, "id");
      if (!id) throw new Error(`down needs --id or --all\n${USAGE}`);
      await destroySandboxHost(id, { ...(str(p, "dir") ? { baseDir: str(p, "dir")! } : {}), graceful: !p.flags.has("fast") });
      process.stdout.write(`${JSON.stringify({ destroyed: [id] })}\n`);
      return 0;
    }
    case "list": {
      process.stdout.write(`${JSON.stringify(await listSandboxHosts(), null, 2)}\n`);
      return 0;
    }
    case "exec": {
      const p = parse(args, ["id", "dir"]);
      const id = str(p, "id");
      if (!id || p.rest.length === 0) throw new Error(`exec needs --id and a command after --\n${USAGE}`);
      const h = await loadSandboxHost(id, str(p, "dir"));
      if (!h) throw new Error(`no sandbox host ${id} (run: cli.ts up --id ${id})`);
      const prefix = p.flags.has("outside") ? ["ip", "netns", "exec", h.outsideNetns] : h.nsenterPrefix;
      const full = [...prefix, ...p.rest];
      const r = await execa(full[0]!, full.slice(1), { stdio: "inherit", reject: false });
      return typeof r.exitCode === "number" ? r.exitCode : 1;
    }
    case "reboot": {
      const p = parse(args, ["id", "dir", "host-id"]);
      const id = str(p, "id");
      if (!id) throw new Error(`reboot needs --id\n${USAGE}`);
      const h = await loadSandboxHost(id, str(p, "dir"));
      if (!h) throw new Error(`no sandbox host ${id}`);
      const boot = p.flags.has("no-firewall-unit") ? [] : netforgeFirewallBoot(str(p, "host-id") ?? id);
      const r = await rebootSandboxHost(h, { boot });
      process.stdout.write(`${JSON.stringify({ id, libvirtdPid: r.host.libvirtdPid, boot: r.boot }, null, 2)}\n`);
      return r.boot.every((b) => b.exitCode === 0) ? 0 : 1;
    }
    case undefined:
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(`${USAGE}\n`);
      return cmd === undefined ? 2 : 0;
    default:
      throw new Error(`unknown command ${cmd}\n${USAGE}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`sandbox: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);

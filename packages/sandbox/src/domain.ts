import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { SandboxHost } from "./host.js";
import { NAME_RE, NETWORK_RE, assertMac, assertMatch } from "./validate.js";

export interface LibvirtDomainOptions {
  /** [a-z0-9-], <= 32 chars, unique per host. */
  name: string;
  /** libvirt network name the domain's single NIC is attached to. */
  network: string;
  /** Default: libvirt picks one (52:54:00:xx:xx:xx). */
  mac?: string;
  /** Default 64. */
  memoryMiB?: number;
}

export interface LibvirtDomainInfo {
  name: string;
  mac: string;
  /** The tap (vnetN) that is the domain's port on the network's bridge. */
  ifname: string;
}

/** Domain XML built from validated inputs only: software-emulated QEMU, no disk, no kernel: it boots nothing but holds its NIC. */
export function domainXml(opts: LibvirtDomainOptions): string {
  const name = assertMatch("domain name", opts.name, NAME_RE);
  const network = assertMatch("network name", opts.network, NETWORK_RE);
  const mac = opts.mac !== undefined ? assertMac(opts.mac) : undefined;
  const mem = opts.memoryMiB ?? 64;
  if (!Number.isInteger(mem) || mem < 16 || mem > 4096) throw new Error(`invalid memoryMiB ${mem}`);
  return `<domain type='qemu'>
  <name>${name}</name>
  <memory unit='KiB'>${mem * 1024}</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <interface type='network'>
      <source network='${network}'/>${mac ? `\n      <mac address='${mac}'/>` : ""}
      <model type='virtio'/>
    </interface>
    <memballoon model='none'/>
  </devices>
</domain>
`;
}

/**
 * Define and start a real libvirt domain on `network`. While it runs it holds a port (tap vnetN) on the
 * network's bridge. Resolves with its MAC and tap name.
 */
export async function startLibvirtDomain(host: SandboxHost, opts: LibvirtDomainOptions): Promise<LibvirtDomainInfo> {
  return defineAndStartDomain(host, opts.name, domainXml(opts));
}

/**
 * Define a domain from XML (written to `<host dir>/domains/<name>.xml`), start it (undefined again if it does not
 * start), and read its NIC's tap name and MAC. Shared by every kind of test domain.
 */
export async function defineAndStartDomain(
  host: SandboxHost,
  name: string,
  xml: string,
  /** Runs once the name is known to be free, before the definition (e.g. clearing a console log of an older domain). */
  beforeDefine?: () => Promise<void>,
): Promise<LibvirtDomainInfo> {
  assertMatch("domain name", name, NAME_RE);
  const dir = join(host.dir, "domains");
  await mkdir(dir, { recursive: true });
  const existing = await host.virsh(["domstate", name], { reject: false });
  if (existing.exitCode === 0) throw new Error(`domain ${name} already exists on sandbox host ${host.id}`);
  await beforeDefine?.();
  const file = join(dir, `${name}.xml`);
  await writeFile(file, xml);
  await host.virsh(["define", file]);
  const started = await host.virsh(["start", name], { reject: false, timeoutMs: 60_000 });
  if (started.exitCode !== 0) {
    await host.virsh(["undefine", name], { reject: false });
    throw new Error(`could not start domain ${name}: ${started.stderr.trim()}`);
  }
  const ifl = await host.virsh(["domiflist", name]);
  // " Interface   Type      Source   Model    MAC"
  const row = ifl.stdout
    .split("\n")
    .map((l) => l.trim().split(/\s+/))
    .find((cols) => cols.length >= 5 && /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(cols[cols.length - 1]!));
  if (!row) throw new Error(`could not read the interface of domain ${name}: ${ifl.stdout}`);
  return { name, ifname: row[0]!, mac: row[row.length - 1]!.toLowerCase() };
}

/** `virsh destroy` + `undefine`; idempotent (a missing domain is fine). */
export async function stopLibvirtDomain(host: SandboxHost, name: string): Promise<void> {
  assertMatch("domain name", name, NAME_RE);
  const state = await host.virsh(["domstate", name], { reject: false });
  if (state.exitCode !== 0) {
    if (/failed to get domain|Domain not found/i.test(state.stderr)) return;
    throw new Error(`virsh domstate ${name} failed: ${state.stderr.trim()}`);
  }
  if (!/shut off/i.test(state.stdout)) {
    const d = await host.virsh(["destroy", name], { reject: false, timeoutMs: 30_000 });
    if (d.exitCode !== 0 && !/not running/i.test(d.stderr)) throw new Error(`virsh destroy ${name} failed: ${d.stderr.trim()}`);
  }
  const u = await host.virsh(["undefine", name, "--nvram"], { reject: false });
  if (u.exitCode !== 0 && !/failed to get domain|Domain not found/i.test(u.stderr))
    throw new Error(`virsh undefine ${name} failed: ${u.stderr.trim()}`);
  await rm(join(host.dir, "domains", `${name}.xml`), { force: true });
}

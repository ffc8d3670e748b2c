import { readFile, mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { defineAndStartDomain, type LibvirtDomainInfo } from "./domain.js";
import type { SandboxHost } from "./host.js";
import { sleep } from "./ns.js";
import { NAME_RE, NETWORK_RE, assertMac, assertMatch } from "./validate.js";
import { type VmImage, ensureVmImage } from "./vm-image.js";

export interface BootedDomainOptions {
  /** [a-z0-9-], <= 32 chars, unique per host; also the VM's hostname (sent in its DHCP requests). */
  name: string;
  /** libvirt network name the domain's single virtio NIC is attached to. */
  network: string;
  /** Default: libvirt picks one (52:54:00:xx:xx:xx). */
  mac?: string;
  /** Default 128; at least {@link MIN_MEMORY_MIB} (64 MiB is too little for the kernel to decompress itself). */
  memoryMiB?: number;
  /** Kernel + initramfs to boot. Default {@link ensureVmImage}(). */
  image?: Pick<VmImage, "kernel" | "initrd">;
}

export interface BootedDomainInfo extends LibvirtDomainInfo {
  /** The VM's serial console (ttyS0), a file in `<host dir>/domains/`; lines from its init start "netforge-vm: ". */
  consoleLog: string;
}

/** Smallest memoryMiB accepted (see bootedDomainXml). */
export const MIN_MEMORY_MIB = 80;

/** Absolute paths that are safe to embed in XML unescaped. */
const PATH_RE = /^\/[A-Za-z0-9._/+-]{1,1000}$/;

/** Domain XML for a direct-kernel-boot VM, built from validated inputs only. */
export function bootedDomainXml(opts: {
  name: string;
  network: string;
  mac?: string;
  memoryMiB?: number;
  kernel: string;
  initrd: string;
  consoleLog: string;
}): string {
  const name = assertMatch("domain name", opts.name, NAME_RE);
  const network = assertMatch("network name", opts.network, NETWORK_RE);
  const mac = opts.mac !== undefined ? assertMac(opts.mac) : undefined;
  const kernel = assertMatch("kernel path", opts.kernel, PATH_RE);
  const initrd = assertMatch("initrd path", opts.initrd, PATH_RE);
  const consoleLog = assertMatch("console log path", opts.consoleLog, PATH_RE);
  const mem = opts.memoryMiB ?? 128;
  // 64 MiB is too little for Debian 12's cloud kernel: it resets while decompressing (a silent reboot loop); 72 boots.
  if (!Number.isInteger(mem) || mem < MIN_MEMORY_MIB || mem > 4096) throw new Error(`invalid memoryMiB ${mem} (${MIN_MEMORY_MIB}..4096)`);
  return `<domain type='qemu'>
  <name>${name}</name>
  <memory unit='KiB'>${mem * 1024}</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>${kernel}</kernel>
    <initrd>${initrd}</initrd>
    <cmdline>console=ttyS0 quiet nfname=${name}</cmdline>
  </os>
  <features><acpi/><apic/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <interface type='network'>
      <source network='${network}'/>${mac ? `\n      <mac address='${mac}'/>` : ""}
      <model type='virtio'/>
    </interface>
    <serial type='file'>
      <source path='${consoleLog}'/>
      <target port='0'/>
    </serial>
    <memballoon model='none'/>
  </devices>
</domain>
`;
}

/**
 * Define and start a libvirt domain that really boots: QEMU (software emulation), direct kernel boot of the
 * {@link ensureVmImage} kernel + initramfs, one virtio NIC on `network`, serial console to `consoleLog`. Its
 * init loads the virtio modules, brings eth0 up and runs `udhcpc -x hostname:<name>` (renewing for as long
 * as it runs), printing each lease to the console. Resolves once QEMU runs (the guest boots in the
 * background, ~5-20 s to a lease); see {@link waitForConsole}. Its init never reboots, so `on_reboot` is
 * `destroy`: a guest that resets (e.g. a kernel that cannot boot) ends "shut off" instead of looping silently.
 * Stop it with `stopLibvirtDomain`.
 */
export async function startBootedDomain(host: SandboxHost, opts: BootedDomainOptions): Promise<BootedDomainInfo> {
  assertMatch("domain name", opts.name, NAME_RE);
  const dir = join(host.dir, "domains");
  const consoleLog = join(dir, `${opts.name}.console.log`);
  const image = opts.image ?? (await ensureVmImage());
  const xml = bootedDomainXml({ ...opts, kernel: image.kernel, initrd: image.initrd, consoleLog });
  await mkdir(dir, { recursive: true });
  const info = await defineAndStartDomain(host, opts.name, xml, () => rm(consoleLog, { force: true }));
  return { ...info, consoleLog };
}

/** Poll the domain's console log until `pattern` matches; resolves with the match. Throws (with the log's tail) on timeout. */
export async function waitForConsole(
  vm: Pick<BootedDomainInfo, "consoleLog">,
  pattern: RegExp,
  timeoutMs = 60_000,
): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  let log = "";
  for (;;) {
    log = await readFile(vm.consoleLog, "utf8").catch(() => "");
    const m = pattern.exec(log);
    if (m) return m;
    if (Date.now() > deadline) break;
    await sleep(250);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${pattern} on ${vm.consoleLog}; console tail:\n${log.slice(-2000)}`);
}

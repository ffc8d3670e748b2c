import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, open, readFile, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { execa } from "execa";
import { run } from "./exec.js";
import { SANDBOX_ROOT } from "./host.js";
import { pidAlive, sleep } from "./ns.js";

/** Where built VM images live: `<root>/<kernel version>/{vmlinuz,modules/,manifest.json,initrd-<hash>.img}`. */
export const VM_IMAGE_CACHE_DIR = join(SANDBOX_ROOT, ".cache", "vm-image");
/** Debian metapackage whose dependency names the real kernel package. */
export const VM_KERNEL_METAPACKAGE = "linux-image-cloud-amd64";
/** Modules the VM needs (virtio PCI transport + virtio NIC); their dependencies are resolved from the modules' own modinfo. */
export const VM_MODULE_ROOTS = ["virtio_pci", "virtio_net"] as const;

export interface VmImage {
  /** Absolute path of the kernel (bzImage) for `<os><kernel>`. */
  kernel: string;
  /** Absolute path of the gzip'd newc initramfs for `<os><initrd>`. */
  initrd: string;
  /** e.g. "6.1.0-56-cloud-amd64". */
  kernelVersion: string;
  /** Kernel modules the init loads, in load (dependency) order. */
  modules: string[];
}

export interface VmImageOptions {
  /** Default {@link VM_IMAGE_CACHE_DIR}. */
  cacheDir?: string;
  /**
   * Ask apt which kernel is current (apt-cache, ~1 s, no network) and fetch it if not cached. Default false:
   * any complete cached kernel is used as is (no apt call at all), apt is only asked when the cache is empty.
   */
  refresh?: boolean;
  /** Static busybox to put in the initramfs. Default: /usr/bin/busybox or /bin/busybox (Debian `busybox-static`). */
  busybox?: string;
}

/** The kernel could not be obtained from Debian's package registry (no apt, unknown package, download failed). */
export class VmImageUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "VmImageUnavailableError";
  }
}

interface KernelManifest {
  version: 1;
  kernelVersion: string;
  package: string;
  packageVersion: string;
  modules: string[];
  builtAt: string;
}

/** Bumped whenever the initramfs layout changes (part of the initrd's cache key). */
const INITRD_FORMAT = "netforge-vm-initrd-1";

/**
 * PID 1 of the VM. Fixed: the VM name comes from the kernel command line (`nfname=<name>`), the modules to load
 * from /lib/modules/load-order. Everything it reports goes to the console (ttyS0) prefixed "netforge-vm: ".
 */
export const VM_INIT_SCRIPT = `#!/bin/busybox sh
# netforge sandbox test VM: PID 1 of the initramfs.
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s /bin
export PATH=/bin
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
say() { echo "netforge-vm: $*"; }
name=vm
for arg in $(cat /proc/cmdline); do
  case "$arg" in nfname=*) name="\${arg#nfname=}" ;; esac
done
hostname "$name"
say "init started: name=$name kernel=$(uname -r) uptime=$(cut -d' ' -f1 /proc/uptime)s"
while read -r m; do
  [ -n "$m" ] || continue
  insmod "/lib/modules/$m.ko" || say "insmod $m failed"
done < /lib/modules/load-order
i=0
while [ ! -e /sys/class/net/eth0 ] && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
ip link set lo up
if ip link set eth0 up; then
  say "eth0 up: mac=$(cat /sys/class/net/eth0/address)"
else
  say "no eth0"
fi
while :; do
  udhcpc -f -i eth0 -x "hostname:$name" -s /etc/udhcpc.script -t 5 -T 2 -A 3
  say "udhcpc exited with $?, restarting"
  sleep 2
done
`;

/** udhcpc's event script: configures eth0 and prints the lease. */
export const VM_UDHCPC_SCRIPT = `#!/bin/sh
say() { echo "netforge-vm: $*"; }
case "$1" in
  deconfig)
    ip addr flush dev "$interface"
    ip link set "$interface" up
    ;;
  bound|renew)
    [ "$1" = bound ] && ip addr flush dev "$interface"
    ip addr replace "$ip/\${mask:-24}" dev "$interface"
    if [ -n "$router" ]; then ip route replace default via "\${router%% *}" dev "$interface"; fi
    say "lease $1: ip=$ip/\${mask:-24} router=$router lease=\${lease}s server=$serverid hostname=$(hostname)"
    ;;
  leasefail|nak)
    say "dhcp $1 \${message:-}"
    ;;
esac
exit 0
`;

/**
 * Kernel + initramfs of a bootable test VM (direct kernel boot), built once and cached under
 * {@link VM_IMAGE_CACHE_DIR}/<kernel version>/.
 *
 * First build: `apt-cache show linux-image-cloud-amd64` names the real package (linux-image-<ver>-cloud-amd64),
 * `apt-get download` + `dpkg-deb -x` in a temp dir, then vmlinuz and the virtio modules (closure of
 * {@link VM_MODULE_ROOTS} over each module's modinfo `depends=`, decompressed if .ko.xz/.zst/.gz) are
 * moved into the cache with one atomic directory rename. The initramfs (newc cpio written here, gzip'd with
 * zlib: static busybox, /init, the modules, /etc/udhcpc.script, /dev/console) is named after a hash of its
 * inputs and also renamed into place, so concurrent callers are safe; a lock file only spares them a duplicate
 * download. Cached: a few ms. Throws {@link VmImageUnavailableError} when the kernel cannot be obtained.
 */
export async function ensureVmImage(opts: VmImageOptions = {}): Promise<VmImage> {
  const cacheDir = opts.cacheDir ?? VM_IMAGE_CACHE_DIR;
  await mkdir(cacheDir, { recursive: true });
  let manifest = opts.refresh ? null : await newestCachedKernel(cacheDir);
  if (!manifest) {
    const pkg = await resolveKernelPackage();
    manifest = await ensureKernel(cacheDir, pkg);
  }
  const dir = join(cacheDir, manifest.kernelVersion);
  const busybox = await findStaticBusybox(opts.busybox);
  const initrd = await ensureInitrd(dir, manifest, busybox);
  return { kernel: join(dir, "vmlinuz"), initrd, kernelVersion: manifest.kernelVersion, modules: manifest.modules };
}

// ---------------------------------------------------------------------------------------------------------------
// Kernel: resolve, download, extract, pick modules

interface KernelPackage {
  name: string;
  version: string;
  kernelVersion: string;
}

const KVER_RE = /^[0-9][A-Za-z0-9.+_-]{0,63}$/;

async function readManifest(dir: string): Promise<KernelManifest | null> {
  try {
    const m = JSON.parse(await readFile(join(dir, "manifest.json"), "utf8")) as KernelManifest;
    if (m.version !== 1 || !KVER_RE.test(m.kernelVersion) || !Array.isArray(m.modules)) return null;
    if (!existsSync(join(dir, "vmlinuz"))) return null;
    if (!m.modules.every((n) => existsSync(join(dir, "modules", `${n}.ko`)))) return null;
    return m;
  } catch {
    return null;
  }
}

async function newestCachedKernel(cacheDir: string): Promise<KernelManifest | null> {
  const names = (await readdir(cacheDir)).filter((n) => !n.startsWith(".") && KVER_RE.test(n));
  names.sort((a, b) => b.localeCompare(a, "en", { numeric: true }));
  for (const n of names) {
    const m = await readManifest(join(cacheDir, n));
    if (m && m.kernelVersion === n) return m;
  }
  return null;
}

async function resolveKernelPackage(): Promise<KernelPackage> {
  const r = await run("apt-cache", ["show", "--no-all-versions", VM_KERNEL_METAPACKAGE], { reject: false, timeoutMs: 60_000 });
  if (r.exitCode === 127)
    throw new VmImageUnavailableError(`cannot get the VM kernel: apt-cache is not available on this machine (${r.stderr.trim()})`);
  if (r.exitCode !== 0 || !r.stdout.trim())
    throw new VmImageUnavailableError(
      `cannot get the VM kernel: apt knows no package ${VM_KERNEL_METAPACKAGE} (run \`apt-get update\`?): ${r.stderr.trim()}`,
    );
  const depends = /^Depends:\s*(.*)$/m.exec(r.stdout)?.[1] ?? "";
  // "linux-image-6.1.0-56-cloud-amd64 (= 6.1.192-2)"
  const m = /\blinux-image-([0-9][A-Za-z0-9.+_-]*-cloud-amd64)(?:\s*\(=\s*([^)\s]+)\))?/.exec(depends);
  if (!m || !KVER_RE.test(m[1]!))
    throw new VmImageUnavailableError(`cannot get the VM kernel: ${VM_KERNEL_METAPACKAGE} depends on no linux-image package: "${depends}"`);
  return { name: `linux-image-${m[1]}`, version: m[2] ?? "", kernelVersion: m[1]! };
}

async function ensureKernel(cacheDir: string, pkg: KernelPackage): Promise<KernelManifest> {
  const dir = join(cacheDir, pkg.kernelVersion);
  const cached = await readManifest(dir);
  if (cached) return cached;
  return withLock(join(cacheDir, `.${pkg.kernelVersion}.lock`), async () => {
    const again = await readManifest(dir);
    if (again) return again; // built by whoever held the lock
    const tmp = await mkdtemp(join(cacheDir, `.build-${pkg.kernelVersion}-`));
    try {
      const debDir = join(tmp, "deb");
      await mkdir(debDir);
      // apt-get download writes into its cwd.
      const dl = await execa("apt-get", ["download", pkg.version ? `${pkg.name}=${pkg.version}` : pkg.name], {
        cwd: debDir,
        reject: false,
        timeout: 10 * 60_000,
        stdin: "ignore",
      });
      const debs = (await readdir(debDir)).filter((f) => f.endsWith(".deb"));
      if (dl.exitCode !== 0 || debs.length !== 1)
        throw new VmImageUnavailableError(
          `cannot get the VM kernel: \`apt-get download ${pkg.name}\` failed (exit ${dl.exitCode ?? dl.signal}): ${String(dl.stderr).trim().slice(0, 1000)}`,
        );
      const root = join(tmp, "root");
      await run("dpkg-deb", ["-x", join(debDir, debs[0]!), root], { timeoutMs: 5 * 60_000 });
      const out = join(tmp, "out");
      await mkdir(join(out, "modules"), { recursive: true });
      const bootDir = join(root, "boot");
      const vmlinuz = existsSync(join(bootDir, `vmlinuz-${pkg.kernelVersion}`))
        ? `vmlinuz-${pkg.kernelVersion}`
        : (await readdir(bootDir).catch(() => [] as string[])).find((f) => f.startsWith("vmlinuz-"));
      if (!vmlinuz) throw new Error(`${debs[0]} contains no boot/vmlinuz-*`);
      const kernelVersion = vmlinuz.slice("vmlinuz-".length);
      if (kernelVersion !== pkg.kernelVersion) throw new Error(`${debs[0]} holds kernel ${kernelVersion}, expected ${pkg.kernelVersion}`);
      const modDir = [join(root, "lib", "modules", kernelVersion), join(root, "usr", "lib", "modules", kernelVersion)].find((d) =>
        existsSync(d),
      );
      if (!modDir) throw new Error(`${debs[0]} contains no lib/modules/${kernelVersion}`);
      const modules = await collectModules(modDir, [...VM_MODULE_ROOTS]);
      for (const m of modules) await writeFile(join(out, "modules", `${m.name}.ko`), m.data);
      await copyFile(join(bootDir, vmlinuz), join(out, "vmlinuz"));
      const manifest: KernelManifest = {
        version: 1,
        kernelVersion,
        package: pkg.name,
        packageVersion: pkg.version,
        modules: modules.map((m) => m.name),
        builtAt: new Date().toISOString(),
      };
      await writeFile(join(out, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
      if (existsSync(dir)) await rm(dir, { recursive: true, force: true }); // incomplete leftover (we hold the lock)
      await rename(out, dir);
      return manifest;
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });
}

const MODULE_FILE_RE = /^(.+)\.ko(\.xz|\.zst|\.gz)?$/;
const modName = (s: string) => s.replace(/-/g, "_");

async function walk(dir: string, out: string[]): Promise<void> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await walk(p, out);
    else if (e.isFile() && MODULE_FILE_RE.test(e.name)) out.push(p);
  }
}

/** The modules needed for `roots`, dependencies first, each decompressed. Built-in modules are skipped. */
async function collectModules(modDir: string, roots: string[]): Promise<{ name: string; data: Buffer }[]> {
  const files: string[] = [];
  await walk(join(modDir, "kernel"), files);
  const index = new Map<string, string>();
  for (const f of files) index.set(modName(MODULE_FILE_RE.exec(f.slice(f.lastIndexOf("/") + 1))![1]!), f);
  const builtin = new Set(
    (await readFile(join(modDir, "modules.builtin"), "utf8").catch(() => ""))
      .split("\n")
      .map((l) => MODULE_FILE_RE.exec(l.slice(l.lastIndexOf("/") + 1))?.[1])
      .filter((n): n is string => !!n)
      .map(modName),
  );
  const ordered: { name: string; data: Buffer }[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = async (name: string, path: string[]): Promise<void> => {
    if (state.get(name) === "done" || builtin.has(name)) return;
    if (state.get(name) === "visiting") throw new Error(`module dependency cycle: ${[...path, name].join(" -> ")}`);
    const file = index.get(name);
    if (!file) throw new Error(`kernel module ${name} (needed by ${path.join(" -> ") || "the VM"}) is neither in ${modDir} nor built in`);
    state.set(name, "visiting");
    const data = await readModule(file);
    const info = modinfo(data);
    if (info.name && modName(info.name) !== name) throw new Error(`${file} says it is module ${info.name}`);
    for (const dep of (info.depends ?? "").split(",").filter(Boolean)) await visit(modName(dep), [...path, name]);
    state.set(name, "done");
    ordered.push({ name, data });
  };
  for (const r of roots) await visit(modName(r), []);
  return ordered;
}

async function readModule(file: string): Promise<Buffer> {
  if (file.endsWith(".ko")) return readFile(file);
  if (file.endsWith(".gz")) return gunzipSync(await readFile(file));
  const tool = file.endsWith(".xz") ? "xz" : "zstd";
  const r = await execa(tool, ["-dc", file], { encoding: "buffer", reject: false, stdin: "ignore", maxBuffer: 256 * 1024 * 1024 });
  if (r.exitCode !== 0)
    throw new Error(`could not decompress ${file} with \`${tool} -dc\`: ${Buffer.from(r.stderr ?? "").toString() || r.message}`);
  return Buffer.from(r.stdout);
}

/** key=value strings of an ELF64 (little-endian) kernel module's .modinfo section. */
export function modinfo(elf: Buffer): Record<string, string> {
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2 || elf[5] !== 1)
    throw new Error("not an ELF64 LE kernel module");
  const shoff = Number(elf.readBigUInt64LE(0x28));
  const shentsize = elf.readUInt16LE(0x3a);
  const shnum = elf.readUInt16LE(0x3c);
  const shstrndx = elf.readUInt16LE(0x3e);
  const sh = (i: number) => {
    const o = shoff + i * shentsize;
    return { name: elf.readUInt32LE(o), offset: Number(elf.readBigUInt64LE(o + 24)), size: Number(elf.readBigUInt64LE(o + 32)) };
  };
  const strtab = sh(shstrndx);
  const out: Record<string, string> = {};
  for (let i = 0; i < shnum; i++) {
    const s = sh(i);
    const start = strtab.offset + s.name;
    const secName = elf.toString("latin1", start, elf.indexOf(0, start));
    if (secName !== ".modinfo") continue;
    for (const kv of elf.toString("latin1", s.offset, s.offset + s.size).split("\0")) {
      const eq = kv.indexOf("=");
      if (eq > 0 && !(kv.slice(0, eq) in out)) out[kv.slice(0, eq)] = kv.slice(eq + 1);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Initramfs

/** True for an ELF executable without a PT_INTERP program header (statically linked). */
function isStaticElf(b: Buffer): boolean {
  if (b.length < 64 || b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2 || b[5] !== 1) return false;
  const phoff = Number(b.readBigUInt64LE(0x20));
  const phentsize = b.readUInt16LE(0x36);
  const phnum = b.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) if (b.readUInt32LE(phoff + i * phentsize) === 3) return false;
  return true;
}

async function findStaticBusybox(explicit?: string): Promise<Buffer> {
  const candidates = explicit ? [explicit] : ["/usr/bin/busybox", "/bin/busybox"];
  for (const c of candidates) {
    const b = await readFile(c).catch(() => null);
    if (b && isStaticElf(b)) return b;
  }
  throw new Error(`no statically linked busybox at ${candidates.join(" or ")}: install Debian's busybox-static`);
}

async function ensureInitrd(dir: string, manifest: KernelManifest, busybox: Buffer): Promise<string> {
  const modules = await Promise.all(
    manifest.modules.map(async (name) => ({ name, data: await readFile(join(dir, "modules", `${name}.ko`)) })),
  );
  const h = createHash("sha256").update(INITRD_FORMAT).update("\0").update(VM_INIT_SCRIPT).update("\0").update(VM_UDHCPC_SCRIPT);
  h.update(busybox);
  for (const m of modules) h.update(`\0${m.name}\0`).update(m.data);
  const file = join(dir, `initrd-${h.digest("hex").slice(0, 16)}.img`);
  if (existsSync(file)) return file;
  const entries: CpioEntry[] = [];
  for (const d of ["bin", "dev", "etc", "lib", "lib/modules", "proc", "sys", "tmp", "run", "root"])
    entries.push({ name: d, mode: S_IFDIR | 0o755 });
  entries.push({ name: "dev/console", mode: S_IFCHR | 0o600, rdev: [5, 1] });
  entries.push({ name: "dev/null", mode: S_IFCHR | 0o666, rdev: [1, 3] });
  entries.push({ name: "dev/ttyS0", mode: S_IFCHR | 0o600, rdev: [4, 64] });
  entries.push({ name: "bin/busybox", mode: S_IFREG | 0o755, data: busybox });
  entries.push({ name: "init", mode: S_IFREG | 0o755, data: Buffer.from(VM_INIT_SCRIPT) });
  entries.push({ name: "etc/udhcpc.script", mode: S_IFREG | 0o755, data: Buffer.from(VM_UDHCPC_SCRIPT) });
  for (const m of modules) entries.push({ name: `lib/modules/${m.name}.ko`, mode: S_IFREG | 0o644, data: m.data });
  entries.push({ name: "lib/modules/load-order", mode: S_IFREG | 0o644, data: Buffer.from(`${manifest.modules.join("\n")}\n`) });
  const tmp = join(dir, `.initrd-${process.pid}-${randomBytes(4).toString("hex")}.tmp`);
  try {
    await writeFile(tmp, gzipSync(newcArchive(entries), { level: 9 }));
    await rename(tmp, file); // atomic; a concurrent builder wrote identical bytes
  } finally {
    await rm(tmp, { force: true });
  }
  return file;
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFCHR = 0o020000;

export interface CpioEntry {
  /** Path inside the archive, no leading slash. */
  name: string;
  /** File type bits | permissions. */
  mode: number;
  data?: Buffer;
  /** [major, minor] for device nodes. */
  rdev?: [number, number];
}

/** A "newc" (SVR4, no CRC) cpio archive as the kernel's initramfs unpacker reads it. */
export function newcArchive(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let size = 0;
  const push = (b: Buffer) => {
    parts.push(b);
    size += b.length;
  };
  const pad = () => {
    if (size % 4) push(Buffer.alloc(4 - (size % 4)));
  };
  const hex = (n: number) => {
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`cpio field out of range: ${n}`);
    return n.toString(16).padStart(8, "0");
  };
  const entry = (ino: number, e: CpioEntry) => {
    const data = e.data ?? Buffer.alloc(0);
    const name = Buffer.from(`${e.name}\0`);
    const isDir = (e.mode & 0o170000) === S_IFDIR;
    const fields = [ino, e.mode, 0, 0, isDir ? 2 : 1, 0, data.length, 0, 0, e.rdev?.[0] ?? 0, e.rdev?.[1] ?? 0, name.length, 0];
    push(Buffer.from(`070701${fields.map(hex).join("")}`, "latin1"));
    push(name);
    pad();
    if (data.length) {
      push(data);
      pad();
    }
  };
  entries.forEach((e, i) => {
    if (!e.name || e.name.startsWith("/") || e.name.includes("\0")) throw new Error(`invalid cpio entry name ${JSON.stringify(e.name)}`);
    entry(i + 1, e);
  });
  entry(0, { name: "TRAILER!!!", mode: 0 });
  return Buffer.concat(parts, size);
}

// ---------------------------------------------------------------------------------------------------------------

/**
 * Run `fn` holding an exclusive lock file (O_EXCL create, our pid inside). A lock whose pid is gone is taken
 * over. Only deduplicates work: the results are published by atomic rename either way.
 */
async function withLock<T>(lockFile: string, fn: () => Promise<T>, timeoutMs = 15 * 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const fh = await open(lockFile, "wx");
      await fh.writeFile(String(process.pid));
      await fh.close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const pid = Number((await readFile(lockFile, "utf8").catch(() => "")).trim());
      const age = await stat(lockFile).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      );
      if ((pid > 0 && !pidAlive(pid)) || (!pid && age > 10_000)) {
        await rm(lockFile, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lockFile} (held by pid ${pid})`);
      await sleep(250);
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lockFile, { force: true });
  }
}

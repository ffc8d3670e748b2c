/**
 * @netforge/sandbox — real "hypervisor hosts" on one machine, built from network namespaces.
 *
 * Used by the CLI (`npx tsx packages/sandbox/src/cli.ts up|down|list|exec`), the one-command dev start,
 * and the end-to-end tests / benchmark. Needs root, iproute2, util-linux (unshare, nsenter), libvirt 9
 * (`libvirt-daemon-system`), dnsmasq-base, iptables, busybox-static, qemu-system-x86.
 *
 * ## Hosts
 * ```ts
 * createSandboxHost({ id, baseDir?, uplinkCidr?, uplinkCidr6?, keepDefaultNetwork?, readyTimeoutMs? }): Promise<SandboxHost>
 * destroySandboxHost(hostOrId, baseDir? | { baseDir?, graceful? }): Promise<void>  // idempotent, verifies nothing remains
 * loadSandboxHost(id, baseDir?): Promise<SandboxHost | null> // re-attach from <dir>/state.json
 * listSandboxHosts(): Promise<SandboxHostSummary[]>          // state dirs under /tmp/netforge-sandbox
 * destroyAllSandboxHosts({ graceful? }?): Promise<string[]>   // all of them + orphan nfh-/nfo-/nfv- namespaces
 * ```
 * destroy = (graceful, default) virsh destroy+undefine every domain, net-destroy+undefine every network; then
 * SIGTERM (2 s) / SIGKILL every process in the host, outside and VM namespaces (`ip netns pids`), `ip netns del`,
 * rm -rf the state dir; throws if a namespace or signalled pid remains. `graceful: false` skips the virsh step
 * (same end state, ~2 s faster per running domain).
 *
 * A host `<id>` ([a-z0-9-], <= 12 chars) is:
 * - network namespace `nfh-<id>` running its own `libvirtd -d --pid-file <dir>/libvirtd.pid`, in a private
 *   mount namespace where `<dir>/{run,lib,etc,log,cache}` are bind-mounted on /run/libvirt, /var/lib/libvirt,
 *   /etc/libvirt (a copy of the machine's, with `user/group = "root"`, `stdio_handler = "file"`, and the
 *   `default` network removed unless `keepDefaultNetwork`), /var/log/libvirt, /var/cache/libvirt, and `<dir>/netforge` on /var/lib/netforge.
 *   That mount namespace also has the netns's own sysfs on /sys (so /sys/class/net lists the host's
 *   interfaces, and no cgroup hierarchy is visible: libvirt creates no cgroups on the real machine).
 * - namespace `nfo-<id>`, "the outside world": veth `uplink0` (host, `hostAddress`, default .2 of
 *   `uplinkCidr` = 198.51.100.0/24) <-> `eth0` (outside, `outsideAddress`, .1). The host's default route
 *   points at the outside; ip_forward=1 inside the host namespace only. Nothing routes to the real network.
 *   With `uplinkCidr6` ("fd00:99::/64"): the same link also carries IPv6, outside ::1 (`outsideAddress6`), host
 *   ::2 (`hostAddress6`), both without DAD, and the host's IPv6 default route via the outside (opt-in: IPv4-only
 *   hosts stay as they were).
 *
 * `SandboxHost` fields: id, dir, netns, outsideNetns, libvirtdPid, libvirtUri
 * (`qemu:///system?socket=<dir>/run/libvirt-sock`, usable from the machine's root namespaces), hostAddress,
 * outsideAddress, hostAddress6/outsideAddress6 (null without `uplinkCidr6`), uplinkPrefix, uplinkInterface ("uplink0"), outsideInterface ("eth0"), nsenterPrefix
 * (`["nsenter","-t",<libvirtd pid>,"-m","-n","--"]`: prefix any command to run it exactly as a process on
 * that hypervisor would — `qemu:///system`, /run/libvirt, /var/lib/libvirt/dnsmasq, iptables/nft, sysfs all
 * are the host's). Methods: `exec(argv, {input?, reject?, timeoutMs?})` (inside the host, via nsenterPrefix),
 * `execOutside(argv, opts?)` (`ip netns exec nfo-<id>`), `virsh(args, opts?)` (`virsh -c qemu:///system` inside
 * the host). All return `{stdout, stderr, exitCode}`; with `reject` (default true) a failure throws
 * {@link SandboxExecError}. Commands are argument arrays, never shell strings. A command that leaves a
 * daemon holding its stdout open blocks until `timeoutMs` (default 60 s): daemonize properly (busybox
 * httpd does) or redirect.
 *
 * The first libvirtd start on a machine probes QEMU (~8 s); the resulting capabilities cache is kept in
 * /tmp/netforge-sandbox/.cache/qemu-capabilities and copied into later hosts (libvirt revalidates it), so
 * later hosts start in well under a second. Empty mount-point dirs /run/libvirt etc. are created on the
 * machine if missing; nothing else outside the namespaces and the state dir is touched.
 *
 * ## VMs
 * ```ts
 * createNamespaceVm(host, { name, bridge, mac? }): Promise<NamespaceVm>
 * startLibvirtDomain(host, { name, network, mac?, memoryMiB? }): Promise<{ name, mac, ifname }>
 * stopLibvirtDomain(host, name): Promise<void>   // destroy + undefine, idempotent
 * ```
 * A namespace VM is netns `nfv-<host id>-<name>` whose `eth0` (MAC `mac`, default 02:4e:46:xx:xx:xx derived
 * from host id + name) is the peer of `hostIfname` (`nv` + 10 hex chars) enslaved to `bridge` in the host.
 * `vm.exec(argv, opts?)`, `vm.dhcp({timeoutMs?, hostname?})` → `{ip, prefix, router?, leaseSeconds?, serverId?}`
 * (busybox udhcpc; configures address + default route; sends the VM name as hostname; throws on timeout),
 * `vm.detach()` (deletes the bridge port), `vm.destroy()` (kills its processes, deletes the netns; idempotent).
 * A libvirt domain is `<domain type='qemu'>`, 64 MiB, no disk or kernel (boots nothing) with one virtio NIC
 * `<interface type='network'>`; while running it holds tap `ifname` (vnetN) on the network's bridge.
 * `restartLibvirtd(host)` restarts a host's daemon in place (as `systemctl restart libvirtd` would) and returns the
 * host object for the new daemon (its pid and nsenterPrefix change).
 * `rebootSandboxHost(host, { boot? })` power-cycles a host's networking (every process ends; interfaces but the
 * uplink, the nft ruleset, iptables-legacy, conntrack, ip_forward and /run/libvirt are lost; disk stays), runs
 * the `boot` argv lists inside it (the units ordered before libvirtd), then starts libvirtd, which autostarts
 * its networks; returns `{ host, boot: [{argv, exitCode, stderr}] }`. `netforgeFirewallBoot(hostId)` gives the
 * boot commands of deploy/netforge-firewall.service (ExecStart lines, `%H` = hostId, installed paths mapped to
 * the repository's files), `netforgeOverlayBoot(hostId)` those of deploy/netforge-overlay.service;
 * `unitExecStart(unitText, { hostname, installed? })` does that for any unit (a "-" prefix dropped).
 *
 * Names are validated ([a-z0-9-]; networks also [_.]; MACs unicast) before going into XML or argv.
 *
 * ## Extra NICs (bridge networks)
 * ```ts
 * addLanNic(host, { hostIfname, outsideIfname, outsideCidr, up? = true }): Promise<LanNic>
 * ```
 * A veth pair: `hostIfname` in the host with no address (plays a physical NIC), `outsideIfname` in the outside
 * namespace with `outsideCidr` (plays the LAN: run a DHCP server there). Gone with the namespaces.
 *
 * ## Booted VMs
 * ```ts
 * ensureVmImage({ refresh?, cacheDir? }?): Promise<{ kernel, initrd, kernelVersion, modules }>
 * startBootedDomain(host, { name, network, mac?, memoryMiB? = 128, image? }): Promise<{ name, mac, ifname, consoleLog }>
 * waitForConsole(vm, /regex/, timeoutMs?): Promise<RegExpExecArray>   // stop with stopLibvirtDomain
 * ```
 * A libvirt domain that really boots: `<domain type='qemu'>`, direct kernel boot of Debian's
 * `linux-image-cloud-amd64` kernel (`apt-get download` + `dpkg-deb -x` on first use, ~4 s; then cached under
 * /tmp/netforge-sandbox/.cache/vm-image/<kernel version>/) and an initramfs (newc cpio written in TS) of
 * busybox-static, the virtio modules (order from their modinfo) and an init that brings eth0 up and runs
 * `udhcpc -x hostname:<name>` (name from the kernel command line `nfname=`). The serial console goes to
 * `consoleLog` (`<dir>/domains/<name>.console.log`, lines "netforge-vm: ..." incl. each lease). The lease shows
 * in `virsh net-dhcp-leases` with MAC, IP and hostname (~9 s from start here). memoryMiB >= 80 (at 64 this
 * kernel resets while decompressing; `on_reboot` is destroy, so such a guest ends shut off rather than looping).
 * No apt/network for the kernel → VmImageUnavailableError.
 */
export { type ExecOptions, type ExecResult, SandboxExecError } from "./exec.js";
export {
  SANDBOX_ROOT,
  type DestroyOptions,
  type SandboxHost,
  type SandboxHostOptions,
  type SandboxHostState,
  type SandboxHostSummary,
  createSandboxHost,
  destroyAllSandboxHosts,
  destroySandboxHost,
  execInNetns,
  hostNetnsName,
  listSandboxHosts,
  loadSandboxHost,
  outsideNetnsName,
} from "./host.js";
export { type DhcpLease, type NamespaceVm, type NamespaceVmOptions, createNamespaceVm } from "./vm.js";
export { type LibvirtDomainInfo, type LibvirtDomainOptions, domainXml, startLibvirtDomain, stopLibvirtDomain } from "./domain.js";
export {
  type CpioEntry,
  type VmImage,
  type VmImageOptions,
  VM_IMAGE_CACHE_DIR,
  VM_KERNEL_METAPACKAGE,
  VM_MODULE_ROOTS,
  VmImageUnavailableError,
  ensureVmImage,
  modinfo,
  newcArchive,
} from "./vm-image.js";
export {
  type BootedDomainInfo,
  type BootedDomainOptions,
  MIN_MEMORY_MIB,
  bootedDomainXml,
  startBootedDomain,
  waitForConsole,
} from "./booted-domain.js";
export { restartLibvirtd } from "./libvirtd-restart.js";
export { rebootSandboxHost, type RebootOptions, type RebootResult } from "./reboot.js";
export { DEPLOY_DIR, netforgeFirewallBoot, netforgeOverlayBoot, unitExecStart } from "./boot-units.js";
export { type LanNic, type LanNicOptions, addLanNic } from "./lan-nic.js";
export { RUN_DIR_ENV, processStartTime, recordNamespace, recordProcess } from "./run-registry.js";
export {
  type Fabric,
  type FabricPort,
  createFabric,
  destroyAllFabrics,
  destroyFabric,
  fabricNetnsName,
  joinFabric,
} from "./fabric.js";
export { netnsPids, pidComm } from "./ns.js";

#!/usr/bin/env bash
# Installs everything netforge needs on Debian 12 (as root), idempotently:
# Debian packages (libvirt, dnsmasq, nftables/iptables, Redis, QEMU, busybox,
# isc-dhcp-client (dhclient -6: the DHCPv6 client of the IPv6 tests), python3 for the worker's nft session helper;
# tmux and chromium for the CLI and /docs tests; systemd's systemd-analyze and
# prometheus's promtool for the deploy/ checks),
# the directories libvirt expects, and the npm dependencies. Fast when all of
# it is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: run as root (netforge manages network namespaces, libvirt and the firewall)" >&2
  exit 1
fi

PKGS=(redis-server libvirt-daemon-system libvirt-clients dnsmasq-base nftables iptables iproute2
      busybox-static qemu-system-x86 isc-dhcp-client conntrack util-linux procps python3 libnftables1
      tmux chromium systemd prometheus iperf3)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # The package scripts try to start libvirtd/redis through systemd; on machines without it that is harmless.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Only promtool is wanted from the prometheus package: not a Prometheus server its postinst enables.
  if [[ " ${missing[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null; then
    systemctl disable --now prometheus.service >/dev/null 2>&1 || true
  fi
fi

# libvirt's state directories (sandbox hosts bind-mount over them).
mkdir -p /var/lib/libvirt /var/log/libvirt /var/cache/libvirt /run/libvirt

# Node.js >= 20.19 (vitest 4 / vite 7 need it).
if ! command -v node >/dev/null; then
  echo "setup: Node.js 20.19+ is required (e.g. from https://nodejs.org or your distribution's nodejs 20 package)" >&2
  exit 1
fi
node -e 'const [a,b]=process.versions.node.split(".").map(Number); if (a<20||(a===20&&b<19)) { console.error("setup: Node.js >= 20.19 required, found "+process.versions.node); process.exit(1) }'

# npm dependencies: only when the lockfile changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "setup: ok"

#!/usr/bin/env bash
# The one-command start: installs what is missing, then runs the whole system
# (a local Redis, the API, one worker, and a sandbox hypervisor in network
# namespaces unless a real libvirt host is configured). Ctrl-C stops and
# removes all of it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# node itself (no npx/tsx wrapper processes between the terminal and the supervisor): Ctrl-C reaches it directly.
exec node --import tsx scripts/dev.ts "$@"

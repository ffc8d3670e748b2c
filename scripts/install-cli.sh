#!/usr/bin/env bash
# Install the compiled `netforge` command: builds (npm run build), packs packages/cli/dist's bundle as a
# package of its own (@netforge/cli, bin netforge -> netforge.js, no dependencies: they are inside the
# bundle) and installs it globally with npm. The installed command is plain node, no tsx, no checkout.
#   bash scripts/install-cli.sh                  into npm's global prefix (npm prefix -g)
#   bash scripts/install-cli.sh --prefix DIR     into DIR (the command lands in DIR/bin)
#   NETFORGE_SKIP_BUILD=1 ...                    use the build that is there
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=()
if [ "${1:-}" = "--prefix" ]; then
  [ -n "${2:-}" ] || { echo "install-cli.sh: --prefix needs a directory" >&2; exit 2; }
  prefix=(--prefix "$2")
fi
[ "${NETFORGE_SKIP_BUILD:-}" = 1 ] || npm run --silent build
[ -x packages/cli/dist/netforge.js ] || { echo "install-cli.sh: packages/cli/dist/netforge.js missing (npm run build)" >&2; exit 1; }
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/pkg"
cp -r packages/cli/dist/netforge.js packages/cli/dist/chunks "$stage/pkg/"
node -e '
  const src = require("./packages/cli/package.json");
  const pkg = { name: src.name, version: src.version, description: src.description, type: "module",
    bin: { netforge: "netforge.js" }, files: ["netforge.js", "chunks"], engines: { node: ">=20.19" } };
  require("fs").writeFileSync(process.argv[1], JSON.stringify(pkg, null, 2) + "\n");
' "$stage/pkg/package.json"
tgz="$(cd "$stage" && npm pack ./pkg --silent)"
npm install -g "${prefix[@]}" --no-audit --no-fund --silent "$stage/$tgz"
bin="$(npm prefix -g "${prefix[@]}")/bin/netforge"
echo "installed: $bin ($("$bin" --version))"

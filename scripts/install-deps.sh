#!/usr/bin/env bash
# Installs every Debian package Tally needs to build, run and test.
# Idempotent: packages already present are left alone; apt-get runs only when
# something is missing. Needs root (or sudo) on Debian 12.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config git curl ca-certificates
  # libraries (the user's chosen stack)
  libcaf-dev libboost1.74-dev libpqxx-dev libhiredis-dev libssl-dev
  nlohmann-json3-dev libspdlog-dev libfmt-dev catch2 libsodium-dev
  # allocator of the tally binary (malloc was ~30 % of the engine's CPU under load)
  libjemalloc-dev
  # servers the engine and the tests run privately
  postgresql-15 postgresql-contrib redis-server
  # process tools used by the scripts (runuser, pkill, ps)
  util-linux procps iproute2
  # Node.js for the independent-client fidelity tests (omise, stripe npm packages)
  nodejs npm
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# Node may come from the machine image rather than Debian's package.
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  filtered=()
  for p in "${missing[@]}"; do
    [[ "$p" == nodejs || "$p" == npm ]] || filtered+=("$p")
  done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi

# The independent-client tests' npm packages, pinned by tests/node/package-lock.json;
# reinstalled only when the lock file is newer than the last install.
node_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/node"
npm_packages() {
  [ "$node_dir/node_modules/.package-lock.json" -nt "$node_dir/package-lock.json" ] ||
    npm ci --prefix "$node_dir" --no-audit --no-fund
}

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  npm_packages
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
# Debian starts the packaged services on install; Tally runs its own private
# instances and never uses the machine's default cluster, so leave those alone.
npm_packages
echo "install-deps: done"

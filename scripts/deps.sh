#!/usr/bin/env bash
# Installs the Debian packages libsan needs to build, test and benchmark.
# Idempotent; needs root (or sudo) only when something is missing.
set -euo pipefail
pkgs=(build-essential cmake pkg-config liburing-dev clang libclang-rt-14-dev iproute2 util-linux)
[ "${SAN_DEPS_BENCH:-0}" = 1 ] && pkgs+=(libucx-dev ucx-utils libfabric-dev libfabric-bin gnuplot-nox)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null
$SUDO apt-get install -y -q "${missing[@]}" >/dev/null

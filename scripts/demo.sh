#!/usr/bin/env bash
# The main job: a tunnel between two network namespaces, with `ipsec status` of each side
# and proof (inbound ESP packet counters) that the traffic crossed the SA.
#
# Root on a fresh Debian machine: installs what it needs, idempotently (strongSwan and the
# extracted libreswan via interop-tests/lab/setup-peers.sh; Rust via rustup if cargo is
# missing; QEMU + Debian's kernel + virtme-ng via interop-tests/lab/setup.sh only when this
# kernel has no ESP and the demo has to run in a guest).
#
# When the built iked has its daemon (iked --ctl, ikectl), the left side is iked and the
# right side strongSwan, both from one literal ipsec.conf (then strongSwan on both sides for
# reference); with an iked that only has --check-config, BOTH sides run strongSwan and the
# demo says so. On a kernel with ESP it runs directly in two network namespaces; otherwise
# in a QEMU guest with Debian's kernel (it says why).
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
[ "$(id -u)" = 0 ] || { echo "demo: run as root (network namespaces and XFRM need it)" >&2; exit 1; }

need_apt=()
command -v cc >/dev/null || need_apt+=(build-essential)
command -v ip >/dev/null || need_apt+=(iproute2)
command -v curl >/dev/null || need_apt+=(curl ca-certificates)
# pki signs AUTH method 1 (RSA PKCS#1 v1.5 SHA-1) with the system OpenSSL
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
[ -e /usr/include/openssl/ssl.h ] || need_apt+=(libssl-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -q >/dev/null && apt-get install -y -q "${need_apt[@]}" >/dev/null
fi
if ! command -v cargo >/dev/null; then
  [ -x "$HOME/.cargo/bin/cargo" ] || curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
  export PATH="$HOME/.cargo/bin:$PATH"
fi

bash interop-tests/lab/setup-peers.sh
echo "demo: building the lab runner, iked and ikectl"
cargo build -q -p interop-tests --bin interop-lab
cargo build -q -p ike --bins 2>/dev/null || echo "demo: iked did not build here; the demo says what it can do without it"
LAB=./target/debug/interop-lab
if ! "$LAB" esp >/dev/null; then
  bash interop-tests/lab/setup.sh
fi
exec "$LAB" demo "$@"

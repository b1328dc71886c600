#!/usr/bin/env bash
# Runs every test of the project. Root on a fresh Debian machine: installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

need_apt=()
command -v cc >/dev/null || need_apt+=(build-essential)
command -v ip >/dev/null || need_apt+=(iproute2)
command -v curl >/dev/null || need_apt+=(curl ca-certificates)
# the pki crate's tests make their test PKIs with strongSwan's pki tool and openssl
command -v pki >/dev/null || need_apt+=(strongswan-pki)
command -v openssl >/dev/null || need_apt+=(openssl)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -q && apt-get install -y -q "${need_apt[@]}"
fi
if ! command -v cargo >/dev/null; then
  [ -x "$HOME/.cargo/bin/cargo" ] || curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c rustfmt,clippy
  export PATH="$HOME/.cargo/bin:$PATH"
fi

# the lab's peers (strongSwan, extracted libreswan) for the interop-tests scenarios
bash interop-tests/lab/setup-peers.sh

echo "== [${SECONDS}s] cargo fmt --check"
cargo fmt --all -- --check
echo "== [${SECONDS}s] cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== [${SECONDS}s] cargo test (includes the host-only lab scenarios: real strongSwan peers in namespaces)"
cargo test --workspace
if [ "${LAB_GUEST:-1}" != 0 ]; then
  # the guest lab: one QEMU boot (Debian's kernel, TCG) runs every guest scenario, ~3-5 min
  echo "== [${SECONDS}s] lab guest scenarios (LAB_GUEST=0 skips them)"
  bash interop-tests/lab/setup.sh
  cargo test -p interop-tests --test guest -- --ignored --nocapture --test-threads=16
  # iked's own daemon lab (a second boot): iked<->iked GCM with ipsec down / SIGTERM
  # leaving both kernels empty, wrong PSK, auto=route + ACQUIRE, forceencaps NAT-T,
  # and iked<->strongSwan from one ipsec.conf. All scenarios: ike/tests/lab/run-daemon-guest.sh
  echo "== [${SECONDS}s] iked daemon lab (guest)"
  SCENARIOS="${DAEMON_LAB_SCENARIOS:-iked-gcm iked-badpsk iked-route iked-natt starter-init}" \
    bash ike/tests/lab/run-daemon-guest.sh
fi
echo "== [${SECONDS}s] all tests passed"

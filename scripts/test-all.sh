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
# the pki crate links the system OpenSSL (RSA PKCS#1 v1.5 SHA-1 signing, AUTH method 1)
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
[ -e /usr/include/openssl/ssl.h ] || need_apt+=(libssl-dev)
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
  # iked's own daemon lab (a second boot, every scenario of ike/tests/lab/guest-daemon.sh):
  # iked<->iked and iked<->strongSwan (swanctl, starter) in both roles; auto=route over IPv4
  # and IPv6 with updown; forceencaps; a real NAT with a mapping change; VTI, vti6, XFRM
  # interface, GRE over transport mode. DAEMON_LAB_SCENARIOS="..." runs a subset.
  echo "== [${SECONDS}s] iked daemon lab (guest)"
  if [ -n "${DAEMON_LAB_SCENARIOS:-}" ]; then
    SCENARIOS="$DAEMON_LAB_SCENARIOS" bash ike/tests/lab/run-daemon-guest.sh
  else
    bash ike/tests/lab/run-daemon-guest.sh
  fi
fi
echo "== [${SECONDS}s] all tests passed"

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
# ike/tests/deb_package.rs builds the .deb (packaging/build-deb.sh) and lints it
command -v fakeroot >/dev/null || need_apt+=(fakeroot)
command -v dpkg-shlibdeps >/dev/null || need_apt+=(dpkg-dev)
command -v lintian >/dev/null || need_apt+=(lintian)
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
  # the guest lab: ONE QEMU boot (Debian's kernel, TCG) runs every guest scenario, the
  # interop scenarios and iked's daemon lab (interop-tests/src/daemon_lab), several at once,
  # each with its time. LAB_SCENARIOS="a b" runs a subset, LAB_JOBS=N sets how many run at
  # once (3).
  echo "== [${SECONDS}s] lab guest scenarios (LAB_GUEST=0 skips them)"
  bash interop-tests/lab/setup.sh
  # deb-systemd boots a Debian tree with systemd-nspawn in the guest and installs
  # iked's .deb there (built here from the binaries under test)
  bash interop-tests/lab/setup-systemd.sh
  cargo build -q -p ike --bins
  bash packaging/build-deb.sh --bin-dir target/debug
  cargo test -p interop-tests --test guest -- --ignored --nocapture --test-threads=64
fi
echo "== [${SECONDS}s] all tests passed"

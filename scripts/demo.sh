#!/usr/bin/env bash
# The main job: a tunnel between two network namespaces, showing `ipsec status`.
# The lab (interop-tests) provides it; until then this says so plainly.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "demo: the namespace tunnel demo is not available yet (it arrives with the lab runner)." >&2
echo "demo: what works today: iked --check-config on a sample configuration:" >&2
cargo build -q -p ike --bin iked
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/ipsec.conf" <<'CONF'
config setup
  charondebug="ike 1, knl 1, cfg 1"
conn site-to-site
  left=192.0.2.1
  leftsubnet=198.51.100.0/24
  right=192.0.2.2
  rightsubnet=203.0.113.0/24
  authby=psk
  ike=aes256gcm16-prfsha384-ecp384!
  esp=aes256gcm16-ecp384!
  mark=6
  auto=route
CONF
printf ': PSK "demo-only-secret"\n' > "$tmp/ipsec.secrets"
chmod 600 "$tmp/ipsec.secrets"
./target/debug/iked --check-config --config "$tmp/ipsec.conf" --secrets "$tmp/ipsec.secrets"
exit 3

#!/usr/bin/env bash
# Host side: builds iked, ikectl, ipsec and the install-child lab driver, boots
# the lab guest once (Debian kernel with ESP, QEMU/TCG via virtme-ng, set up by
# interop-tests/lab/setup.sh) and runs ike/tests/lab/guest-daemon.sh inside it.
#
# usage: ike/tests/lab/run-daemon-guest.sh
# env:   SCENARIOS="install-gcm iked-gcm ..." (default: all), LAB_OUT=DIR, LAB_TIMEOUT=SECS (2400),
#        LAB_VENV (/var/cache/iked-lab/venv)
# Exit status 0 when every RESULT is PASS. One guest at a time: holds /tmp/iked-guest.lock.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
LAB_VENV=${LAB_VENV:-/var/cache/iked-lab/venv}
export PATH="$LAB_VENV/bin:$PATH"
command -v vng >/dev/null || { echo "lab: vng not found (run interop-tests/lab/setup.sh)"; exit 1; }
KVER=$(ls /boot/vmlinuz-* 2>/dev/null | sed 's|/boot/vmlinuz-||' | sort -V | tail -1)
[ -n "$KVER" ] || { echo "lab: no kernel in /boot (run interop-tests/lab/setup.sh)"; exit 1; }
cd "$REPO"
cargo build -q -p ike --release --bins --example install-child
OUT=${LAB_OUT:-$(mktemp -d /tmp/iked-daemon-lab.XXXXXX)}
mkdir -p "$OUT"; rm -f "$OUT/results.txt" "$OUT/guest.log"
BIN="$OUT/bin"; mkdir -p "$BIN"
T="${CARGO_TARGET_DIR:-$REPO/target}/release"
cp "$T/iked" "$T/ikectl" "$T/ipsec" "$T/examples/install-child" "$BIN/"
# the guest runs a copy: editing the script during a run cannot disturb it
cp "$HERE/guest-daemon.sh" "$HERE/vici-case.sh" "$HERE/vici-listen.py" "$OUT/"
rm -f "$OUT/env.sh"
if [ -n "${SCENARIOS:-}" ]; then echo "SCENARIOS=\"$SCENARIOS\"" >"$OUT/env.sh"; fi
echo "[lab] booting $KVER (results in $OUT)"
set +e
flock /tmp/iked-guest.lock timeout "${LAB_TIMEOUT:-2400}" vng --run "/boot/vmlinuz-$KVER" --disable-kvm -m 1G -p 2 \
  --rwdir "$OUT" --exec "bash $OUT/guest-daemon.sh $OUT $BIN" >"$OUT/console.log" 2>&1 </dev/null
rc=$?
set -e
echo "[lab] guest exited (rc $rc)"
if [ ! -s "$OUT/results.txt" ]; then
  echo "lab: no results (boot failure or timeout)"; tail -30 "$OUT/console.log"
  [ -f "$OUT/guest.log" ] && tail -30 "$OUT/guest.log"
  exit 1
fi
grep '^RESULT' "$OUT/results.txt"
pass=$(grep -c '^RESULT [^ ]* PASS' "$OUT/results.txt" || true)
fail=$(grep -c '^RESULT [^ ]* FAIL' "$OUT/results.txt" || true)
grep -q '^DONE' "$OUT/results.txt" || { echo "lab: guest did not finish"; fail=$((fail + 1)); }
echo "daemon lab: $pass passed, $fail failed (logs in $OUT)"
[ "$fail" = 0 ]

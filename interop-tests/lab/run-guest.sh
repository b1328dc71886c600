#!/usr/bin/env bash
# Host side of the guest lab: boots Debian's kernel once under QEMU (virtme-ng, TCG:
# /dev/kvm is not usable here), runs a guest script there with the host's root shared
# read-only, collects its results from an --rwdir folder and reports them.
#
# usage: interop-tests/lab/run-guest.sh [xfrm]        (only suite so far: xfrm)
# env:   LAB_SKIP_SETUP=1   don't run setup.sh
#        LAB_OUT=DIR        results folder (default: a fresh /tmp/iked-lab.XXXXXX)
#        LAB_TIMEOUT=SECS   whole-guest bound (default 900)
#        BENCH_PAIRS, BENCH_POLICIES, SCENARIOS   passed to the guest script
#        XFRM_LAB_BIN, XFRM_TESTS_BIN   prebuilt binaries (skips the cargo build; for a
#                           runner that builds them itself)
# Exit status: 0 if every RESULT is PASS; 1 on any FAIL, a boot failure or a timeout.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
SUITE=${1:-xfrm}
LAB_VENV=${LAB_VENV:-/var/cache/iked-lab/venv}
[ "$SUITE" = xfrm ] || { echo "unknown suite $SUITE"; exit 2; }

t_start=$(date +%s)
phase() { echo "[lab $(( $(date +%s) - t_start ))s] $*"; }

[ -n "${LAB_SKIP_SETUP:-}" ] || bash "$HERE/setup.sh"
export PATH="$LAB_VENV/bin:$PATH"
command -v vng >/dev/null || { echo "lab: vng not found (run interop-tests/lab/setup.sh)"; exit 1; }
KVER=$(ls /boot/vmlinuz-* 2>/dev/null | sed 's|/boot/vmlinuz-||' | sort -V | tail -1)
[ -n "$KVER" ] || { echo "lab: no kernel in /boot (run interop-tests/lab/setup.sh)"; exit 1; }

cd "$REPO"
if [ -n "${XFRM_LAB_BIN:-}" ]; then
  LAB_BIN=$XFRM_LAB_BIN TESTS_BIN=${XFRM_TESTS_BIN:-}
  phase "using prebuilt $LAB_BIN"
else
  phase "building xfrm-lab (release) and the xfrm netns tests"
  cargo build -q -p xfrm --release --example xfrm-lab
  LAB_BIN="$REPO/target/release/examples/xfrm-lab"
  TESTS_BIN=$(cargo test -q -p xfrm --test netns --no-run --message-format=json 2>/dev/null \
    | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
fi
[ -x "$LAB_BIN" ] || { echo "lab: $LAB_BIN missing"; exit 1; }

OUT=${LAB_OUT:-$(mktemp -d /tmp/iked-lab.XXXXXX)}
mkdir -p "$OUT"; rm -f "$OUT/results.txt" "$OUT/guest.log"
phase "booting $KVER under QEMU (TCG), results in $OUT"
{
  printf 'BENCH_PAIRS=%q\n' "${BENCH_PAIRS:-10000}"
  printf 'BENCH_POLICIES=%q\n' "${BENCH_POLICIES:-30000}"
  [ -z "${SCENARIOS:-}" ] || printf 'SCENARIOS=%q\n' "$SCENARIOS"
} >"$OUT/env.sh"
set +e
# one QEMU guest at a time on this machine (it eats both cores): the lab's shared lock
flock -w 1200 /tmp/iked-guest.lock timeout "${LAB_TIMEOUT:-900}" vng --run "/boot/vmlinuz-$KVER" --disable-kvm -m 2G -p 2 \
  --rwdir "$OUT" --exec "bash $HERE/guest-xfrm.sh $OUT $LAB_BIN $TESTS_BIN" \
  >"$OUT/console.log" 2>&1 </dev/null
rc=$?
set -e
phase "guest exited (rc $rc)"
if [ ! -s "$OUT/results.txt" ]; then
  echo "lab: the guest produced no results (boot failure or timeout). Console tail:"
  tail -40 "$OUT/console.log"
  [ -f "$OUT/guest.log" ] && { echo "--- guest.log tail"; tail -40 "$OUT/guest.log"; }
  exit 1
fi
grep '^RESULT' "$OUT/results.txt"
pass=$(grep -c '^RESULT [^ ]* PASS' "$OUT/results.txt" || true)
fail=$(grep -c '^RESULT [^ ]* FAIL' "$OUT/results.txt" || true)
grep -q '^DONE' "$OUT/results.txt" || { echo "lab: guest did not finish (timeout?)"; fail=$((fail + 1)); }
echo "lab xfrm: $pass passed, $fail failed (logs: $OUT/guest.log, $OUT/console.log)"
[ "$fail" = 0 ]

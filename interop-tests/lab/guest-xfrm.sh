#!/usr/bin/env bash
# Runs INSIDE the lab guest (full Debian kernel, root): proves the xfrm crate against a
# kernel with ESP. SAs and policies are installed only through xfrm-lab (the crate);
# `ip` is used for links/addresses/routes and, read-only, to show what the kernel holds.
#
# usage: guest-xfrm.sh OUTDIR XFRM_LAB [XFRM_NETNS_TESTS]
# env:   BENCH_PAIRS (10000) BENCH_POLICIES (30000), SCENARIOS (all); or in OUTDIR/env.sh
# Writes OUTDIR/guest.log (everything) and OUTDIR/results.txt ("RESULT name PASS|FAIL ...").
set -u
OUT=$1 LAB=$2 TESTS=${3:-}
[ -f "$OUT/env.sh" ] && . "$OUT/env.sh"
BENCH_PAIRS=${BENCH_PAIRS:-10000} BENCH_POLICIES=${BENCH_POLICIES:-30000}
SCENARIOS=${SCENARIOS:-"gcm cbc chacha ah v6 encap vti xfrmi allocspi mapping acquire expire crate-tests bench"}
exec >"$OUT/guest.log" 2>&1
RES=$OUT/results.txt; : >"$RES"
T0=$(date +%s.%N)
el() { echo "$(date +%s.%N) - $1" | bc; }
result() { echo "RESULT $*" | tee -a "$RES"; }
L() { ip netns exec left "$LAB" "$@"; }
R() { ip netns exec right "$LAB" "$@"; }
echo "guest up: kernel $(uname -r), uptime $(cut -d' ' -f1 /proc/uptime)s"
modprobe -a esp4 esp6 xfrm_user xfrm_interface ip_vti ip6_vti veth 2>&1 || echo "modprobe failed"

netns_setup() {
  for ns in left right; do ip netns del $ns 2>/dev/null; ip netns add $ns; ip -n $ns link set lo up; done
  ip link add vl netns left type veth peer name vr netns right
  ip -n left addr add 192.0.2.1/24 dev vl; ip -n left link set vl up
  ip -n right addr add 192.0.2.2/24 dev vr; ip -n right link set vr up
  ip -n left addr add 198.51.100.1/32 dev lo
  ip -n right addr add 203.0.113.1/32 dev lo
  ip -n left route add 203.0.113.0/24 via 192.0.2.2 src 198.51.100.1
  ip -n right route add 198.51.100.0/24 via 192.0.2.1 src 203.0.113.1
  ip -n left addr add 2001:db8:0:1::1/64 dev vl nodad; ip -n right addr add 2001:db8:0:1::2/64 dev vr nodad
  ip -n left addr add 2001:db8:a::1/128 dev lo nodad; ip -n right addr add 2001:db8:b::1/128 dev lo nodad
  ip -n left -6 route add 2001:db8:b::/64 via 2001:db8:0:1::2 src 2001:db8:a::1
  ip -n right -6 route add 2001:db8:a::/64 via 2001:db8:0:1::1 src 2001:db8:b::1
}

plumb() { # per-case links and routes (not SAs/policies)
  case $1 in
    vti)
      ip -n left link add vti1 type vti local 192.0.2.1 remote 192.0.2.2 key 6
      ip -n right link add vti1 type vti local 192.0.2.2 remote 192.0.2.1 key 6
      for s in left right; do ip -n $s link set vti1 up; ip netns exec $s sysctl -qw net.ipv4.conf.vti1.disable_policy=1; done
      ip -n left route replace 203.0.113.0/24 dev vti1 src 198.51.100.1
      ip -n right route replace 198.51.100.0/24 dev vti1 src 203.0.113.1 ;;
    xfrmi)
      ip -n left link add xfrm1 type xfrm dev vl if_id 42
      ip -n right link add xfrm1 type xfrm dev vr if_id 42
      for s in left right; do ip -n $s link set xfrm1 up; done
      ip -n left route replace 203.0.113.0/24 dev xfrm1 src 198.51.100.1
      ip -n right route replace 198.51.100.0/24 dev xfrm1 src 203.0.113.1 ;;
    encap)
      ENCAP_PIDS=()
      for s in left right; do ip netns exec $s "$LAB" encap-socket 4500 30 & ENCAP_PIDS+=($!); done
      sleep 0.5 ;;
  esac
}

unplumb() {
  case $1 in
    vti) for s in left right; do ip -n $s link del vti1; done ;;
    xfrmi) for s in left right; do ip -n $s link del xfrm1; done ;;
    encap) for p in "${ENCAP_PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done ;;
  esac
  ip -n left route replace 203.0.113.0/24 via 192.0.2.2 src 198.51.100.1
  ip -n right route replace 198.51.100.0/24 via 192.0.2.1 src 203.0.113.1
}

tunnel_case() {
  local c=$1 t=$(date +%s.%N)
  L flush; R flush
  plumb "$c"
  if ! L tunnel "$c" left || ! R tunnel "$c" right; then result "$c FAIL (install through the crate failed)"; unplumb "$c"; return; fi
  local pingout
  if [ "$c" = v6 ]; then
    pingout=$(ip netns exec left ping -6 -c 3 -i 0.2 -W 2 -I 2001:db8:a::1 2001:db8:b::1 2>&1)
  else
    pingout=$(ip netns exec left ping -c 3 -i 0.2 -W 2 -I 198.51.100.1 203.0.113.1 2>&1)
  fi
  echo "$pingout" | tail -2
  # a ping alone proves nothing (clear text passes without SAs): counters read through the crate must rise
  local cr cl
  cr=$(R counters "$c" right 3); rc_r=$?
  cl=$(L counters "$c" left 3); rc_l=$?
  echo "right $cr"; echo "left  $cl"
  if [ "$c" = encap ]; then
    ip netns exec right timeout 5 tcpdump -c 2 -ni vr udp port 4500 2>&1 &
    local td=$!; sleep 1.5; ip netns exec left ping -c 2 -i 0.2 -W 2 -I 198.51.100.1 203.0.113.1 >/dev/null; wait $td
  fi
  if [ "$c" = gcm ]; then
    echo "--- ip -s xfrm state (left), read-only view"; ip -n left -s xfrm state | sed -E "s/^([[:space:]]*(aead|enc|auth|auth-trunc) [^ ]+) 0x[0-9a-f]+/\\1 <key redacted>/"
    echo "--- ip xfrm policy (left)"; ip -n left xfrm policy
    echo "--- the same SAs and policies read through the crate (left)"; L show gcm left
  fi
  if echo "$pingout" | grep -q ' 3 received' && [ $rc_r = 0 ] && [ $rc_l = 0 ]; then
    result "$c PASS (ping 3/3; in right: ${cr#*: }; in left: ${cl#*: }) $(el $t)s"
  else
    result "$c FAIL (ping: $(echo "$pingout" | grep -o '[0-9]* received'); right: $cr; left: $cl)"
  fi
  unplumb "$c"
  L flush; R flush
}

netns_setup
echo "setup done at $(el $T0)s"
for s in $SCENARIOS; do
  case $s in
    gcm|cbc|chacha|ah|v6|encap|vti|xfrmi) tunnel_case "$s" ;;
    allocspi)
      # the daemon's order: ALLOCSPI on each side, then update_sa (inbound) + add_sa (outbound)
      L flush; R flush
      spl=$(L alloc-spi gcm left) && spr=$(R alloc-spi gcm right)
      echo "allocated: left inbound $spl, right inbound $spr"
      L child gcm left "$spr" "$spl" && R child gcm right "$spl" "$spr"
      pingout=$(ip netns exec left ping -c 3 -i 0.2 -W 2 -I 198.51.100.1 203.0.113.1 2>&1 | grep received)
      cr=$(R sa-counters 192.0.2.2 "$spr" 3); rcr=$?
      cl=$(L sa-counters 192.0.2.1 "$spl" 3); rcl=$?
      echo "$pingout"; echo "right $cr"; echo "left  $cl"
      if echo "$pingout" | grep -q ' 3 received' && [ $rcr = 0 ] && [ $rcl = 0 ] && [ "$spl" != "$spr" ]; then
        result "allocspi PASS (SPIs $spl/$spr from ALLOCSPI; right: $cr; left: $cl)"
      else result "allocspi FAIL (ping: $pingout; right: $cr; left: $cl)"; fi
      L flush; R flush ;;
    mapping)
      L flush; R flush; plumb encap
      L tunnel encap left >/dev/null && R tunnel encap right >/dev/null
      R mapping-watch 60 >"$OUT/mapping.txt" 2>&1 & wp=$!
      for i in $(seq 150); do grep -q listening "$OUT/mapping.txt" && break; sleep 0.2; done
      L resport encap left 4501
      ip netns exec left ping -c 2 -i 0.2 -W 2 -I 198.51.100.1 203.0.113.1 | grep received
      wait $wp; rcm=$?
      cat "$OUT/mapping.txt"
      if [ $rcm = 0 ]; then result "mapping PASS: $(grep MAPPING "$OUT/mapping.txt")"; else result "mapping FAIL: $(tail -1 "$OUT/mapping.txt")"; fi
      unplumb encap; L flush; R flush ;;
    acquire)
      L flush
      if out=$(L acquire 2>&1); then result "acquire PASS: $(echo "$out" | grep ACQUIRE)"; else result "acquire FAIL: $out"; fi
      echo "$out" ;;
    expire)
      if out=$(L expire 2>&1); then result "expire PASS: $(echo "$out" | grep -c 'hard: false') soft + $(echo "$out" | grep -c 'hard: true') hard EXPIRE events, SA gone"; else result "expire FAIL: $out"; fi
      echo "$out"; L flush ;;
    crate-tests)
      if [ -n "$TESTS" ] && [ -x "$TESTS" ]; then
        if out=$("$TESTS" --test-threads=1 2>&1); then result "crate-tests PASS: $(echo "$out" | grep 'test result')"; else result "crate-tests FAIL"; fi
        echo "$out" | grep -E '^test |kernel has ESP|host kernel|test result'
      else result "crate-tests FAIL (no test binary given)"; fi ;;
    bench)
      for ns in bench-crate bench-serial bench-ip; do ip netns del $ns 2>/dev/null; ip netns add $ns; done
      "$LAB" bench-file "$BENCH_PAIRS" "$BENCH_POLICIES" /tmp/bench.batch
      echo "ip -batch file: $(wc -l </tmp/bench.batch) lines"
      tb=$(date +%s.%N); ip netns exec bench-crate "$LAB" bench "$BENCH_PAIRS" "$BENCH_POLICIES" batch; rcb=$?; dcrate=$(el $tb)
      ts=$(date +%s.%N); ip netns exec bench-serial "$LAB" bench "$BENCH_PAIRS" "$BENCH_POLICIES" serial; rcs=$?; dserial=$(el $ts)
      ti=$(date +%s.%N); ip -n bench-ip -batch /tmp/bench.batch; rci=$?; dip=$(el $ti)
      for ns in bench-crate bench-serial bench-ip; do echo "$ns: $(ip -n $ns xfrm state count | tr -s ' \t' ' '); $(ip -n $ns xfrm policy count | tr -s ' \t' ' ')"; done
      want_sa=$((2 * BENCH_PAIRS))
      ok=1
      for ns in bench-crate bench-serial bench-ip; do ip -n $ns xfrm state count | grep -q "SAD count $want_sa" || ok=0; done
      ratio=$(echo "scale=2; $dcrate / $dip" | bc); ratio_s=$(echo "scale=2; $dserial / $dip" | bc)
      if [ $ok = 1 ] && [ $rcb = 0 ] && [ $rcs = 0 ] && [ $rci = 0 ]; then v=PASS; else v=FAIL; fi
      result "bench $v: $want_sa SAs + $BENCH_POLICIES policies: crate pipelined ${dcrate}s, crate one-by-one ${dserial}s, ip -batch ${dip}s; ratio crate/ip = $ratio (one-by-one $ratio_s; goal <= 1.5)"
      for ns in bench-crate bench-serial bench-ip; do ip netns del $ns; done ;;
    *) result "$s FAIL (unknown scenario)" ;;
  esac
done
for ns in left right; do ip netns del $ns; done
echo "guest total $(el $T0)s"
echo DONE >>"$RES"

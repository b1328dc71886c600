# Sourced by guest-daemon.sh (uses its netns_setup, write_conf, start_iked, ...).
#
# iked-vici  iked <-> iked with real CHILD_SAs, Debian's swanctl against the left iked's VICI
#            socket: `--initiate --child` prints iked's log lines (control-log), `--list-sas`
#            shows the CHILD_SA with the kernel's counters (bytes/packets in and out after a
#            ping), `--terminate --child-id 1` closes the CHILD_SA alone (both kernels empty,
#            the IKE_SA stays), `--terminate --child NAME` too, `--terminate --ike` the rest;
#            `--monitor-sa` sees IKE_SA and CHILD_SA up/down; then, with lifetime=16s and
#            ikelifetime=24s (`--reload-settings`), a listener written from the VICI README
#            (vici-listen.py) sees child-rekey and ike-rekey.

vsw() { local cmd=$1; shift; ip netns exec left stdbuf -oL /usr/sbin/swanctl "$cmd" --uri unix://$W/left.vici "$@"; }
sa_count() { ip -n "$1" xfrm state | grep -c '^src' || true; }

vici_case() {
  local why="" lab; lab=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  CASE=iked-vici
  netns_setup
  for s in left right; do
    write_conf $s aes128gcm16-prfsha256-x25519! aes128gcm16! add
    write_secrets $s "vici-lab-psk-0123456789"
    printf 'charon {\n  plugins {\n    vici {\n      socket = unix://%s\n    }\n  }\n}\n' $W/$s.vici >$W/$s-sw.conf
  done
  IKED_SWCONF=$W/left-sw.conf start_iked left || { result "$CASE FAIL (iked left did not start)"; return; }
  IKED_SWCONF=$W/right-sw.conf start_iked right || { result "$CASE FAIL (iked right did not start)"; stop_iked left; return; }
  vsw --monitor-sa >$OUT/vici-monitor.txt 2>&1 & local mon=$!
  ip netns exec left python3 "$lab/vici-listen.py" $W/left.vici 600 ike-updown ike-rekey child-updown child-rekey >$OUT/vici-events.txt 2>&1 & local lis=$!
  sleep 1

  # Part 1 (default lifetimes: nothing rekeys meanwhile): control-log, counters, terminate.
  echo "--- swanctl --initiate --child net-net"
  vsw --initiate --child net-net --timeout 60 | tee $W/init.txt
  grep -q 'initiate completed successfully' $W/init.txt || why+="initiate failed; "
  grep -Eq '^\[CHD\] CHILD_SA net-net[{]1[}] established with SPIs' $W/init.txt || why+="no CHILD_SA line in swanctl's control-log; "
  grep -Eq '^\[IKE\] IKE_SA net-net\[1\] established between' $W/init.txt || why+="no IKE_SA line in swanctl's control-log; "
  ping_tunnel >/dev/null 2>&1 || why+="ping failed; "
  echo "--- swanctl --list-sas (after 3 pings)"
  vsw --list-sas | tee $W/sas.txt
  grep -Eq '^  net-net: #1, reqid 1, INSTALLED, TUNNEL, ESP:AES_GCM_16-128' $W/sas.txt || why+="list-sas: no INSTALLED CHILD_SA line; "
  grep -Eq '^    installed [0-9]+s ago, rekeying in [0-9]+s, expires in [0-9]+s$' $W/sas.txt || why+="list-sas: no install/rekey/expiry line; "
  grep -Eq '^    in  [0-9a-f]{8}, +[0-9]+ bytes, +3 packets, +[0-9]+s ago$' $W/sas.txt || why+="list-sas: inbound counters not 3 packets; "
  grep -Eq '^    out [0-9a-f]{8}, +[0-9]+ bytes, +3 packets, +[0-9]+s ago$' $W/sas.txt || why+="list-sas: outbound counters not 3 packets; "
  grep -Eq '^    local  198\.51\.100\.0/24$' $W/sas.txt && grep -Eq '^    remote 203\.0\.113\.0/24$' $W/sas.txt || why+="list-sas: traffic selectors; "
  echo "--- swanctl --list-sas --raw"; vsw --list-sas --raw

  echo "--- swanctl --terminate --child-id 1"
  vsw --terminate --child-id 1 --timeout 30 | tee $W/term.txt
  grep -q 'terminate completed successfully' $W/term.txt || why+="terminate --child-id failed; "
  sleep 0.5
  vsw --list-sas | tee $W/sas3.txt
  grep -Eq "^net-net: #1, ESTABLISHED" $W/sas3.txt || why+="the IKE_SA did not stay; "
  grep -q 'INSTALLED' $W/sas3.txt && why+="a CHILD_SA is left after terminate --child-id; "
  [ "$(sa_count left)" = 0 ] && [ "$(sa_count right)" = 0 ] || why+="SAs left in the kernels after terminate --child-id (left $(sa_count left), right $(sa_count right)); "

  echo "--- swanctl --initiate --child net-net (on the IKE_SA that stayed), --terminate --child net-net"
  vsw --initiate --child net-net --timeout 60 | tee $W/init2.txt
  grep -q 'initiate completed successfully' $W/init2.txt || why+="second initiate failed; "
  grep -q 'IKE_SA net-net\[1\]' $W/init2.txt || why+="second CHILD_SA not on IKE_SA #1; "
  [ "$(sa_count left)" = 2 ] || why+="second CHILD_SA not installed ($(sa_count left) SAs); "
  vsw --terminate --child net-net --timeout 30 | tee $W/term2.txt
  grep -q 'terminate completed successfully' $W/term2.txt || why+="terminate --child failed; "
  sleep 0.5
  [ "$(sa_count left)" = 0 ] || why+="SAs left after terminate --child; "
  vsw --terminate --ike net-net --timeout 30 | tee $W/term3.txt
  grep -q 'terminate completed successfully' $W/term3.txt || why+="terminate --ike failed; "
  sleep 0.5
  [ -z "$(vsw --list-sas)" ] || why+="IKE_SA left after terminate --ike; "
  kernel_empty left || why+="left kernel not empty; "
  kernel_empty right || why+="right kernel not empty; "

  # Part 2: short lifetimes (reload-settings re-reads ipsec.conf), traffic across the rekeys.
  for s in left right; do
    write_conf $s aes128gcm16-prfsha256-x25519! aes128gcm16! add $'lifetime=16s\n  ikelifetime=24s\n  margintime=6s\n  rekeyfuzz=0%'
  done
  sed -i 's/^  margintime=6s/  margintime=3s/' $W/right.conf # the left side drives the rekeys
  vsw --reload-settings || why+="reload-settings failed; "
  ctl right reload >/dev/null || why+="right reload failed; "
  vsw --initiate --child net-net --timeout 60 >/dev/null || why+="third initiate failed; "
  echo "--- 22 s of traffic: CHILD_SA rekeys at 10 s and 20 s, IKE_SA rekey at 18 s"
  ip netns exec left ping -c 110 -i 0.2 -W 1 -I 198.51.100.1 203.0.113.1 2>&1 | tail -2
  vsw --list-sas | tee $W/sas2.txt
  grep -Eq '^net-net: #[3-9][0-9]*, ESTABLISHED' $W/sas2.txt || why+="IKE_SA not rekeyed in list-sas; "
  grep -Eq '^  net-net: #([4-9]|[1-9][0-9]+), reqid 1, INSTALLED' $W/sas2.txt || why+="CHILD_SA not rekeyed in list-sas; "
  grep -q '^EVENT child-rekey ' $OUT/vici-events.txt || why+="no child-rekey event; "
  grep -q '^EVENT ike-rekey ' $OUT/vici-events.txt || why+="no ike-rekey event; "
  local last; last=$(sed -n 's/^net-net: #\([0-9]*\), ESTABLISHED.*/\1/p' $W/sas2.txt | head -1)
  vsw --terminate --ike net-net --timeout 30 >/dev/null || why+="last terminate failed; "
  sleep 1
  kernel_empty left || why+="left kernel not empty at the end; "

  kill $mon 2>/dev/null; wait $mon 2>/dev/null
  kill $lis 2>/dev/null; wait $lis 2>/dev/null
  echo "--- swanctl --monitor-sa"; cat $OUT/vici-monitor.txt
  grep -Eq '^net-net: #1, ESTABLISHED, IKEv2' $OUT/vici-monitor.txt || why+="monitor-sa: no IKE_SA up; "
  grep -Eq '^  net-net: #1, reqid 1, INSTALLED, TUNNEL' $OUT/vici-monitor.txt || why+="monitor-sa: no CHILD_SA up; "
  grep -Eq '^  net-net: #1, reqid 1, DELETING, TUNNEL' $OUT/vici-monitor.txt || why+="monitor-sa: no CHILD_SA down for #1; "
  grep -Eq '^net-net: #1, DELETING, IKEv2' $OUT/vici-monitor.txt || why+="monitor-sa: no IKE_SA down for #1; "
  grep -Eq "^net-net: #${last:-0}, DELETING, IKEv2" $OUT/vici-monitor.txt || why+="monitor-sa: no IKE_SA down for #$last; "
  echo "--- events seen by vici-listen.py (cut)"; cut -c1-300 $OUT/vici-events.txt
  echo "--- a child-rekey event"; grep -m1 '^EVENT child-rekey ' $OUT/vici-events.txt
  local nup nrk nik; nup=$(grep -c '^EVENT child-updown ' $OUT/vici-events.txt); nrk=$(grep -c '^EVENT child-rekey ' $OUT/vici-events.txt); nik=$(grep -c '^EVENT ike-rekey ' $OUT/vici-events.txt)
  stop_iked left; stop_iked right
  if [ -z "$why" ]; then result "$CASE PASS (control-log, list-sas counters 3/3 packets, terminate --child-id/--child/--ike with kernels empty, $nup child-updown, $nrk child-rekey, $nik ike-rekey events)"
  else result "$CASE FAIL ($why)"; fi
}

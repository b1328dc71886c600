#!/usr/bin/env bash
# Runs INSIDE the lab guest (full Debian kernel with ESP, root): the daemon's
# kernel side and iked end to end.
#
# usage: guest-daemon.sh OUTDIR BINDIR      (BINDIR holds iked, ikectl, ipsec, install-child)
# env:   SCENARIOS (default: all), in OUTDIR/env.sh too
# Writes OUTDIR/guest.log and OUTDIR/results.txt ("RESULT name PASS|FAIL ...", then DONE).
#
# install-CASE  a hand-made ChildSaInstall installed by the daemon's installer
#               (ike::daemon::kernel) on both sides: ping crosses, both inbound
#               counters >= 3, and after removal nothing of it is left.
# iked-gcm, iked-cbc   iked <-> iked (PSK, net-to-net, aes128gcm16-prfsha256-x25519
#               / aes256-sha256-modp2048 with PFS): `ikectl up`, ping, inbound
#               counters >= 3 on both sides (ikectl statusall --json), `ipsec
#               status` regexes, `ipsec down` empties the kernel on both sides,
#               up again, SIGTERM empties it on both sides.
# iked-rekey (+ -resp)  against the starter, lifetime=20s/ikelifetime=40s: CHILD_SA rekeyed >= 2
#               times and the IKE_SA once under a ping every 0.2 s, not one packet lost when iked
#               initiates the rekeys and when strongSwan does (-resp).
# iked-badpsk   wrong PSK: `ikectl up` fails, nothing left in either kernel.
# iked-natt     forceencaps=yes: IKE moves to 4500 (non-ESP marker), ESP in UDP (ESPINUDP
#               socket), "ESP in UDP SPIs" in ipsec status, ping + counters.
# iked-v6       IPv6 outside and inside (2001:db8::/32); iked-4in6 / iked-6in4: IPv4 inside
#               IPv6 and IPv6 inside IPv4.
# iked-route    auto=route: trap policies only (out, in, fwd); a ping triggers ACQUIRE -> tunnel;
#               `ipsec unroute` / `ipsec route` remove and reinstall the traps;
#               after `ipsec down` only the trap is left; SIGTERM leaves nothing.
# swan-*        iked <-> strongSwan (charon-systemd + swanctl), both directions.
# starter-*     iked <-> strongSwan's starter from a literal ipsec.conf (aes256-sha256-modp2048,
#               PFS), both directions; strongSwan's own `ipsec status` shown and checked.
# iked-vti, iked-vti6, iked-xfrmi, iked-gre (+ -resp: the peer initiates; iked-xfrmi-swan)
#               route-based and GRE-over-IPsec: ONE ipsec.conf (aes256gcm16-prfsha384-ecp384!,
#               keyingtries=%forever, mobike=no) for iked (left) and strongSwan's starter (right):
#               vti0 (mark=6, 0.0.0.0/0), vti6x (mark=6, ::/0, IPv6 outside), ipsec42 (if_id 42;
#               iked <-> iked, and iked <-> swanctl since the starter lacks if_id_in/out), gre1 over
#               type=transport + leftprotoport=gre. Ping across the interface, inbound SA counters
#               +5 on both sides, policies/SAs with mark 0x6/0xffffffff (policies and the outbound
#               SA, as strongSwan) / if_id 0x2a / proto gre, statusall byte+packet counters; for GRE
#               a plain ping leaves the counters alone.
# iked-route6 (+ -resp)  IPv6 outside and inside, auto=route against the starter: trap policies
#               before traffic on the routing side, the first ping triggers the tunnel; iked's
#               leftupdown script writes its PLUTO_* environment to a file (shown, checked).
# iked-shunt    type=passthrough / type=drop shunts (auto=route) beside a tunnel: bypass in
#               clear, drop, "Shunted Connections:" in ipsec status.
# iked-encaps (+ -resp)  forceencaps=yes, aes256-sha2_256-modp1024 / aes256-sha2_256 against the
#               starter: SAs encap espinudp 4500/4500, tcpdump sees UDP 4500 and no ESP.
# iked-nat (+ -resp)  a real NAT namespace (iptables MASQUERADE) between iked and the starter,
#               then a NAT mapping change (conntrack -F, new port range): XFRM_MSG_MAPPING, SAs
#               and (iked responder) the IKE_SA move to the new port, traffic keeps flowing.
# rw-peruser    road-warrior gateway as users write it: iked with a server certificate (openssl CA
#               made in the guest) and EAP-MSCHAPv2, base conn ikev2-vpn (%any, pool
#               203.0.113.128/25) + per-user conns (also=, rightid, eap_identity, one fixed
#               rightsourceip); strongSwan's starter connects as client_a, client_b, other: each in
#               the conn with the best identity match (iked's status), its own address on the client,
#               ping from it raises both inbound counters (issue 12: before it, client_a got ikev2-vpn).
# rw-windows    issue 16: a Windows-like client (strongSwan's starter with charon.signature_authentication
#               = no, so no SIGNATURE_HASH_ALGORITHMS; Windows' aes256-sha1-modp1024 / aes256-sha1,
#               EAP-MSCHAPv2) against iked with an RSA-4096 server certificate (SAN, serverAuth): the
#               client verifies iked's AUTH method 1 ("with RSA signature successful" in its log),
#               gets a pool address, and a ping from it raises both inbound ESP counters.
# iked-defaultroute  left=%defaultroute, auto=start, two CHILD_SAs via also= on a host whose first
#               address is a dummy's (198.51.100.77): one IKE_SA from 192.0.2.1 on both sides, both
#               CHILD_SAs INSTALLED and carrying traffic (issue 12: before it, iked sent from 127.0.0.1).
# iked-vici     swanctl and a VICI event listener against iked with real CHILD_SAs (vici-case.sh;
#               not in the default list yet: SCENARIOS=iked-vici).
set -u
OUT=$1 BIN=$2
[ -f "$OUT/env.sh" ] && . "$OUT/env.sh"
SCENARIOS=${SCENARIOS:-"install-gcm install-cbc install-chacha install-encap install-transport iked-gcm iked-cbc iked-rekey iked-rekey-resp iked-badpsk iked-route iked-shunt iked-route6 iked-route6-resp iked-natt iked-encaps iked-encaps-resp iked-nat iked-nat-resp iked-v6 iked-4in6 iked-6in4 iked-vti iked-vti-resp iked-vti6 iked-vti6-resp iked-xfrmi iked-xfrmi-swan iked-xfrmi-swan-resp iked-gre iked-gre-resp swan-init swan-resp starter-init starter-resp rw-peruser rw-windows iked-defaultroute"}
exec >"$OUT/guest.log" 2>&1
RES=$OUT/results.txt; : >"$RES"
result() { echo "RESULT $*" | tee -a "$RES"; }
W=/tmp/iked-guest; rm -rf $W; mkdir -p $W
echo "guest up: kernel $(uname -r), uptime $(cut -d' ' -f1 /proc/uptime)s"
modprobe -a esp4 esp6 xfrm_user xfrm_interface ip_vti ip6_vti ip_gre veth dummy 2>&1 || echo "modprobe failed"

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

tunnel_policies() { # ns -> the number of SPD policies, without the per-socket IPsec bypass
  # policies of a running iked's IKE sockets ('socket in|out': they belong to its sockets)
  ip -n "$1" xfrm policy | awk '/^src/{n++} /^[ \t]+socket (in|out) /{n--} END{print n+0}'
}
kernel_empty() { # side -> 0 if no SA and no (tunnel) policy
  local s p
  s=$(ip -n "$1" xfrm state | grep -c '^src' || true)
  p=$(tunnel_policies "$1")
  echo "$1: $s SAs, $p policies (IKE socket bypass policies not counted)"
  [ "$s" = 0 ] && [ "$p" = 0 ]
}

# `ip xfrm state` without the keys (lab keys, but keys stay out of logs)
redact() { sed -E 's/^([[:space:]]*(aead|enc|auth|auth-trunc) [^ ]+) 0x[0-9a-f]+/\1 <key redacted>/'; }
show_kernel() {
  for s in left right; do echo "--- $s: ip -s xfrm state"; ip -n $s -s xfrm state | redact; echo "--- $s: ip xfrm policy"; ip -n $s xfrm policy; done
}

ping_tunnel() { ip netns exec left ping -c 3 -i 0.3 -W 2 -I 198.51.100.1 203.0.113.1; }

install_case() {
  local c=$1
  netns_setup
  rm -f $W/fl $W/fr; mkfifo $W/fl $W/fr
  ip netns exec left "$BIN/install-child" "$c" left <$W/fl >$W/ol 2>&1 & local pl=$!
  ip netns exec right "$BIN/install-child" "$c" right <$W/fr >$W/or 2>&1 & local pr=$!
  exec 3>$W/fl 4>$W/fr
  for _ in $(seq 50); do grep -q installed $W/ol && grep -q installed $W/or && break; sleep 0.2; done
  local pingout
  if [ "$c" = transport ]; then
    pingout=$(ip netns exec left ping -c 3 -i 0.3 -W 2 192.0.2.2 2>&1)
  else
    pingout=$(ping_tunnel 2>&1)
  fi
  echo "$pingout"
  show_kernel
  exec 3>&- 4>&-
  wait $pl $pr
  echo "--- left:"; cat $W/ol; echo "--- right:"; cat $W/or
  local il ir
  il=$(sed -n 's/^counters in=\([0-9]*\)\/.*/\1/p' $W/ol); ir=$(sed -n 's/^counters in=\([0-9]*\)\/.*/\1/p' $W/or)
  if echo "$pingout" | grep -q ' 0% packet loss' && [ "${il:-0}" -ge 3 ] && [ "${ir:-0}" -ge 3 ] \
     && grep -q '^removed' $W/ol && grep -q '^removed' $W/or && kernel_empty left && kernel_empty right; then
    result "install-$c PASS (ping 3/3, inbound packets left=$il right=$ir, removed cleanly)"
  else
    result "install-$c FAIL (ping: $(echo "$pingout" | grep -o '[0-9]*% packet loss'), inbound left=${il:-?} right=${ir:-?}; $(grep FAIL $W/ol $W/or | head -2 | tr '\n' ' '))"
  fi
}

# ipsec.conf for iked or the starter; $1 = side, $2 = ike, $3 = esp, $4 = auto, $5 = extra line,
# V6=1 for IPv6 addresses and subnets
write_conf() {
  local side=$1 ike=$2 esp=$3 auto=$4 extra=${5:-}
  local l=192.0.2.1 r=192.0.2.2 ls=198.51.100.0/24 rs=203.0.113.0/24
  [ -n "${V6:-}" ] && { l=2001:db8:0:1::1 r=2001:db8:0:1::2 ls=2001:db8:a::/64 rs=2001:db8:b::/64; }
  # MIX=4in6: IPv6 outside, IPv4 inside; MIX=6in4: the other way round
  [ "${MIX:-}" = 4in6 ] && { l=2001:db8:0:1::1 r=2001:db8:0:1::2; }
  [ "${MIX:-}" = 6in4 ] && { ls=2001:db8:a::/64 rs=2001:db8:b::/64; }
  cat >$W/$side.conf <<EOF
config setup
  charondebug="ike 1, knl 2, cfg 1, net 1, chd 2"
conn net-net
  left=$l
  leftsubnet=$ls
  leftid=moon
  right=$r
  rightsubnet=$rs
  rightid=sun
  authby=psk
  ike=$ike
  esp=$esp
  auto=$auto
  $extra
EOF
}
write_secrets() { printf 'moon sun : PSK "%s"\n' "$2" >$W/$1.secrets; chmod 600 $W/$1.secrets; }

# iked reads strongswan.conf (default /etc/strongswan.conf), which in this guest belongs to the
# strongSwan peer of the scenario before: iked gets its own ($IKED_SWCONF, else an empty one).
echo "# iked in the daemon lab: no settings (the guest /etc/strongswan.conf is for strongSwan)" >$W/iked-strongswan.conf
start_iked() { # side
  ip netns exec $1 "$BIN/iked" --config $W/$1.conf --secrets $W/$1.secrets --ctl $W/$1.ctl \
    --strongswan-conf "${IKED_SWCONF:-$W/iked-strongswan.conf}" >>"$OUT/iked-$CASE-$1.log" 2>&1 &
  echo $! >$W/$1.pid
  for _ in $(seq 50); do ip netns exec $1 "$BIN/ikectl" --ctl $W/$1.ctl status >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "iked $1 did not come up"; return 1
}
stop_iked() { # side: SIGTERM, wait for exit
  local p; p=$(cat $W/$1.pid 2>/dev/null) || return 0
  kill -TERM "$p" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
  kill -0 "$p" 2>/dev/null && { echo "iked $1 ignored SIGTERM"; kill -KILL "$p"; }
  rm -f $W/$1.pid
}
ctl() { local s=$1; shift; ip netns exec $s "$BIN/ikectl" --ctl $W/$s.ctl "$@"; }
ipsec_cmd() { local s=$1; shift; IKED_CTL=$W/$s.ctl ip netns exec $s "$BIN/ipsec" "$@"; }
packets_in() { ctl $1 statusall --json | tr -d ' \n' | grep -o '"packets_in":[0-9]*' | head -1 | cut -d: -f2; }

iked_case() {
  local c=$1 ike esp why=""
  case $c in
    gcm) ike=aes128gcm16-prfsha256-x25519! esp=aes128gcm16! ;;
    cbc) ike=aes256-sha256-modp2048! esp=aes256-sha256-modp2048! ;;
  esac
  CASE=iked-$c
  netns_setup
  for s in left right; do write_conf $s $ike $esp add; write_secrets $s "lab-psk-$c-0123456789"; done
  start_iked left || { result "$CASE FAIL (iked left did not start)"; return; }
  start_iked right || { result "$CASE FAIL (iked right did not start)"; stop_iked left; return; }
  ctl left up net-net || why+="up failed; "
  local pingout; pingout=$(ping_tunnel 2>&1); echo "$pingout"
  echo "$pingout" | grep -q ' 0% packet loss' || why+="ping failed; "
  show_kernel
  local pl pr; pl=$(packets_in left); pr=$(packets_in right)
  [ "${pl:-0}" -ge 3 ] && [ "${pr:-0}" -ge 3 ] || why+="inbound packets left=${pl:-?} right=${pr:-?}; "
  for s in left right; do
    echo "--- $s: ipsec status"; ipsec_cmd $s status | tee $W/st-$s
    echo "--- $s: ipsec statusall"; ipsec_cmd $s statusall
    grep -Eq 'net-net.*ESTABLISHED.*(moon.*sun|sun.*moon)' $W/st-$s || why+="$s: no ESTABLISHED line; "
    grep -Eq 'net-net[{]1}.*INSTALLED, TUNNEL' $W/st-$s || why+="$s: no INSTALLED, TUNNEL line; "
  done
  echo "--- ipsec down"; ipsec_cmd left down net-net || why+="ipsec down failed; "
  sleep 0.5
  kernel_empty left || why+="left kernel not empty after down; "
  kernel_empty right || why+="right kernel not empty after down (DELETE not seen?); "
  ctl left up net-net || why+="second up failed; "
  ping_tunnel >/dev/null 2>&1 || why+="second ping failed; "
  echo "--- SIGTERM left"; stop_iked left; sleep 0.5
  grep -q 'SIGTERM' "$OUT/iked-$CASE-left.log" || why+="no SIGTERM log line; "
  kernel_empty left || why+="left kernel not empty after SIGTERM; "
  kernel_empty right || why+="right kernel not empty after left's SIGTERM; "
  stop_iked right
  if [ -z "$why" ]; then result "$CASE PASS (ping 3/3, inbound packets left=$pl right=$pr, status regexes, down and SIGTERM leave both kernels empty)"
  else result "$CASE FAIL ($why)"; fi
}

badpsk_case() {
  CASE=iked-badpsk
  local why=""
  netns_setup
  for s in left right; do write_conf $s aes128gcm16-prfsha256-x25519! aes128gcm16! add; done
  write_secrets left "one-psk-0123456789"; write_secrets right "another-psk-0123456789"
  start_iked left && start_iked right || why+="start failed; "
  if ctl left up net-net; then why+="up succeeded with a wrong PSK; "; fi
  sleep 0.5
  grep -q AUTHENTICATION_FAILED "$OUT/iked-$CASE-left.log" || why+="left did not log AUTHENTICATION_FAILED; "
  grep -qi 'authentication.*failed\|AUTHENTICATION_FAILED' "$OUT/iked-$CASE-right.log" || why+="right did not log the failure; "
  kernel_empty left || why+="left kernel not empty; "
  kernel_empty right || why+="right kernel not empty; "
  stop_iked left; stop_iked right
  if [ -z "$why" ]; then result "$CASE PASS (up fails, AUTHENTICATION_FAILED logged on both, both kernels empty)"
  else result "$CASE FAIL ($why)"; fi
}

natt_v6_case() { # natt | v6 | 4in6 | 6in4
  local c=$1 why="" extra=""
  CASE=iked-$c
  netns_setup
  [ $c = natt ] && extra="forceencaps=yes"
  [ $c = v6 ] && export V6=1
  case $c in 4in6|6in4) export MIX=$c ;; esac
  for s in left right; do write_conf $s aes128gcm16-prfsha256-x25519! aes128gcm16! add "$extra"; write_secrets $s "$c-psk-0123456789"; done
  unset V6 MIX
  start_iked left && start_iked right || why+="start failed; "
  ctl left up net-net || why+="up failed; "
  local pingout
  if [ $c = v6 ] || [ $c = 6in4 ]; then pingout=$(ip netns exec left ping -6 -c 3 -i 0.3 -W 2 -I 2001:db8:a::1 2001:db8:b::1 2>&1)
  else pingout=$(ping_tunnel 2>&1); fi
  echo "$pingout"
  echo "$pingout" | grep -q ' 0% packet loss' || why+="ping failed; "
  show_kernel
  local pl pr; pl=$(packets_in left); pr=$(packets_in right)
  [ "${pl:-0}" -ge 3 ] && [ "${pr:-0}" -ge 3 ] || why+="inbound packets left=${pl:-?} right=${pr:-?}; "
  case $c in
    4in6) ip -n left xfrm state | grep -q '^src 2001:db8:0:1::1 dst 2001:db8:0:1::2' || why+="outer SA not IPv6; "
          ip -n left xfrm policy | grep -q '^src 198.51.100.0/24 dst 203.0.113.0/24' || why+="inner policy not IPv4; " ;;
    6in4) ip -n left xfrm state | grep -q '^src 192.0.2.1 dst 192.0.2.2' || why+="outer SA not IPv4; "
          ip -n left xfrm policy | grep -q '^src 2001:db8:a::/64 dst 2001:db8:b::/64' || why+="inner policy not IPv6; " ;;
  esac
  for s in left right; do
    ipsec_cmd $s statusall | tee $W/st-$s
    grep -Eq 'net-net[{]1}.*INSTALLED, TUNNEL' $W/st-$s || why+="$s: not INSTALLED; "
    if [ $c = natt ]; then
      grep -Eq 'net-net.*INSTALLED, TUNNEL.*ESP in UDP' $W/st-$s || why+="$s: no ESP in UDP; "
      ip -n $s xfrm state | grep -q 'encap type espinudp sport 4500 dport 4500' || why+="$s: SA without UDP encapsulation; "
    fi
  done
  ipsec_cmd left down net-net || why+="down failed; "
  sleep 0.5
  kernel_empty left || why+="left kernel not empty; "
  kernel_empty right || why+="right kernel not empty; "
  stop_iked left; stop_iked right
  if [ -z "$why" ]; then result "$CASE PASS (ping 3/3, inbound packets left=$pl right=$pr, down leaves both kernels empty)"
  else result "$CASE FAIL ($why)"; fi
}

route_case() {
  CASE=iked-route
  local why=""
  netns_setup
  # An explicit reqid: the trap's template then names the CHILD_SA's reqid, and the
  # kernel's acquire state is consumed when the SA is installed (without it, that
  # larval state lingers for net.core.xfrm_acq_expires, 30 s).
  write_conf left aes128gcm16-prfsha256-x25519! aes128gcm16! route reqid=7
  write_conf right aes128gcm16-prfsha256-x25519! aes128gcm16! add reqid=7
  for s in left right; do write_secrets $s "route-psk-0123456789"; done
  start_iked left && start_iked right || why+="start failed; "
  sleep 0.5
  echo "--- left policies before traffic"; ip -n left xfrm policy
  local np ns; np=$(tunnel_policies left); ns=$(ip -n left xfrm state | grep -c '^src')
  [ "$np" = 3 ] && [ "$ns" = 0 ] || why+="expected 3 trap policies (out, in, fwd) and no SA before traffic (got $np/$ns); "
  ipsec_cmd left status | tee $W/st-route
  grep -Eq 'net-net[{]7}:  ROUTED, TUNNEL, reqid 7' $W/st-route || why+="no ROUTED line; "
  ip netns exec left ping -c 8 -i 0.5 -W 2 -I 198.51.100.1 203.0.113.1
  local pingout; pingout=$(ping_tunnel 2>&1); echo "$pingout"
  echo "$pingout" | grep -q ' 0% packet loss' || why+="ping after ACQUIRE failed; "
  show_kernel
  local pl; pl=$(packets_in left)
  [ "${pl:-0}" -ge 3 ] || why+="inbound packets ${pl:-?}; "
  ipsec_cmd left status | tee $W/st-left
  grep -Eq 'net-net[{][0-9]+}.*INSTALLED, TUNNEL' $W/st-left || why+="no INSTALLED line; "
  grep -q 'creating acquire job' "$OUT/iked-$CASE-left.log" || why+="no ACQUIRE log line; "
  ipsec_cmd left down net-net || why+="down failed; "
  sleep 0.5
  np=$(tunnel_policies left); ns=$(ip -n left xfrm state | grep -c '^src')
  echo "after down: $np policies, $ns SAs"; ip -n left xfrm policy
  [ "$np" = 3 ] && [ "$ns" = 0 ] || why+="expected only the trap (3 policies) after down (got $np policies, $ns SAs); "
  # strongSwan's `ipsec unroute` / `ipsec route`
  ipsec_cmd left unroute net-net | tee $W/unroute; grep -q "configuration 'net-net' unrouted" $W/unroute || why+="unroute: wrong answer; "
  np=$(tunnel_policies left); echo "after unroute: $np policies"
  [ "$np" = 0 ] || why+="unroute left $np policies; "
  ipsec_cmd left route net-net | tee $W/route; grep -q "'net-net' routed" $W/route || why+="route: wrong answer; "
  np=$(tunnel_policies left); echo "after route: $np policies"
  [ "$np" = 3 ] || why+="route installed $np policies, not 3; "
  ipsec_cmd left status | grep -Eq 'net-net[{]7}:  ROUTED, TUNNEL, reqid 7' || why+="no ROUTED line after ipsec route; "
  stop_iked left; sleep 0.3
  kernel_empty left || why+="left kernel not empty after SIGTERM; "
  kernel_empty right || why+="right kernel not empty; "
  stop_iked right
  if [ -z "$why" ]; then result "$CASE PASS (trap only, ping -> ACQUIRE -> tunnel, inbound packets $pl, down keeps the trap, SIGTERM removes it)"
  else result "$CASE FAIL ($why)"; fi
}

# strongSwan (charon-systemd + swanctl) in the right namespace.
start_swan() { # auto: start|none
  local d=$W/swan; rm -rf $d; mkdir -p $d
  cat >$d/strongswan.conf <<EOF
charon-systemd {
  load = random nonce aes sha1 sha2 hmac gcm kdf openssl curve25519 gmp pem pkcs1 x509 pubkey kernel-netlink socket-default vici
  install_routes = no
  plugins { vici { socket = unix://$d/vici } }
  filelog { swan { path = $OUT/swan-$CASE.log
    default = 1
    ike = 2
    knl = 2 } }
}
EOF
  cat >$d/swanctl.conf <<EOF
connections {
  net-net {
    local_addrs = 192.0.2.2
    remote_addrs = 192.0.2.1
    proposals = $2
    local { auth = psk
      id = sun }
    remote { auth = psk
      id = moon }
    children {
      net-net {
        local_ts = 203.0.113.0/24
        remote_ts = 198.51.100.0/24
        esp_proposals = $3
        start_action = $1
      }
    }
  }
}
secrets { ike-1 { id-1 = moon
  id-2 = sun
  secret = "$4" } }
EOF
  ip netns exec right env STRONGSWAN_CONF=$d/strongswan.conf /usr/sbin/charon-systemd >$d/out 2>&1 &
  echo $! >$W/swan.pid
  for _ in $(seq 50); do [ -S $d/vici ] && break; sleep 0.2; done
  ip netns exec right swanctl --load-all --file $d/swanctl.conf --uri unix://$d/vici
}
swanctl() { ip netns exec right /usr/sbin/swanctl "$@" --uri unix://$W/swan/vici; }

swan_case() { # init: iked initiates; resp: strongSwan initiates
  local dir=$1 why=""
  CASE=swan-$dir
  netns_setup
  write_conf left aes128gcm16-prfsha256-x25519! aes128gcm16! add
  write_secrets left "swan-psk-0123456789abcdef"
  start_iked left || why+="iked did not start; "
  start_swan none aes128gcm16-prfsha256-x25519 aes128gcm16 "swan-psk-0123456789abcdef" || why+="swanctl load failed; "
  if [ $dir = init ]; then
    ctl left up net-net || why+="ikectl up failed; "
  else
    swanctl --initiate --child net-net --timeout 30 || why+="swanctl --initiate failed; "
  fi
  local pingout; pingout=$(ping_tunnel 2>&1); echo "$pingout"
  echo "$pingout" | grep -q ' 0% packet loss' || why+="ping failed; "
  show_kernel
  local pl; pl=$(packets_in left)
  [ "${pl:-0}" -ge 3 ] || why+="iked inbound packets ${pl:-?}; "
  echo "--- iked: ipsec status"; ipsec_cmd left status | tee $W/st-left
  grep -Eq 'net-net[{][0-9]+}.*INSTALLED, TUNNEL' $W/st-left || why+="iked: no INSTALLED line; "
  echo "--- strongSwan: swanctl --list-sas"; swanctl --list-sas | tee $W/st-swan
  grep -q 'ESTABLISHED' $W/st-swan || why+="strongSwan: not ESTABLISHED; "
  grep -q 'INSTALLED' $W/st-swan || why+="strongSwan: child not INSTALLED; "
  echo "--- ipsec down (iked)"; ipsec_cmd left down net-net || why+="ipsec down failed; "
  sleep 1
  kernel_empty left || why+="iked's kernel not empty after down; "
  swanctl --list-sas | grep -q ESTABLISHED && why+="strongSwan still has the IKE_SA after iked's DELETE; "
  stop_iked left
  kill -TERM "$(cat $W/swan.pid)" 2>/dev/null; sleep 1
  if [ -z "$why" ]; then result "$CASE PASS (ping 3/3, iked inbound packets $pl, both show the SA, iked's down deletes it on both)"
  else result "$CASE FAIL ($why)"; fi
}

# strongSwan's starter (ipsec.conf, stroke) in the right namespace; the guest's /etc is a
# throw-away overlay, so its files are written in place.
starter_case() { # init: iked initiates; resp: strongSwan initiates
  local dir=$1 why=""
  CASE=starter-$dir
  netns_setup
  write_conf left aes256-sha256-modp2048! aes256-sha256-modp2048! add
  write_secrets left "starter-psk-0123456789abcdef"
  cat >/etc/ipsec.conf <<EOF
config setup
  charondebug="ike 2, knl 2"
conn net-net
  left=192.0.2.2
  leftsubnet=203.0.113.0/24
  leftid=sun
  right=192.0.2.1
  rightsubnet=198.51.100.0/24
  rightid=moon
  authby=secret
  keyexchange=ikev2
  ike=aes256-sha256-modp2048!
  esp=aes256-sha256-modp2048!
  auto=add
EOF
  printf 'moon sun : PSK "starter-psk-0123456789abcdef"\n' >/etc/ipsec.secrets; chmod 600 /etc/ipsec.secrets
  cat >/etc/strongswan.conf <<EOF
charon {
  load_modular = yes
  install_routes = no
  filelog { swan { path = $OUT/starter-$dir.log
    default = 1
    ike = 2
    knl = 2 } }
  plugins { include strongswan.d/charon/*.conf }
}
EOF
  start_iked left || why+="iked did not start; "
  ip netns exec right /usr/sbin/ipsec start || why+="strongSwan ipsec start failed; "
  # The starter adds the conn to charon asynchronously: wait until charon lists it.
  for _ in $(seq 100); do ip netns exec right /usr/sbin/ipsec statusall 2>/dev/null | grep -q '^ *net-net:  192.0.2.2' && break; sleep 0.3; done
  if [ $dir = init ]; then
    ctl left up net-net || why+="ikectl up failed; "
  else
    ip netns exec right /usr/sbin/ipsec up net-net || why+="strongSwan ipsec up failed; "
    sleep 0.5
  fi
  local pingout; pingout=$(ping_tunnel 2>&1); echo "$pingout"
  echo "$pingout" | grep -q ' 0% packet loss' || why+="ping failed; "
  show_kernel
  local pl; pl=$(packets_in left)
  [ "${pl:-0}" -ge 3 ] || why+="iked inbound packets ${pl:-?}; "
  echo "--- iked: ipsec status"; ipsec_cmd left status | tee $W/st-left
  grep -Eq 'net-net[{][0-9]+}.*INSTALLED, TUNNEL' $W/st-left || why+="iked: no INSTALLED line; "
  echo "--- strongSwan: ipsec statusall"; ip netns exec right /usr/sbin/ipsec statusall | tee $W/st-swan
  grep -Eq 'net-net.*ESTABLISHED.*sun.*moon' $W/st-swan || why+="strongSwan: not ESTABLISHED; "
  grep -Eq 'net-net[{][0-9]+}.*INSTALLED, TUNNEL' $W/st-swan || why+="strongSwan: child not INSTALLED; "
  echo "--- ipsec down (iked)"; ipsec_cmd left down net-net || why+="ipsec down failed; "
  sleep 1
  kernel_empty left || why+="iked's kernel not empty after down; "
  ip netns exec right /usr/sbin/ipsec status | grep -q ESTABLISHED && why+="strongSwan still has the IKE_SA after iked's DELETE; "
  stop_iked left
  ip netns exec right /usr/sbin/ipsec stop; sleep 1
  if [ -z "$why" ]; then result "$CASE PASS (ping 3/3, iked inbound packets $pl, both ipsec status show the SA, iked's down deletes it on both)"
  else result "$CASE FAIL ($why)"; fi
}

# Route-based (VTI with mark=6, XFRM interface with if_id 42) and GRE-over-IPsec transport mode:
# iked (left, initiator) <-> strongSwan's starter (right) from ONE literal ipsec.conf, which both
# daemons read (each picks its local end). The interface and its routes are made by this script.
# iked-xfrmi runs iked on both sides: Debian's starter (5.9.8) rejects if_id_in/if_id_out
# ("unknown keyword") and would install plain policy-based 0/0 policies.
in_packets() { # ns dst -> inbound packet counter of the SA towards dst (kernel), 0 if none
  local n; n=$(in_packets_raw "$@"); case $n in ''|*[!0-9]*) echo 0 ;; *) echo "$n" ;; esac
}
in_packets_raw() {
  ip -n "$1" -s xfrm state | awk -v d="$2" '/^src/{m=($4==d)} m && /^[ \t]*[0-9]+\(bytes\), *[0-9]+\(packets\)/{sub(/.*\(bytes\), */,""); sub(/\(packets\).*/,""); print; exit}'
}
rb_conf() { # vti | vti6 | xfrmi | gre -> $W/rb.conf
  local body
  case $1 in
    vti6) body="  leftsubnet=::/0
  rightsubnet=::/0
  mark=6" ;;
    vti) body="  leftsubnet=0.0.0.0/0
  rightsubnet=0.0.0.0/0
  mark=6" ;;
    xfrmi) body="  leftsubnet=0.0.0.0/0
  rightsubnet=0.0.0.0/0
  if_id_in=42
  if_id_out=42" ;;
    gre) body="  type=transport
  leftprotoport=gre
  rightprotoport=gre" ;;
  esac
  cat >$W/rb.conf <<EOF
config setup
  charondebug="ike 2, knl 2, chd 2, cfg 1"
conn rb
  left=$LA
  leftid=moon
  right=$RA
  rightid=sun
$body
  authby=secret
  keyexchange=ikev2
  ike=aes256gcm16-prfsha384-ecp384!
  esp=aes256gcm16-ecp384!
  keyingtries=%forever
  mobike=no
  auto=add
EOF
}
rb_links() { # vti | vti6 | xfrmi | gre: the interface on both sides, inner routes through it
  local c=$1 s me peer dst src
  for s in left right; do
    if [ $s = left ]; then me=$LA peer=$RA dst=$RNET src=$LIN
    else me=$RA peer=$LA dst=$LNET src=$RIN; fi
    case $c in
      vti6) ip -n $s -6 tunnel add vti6x mode vti6 local $me remote $peer key 6
            ip netns exec $s sysctl -qw net.ipv6.conf.vti6x.disable_policy=1 || echo "no ipv6 disable_policy"
            ip -n $s link set vti6x up; ip -n $s -6 route replace $dst dev vti6x src $src ;;
      vti) ip -n $s tunnel add vti0 local $me remote $peer mode vti key 6
           ip netns exec $s sysctl -qw net.ipv4.conf.vti0.disable_policy=1
           ip -n $s link set vti0 up; ip -n $s route replace $dst dev vti0 src $src ;;
      xfrmi) ip -n $s link add ipsec42 type xfrm dev $([ $s = left ] && echo vl || echo vr) if_id 42
             ip -n $s link set ipsec42 up; ip -n $s route replace $dst dev ipsec42 src $src ;;
      gre) ip -n $s tunnel add gre1 mode gre local $me remote $peer
           # no IPv6 on gre1: its router solicitations would be GRE (ESP-protected) noise
           ip netns exec $s sysctl -qw net.ipv6.conf.gre1.disable_ipv6=1
           ip -n $s link set gre1 up; ip -n $s route replace $dst dev gre1 src $src ;;
    esac
  done
}
rb_swanctl() { # strongSwan via swanctl (if_id_in/if_id_out, which the starter lacks) on the right
  local d=$W/swan ts=0.0.0.0/0 extra=""; rm -rf $d; mkdir -p $d
  [ $1 = vti6 ] && ts=::/0
  case $1 in vti|vti6) extra="mark_in = 6
        mark_out = 6" ;; xfrmi) extra="if_id_in = 42
        if_id_out = 42" ;; esac
  cat >$d/strongswan.conf <<EOF
charon-systemd {
  load = random nonce aes sha1 sha2 hmac gcm kdf openssl curve25519 gmp pem pkcs1 x509 pubkey kernel-netlink socket-default vici
  install_routes = no
  plugins { vici { socket = unix://$d/vici } }
  filelog { swan { path = $OUT/swan-$CASE.log
    default = 1
    ike = 2
    knl = 2 } }
}
EOF
  cat >$d/swanctl.conf <<EOF
connections {
  rb {
    local_addrs = $RA
    remote_addrs = $LA
    proposals = aes256gcm16-prfsha384-ecp384
    mobike = no
    keyingtries = 0
    local { auth = psk
      id = sun }
    remote { auth = psk
      id = moon }
    children {
      rb {
        local_ts = $ts
        remote_ts = $ts
        esp_proposals = aes256gcm16-ecp384
        $extra
        start_action = none
      }
    }
  }
}
secrets { ike-1 { id-1 = moon
  id-2 = sun
  secret = "rb-$1-psk-0123456789abcdef" } }
EOF
  ip netns exec right env STRONGSWAN_CONF=$d/strongswan.conf /usr/sbin/charon-systemd >$d/out 2>&1 &
  echo $! >$W/swan.pid
  for _ in $(seq 50); do [ -S $d/vici ] && break; sleep 0.2; done
  ip netns exec right swanctl --load-all --file $d/swanctl.conf --uri unix://$d/vici
}
rb_case() { # vti | vti6 | xfrmi | gre, then init (iked initiates) | resp (the peer initiates), then peer
  local c=$1 dir=${2:-init} peer=${3:-} why="" dev
  CASE=iked-$c; [ $dir = resp ] && CASE=iked-$c-resp
  LA=192.0.2.1 RA=192.0.2.2 LNET=198.51.100.0/24 RNET=203.0.113.0/24 LIN=198.51.100.1 RIN=203.0.113.1
  [ $c = vti6 ] && { LA=2001:db8:0:1::1 RA=2001:db8:0:1::2 LNET=2001:db8:a::/64 RNET=2001:db8:b::/64 LIN=2001:db8:a::1 RIN=2001:db8:b::1; }
  netns_setup
  rb_links $c || why+="interface setup failed; "
  case $c in vti) dev=vti0 ;; vti6) dev=vti6x ;; xfrmi) dev=ipsec42 ;; gre) dev=gre1 ;; esac
  ip -n left -d link show $dev; ip -n left route
  rb_conf $c
  cp $W/rb.conf $W/left.conf; write_secrets left "rb-$c-psk-0123456789abcdef"
  [ -n "$peer" ] || { peer=starter; [ $c = xfrmi ] && peer=iked; }
  [ $peer = swanctl ] && { CASE=iked-$c-swan; [ $dir = resp ] && CASE=iked-$c-swan-resp; }
  if [ $peer = iked ]; then cp $W/rb.conf $W/right.conf; write_secrets right "rb-$c-psk-0123456789abcdef"; fi
  cp $W/rb.conf /etc/ipsec.conf
  printf 'moon sun : PSK "rb-%s-psk-0123456789abcdef"\n' $c >/etc/ipsec.secrets; chmod 600 /etc/ipsec.secrets
  cat >/etc/strongswan.conf <<EOF
charon {
  load_modular = yes
  install_routes = no
  filelog { swan { path = $OUT/swan-$CASE.log
    default = 1
    ike = 2
    knl = 2 } }
  plugins { include strongswan.d/charon/*.conf }
}
EOF
  start_iked left || why+="iked did not start; "
  if [ $peer = iked ]; then start_iked right || why+="iked right did not start; "
  elif [ $peer = swanctl ]; then rb_swanctl $c || why+="swanctl load failed; "
  else
    ip netns exec right /usr/sbin/ipsec start || why+="strongSwan ipsec start failed; "
    for _ in $(seq 100); do ip netns exec right /usr/sbin/ipsec statusall 2>/dev/null | grep -q "^ *rb:  $RA" && break; sleep 0.3; done
  fi
  if [ $dir = init ]; then ctl left up rb || why+="ikectl up failed; "
  elif [ $peer = iked ]; then ctl right up rb || why+="ikectl up (right) failed; "
  elif [ $peer = swanctl ]; then swanctl --initiate --child rb --timeout 30 || why+="swanctl --initiate failed; "
  else ip netns exec right /usr/sbin/ipsec up rb || why+="strongSwan ipsec up failed; "; fi
  sleep 0.5
  local bl br al ar
  bl=$(in_packets left $LA); br=$(in_packets right $RA)
  echo "inbound packets before ping: left=${bl:-?} right=${br:-?}"
  local pingout; pingout=$(ip netns exec left ping -c 5 -i 0.3 -W 2 -I $LIN $RIN 2>&1); echo "$pingout"
  echo "$pingout" | grep -q ' 0% packet loss' || why+="ping across $dev failed; "
  al=$(in_packets left $LA); ar=$(in_packets right $RA)
  echo "inbound packets after ping: left=${al:-?} right=${ar:-?}"
  [ "${al:-0}" -ge $(( ${bl:-0} + 5 )) ] || why+="left inbound counter did not rise by 5 (${bl:-?} -> ${al:-?}); "
  [ "${ar:-0}" -ge $(( ${br:-0} + 5 )) ] || why+="right inbound counter did not rise by 5 (${br:-?} -> ${ar:-?}); "
  show_kernel
  ip -s -n left link show $dev
  for s in left right; do
    local pol; pol=$(ip -n $s xfrm policy)
    case $c in
      # strongSwan marks the policies (in, fwd, out) and the outbound SA only (mark_in_sa=no)
      vti|vti6) [ "$(echo "$pol" | grep -c 'mark 0x6/0xffffffff')" = 3 ] || why+="$s: not 3 policies with mark 0x6/0xffffffff; "
           [ "$(ip -n $s xfrm state | grep -c 'mark 0x6/0xffffffff')" = 1 ] || why+="$s: not exactly the outbound SA with mark 0x6/0xffffffff; " ;;
      xfrmi) [ "$(echo "$pol" | grep -c 'if_id 0x2a')" -ge 2 ] || why+="$s: policies without if_id 0x2a; "
             [ "$(ip -n $s xfrm state | grep -c 'if_id 0x2a')" -ge 2 ] || why+="$s: SAs without if_id 0x2a; " ;;
      gre) [ "$(echo "$pol" | grep -c 'proto gre')" -ge 2 ] || why+="$s: policies without proto gre selectors; "
           ip -n $s xfrm state | grep -q 'mode transport' || why+="$s: SA not in transport mode; " ;;
    esac
  done
  if [ $c = gre ]; then # traffic outside GRE is not protected: a direct ping leaves the counters alone
    local b2 a2; b2=$(in_packets right 192.0.2.2)
    ip netns exec left ping -c 3 -i 0.3 -W 2 192.0.2.2 >/dev/null 2>&1 || why+="clear ping failed; "
    a2=$(in_packets right 192.0.2.2)
    echo "direct (non-GRE) ping: right inbound ${b2:-?} -> ${a2:-?}"
    [ "${a2:-x}" = "${b2:-y}" ] || why+="non-GRE ping went through the SA (${b2:-?} -> ${a2:-?}); "
  fi
  echo "--- iked: ipsec statusall"; ipsec_cmd left statusall | tee $W/st-left
  grep -Eq "rb[{][0-9]+}.*INSTALLED, $([ $c = gre ] && echo TRANSPORT || echo TUNNEL)" $W/st-left || why+="iked: no INSTALLED line; "
  grep -Eq 'rb[{][0-9]+}:.*[1-9][0-9]* bytes_i \([0-9]+ pkts' $W/st-left || why+="iked statusall: no byte/packet counters; "
  if [ $peer = iked ]; then
    echo "--- right iked: ipsec statusall"; ipsec_cmd right statusall | tee $W/st-swan
  elif [ $peer = swanctl ]; then
    echo "--- strongSwan: swanctl --list-sas"; swanctl --list-sas | sed 's/^\(  rb\): /\1{1}: /' | tee $W/st-swan
  else
    echo "--- strongSwan: ipsec statusall"; ip netns exec right /usr/sbin/ipsec statusall | tee $W/st-swan
  fi
  grep -Eq 'rb[{][0-9]+}.*INSTALLED' $W/st-swan || why+="$peer (right): child not INSTALLED; "
  echo "--- ipsec down (iked)"; ipsec_cmd left down rb || why+="ipsec down failed; "
  sleep 1
  kernel_empty left || why+="iked's kernel not empty after down; "
  [ $peer = iked ] && { kernel_empty right || why+="right iked's kernel not empty after down; "; }
  stop_iked left
  if [ $peer = iked ]; then stop_iked right
  elif [ $peer = swanctl ]; then kill -TERM "$(cat $W/swan.pid)" 2>/dev/null
  else ip netns exec right /usr/sbin/ipsec stop; fi; sleep 1
  if [ -z "$why" ]; then result "$CASE PASS (iked <-> $peer, ping 5/5 over $dev, inbound packets left ${bl:-?}->$al right ${br:-?}->$ar, policies as strongSwan's, statusall counters)"
  else result "$CASE FAIL ($why)"; fi
}

# strongSwan's starter (ipsec.conf + stroke) in namespace $1 from $W/swan.conf; $2 = the conn,
# $3 = PSK ("moon sun : PSK"), or $4 = an ipsec.secrets file to use instead. The guest's /etc
# is a throw-away overlay.
starter_start() {
  cp $W/swan.conf /etc/ipsec.conf
  if [ -n "${4:-}" ]; then cp "$4" /etc/ipsec.secrets
  else printf 'moon sun : PSK "%s"\n' "$3" >/etc/ipsec.secrets; fi
  chmod 600 /etc/ipsec.secrets
  cat >/etc/strongswan.conf <<EOF
charon {
  load_modular = yes
  install_routes = no
  filelog { swan { path = $OUT/swan-$CASE.log
    default = 1
    ike = 2
    knl = 2 } }
  plugins { include strongswan.d/charon/*.conf }
  ${SWAN_CHARON_EXTRA:-}
}
EOF
  ip netns exec $1 /usr/sbin/ipsec start || return 1
  for _ in $(seq 100); do ip netns exec $1 /usr/sbin/ipsec statusall 2>/dev/null | grep -q "^ *$2:  " && return 0; sleep 0.3; done
  echo "starter: conn $2 not loaded"; return 1
}
swan_ipsec() { local ns=$1; shift; ip netns exec $ns /usr/sbin/ipsec "$@"; }

# An updown script that appends its PLUTO_* environment to $W/updown.env and prints one line
# (iked logs it as "updown: ...").
write_updown() {
  : >$W/updown.env
  cat >$W/updown.sh <<EOF
#!/bin/sh
{ echo "== \$PLUTO_VERB"; env | grep '^PLUTO_' | sort; } >>$W/updown.env
echo "\$PLUTO_VERB \$PLUTO_CONNECTION \$PLUTO_MY_CLIENT === \$PLUTO_PEER_CLIENT"
EOF
  chmod 755 $W/updown.sh
}

# IPv6 outside and inside, policy-based net-to-net PSK, auto=route, against the starter:
# init: iked (left) routes, the first ping left->right triggers it, strongSwan answers;
# resp: strongSwan (right) routes, the first ping right->left triggers it, iked answers.
# iked runs leftupdown=$W/updown.sh: its environment is shown and checked.
route6_case() {
  local dir=$1 why="" la=route ra=add trig=left from=2001:db8:a::1 to=2001:db8:b::1
  [ $dir = resp ] && { la=add ra=route trig=right from=2001:db8:b::1 to=2001:db8:a::1; }
  CASE=iked-route6; [ $dir = resp ] && CASE=iked-route6-resp
  netns_setup
  write_updown
  local psk="route6-psk-0123456789abcdef" a
  for a in $la $ra; do
    cat >$W/r6-$a.conf <<EOF
config setup
  charondebug="ike 2, knl 2, chd 2, cfg 1"
conn r6
  left=2001:db8:0:1::1
  leftsubnet=2001:db8:a::/64
  leftid=moon
  leftupdown=$W/updown.sh
  right=2001:db8:0:1::2
  rightsubnet=2001:db8:b::/64
  rightid=sun
  authby=secret
  keyexchange=ikev2
  ike=aes256gcm16-prfsha384-ecp384!
  esp=aes256gcm16!
  auto=$a
EOF
  done
  cp $W/r6-$la.conf $W/left.conf; write_secrets left $psk
  cp $W/r6-$ra.conf $W/swan.conf
  start_iked left || why+="iked did not start; "
  starter_start right r6 $psk || why+="strongSwan did not start; "
  sleep 1
  echo "--- $trig: ip xfrm policy before any traffic"; ip -n $trig xfrm policy | tee $W/pol-before
  local np ns; np=$(grep -c 'tmpl src' $W/pol-before); ns=$(ip -n $trig xfrm state | grep -c '^src')
  echo "$trig before traffic: $np trap policies, $ns SAs"
  # out, in, fwd: strongSwan's traps, and iked's the same
  [ "$np" = 3 ] && [ "$ns" = 0 ] || why+="$trig: expected 3 trap policies and no SA before traffic (got $np/$ns); "
  if [ $dir = init ]; then
    ipsec_cmd left status | tee $W/st-route
    grep -Eq 'r6[{]1}:  ROUTED, TUNNEL, reqid 1' $W/st-route || why+="iked: no ROUTED line; "
  else
    swan_ipsec right status | tee $W/st-route
    grep -Eq 'r6[{][0-9]+}:  ROUTED, TUNNEL' $W/st-route || why+="strongSwan: no ROUTED line; "
  fi
  echo "--- first ping $from -> $to (triggers the tunnel)"
  ip netns exec $trig ping -6 -c 6 -i 0.5 -W 2 -I $from $to
  local pingout; pingout=$(ip netns exec $trig ping -6 -c 3 -i 0.3 -W 2 -I $from $to 2>&1); echo "$pingout"
  echo "$pingout" | grep -q ' 0% packet loss' || why+="ping after ACQUIRE failed; "
  show_kernel
  local pl pr; pl=$(in_packets left 2001:db8:0:1::1); pr=$(in_packets right 2001:db8:0:1::2)
  [ "${pl:-0}" -ge 3 ] && [ "${pr:-0}" -ge 3 ] || why+="inbound packets left=${pl:-?} right=${pr:-?}; "
  echo "--- iked: ipsec statusall"; ipsec_cmd left statusall | tee $W/st-left
  grep -Eq 'r6[{][0-9]+}:  INSTALLED, TUNNEL' $W/st-left || why+="iked: no INSTALLED line; "
  # the packet's /128 is proposed first, the subnets are what both sides settle on
  grep -Eq 'r6[{][0-9]+}:   2001:db8:a::/64 === 2001:db8:b::/64' $W/st-left || why+="iked: CHILD_SA not 2001:db8:a::/64 === 2001:db8:b::/64; "
  echo "--- strongSwan: ipsec statusall"; swan_ipsec right statusall | tee $W/st-swan
  grep -Eq 'r6[{][0-9]+}:  INSTALLED, TUNNEL' $W/st-swan || why+="strongSwan: child not INSTALLED; "
  [ $dir = init ] && { grep -q 'creating acquire job' "$OUT/iked-$CASE-left.log" || why+="iked: no ACQUIRE log line; "; }
  echo "--- iked: ipsec down r6"; ipsec_cmd left down r6 || why+="ipsec down failed; "
  sleep 1
  np=$(tunnel_policies left); ns=$(ip -n left xfrm state | grep -c '^src')
  echo "iked after down: $np policies, $ns SAs"
  if [ $dir = init ]; then [ "$np" = 3 ] && [ "$ns" = 0 ] || why+="iked: expected only the 3 trap policies after down ($np/$ns); "
  else [ "$np" = 0 ] && [ "$ns" = 0 ] || why+="iked: kernel not empty after down ($np/$ns); "; fi
  stop_iked left
  kernel_empty left || why+="iked's kernel not empty after SIGTERM; "
  swan_ipsec right stop; sleep 1
  echo "--- updown environment ($W/updown.env)"; cat $W/updown.env
  grep -q '^== up-client' $W/updown.env || why+="updown: no up-client run; "
  grep -q '^== down-client' $W/updown.env || why+="updown: no down-client run; "
  for v in PLUTO_CONNECTION=r6 PLUTO_ME=2001:db8:0:1::1 PLUTO_PEER=2001:db8:0:1::2 PLUTO_MY_ID=moon PLUTO_PEER_ID=sun \
           PLUTO_MY_CLIENT=2001:db8:a:: PLUTO_PEER_CLIENT=2001:db8:b:: PLUTO_REQID= PLUTO_UNIQUEID= PLUTO_PROTO=esp; do
    grep -q "^$v" $W/updown.env || why+="updown: no $v; "
  done
  grep -q 'updown: up-client-v6 r6' "$OUT/iked-$CASE-left.log" || why+="iked did not log the script's output; "
  if [ -z "$why" ]; then result "$CASE PASS (IPv6, trap policies before traffic on $trig, ping -> ACQUIRE -> tunnel, inbound packets left=$pl right=$pr, updown up/down with PLUTO_* env)"
  else result "$CASE FAIL ($why)"; fi
}

# forceencaps=yes with ike=aes256-sha2_256-modp1024!, esp=aes256-sha2_256! against the starter:
# both SAs UDP-encapsulated on 4500, and on the wire (tcpdump on the link) only UDP 4500, no ESP.
encaps_case() { # init (iked initiates) | resp
  local dir=$1 why=""
  CASE=iked-encaps; [ $dir = resp ] && CASE=iked-encaps-resp
  netns_setup
  local psk="encaps-psk-0123456789abcdef"
  cat >$W/swan.conf <<EOF
config setup
  charondebug="ike 2, knl 2, chd 2, cfg 1"
conn nat
  left=192.0.2.1
  leftsubnet=198.51.100.0/24
  leftid=moon
  right=192.0.2.2
  rightsubnet=203.0.113.0/24
  rightid=sun
  authby=secret
  keyexchange=ikev2
  ike=aes256-sha2_256-modp1024!
  esp=aes256-sha2_256!
  forceencaps=yes
  auto=add
EOF
  cp $W/swan.conf $W/left.conf; write_secrets left $psk
  start_iked left || why+="iked did not start; "
  starter_start right nat $psk || why+="strongSwan did not start; "
  if [ $dir = init ]; then ctl left up nat || why+="ikectl up failed; "
  else swan_ipsec right up nat || why+="strongSwan ipsec up failed; "; sleep 0.5; fi
  # what each side sends on the link (-Q out: the kernel also shows decapsulated inbound
  # packets on the receiving interface, which never were on the wire)
  ip netns exec left tcpdump -ni vl -Q out -U -w $W/encaps-l.pcap 2>$W/tcpdump-l.err & local tl=$!
  ip netns exec right tcpdump -ni vr -Q out -U -w $W/encaps-r.pcap 2>$W/tcpdump-r.err & local tr=$!
  sleep 2
  local pingout; pingout=$(ip netns exec left ping -c 5 -i 0.3 -W 2 -I 198.51.100.1 203.0.113.1 2>&1); echo "$pingout"
  echo "$pingout" | grep -q ' 0% packet loss' || why+="ping failed; "
  sleep 1; kill -INT $tl $tr; wait $tl $tr 2>/dev/null
  local udp=0 esp=0 clear=0 f
  for f in $W/encaps-l.pcap $W/encaps-r.pcap; do
    echo "--- tcpdump -Q out ($(basename $f)):"; tcpdump -nr $f 2>/dev/null | head -8
    udp=$((udp + $(tcpdump -nr $f 'udp port 4500 and greater 100' 2>/dev/null | wc -l)))
    esp=$((esp + $(tcpdump -nr $f 'ip proto 50' 2>/dev/null | wc -l)))
    clear=$((clear + $(tcpdump -nr $f 'icmp' 2>/dev/null | wc -l)))
  done
  echo "sent on the link by both sides: $udp UDP-4500 packets (ESP in UDP), $esp ESP packets, $clear clear ICMP"
  [ "$udp" -ge 10 ] && [ "$esp" = 0 ] && [ "$clear" = 0 ] || why+="wire: udp4500=$udp esp=$esp icmp=$clear; "
  show_kernel
  for s in left right; do
    [ "$(ip -n $s xfrm state | grep -c 'encap type espinudp sport 4500 dport 4500')" = 2 ] || why+="$s: SAs not UDP-encapsulated on 4500; "
  done
  ip -n left xfrm state | grep -q 'enc cbc(aes)' && ip -n left xfrm state | grep -q 'auth-trunc hmac(sha256)' || why+="SAs not aes256-cbc + hmac-sha256; "
  local pl; pl=$(in_packets left 192.0.2.1)
  [ "${pl:-0}" -ge 3 ] || why+="iked inbound packets ${pl:-?}; "
  echo "--- iked: ipsec statusall"; ipsec_cmd left statusall | tee $W/st-left
  grep -Eq 'nat[{][0-9]+}:  INSTALLED, TUNNEL, reqid [0-9]+, ESP in UDP SPIs' $W/st-left || why+="iked: no ESP in UDP line; "
  grep -q 'MODP_1024' $W/st-left || why+="iked: not MODP_1024; "
  echo "--- strongSwan: ipsec statusall"; swan_ipsec right statusall | tee $W/st-swan
  grep -Eq 'nat[{][0-9]+}:  INSTALLED, TUNNEL, reqid [0-9]+, ESP in UDP SPIs' $W/st-swan || why+="strongSwan: no ESP in UDP line; "
  ipsec_cmd left down nat || why+="down failed; "
  sleep 1
  kernel_empty left || why+="iked's kernel not empty after down; "
  stop_iked left; swan_ipsec right stop; sleep 1
  if [ -z "$why" ]; then result "$CASE PASS (forceencaps, aes256-sha2_256-modp1024: SAs encap espinudp 4500/4500 on both, wire: $udp UDP-4500 / $esp ESP / $clear clear, ping 3/3)"
  else result "$CASE FAIL ($why)"; fi
}

# A real NAT: left -- nat (iptables MASQUERADE, UDP source ports 40000-40099) -- right.
# left 192.0.2.1/25 (private side), nat 192.0.2.126/25 + 192.0.2.129/25, right 192.0.2.130/25;
# right has no route to 192.0.2.0/25: it sees only the NAT's address.
nat_setup() {
  for ns in left nat right; do ip netns del $ns 2>/dev/null; ip netns add $ns; ip -n $ns link set lo up; done
  ip link add vl netns left type veth peer name nl netns nat
  ip link add nr netns nat type veth peer name vr netns right
  ip -n left addr add 192.0.2.1/25 dev vl; ip -n left link set vl up
  ip -n nat addr add 192.0.2.126/25 dev nl; ip -n nat link set nl up
  ip -n nat addr add 192.0.2.129/25 dev nr; ip -n nat link set nr up
  ip -n right addr add 192.0.2.130/25 dev vr; ip -n right link set vr up
  ip -n left addr add 198.51.100.1/32 dev lo; ip -n right addr add 203.0.113.1/32 dev lo
  ip -n left route add default via 192.0.2.126
  ip -n left route add 203.0.113.0/24 via 192.0.2.126 src 198.51.100.1
  ip -n right route add 198.51.100.0/24 via 192.0.2.129 src 203.0.113.1
  ip netns exec nat sysctl -qw net.ipv4.ip_forward=1
  ip netns exec nat iptables -t nat -A POSTROUTING -o nr -p udp -j MASQUERADE --to-ports 40000-40099
  ip netns exec nat iptables -t nat -A POSTROUTING -o nr -j MASQUERADE
}
nat_conf() { # left address (192.0.2.1 or %any) -> stdout
  cat <<EOF
config setup
  charondebug="ike 2, knl 2, chd 2, cfg 1, net 1"
conn nat
  left=$1
  leftsubnet=198.51.100.0/24
  leftid=moon
  right=192.0.2.130
  rightsubnet=203.0.113.0/24
  rightid=sun
  authby=secret
  keyexchange=ikev2
  ike=aes128gcm16-prfsha256-ecp256!
  esp=aes128gcm16!
  auto=add
EOF
}

# init: iked behind the NAT (left) initiates to strongSwan (right, left=%any);
# resp: strongSwan behind the NAT initiates to iked (right, left=%any).
# Then the NAT's mapping changes (other port range, conntrack -F): the next ESP from left
# arrives from a new port, the right kernel reports XFRM_MSG_MAPPING and the right daemon
# moves its SAs there (for resp: iked, which must also move its IKE_SA).
nat_case() {
  local dir=$1 why=""
  CASE=iked-nat; [ $dir = resp ] && CASE=iked-nat-resp
  nat_setup
  local psk="nat-psk-0123456789abcdef"
  if [ $dir = init ]; then
    nat_conf 192.0.2.1 >$W/left.conf; write_secrets left $psk; nat_conf %any >$W/swan.conf
    start_iked left || why+="iked did not start; "
    starter_start right nat $psk || why+="strongSwan did not start; "
    ctl left up nat || why+="ikectl up failed; "
  else
    nat_conf %any >$W/right.conf; write_secrets right $psk; nat_conf 192.0.2.1 >$W/swan.conf
    start_iked right || why+="iked did not start; "
    starter_start left nat $psk || why+="strongSwan did not start; "
    swan_ipsec left up nat || why+="strongSwan ipsec up failed; "
  fi
  sleep 0.5
  local pingout; pingout=$(ping_tunnel 2>&1); echo "$pingout"
  echo "$pingout" | grep -q ' 0% packet loss' || why+="ping through the NAT failed; "
  echo "--- nat: conntrack"; ip netns exec nat conntrack -L 2>/dev/null
  show_kernel
  local p1; p1=$(ip -n right xfrm state | sed -n 's/.*encap type espinudp sport \([0-9]*\) dport 4500.*/\1/p' | head -1)
  echo "right sees the peer at 192.0.2.129:${p1:-?}"
  case "$p1" in 400[0-9][0-9]) ;; *) why+="right's inbound SA not from the NAT's port range (${p1:-none}); " ;; esac
  ip -n left xfrm state | grep -q 'encap type espinudp sport 4500 dport 4500' || why+="left: SA not UDP-encapsulated; "
  if [ $dir = init ]; then
    ipsec_cmd left statusall | tee $W/st-iked
  else
    ipsec_cmd right statusall | tee $W/st-iked
  fi
  grep -Eq 'nat[{][0-9]+}:  INSTALLED, TUNNEL, reqid [0-9]+, ESP in UDP SPIs' $W/st-iked || why+="iked: no ESP in UDP line; "
  local ka=""
  if [ $dir = init ]; then # iked is behind the NAT: it keeps the mapping alive (one 0xff octet, every 20 s)
    ip netns exec nat tcpdump -ni nl -U -w $W/ka.pcap 'udp and src host 192.0.2.1 and dst port 4500' 2>/dev/null & local tk=$!
    sleep 25; kill -INT $tk; wait $tk 2>/dev/null
    ka=$(tcpdump -nr $W/ka.pcap 'udp[4:2] = 9 and udp[8] = 0xff' 2>/dev/null | wc -l)
    echo "NAT-T keepalives from iked in 25 idle seconds: $ka"; tcpdump -nr $W/ka.pcap 2>/dev/null | head -3
    [ "$ka" -ge 1 ] || why+="no NAT-T keepalive from iked in 25 s; "
  fi
  echo "--- the NAT's mapping changes (ports 41000-41099, conntrack -F)"
  ip netns exec nat iptables -t nat -R POSTROUTING 1 -o nr -p udp -j MASQUERADE --to-ports 41000-41099
  ip netns exec nat conntrack -F 2>&1
  ip netns exec left ping -c 4 -i 0.5 -W 2 -I 198.51.100.1 203.0.113.1
  sleep 1
  pingout=$(ping_tunnel 2>&1); echo "$pingout"
  echo "$pingout" | grep -q ' 0% packet loss' || why+="ping after the mapping change failed; "
  echo "--- nat: conntrack"; ip netns exec nat conntrack -L 2>/dev/null
  echo "--- right: ip xfrm state"; ip -n right xfrm state | redact
  local p2 o2
  p2=$(ip -n right xfrm state | sed -n 's/.*encap type espinudp sport \([0-9]*\) dport 4500.*/\1/p' | head -1)
  o2=$(ip -n right xfrm state | sed -n 's/.*encap type espinudp sport 4500 dport \([0-9]*\).*/\1/p' | head -1)
  echo "right now sees the peer at 192.0.2.129:${p2:-?} and sends to port ${o2:-?}"
  case "$p2" in 410[0-9][0-9]) ;; *) why+="right's inbound SA did not move to the new port (${p2:-none}); " ;; esac
  [ "${o2:-x}" = "${p2:-y}" ] || why+="right's outbound SA not moved (${o2:-?} vs ${p2:-?}); "
  if [ $dir = resp ]; then
    grep 'NAT mapping' "$OUT/iked-$CASE-right.log"
    grep -q 'NAT mappings of ESP CHILD_SA' "$OUT/iked-$CASE-right.log" || why+="iked: no MAPPING log line; "
    grep -q 'NAT mapping of the peer changed' "$OUT/iked-$CASE-right.log" || why+="iked: IKE_SA did not follow the mapping; "
    local r; r=$(ctl right statusall --json | tr -d ' \n' | grep -o '"remote":"[^"]*"' | head -1); echo "iked's IKE_SA: $r"
    echo "$r" | grep -q ":$p2\"" || why+="iked's IKE_SA remote is not the new port ($r); "
    ipsec_cmd right statusall
  else
    swan_ipsec right statusall
    grep -i 'mapping' "$OUT/swan-$CASE.log" | head -3
  fi
  if [ $dir = init ]; then ipsec_cmd left down nat || why+="down failed; "; sleep 1; kernel_empty left || why+="left kernel not empty; "
  else ipsec_cmd right down nat || why+="down failed; "; sleep 1; kernel_empty right || why+="right kernel not empty; "; fi
  stop_iked left; stop_iked right
  swan_ipsec $([ $dir = init ] && echo right || echo left) stop; sleep 1
  ip netns del nat 2>/dev/null
  if [ -z "$why" ]; then result "$CASE PASS (through MASQUERADE: peer at 192.0.2.129:$p1, ping 3/3;${ka:+ $ka keepalive(s) in 25 s;} mapping changed -> 192.0.2.129:$p2, SAs moved, ping 3/3)"
  else result "$CASE FAIL ($why)"; fi
}

# Shunts: iked <-> iked with one ipsec.conf holding a tunnel (198.51.100.0/24 === 203.0.113.0/24)
# and two auto=route shunts inside it: type=passthrough for 203.0.113.2 (cleartext on the wire,
# SA counters unchanged) and type=drop for 203.0.113.3 (nothing leaves). `ipsec status` lists
# them under "Shunted Connections:" as strongSwan does; SIGTERM removes every policy.
shunt_case() {
  CASE=iked-shunt
  local why=""
  netns_setup
  ip -n right addr add 203.0.113.2/32 dev lo; ip -n right addr add 203.0.113.3/32 dev lo
  for s in left right; do
    write_conf $s aes128gcm16-prfsha256-x25519! aes128gcm16! add
    cat >>$W/$s.conf <<EOF
conn pass
  left=192.0.2.1
  leftsubnet=198.51.100.0/24
  right=192.0.2.2
  rightsubnet=203.0.113.2/32
  authby=never
  type=passthrough
  auto=route
conn block
  left=192.0.2.1
  leftsubnet=198.51.100.0/24
  right=192.0.2.2
  rightsubnet=203.0.113.3/32
  authby=never
  type=drop
  auto=route
EOF
    write_secrets $s "shunt-psk-0123456789abcdef"
  done
  start_iked left && start_iked right || why+="start failed; "
  ctl left up net-net || why+="up failed; "
  echo "--- left: ip xfrm policy"; ip -n left xfrm policy | tee $W/pol-left
  [ "$(grep -c 'action block' $W/pol-left)" = 3 ] || why+="left: not 3 block policies; "
  ipsec_cmd left status | tee $W/st-left
  grep -Eq '^ +pass:  198.51.100.0/24 === 203.0.113.2/32 PASS$' $W/st-left || why+="no PASS shunt line; "
  grep -Eq '^ +block:  198.51.100.0/24 === 203.0.113.3/32 DROP$' $W/st-left || why+="no DROP shunt line; "
  grep -q '^Shunted Connections:' $W/st-left || why+="no Shunted Connections section; "
  ip netns exec left tcpdump -ni vl -Q out -U -w $W/shunt.pcap 2>$W/tcpdump-s.err & local tp=$!
  sleep 2
  local b a p1 p2 p3
  b=$(in_packets right 192.0.2.2)
  p1=$(ip netns exec left ping -c 3 -i 0.3 -W 2 -I 198.51.100.1 203.0.113.1 2>&1); echo "$p1"
  a=$(in_packets right 192.0.2.2)
  p2=$(ip netns exec left ping -c 3 -i 0.3 -W 2 -I 198.51.100.1 203.0.113.2 2>&1); echo "$p2"
  local a2; a2=$(in_packets right 192.0.2.2)
  p3=$(ip netns exec left ping -c 3 -i 0.3 -W 1 -I 198.51.100.1 203.0.113.3 2>&1); echo "$p3"
  sleep 0.5; kill -INT $tp; wait $tp 2>/dev/null
  echo "right inbound ESP packets: before $b, after the tunnel ping $a, after the passthrough ping $a2"
  echo "$p1" | grep -q ' 0% packet loss' || why+="tunnel ping failed; "
  [ "${a:-0}" -ge $(( ${b:-0} + 3 )) ] || why+="tunnel ping did not use the SA ($b -> $a); "
  echo "$p2" | grep -q ' 0% packet loss' || why+="passthrough ping failed; "
  [ "${a2:-x}" = "${a:-y}" ] || why+="passthrough ping went through the SA ($a -> $a2); "
  echo "$p3" | grep -q ' 100% packet loss' || why+="ping into the drop shunt was not dropped; "
  local clear2 clear3 esp
  clear2=$(tcpdump -nr $W/shunt.pcap 'icmp and dst host 203.0.113.2' 2>/dev/null | wc -l)
  clear3=$(tcpdump -nr $W/shunt.pcap 'dst host 203.0.113.3' 2>/dev/null | wc -l)
  esp=$(tcpdump -nr $W/shunt.pcap 'ip proto 50' 2>/dev/null | wc -l)
  echo "left sent: $esp ESP packets, $clear2 clear ICMP to 203.0.113.2, $clear3 packets to 203.0.113.3"
  [ "$clear2" = 3 ] && [ "$clear3" = 0 ] && [ "$esp" -ge 3 ] || why+="wire: esp=$esp clear-to-.2=$clear2 to-.3=$clear3; "
  stop_iked left; stop_iked right; sleep 0.3
  kernel_empty left || why+="left kernel not empty after SIGTERM; "
  kernel_empty right || why+="right kernel not empty after SIGTERM; "
  if [ -z "$why" ]; then result "$CASE PASS (tunnel via ESP +$((a - b)), passthrough 3/3 in clear with the SA untouched, drop 0/3 and nothing sent, Shunted Connections listed, SIGTERM leaves nothing)"
  else result "$CASE FAIL ($why)"; fi
}

# Rekeying under traffic against the starter: lifetime=20s / ikelifetime=40s, margintime=8s,
# rekeyfuzz=0%, a ping every 0.2 s for 45 s must lose nothing while the CHILD_SA is rekeyed
# (at least twice) and the IKE_SA once. init: iked initiates (and rekeys first); resp: strongSwan.
rekey_case() {
  local dir=$1 why=""
  CASE=iked-rekey; [ $dir = resp ] && CASE=iked-rekey-resp
  netns_setup
  local psk="rekey-psk-0123456789abcdef"
  cat >$W/swan.conf <<EOF
config setup
  charondebug="ike 2, knl 2, chd 2, cfg 1"
conn rk
  left=192.0.2.1
  leftsubnet=198.51.100.0/24
  leftid=moon
  right=192.0.2.2
  rightsubnet=203.0.113.0/24
  rightid=sun
  authby=secret
  keyexchange=ikev2
  ike=aes128gcm16-prfsha256-x25519!
  esp=aes128gcm16-x25519!
  ikelifetime=40s
  lifetime=20s
  margintime=8s
  rekeyfuzz=0%
  reauth=no
  auto=add
EOF
  cp $W/swan.conf $W/left.conf; write_secrets left $psk
  # strongSwan's side rekeys later than iked's, so the initiator's timers drive it
  if [ $dir = init ]; then sed -i 's/^  margintime=8s/  margintime=4s/' $W/swan.conf
  else sed -i 's/^  margintime=8s/  margintime=4s/' $W/left.conf; fi
  start_iked left || why+="iked did not start; "
  starter_start right rk $psk || why+="strongSwan did not start; "
  if [ $dir = init ]; then ctl left up rk || why+="ikectl up failed; "
  else swan_ipsec right up rk || why+="strongSwan ipsec up failed; "; fi
  local pingout; pingout=$(ip netns exec left ping -c 225 -i 0.2 -W 1 -I 198.51.100.1 203.0.113.1 2>&1)
  echo "$pingout" | tail -3
  local rcvd; rcvd=$(echo "$pingout" | sed -n 's/.* \([0-9]*\) received.*/\1/p')
  echo "$CASE: $((225 - ${rcvd:-0})) of 225 pings lost"
  [ "${rcvd:-0}" = 225 ] || why+="packets lost during rekeying (${rcvd:-?} of 225 received, $((225 - ${rcvd:-0})) lost); "
  ipsec_cmd left statusall | tee $W/st-left
  # A CHILD_SA rekeyed right after the last ping has carried nothing yet: a few more pings, so
  # that the last-use check below has traffic to look at (seen once: rk{5} 0 bytes_i, 0 bytes_o).
  if grep -Eq 'rk[{][0-9]+}:.* 0 bytes_i, 0 bytes_o' $W/st-left; then
    echo "CHILD_SA rekeyed after the last ping (no traffic on it yet): 3 more pings before the last-use check"
    ip netns exec left ping -c 3 -i 0.2 -W 1 -I 198.51.100.1 203.0.113.1 2>&1 | tail -2
    ipsec_cmd left statusall | tee $W/st-left
  fi
  swan_ipsec right statusall | tee $W/st-swan
  # right after the last ping: the last use (not the first) of both SAs is seconds ago
  grep -Eq 'rk[{][0-9]+}:.* bytes_i \([0-9]+ pkts, [0-3]s ago\), [0-9]+ bytes_o \([0-9]+ pkts, [0-3]s ago\)' $W/st-left || why+="iked statusall: last use not 0-3 s ago; "
  local nchild nike
  nchild=$(grep -c 'CHILD_SA rk{[0-9]*} installed in the kernel' "$OUT/iked-$CASE-left.log")
  nike=$(grep -ci 'IKE_SA.*rekeyed\|rekeyed IKE_SA\|IKE_SA rk\[[0-9]*\] rekeyed' "$OUT/iked-$CASE-left.log")
  echo "iked installed $nchild CHILD_SAs in 45 s; IKE_SA rekey log lines: $nike"
  grep -i 'rekey' "$OUT/iked-$CASE-left.log" | head -12
  [ "$nchild" -ge 3 ] || why+="CHILD_SA rekeyed fewer than 2 times ($nchild installs); "
  [ "$nike" -ge 1 ] || why+="IKE_SA not rekeyed; "
  [ "$(grep -c 'rk\[[0-9]*\]: ESTABLISHED' $W/st-left)" = 1 ] || why+="iked: not exactly one IKE_SA; "
  grep -Eq 'rk[{][0-9]+}:  INSTALLED' $W/st-swan || why+="strongSwan: no INSTALLED CHILD_SA; "
  [ "$(ip -n left xfrm state | grep -c '^src')" -le 4 ] || why+="old SAs left behind in iked's kernel; "
  ipsec_cmd left down rk || why+="down failed; "
  sleep 1
  kernel_empty left || why+="iked's kernel not empty after down; "
  stop_iked left; swan_ipsec right stop; sleep 1
  if [ -z "$why" ]; then result "$CASE PASS (225 pings over 45 s, $((225 - ${rcvd:-0})) lost; $nchild CHILD_SAs installed by iked, IKE_SA rekeyed $nike time(s))"
  else result "$CASE FAIL ($why)"; fi
}

# A small CA and a server certificate (serverAuth EKU, SAN DNS:$2) made with openssl in $1.
mk_pki() { # dir name [server key bits, 2048]
  local d=$1 name=$2 bits=${3:-2048}; mkdir -p $d
  cat >$d/ca.cnf <<EOT
[req]
distinguished_name = dn
prompt = no
x509_extensions = v3ca
[dn]
O = iked lab
CN = iked lab CA
[v3ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
EOT
  printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,1.3.6.1.5.5.8.2.2\nsubjectAltName=DNS:%s\nauthorityKeyIdentifier=keyid\n' "$name" >$d/server.ext
  openssl req -x509 -config $d/ca.cnf -newkey rsa:2048 -nodes -keyout $d/ca.key -out $d/ca.pem -days 30 >/dev/null 2>&1 &&
  openssl req -newkey rsa:$bits -nodes -keyout $d/server.key -out $d/server.csr -subj "/O=iked lab/CN=$name" >/dev/null 2>&1 &&
  openssl x509 -req -in $d/server.csr -CA $d/ca.pem -CAkey $d/ca.key -CAcreateserial -days 30 -out $d/server.pem -extfile $d/server.ext >/dev/null 2>&1 &&
  openssl verify -CAfile $d/ca.pem -purpose sslserver $d/server.pem
}

# A road-warrior gateway as users write it: iked (left) with a server certificate and
# EAP-MSCHAPv2, a base conn ikev2-vpn (right=%any, rightid=%any, eap_identity=%identity, a
# pool) and one conn per user (also=ikev2-vpn, rightid, eap_identity, one fixed rightsourceip).
# strongSwan's starter (right) connects as client_a, then client_b, then 'other' (no conn of
# its own). Each must land in the conn strongSwan would pick (the best identity match: an exact
# rightid beats %any): client_a -> conn client_a and 203.0.113.100, client_b -> client_b and
# 203.0.113.101, other -> ikev2-vpn and an address of its pool 203.0.113.128/25; iked's status
# names that conn, the client shows and installs that address, and a ping from it to the
# gateway's subnet raises both inbound ESP counters.
rw_peruser_case() {
  CASE=rw-peruser
  local why="" gw=$W/gw.d
  netns_setup
  rm -rf $gw $W/pki; mkdir -p $gw/cacerts $gw/certs $gw/private
  mk_pki $W/pki moon.strongswan.org || why+="certificate generation failed; "
  cp $W/pki/ca.pem $gw/cacerts/lab-ca.pem; cp $W/pki/server.pem $gw/certs/server.pem
  cp $W/pki/server.key $gw/private/server.key; chmod 600 $gw/private/server.key
  mkdir -p /etc/ipsec.d/cacerts; cp $W/pki/ca.pem /etc/ipsec.d/cacerts/iked-lab-ca.pem
  openssl x509 -in $W/pki/server.pem -noout -subject -ext subjectAltName,extendedKeyUsage 2>&1
  cat >$W/left.conf <<EOT
config setup
  charondebug="ike 2, knl 2, cfg 2, chd 2"
conn ikev2-vpn
  auto=add
  compress=no
  type=tunnel
  keyexchange=ikev2
  fragmentation=yes
  dpdaction=clear
  dpddelay=300s
  left=%any
  leftid=@moon.strongswan.org
  leftcert=server.pem
  leftsendcert=always
  leftsubnet=198.51.100.0/24
  right=%any
  rightid=%any
  rightauth=eap-mschapv2
  rightsourceip=203.0.113.128/25
  rightdns=198.51.100.53
  rightsendcert=never
  eap_identity=%identity
conn client_a
  also=ikev2-vpn
  rightid=client_a
  eap_identity=client_a
  rightsourceip=203.0.113.100/32
conn client_b
  also=ikev2-vpn
  rightid=client_b
  eap_identity=client_b
  rightsourceip=203.0.113.101/32
EOT
  local pa="rw-a-secret-0123456789" pb="rw-b-secret-0123456789" po="rw-o-secret-0123456789"
  { echo ': RSA server.key'; printf 'client_a : EAP "%s"\nclient_b : EAP "%s"\nother : EAP "%s"\n' $pa $pb $po; } >$W/left.secrets
  chmod 600 $W/left.secrets
  cat >$W/swan.conf <<EOT
config setup
  charondebug="ike 2, knl 2, cfg 2"
conn %default
  keyexchange=ikev2
  left=192.0.2.2
  leftsourceip=%config
  leftauth=eap-mschapv2
  right=192.0.2.1
  rightid=@moon.strongswan.org
  rightauth=pubkey
  rightsubnet=198.51.100.0/24
  auto=add
conn ca
  leftid=client_a
  eap_identity=client_a
conn cb
  leftid=client_b
  eap_identity=client_b
conn co
  leftid=other
  eap_identity=other
EOT
  printf 'client_a : EAP "%s"\nclient_b : EAP "%s"\nother : EAP "%s"\n' $pa $pb $po >$W/swan.secrets
  export IKED_IPSEC_D=$gw
  start_iked left || why+="iked did not start; "
  unset IKED_IPSEC_D
  starter_start right co "" $W/swan.secrets || why+="strongSwan did not start; "
  local user sc want vip conn bl br al ar pingout summary=""
  for user in client_a client_b other; do
    case $user in
      client_a) sc=ca want=203.0.113.100 ;;
      client_b) sc=cb want=203.0.113.101 ;;
      other) sc=co want=pool ;;
    esac
    echo "=== $user (strongSwan conn $sc)"
    swan_ipsec right up $sc | tee $W/up-$sc | tail -5
    grep -q 'established successfully' $W/up-$sc || why+="$user: strongSwan ipsec up failed; "
    sleep 0.5
    echo "--- iked: ipsec status"; ipsec_cmd left status | tee $W/st-left-$sc
    conn=$(sed -n 's/^ *\([^ []*\)\[[0-9]*\]: ESTABLISHED.*/\1/p' $W/st-left-$sc | head -1)
    local wconn=$user; [ $user = other ] && wconn=ikev2-vpn
    echo "iked put $user's IKE_SA under conn '${conn:-none}' (expected '$wconn')"
    grep "authenticating '$user'\|virtual IP" "$OUT/iked-$CASE-left.log" | tail -3
    [ "$conn" = "$wconn" ] || why+="$user: iked chose conn '${conn:-none}', not '$wconn'; "
    grep -Eq "^ *$wconn[{][0-9]+}:  INSTALLED, TUNNEL" $W/st-left-$sc || why+="$user: no INSTALLED CHILD_SA under conn $wconn in iked's status; "
    echo "--- strongSwan: ipsec statusall"; swan_ipsec right statusall | tee $W/st-swan-$sc
    vip=$(sed -n "s|^ *$sc{[0-9]*}:   \([0-9.]*\)/32 === 198.51.100.0/24.*|\1|p" $W/st-swan-$sc | head -1)
    echo "strongSwan's CHILD_SA for $user: ${vip:-no virtual IP}/32 === 198.51.100.0/24"
    grep "$sc{[0-9]*}:   " $W/st-swan-$sc
    if [ $want = pool ]; then
      local o=${vip##*.}
      case "$vip" in 203.0.113.*[0-9]) ;; *) o=0 ;; esac
      [ "$o" -ge 128 ] && [ "$o" -le 255 ] || why+="$user: virtual IP '${vip:-none}' not from the pool 203.0.113.128/25; "
    else
      [ "$vip" = "$want" ] || why+="$user: got virtual IP '${vip:-none}', not its own $want; "
    fi
    local src=${vip:-$want}; [ "$src" = pool ] && src=203.0.113.129
    echo "--- right: ip addr (virtual IP installed?)"; ip -n right -4 addr | tee $W/addr-$sc
    grep -q "inet $src/32" $W/addr-$sc || why+="$user: $src not installed on the client; "
    bl=$(in_packets left 192.0.2.1); br=$(in_packets right 192.0.2.2)
    pingout=$(ip netns exec right ping -c 3 -i 0.3 -W 2 -I $src 198.51.100.1 2>&1); echo "$pingout"
    al=$(in_packets left 192.0.2.1); ar=$(in_packets right 192.0.2.2)
    echo "inbound ESP packets: left ${bl:-?} -> ${al:-?}, right ${br:-?} -> ${ar:-?}"
    echo "$pingout" | grep -q ' 0% packet loss' || why+="$user: ping from $src to 198.51.100.1 failed; "
    [ "${al:-0}" -ge $(( ${bl:-0} + 3 )) ] && [ "${ar:-0}" -ge $(( ${br:-0} + 3 )) ] || why+="$user: inbound ESP counters did not grow by 3 (left ${bl:-?}->${al:-?}, right ${br:-?}->${ar:-?}); "
    show_kernel
    summary+="$user -> conn ${conn:-none} vip ${vip:-none} in +$(( ${al:-0} - ${bl:-0} ))/+$(( ${ar:-0} - ${br:-0} )); "
    swan_ipsec right down $sc >/dev/null
    sleep 1
    kernel_empty left || why+="$user: iked's kernel not empty after the client's down; "
  done
  stop_iked left; swan_ipsec right stop; sleep 1
  rm -f /etc/ipsec.d/cacerts/iked-lab-ca.pem
  if [ -z "$why" ]; then result "$CASE PASS (${summary%; })"
  else result "$CASE FAIL ($why)"; fi
}

# issue 16: a Windows-like client against iked as an RSA-4096 road-warrior gateway. Windows sends no
# SIGNATURE_HASH_ALGORITHMS (strongSwan: charon.signature_authentication = no), proposes
# aes256-sha1-modp1024 / aes256-sha1 and authenticates with EAP-MSCHAPv2; iked must sign its AUTH
# with method 1 (RSA PKCS#1 v1.5 with SHA-1), which strongSwan logs as "with RSA signature".
rw_windows_case() {
  CASE=rw-windows
  local why="" gw=$W/gw.d pw="rw-win-secret-0123456789"
  netns_setup
  rm -rf $gw $W/pki; mkdir -p $gw/cacerts $gw/certs $gw/private
  mk_pki $W/pki moon.strongswan.org 4096 || why+="certificate generation failed; "
  cp $W/pki/ca.pem $gw/cacerts/lab-ca.pem; cp $W/pki/server.pem $gw/certs/server.pem
  cp $W/pki/server.key $gw/private/server.key; chmod 600 $gw/private/server.key
  mkdir -p /etc/ipsec.d/cacerts; cp $W/pki/ca.pem /etc/ipsec.d/cacerts/iked-lab-ca.pem
  openssl x509 -in $W/pki/server.pem -noout -subject -ext subjectAltName,extendedKeyUsage 2>&1
  openssl x509 -in $W/pki/server.pem -noout -text | grep 'Public-Key'
  cat >$W/left.conf <<EOT
config setup
  charondebug="ike 2, knl 2, cfg 2, chd 2"
conn ikev2-vpn
  auto=add
  keyexchange=ikev2
  fragmentation=yes
  dpdaction=clear
  dpddelay=300s
  left=%any
  leftid=@moon.strongswan.org
  leftcert=server.pem
  leftsubnet=198.51.100.0/24
  right=%any
  rightid=%any
  rightauth=eap-mschapv2
  rightsourceip=203.0.113.128/25
  rightsendcert=never
  eap_identity=%identity
  ike=aes256-sha1-modp1024,aes256-sha256-modp2048!
  esp=aes256-sha1,aes256-sha256!
EOT
  { echo ': RSA server.key'; printf 'winuser : EAP "%s"\n' $pw; } >$W/left.secrets
  chmod 600 $W/left.secrets
  cat >$W/swan.conf <<EOT
config setup
  charondebug="ike 2, knl 2, cfg 2"
conn win
  keyexchange=ikev2
  left=192.0.2.2
  leftsourceip=%config
  leftauth=eap-mschapv2
  leftid=winuser
  eap_identity=winuser
  right=192.0.2.1
  rightid=@moon.strongswan.org
  rightauth=pubkey
  rightsubnet=198.51.100.0/24
  ike=aes256-sha1-modp1024!
  esp=aes256-sha1!
  auto=add
EOT
  printf 'winuser : EAP "%s"\n' $pw >$W/swan.secrets
  export IKED_IPSEC_D=$gw
  start_iked left || why+="iked did not start; "
  unset IKED_IPSEC_D
  SWAN_CHARON_EXTRA="signature_authentication = no" starter_start right win "" $W/swan.secrets || why+="strongSwan did not start; "
  swan_ipsec right up win | tee $W/up-win | tail -5
  grep -q 'established successfully' $W/up-win || why+="strongSwan ipsec up failed; "
  sleep 0.5
  local slog=$OUT/swan-$CASE.log req auth prop vip bl br al ar pingout
  req=$(grep -m1 'generating IKE_SA_INIT request 0' $slog)
  echo "client: $req"
  case "$req" in *HASH_ALG*) why+="the client sent SIGNATURE_HASH_ALGORITHMS; " ;; '') why+="no IKE_SA_INIT in the client's log; " ;; esac
  auth=$(grep -m1 "authentication of 'moon.strongswan.org' with" $slog | sed 's/.*\] //')
  echo "client: $auth"
  case "$auth" in *"with RSA signature successful"*) ;; *) why+="the client did not verify an RSA signature (method 1): '${auth:-none}'; " ;; esac
  prop=$(grep -m1 'selected proposal: IKE:' $slog | sed 's/.*selected proposal: //')
  echo "client: $prop"
  grep -m2 "signing AUTH with\|authentication of 'winuser'" "$OUT/iked-$CASE-left.log"
  grep -m1 'reassembled fragmented' $slog
  echo "--- iked: ipsec status"; ipsec_cmd left status | tee $W/st-left-win
  echo "--- strongSwan: ipsec statusall"; swan_ipsec right statusall | tee $W/st-swan-win
  vip=$(sed -n "s|^ *win{[0-9]*}:   \([0-9.]*\)/32 === 198.51.100.0/24.*|\1|p" $W/st-swan-win | head -1)
  case "$vip" in
    203.0.113.*[0-9]) [ "${vip##*.}" -ge 128 ] || why+="virtual IP $vip not from the pool; " ;;
    *) why+="no virtual IP ('${vip:-none}'); "; vip=203.0.113.129 ;;
  esac
  bl=$(in_packets left 192.0.2.1); br=$(in_packets right 192.0.2.2)
  pingout=$(ip netns exec right ping -c 3 -i 0.3 -W 2 -I $vip 198.51.100.1 2>&1); echo "$pingout"
  al=$(in_packets left 192.0.2.1); ar=$(in_packets right 192.0.2.2)
  echo "inbound ESP packets: left ${bl:-?} -> ${al:-?}, right ${br:-?} -> ${ar:-?}"
  echo "$pingout" | grep -q ' 0% packet loss' || why+="ping from $vip to 198.51.100.1 failed; "
  [ "${al:-0}" -ge $(( ${bl:-0} + 3 )) ] && [ "${ar:-0}" -ge $(( ${br:-0} + 3 )) ] || why+="inbound ESP counters did not grow by 3 (left ${bl:-?}->${al:-?}, right ${br:-?}->${ar:-?}); "
  show_kernel
  swan_ipsec right down win >/dev/null; sleep 1
  kernel_empty left || why+="iked's kernel not empty after the client's down; "
  stop_iked left; swan_ipsec right stop; sleep 1
  rm -f /etc/ipsec.d/cacerts/iked-lab-ca.pem
  if [ -z "$why" ]; then result "$CASE PASS (no N(HASH_ALG) from the client; client: '$auth'; ${prop:-?}; vip $vip; in +$(( ${al:-0} - ${bl:-0} ))/+$(( ${ar:-0} - ${br:-0} )))"
  else result "$CASE FAIL ($why)"; fi
}

# The inbound packet counter of the SA that carries the in-policy src $2 dst $3 in namespace $1
# (the policy's reqid names the SA), 0 if none.
in_packets_sel() {
  local ns=$1 reqid n
  reqid=$(ip -n $ns xfrm policy | awk -v s="$2" -v d="$3" '/^src/{m=($2==s && $4==d); i=0} m && /dir in/{i=1} m && i && / reqid /{for(k=1;k<=NF;k++) if($k=="reqid"){v=$(k+1); sub(/\(.*/,"",v); print v; exit}}')
  [ -n "$reqid" ] || { echo 0; return; }
  n=$(ip -n $ns -s xfrm state | awk -v r="$reqid" -v dst="$4" '/^src/{a=($4==dst); m=0} a && / reqid /{for(k=1;k<=NF;k++) if($k=="reqid"){v=$(k+1); sub(/\(.*/,"",v); m=(v==r)}} m && /^[ \t]*[0-9]+\(bytes\), *[0-9]+\(packets\)/{sub(/.*\(bytes\), */,""); sub(/\(packets\).*/,""); print; exit}')
  case $n in ''|*[!0-9]*) echo 0 ;; *) echo "$n" ;; esac
}

# iked initiates with left=%defaultroute (auto=start) from a host with several addresses: a
# dummy interface with 198.51.100.77/32 made before the veth with 192.0.2.1, and inner addresses
# on lo; the route to the peer (and the default route) leave via vl with src 192.0.2.1. Two
# CHILD_SAs (net1, net2) share one IKE_SA through also=base; strongSwan's starter (right,
# right=192.0.2.1) answers. One IKE_SA on both sides, both CHILD_SAs INSTALLED, traffic through
# each (inbound counters of both SAs on both sides), iked's status shows 192.0.2.1.
defaultroute_case() {
  CASE=iked-defaultroute
  local why=""
  for ns in left right; do ip netns del $ns 2>/dev/null; ip netns add $ns; ip -n $ns link set lo up; done
  ip -n left link add dummy0 type dummy && ip -n left addr add 198.51.100.77/32 dev dummy0 && ip -n left link set dummy0 up || why+="dummy interface setup failed; "
  ip link add vl netns left type veth peer name vr netns right
  ip -n left addr add 192.0.2.1/24 dev vl; ip -n left link set vl up
  ip -n right addr add 192.0.2.2/24 dev vr; ip -n right link set vr up
  ip -n left addr add 198.51.100.1/32 dev lo; ip -n left addr add 198.51.100.129/32 dev lo
  ip -n right addr add 203.0.113.1/32 dev lo; ip -n right addr add 203.0.113.129/32 dev lo
  ip -n left route add default via 192.0.2.2 dev vl src 192.0.2.1
  ip -n left route add 203.0.113.0/25 via 192.0.2.2 src 198.51.100.1
  ip -n left route add 203.0.113.128/25 via 192.0.2.2 src 198.51.100.129
  ip -n right route add 198.51.100.0/25 via 192.0.2.1 src 203.0.113.1
  ip -n right route add 198.51.100.128/25 via 192.0.2.1 src 203.0.113.129
  echo "--- left: addresses in kernel order"; ip -n left -4 -o addr
  echo "--- left: ip route get 192.0.2.2"; ip -n left route get 192.0.2.2
  local psk="defroute-psk-0123456789abcdef"
  cat >$W/left.conf <<EOT
config setup
  charondebug="ike 2, knl 2, cfg 2, chd 2, net 2"
conn base
  left=%defaultroute
  leftid=moon
  right=192.0.2.2
  rightid=sun
  authby=secret
  keyexchange=ikev2
  ike=aes128gcm16-prfsha256-x25519!
  esp=aes128gcm16!
conn net1
  also=base
  leftsubnet=198.51.100.0/25
  rightsubnet=203.0.113.0/25
  auto=start
conn net2
  also=base
  leftsubnet=198.51.100.128/25
  rightsubnet=203.0.113.128/25
  auto=start
EOT
  write_secrets left $psk
  cat >$W/swan.conf <<EOT
config setup
  charondebug="ike 2, knl 2, cfg 2, chd 2"
conn base
  left=192.0.2.2
  leftid=sun
  right=192.0.2.1
  rightid=moon
  authby=secret
  keyexchange=ikev2
  ike=aes128gcm16-prfsha256-x25519!
  esp=aes128gcm16!
conn net1
  also=base
  leftsubnet=203.0.113.0/25
  rightsubnet=198.51.100.0/25
  auto=add
conn net2
  also=base
  leftsubnet=203.0.113.128/25
  rightsubnet=198.51.100.128/25
  auto=add
EOT
  starter_start right net2 $psk || why+="strongSwan did not start; "
  start_iked left || why+="iked did not start; "
  local t0=$SECONDS
  while [ $((SECONDS - t0)) -lt 30 ]; do # auto=start: wait up to 30 s for both CHILD_SAs
    ipsec_cmd left status >$W/st-left 2>&1
    grep -Eq 'net1[{][0-9]+}:  INSTALLED' $W/st-left && grep -Eq 'net2[{][0-9]+}:  INSTALLED' $W/st-left && break
    sleep 0.5
  done
  echo "--- iked: ipsec statusall (after $((SECONDS - t0)) s)"; ipsec_cmd left statusall | tee $W/st-left
  echo "--- iked's log: initiating / sending / local address"
  grep -Ei 'initiating|adding CHILD_SA|error sending|retransmit|NO_PROPOSAL|192\.0\.2\.1[]:]' "$OUT/iked-$CASE-left.log" | grep -v 'listening on' | head -12
  echo "--- strongSwan's log: what it received"
  grep -Ei 'received packet|no IKE config|no matching|looking for' "$OUT/swan-$CASE.log" | head -8
  local nike; nike=$(grep -Ec '^ *(base|net1|net2)\[[0-9]+\]: ESTABLISHED' $W/st-left)
  [ "$nike" = 1 ] || why+="iked: $nike IKE_SAs ESTABLISHED, not 1; "
  local laddr lstate
  laddr=$(sed -n -E 's/.*\]: (ESTABLISHED|CONNECTING).*, ([^ ]*)\[moon\]\.\.\..*/\2/p' $W/st-left | head -1)
  lstate=$(sed -n -E 's/.*\]: (ESTABLISHED|CONNECTING).*, ([^ ]*)\[moon\]\.\.\..*/\1/p' $W/st-left | head -1)
  echo "iked's IKE_SA local address: ${laddr:-none} (${lstate:-no IKE_SA})"
  [ "$laddr" = 192.0.2.1 ] || why+="iked's IKE_SA local address is '${laddr:-none}' (${lstate:-no IKE_SA}), not 192.0.2.1; "
  local sendErr; sendErr=$(grep -c 'error sending' "$OUT/iked-$CASE-left.log")
  [ "$sendErr" = 0 ] || why+="iked: $sendErr 'error sending' log lines ($(grep -m1 -o 'error sending.*' "$OUT/iked-$CASE-left.log")); "
  grep -Eq 'ESTABLISHED.*192\.0\.2\.1\[moon\]\.\.\.192\.0\.2\.2\[sun\]' $W/st-left || why+="iked: no ESTABLISHED 192.0.2.1[moon]...192.0.2.2[sun] line; "
  grep -Eq 'net1[{][0-9]+}:  INSTALLED, TUNNEL' $W/st-left || why+="iked: net1 not INSTALLED; "
  grep -Eq 'net2[{][0-9]+}:  INSTALLED, TUNNEL' $W/st-left || why+="iked: net2 not INSTALLED; "
  echo "--- strongSwan: ipsec statusall"; swan_ipsec right statusall | tee $W/st-swan
  local sike; sike=$(grep -Ec '^ *[a-z0-9]+\[[0-9]+\]: ESTABLISHED' $W/st-swan)
  [ "$sike" = 1 ] || why+="strongSwan: $sike IKE_SAs ESTABLISHED, not 1; "
  grep -Eq 'net1[{][0-9]+}:  INSTALLED, TUNNEL' $W/st-swan || why+="strongSwan: net1 not INSTALLED; "
  grep -Eq 'net2[{][0-9]+}:  INSTALLED, TUNNEL' $W/st-swan || why+="strongSwan: net2 not INSTALLED; "
  local n from to ps pd b1 b2 a1 a2 pingout counts=""
  for n in 1 2; do
    if [ $n = 1 ]; then from=198.51.100.1 to=203.0.113.1 ps=203.0.113.0/25 pd=198.51.100.0/25
    else from=198.51.100.129 to=203.0.113.129 ps=203.0.113.128/25 pd=198.51.100.128/25; fi
    b1=$(in_packets_sel left $ps $pd 192.0.2.1); b2=$(in_packets_sel right $pd $ps 192.0.2.2)
    pingout=$(ip netns exec left ping -c 3 -i 0.3 -W 2 -I $from $to 2>&1); echo "$pingout"
    a1=$(in_packets_sel left $ps $pd 192.0.2.1); a2=$(in_packets_sel right $pd $ps 192.0.2.2)
    echo "net$n inbound packets: left $b1 -> $a1, right $b2 -> $a2"
    echo "$pingout" | grep -q ' 0% packet loss' || why+="net$n: ping $from -> $to failed; "
    [ "$a1" -ge $((b1 + 3)) ] && [ "$a2" -ge $((b2 + 3)) ] || why+="net$n: inbound counters did not grow by 3 (left $b1->$a1, right $b2->$a2); "
    counts+="net$n in +$((a1 - b1))/+$((a2 - b2)), "
  done
  show_kernel
  stop_iked left; sleep 0.5
  kernel_empty left || why+="iked's kernel not empty after SIGTERM; "
  swan_ipsec right stop; sleep 1
  if [ -z "$why" ]; then result "$CASE PASS (left=%defaultroute from 192.0.2.1 (dummy0 198.51.100.77 first), 1 IKE_SA on both sides, ${counts%, })"
  else result "$CASE FAIL ($why)"; fi
}

. "$(dirname "$0")/vici-case.sh"

for sc in $SCENARIOS; do
  echo "===== $sc ($(cut -d' ' -f1 /proc/uptime)s)"
  case $sc in
    install-*) install_case "${sc#install-}" ;;
    iked-badpsk) badpsk_case ;;
    rw-peruser) if [ -x /usr/lib/ipsec/starter ] && [ -f /usr/lib/ipsec/plugins/libstrongswan-eap-mschapv2.so ]; then rw_peruser_case; else result "$sc FAIL (strongSwan starter or eap-mschapv2 plugin not installed: interop-tests/lab/setup-peers.sh)"; fi ;;
    rw-windows) if [ -x /usr/lib/ipsec/starter ] && [ -f /usr/lib/ipsec/plugins/libstrongswan-eap-mschapv2.so ]; then rw_windows_case; else result "$sc FAIL (strongSwan starter or eap-mschapv2 plugin not installed: interop-tests/lab/setup-peers.sh)"; fi ;;
    iked-defaultroute) if [ -x /usr/lib/ipsec/starter ]; then defaultroute_case; else result "$sc FAIL (strongSwan starter not installed)"; fi ;;
    iked-route) route_case ;;
    iked-vici) if [ -x /usr/sbin/swanctl ]; then vici_case; else result "$sc FAIL (swanctl not installed)"; fi ;;
    iked-shunt) shunt_case ;;
    iked-rekey) rekey_case init ;;
    iked-rekey-resp) rekey_case resp ;;
    iked-route6) route6_case init ;;
    iked-route6-resp) route6_case resp ;;
    iked-encaps) encaps_case init ;;
    iked-encaps-resp) encaps_case resp ;;
    iked-nat) nat_case init ;;
    iked-nat-resp) nat_case resp ;;
    iked-natt) natt_v6_case natt ;;
    iked-v6) natt_v6_case v6 ;;
    iked-4in6) natt_v6_case 4in6 ;;
    iked-6in4) natt_v6_case 6in4 ;;
    iked-vti|iked-vti6|iked-xfrmi|iked-gre) if [ -x /usr/lib/ipsec/starter ]; then rb_case "${sc#iked-}"; else result "$sc FAIL (strongSwan starter not installed)"; fi ;;
    iked-xfrmi-swan) if [ -x /usr/sbin/charon-systemd ]; then rb_case xfrmi init swanctl; else result "$sc FAIL (strongSwan not installed)"; fi ;;
    iked-xfrmi-swan-resp) if [ -x /usr/sbin/charon-systemd ]; then rb_case xfrmi resp swanctl; else result "$sc FAIL (strongSwan not installed)"; fi ;;
    iked-*-resp) if [ -x /usr/lib/ipsec/starter ]; then rb_case "$(echo $sc | sed 's/^iked-//; s/-resp$//')" resp; else result "$sc FAIL (strongSwan starter not installed)"; fi ;;
    iked-*) iked_case "${sc#iked-}" ;;
    swan-*) if [ -x /usr/sbin/charon-systemd ]; then swan_case "${sc#swan-}"; else result "$sc FAIL (strongSwan not installed)"; fi ;;
    starter-*) if [ -x /usr/sbin/ipsec ] && [ -x /usr/lib/ipsec/starter ]; then starter_case "${sc#starter-}"; else result "$sc FAIL (strongSwan starter not installed)"; fi ;;
    *) result "$sc FAIL (unknown scenario)" ;;
  esac
done
for ns in left right nat; do ip netns del $ns 2>/dev/null; done
echo DONE >>"$RES"

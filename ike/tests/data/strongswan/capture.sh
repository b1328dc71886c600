#!/bin/bash
# Regenerates the strongSwan capture fixtures used by tests/strongswan_capture.rs.
#
# Two charon-systemd instances (Debian strongSwan 5.9.x) in network
# namespaces ikecap-l / ikecap-r, PSK, one IKE proposal per run. tcpdump
# records the IKE datagrams; charon's filelog at "ike 4" prints the DH
# shared secret, SKEYSEED and the SK_* keys, which the test recomputes from
# the captured nonces and SPIs and then uses to decrypt IKE_AUTH.
# The host kernel has no ESP, so CHILD_SA installation fails; IKE works.
#
# usage (root): capture.sh OUTDIR        writes OUTDIR/<name>/{NN-*.bin,charon-l.log}
set -euo pipefail
OUT=${1:?outdir}
W=$(mktemp -d /tmp/ikecap.XXXX)
cleanup() { for p in $(cat $W/*.pid 2>/dev/null); do kill $p 2>/dev/null || true; done; sleep 0.5
            ip netns del ikecap-l 2>/dev/null || true; ip netns del ikecap-r 2>/dev/null || true; }
trap cleanup EXIT
cleanup
for ns in ikecap-l ikecap-r; do ip netns add $ns; ip -n $ns link set lo up; done
ip link add ikcl netns ikecap-l type veth peer name ikcr netns ikecap-r
ip -n ikecap-l addr add 192.0.2.1/24 dev ikcl; ip -n ikecap-l link set ikcl up
ip -n ikecap-r addr add 192.0.2.2/24 dev ikcr; ip -n ikecap-r link set ikcr up

run() { # name proposal
  local name=$1 prop=$2
  mkdir -p $OUT/$name
  rm -f $W/*.vici $W/*.pid
  for s in l r; do
    la=$([ $s = l ] && echo 192.0.2.1 || echo 192.0.2.2); ra=$([ $s = l ] && echo 192.0.2.2 || echo 192.0.2.1)
    lid=$([ $s = l ] && echo left.example.org || echo right.example.org)
    rid=$([ $s = l ] && echo right.example.org || echo left.example.org)
    ln=$([ $s = l ] && echo 198.51.100.0/24 || echo 203.0.113.0/24)
    rn=$([ $s = l ] && echo 203.0.113.0/24 || echo 198.51.100.0/24)
    cat > $W/$s.conf <<EOC
charon {
  load = random nonce aes sha1 sha2 hmac kdf curve25519 gmp chapoly kernel-netlink socket-default vici
  install_routes = no
  retransmit_tries = 1
  filelog { main { path = $W/charon-$s.log
                   default = 1
                   ike = 4
                   flush_line = yes } }
  plugins { vici { socket = unix://$W/$s.vici } }
}
EOC
    cat > $W/$s.swanctl <<EOC
connections { gw { version = 2
  local_addrs = $la
  remote_addrs = $ra
  proposals = $prop
  local { auth = psk
          id = $lid }
  remote { auth = psk
           id = $rid }
  children { net { local_ts = $ln
                   remote_ts = $rn
                   esp_proposals = chacha20poly1305 } } } }
secrets { ike-1 { id-a = left.example.org
                  id-b = right.example.org
                  secret = "iked capture fixture psk" } }
EOC
    : > $W/charon-$s.log
    ip netns exec ikecap-$s env STRONGSWAN_CONF=$W/$s.conf /usr/sbin/charon-systemd > $W/charon-$s.stdout 2>&1 &
    echo $! > $W/charon-$s.pid
  done
  for s in l r; do for i in $(seq 100); do swanctl --stats --uri unix://$W/$s.vici >/dev/null 2>&1 && break; sleep 0.1; done
    swanctl --load-all --file $W/$s.swanctl --uri unix://$W/$s.vici > /dev/null; done
  ip netns exec ikecap-l tcpdump -i ikcl -U -w $W/cap.pcap udp port 500 or udp port 4500 > /dev/null 2>&1 &
  echo $! > $W/tcpdump.pid
  sleep 1
  swanctl --initiate --child net --timeout 10 --uri unix://$W/l.vici > $W/initiate.txt 2>&1 || true
  sleep 1
  for p in $(cat $W/*.pid); do kill $p 2>/dev/null || true; done; sleep 1
  python3 - $W/cap.pcap $OUT/$name <<'EOP'
import struct, sys
data = open(sys.argv[1], 'rb').read()
pos, n = 24, 0
while pos + 16 <= len(data):
    _, _, caplen, _ = struct.unpack('<IIII', data[pos:pos+16]); pkt = data[pos+16:pos+16+caplen]; pos += 16 + caplen
    ip = pkt[14:]                      # Ethernet
    ihl = (ip[0] & 15) * 4
    sport, dport = struct.unpack('>HH', ip[ihl:ihl+4])
    payload = ip[ihl+8:]
    if 4500 in (sport, dport):
        if payload[:4] != b'\0\0\0\0':
            continue                  # ESP, not IKE
        payload = payload[4:]         # non-ESP marker
    exch = {34: 'ike_sa_init', 35: 'ike_auth', 36: 'create_child_sa', 37: 'informational'}.get(payload[18], 'x')
    d = 'resp' if payload[19] & 0x20 else 'req'
    open(f'{sys.argv[2]}/{n:02d}-{exch}-{d}.bin', 'wb').write(payload); n += 1
EOP
  cp $W/charon-l.log $OUT/$name/charon-l.log
  grep -E "IKE_SA gw\[[0-9]+\] established|selected proposal" $W/charon-l.log | head -3 || true
}
run chacha20poly1305-prfsha256-x25519 chacha20poly1305-prfsha256-x25519
run aes256-sha256-modp2048 aes256-sha256-modp2048

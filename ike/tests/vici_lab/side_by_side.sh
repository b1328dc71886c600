#!/bin/bash
# Side by side, by hand (not run by CI): the same tunnel moon <-> sun, sun
# strongSwan (charon-systemd) in netns sbs-b, moon first iked, then strongSwan
# (charon-systemd) in netns sbs-a; against moon each time the same swanctl
# commands (--list-conns, --initiate --child, --list-sas, --stats, --rekey
# --child/--ike, --rekey --reauth, --redirect, --terminate --ike) and the
# exporter reads of exporter.py (the `vici` package from PyPI). In a QEMU
# guest (full kernel: real CHILD_SAs, pings through them), under the guest lock.
#
#   ike/tests/vici_lab/side_by_side.sh OUT     # host: build, venv, boot, diff
#
# OUT gets iked.out, strongswan.out (what each printed), sbs.diff (the two
# with SPIs, ids and times masked), guest.log and the daemons' logs.
set -u
if [ "${1:-}" != "--inside" ]; then
  D=$(mkdir -p "${1:?usage: side_by_side.sh OUTDIR}" && cd "$1" && pwd)
  HERE=$(cd "$(dirname "$0")" && pwd)
  ROOT=$(cd "$HERE/../../.." && pwd)
  flock /tmp/iked-cargo.lock cargo build -q -p ike --bin iked --manifest-path "$ROOT/Cargo.toml" || exit 1
  cp "$ROOT/target/debug/iked" "$D/iked-bin"
  cp "$HERE/side_by_side.sh" "$HERE/exporter.py" "$D/"
  [ -x "$D/venv/bin/python" ] || { python3 -m venv "$D/venv" && "$D/venv/bin/pip" install -q vici==6.0.3 prometheus-client==0.26.0; } || exit 1
  VNG=${LAB_VENV:-/var/cache/iked-lab/venv}/bin
  KERNEL=$(ls /boot/vmlinuz-* | sort -V | tail -1)
  PATH=$VNG:$PATH flock /tmp/iked-guest.lock timeout -k 10 1200 vng --run "$KERNEL" --disable-kvm -m 1G -p 2 \
    --rwdir "$D" --exec "bash $D/side_by_side.sh --inside $D" > "$D/console.log" 2>&1
  grep -q '^DONE' "$D/guest.log" || { echo "the guest did not finish: $D/console.log $D/guest.log"; exit 1; }
  norm() { sed -E 's/[0-9a-f]{16}_(i|r)/SPI16_\1/g; s/\b[0-9a-f]{8}(_i|_o)?\b/SPI8\1/g; s/[0-9]+s ago/Ns ago/g; s/in [0-9]+s/in Ns/g; s/#[0-9]+/#N/g; s/gw\[[0-9]+\]/gw[N]/g; s/gw\{[0-9]+\}/gw{N}/g; s/\} [0-9.]+$/} V/; s/uniqueid="[0-9]+"/uniqueid="N"/g; s/[0-9]+ seconds, since .*/N seconds/; s/time [0-9]+ms/time Nms/' "$1"; }
  norm "$D/iked.out" > "$D/iked.norm"; norm "$D/strongswan.out" > "$D/strongswan.norm"
  diff -u "$D/iked.norm" "$D/strongswan.norm" > "$D/sbs.diff"
  echo "$D/iked.out $D/strongswan.out $D/sbs.diff ($(grep -c '^[-+][^-+]' "$D/sbs.diff") lines differ)"
  exit 0
fi
D=$2
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
exec > "$D/guest.log" 2>&1
R=/tmp/sbs-run; mkdir -p $R/sun $R/moon $R/iked   # unix sockets cannot live on the 9p share
echo "BOOTED $(cut -d' ' -f1 /proc/uptime)"
modprobe -a esp4 xfrm_user veth af_key 2>&1
ip netns add sbs-a; ip netns add sbs-b
for n in sbs-a sbs-b; do ip -n $n link set lo up; done
ip link add va netns sbs-a type veth peer name vb netns sbs-b
ip -n sbs-a addr add 192.0.2.1/24 dev va; ip -n sbs-a link set va up
ip -n sbs-b addr add 192.0.2.2/24 dev vb; ip -n sbs-b link set vb up
ip -n sbs-a addr add 198.51.100.1/32 dev lo; ip -n sbs-b addr add 203.0.113.1/32 dev lo
ip -n sbs-a route add 203.0.113.0/24 via 192.0.2.2 src 198.51.100.1
ip -n sbs-b route add 198.51.100.0/24 via 192.0.2.1 src 203.0.113.1
PSK='sbs-secret-0123456789'
charon_conf() { # name
  mkdir -p $D/$1
  cat > $D/$1/strongswan.conf <<EOC
charon {
  load = random nonce aes sha1 sha2 hmac gcm kdf openssl curve25519 gmp pem pkcs1 x509 pubkey kernel-netlink socket-default vici updown
  install_routes = no
  filelog { main { path = $D/$1/charon.log
                   default = 1
                   flush_line = yes } }
  plugins { vici { socket = unix://$R/$1/vici } }
}
EOC
}
swanctl_conf() { # name laddr raddr lid rid lnet rnet
  cat > $D/$1/swanctl.conf <<EOC
connections {
  gw {
    version = 2
    local_addrs = $2
    remote_addrs = $3
    proposals = aes256-sha256-modp2048
    rekey_time = 10260s
    local { auth = psk
            id = $4 }
    remote { auth = psk
             id = $5 }
    children {
      gw {
        local_ts = $6
        remote_ts = $7
        esp_proposals = aes128-sha256
        rekey_time = 3060s
        start_action = none
      }
    }
  }
}
secrets { ike-gw { id-moon = moon
                   id-sun = sun
                   secret = "$PSK" } }
EOC
}
start_charon() { # name ns
  ip netns exec $2 env STRONGSWAN_CONF=$D/$1/strongswan.conf /usr/sbin/charon-systemd >$D/$1/stdout 2>&1 &
  echo $! > $D/$1/pid
  for i in $(seq 1 100); do [ -S $R/$1/vici ] && break; sleep 0.1; done
  swanctl --load-all --file $D/$1/swanctl.conf --uri unix://$R/$1/vici
}
stop() { # name
  kill $(cat $D/$1/pid); for i in $(seq 1 100); do kill -0 $(cat $D/$1/pid) 2>/dev/null || break; sleep 0.1; done
}
charon_conf sun; swanctl_conf sun 192.0.2.2 192.0.2.1 sun moon 203.0.113.0/24 198.51.100.0/24
start_charon sun sbs-b

round() { # label socket
  local L=$1 U=unix://$2 O=$D/$1.out
  : > $O
  run() { echo "\$ swanctl $*" >> $O; timeout 30 swanctl $1 --uri $U "${@:2}" >> $O 2>&1; echo "[exit $?]" >> $O; }
  run --version --daemon
  run --list-conns
  run --initiate --child gw --timeout 20000
  ip netns exec sbs-a ping -c 3 -W 2 -I 198.51.100.1 203.0.113.1 > $D/$L.ping 2>&1; echo "ping: $(tail -2 $D/$L.ping | head -1)" >> $O
  run --list-sas
  run --stats
  echo "\$ swanctl --list-sas (sun)" >> $O; swanctl --list-sas --uri unix://$R/sun/vici >> $O 2>&1
  echo "\$ exporter.py" >> $O; timeout 30 $D/venv/bin/python $D/exporter.py $2 >> $O 2>&1; echo "[exit $?]" >> $O
  sleep 2.2
  run --rekey --child gw
  sleep 1
  run --rekey --ike gw
  sleep 1.5
  run --list-sas
  run --rekey --ike gw --reauth
  run --redirect --ike gw --gateway 192.0.2.9
  run --terminate --ike gw --timeout 20000
  run --list-sas
  ip -n sbs-a xfrm state | grep -c "^src" | sed 's/^/kernel SAs left in sbs-a: /' >> $O
}

# Round 1: iked as moon
mkdir -p $D/iked
cat > $D/iked/ipsec.conf <<EOC
conn gw
  left=192.0.2.1
  leftsubnet=198.51.100.0/24
  leftid=moon
  right=192.0.2.2
  rightsubnet=203.0.113.0/24
  rightid=sun
  authby=psk
  ike=aes256-sha256-modp2048!
  esp=aes128-sha256!
  auto=add
EOC
echo "moon sun : PSK \"$PSK\"" > $D/iked/ipsec.secrets; chmod 600 $D/iked/ipsec.secrets
printf 'charon {\n  plugins {\n    vici {\n      socket = unix://%s/iked/vici\n    }\n  }\n}\n' $R > $D/iked/strongswan.conf
mkdir -p $D/iked/ipsec.d
ip netns exec sbs-a env IKED_IPSEC_D=$D/iked/ipsec.d $D/iked-bin --config $D/iked/ipsec.conf --secrets $D/iked/ipsec.secrets \
  --strongswan-conf $D/iked/strongswan.conf --ctl $R/iked/ctl > $D/iked/log 2>&1 &
echo $! > $D/iked/pid
for i in $(seq 1 100); do [ -S $R/iked/vici ] && break; sleep 0.1; done
round iked $R/iked/vici
stop iked

# Round 2: strongSwan as moon
charon_conf moon; swanctl_conf moon 192.0.2.1 192.0.2.2 moon sun 198.51.100.0/24 203.0.113.0/24
start_charon moon sbs-a
round strongswan $R/moon/vici
stop moon
stop sun
ip netns del sbs-a; ip netns del sbs-b
echo DONE

#!/usr/bin/env bash
# iked vs strongSwan (Debian 5.9.8) benchmarks, in network namespaces, as
# ratios measured in one run. See bench/README.md.
#
#   sudo bench/run.sh [config] [ike] [guest]  (default: config ike)
#   guest: the ike benchmark inside a QEMU guest (Debian's kernel, real ESP:
#   the CHILD_SAs go into the kernel), booted by virtme-ng as the lab does
#   (interop-tests/lab/setup.sh); GUEST_IKE_N ("100 300"), GUEST_ROUNDS (3),
#   GUEST_PROPOSALS (aes128gcm16-prfsha256-x25519), GUEST_CPUS (2), GUEST_MEM
#   (2G), GUEST_TIMEOUT (whole boot, 3600 s), GUEST_APPEND (kernel arguments,
#   "clocksource=tsc tsc=reliable": clock reads through the vDSO, as on real
#   machines); results in $OUT/guest
#
# env:
#   ROUNDS=3              interleaved A/B rounds per comparison (medians reported)
#   CONF_N=10000          conns in the generated ipsec.conf (config load)
#   IKE_N="500 2000"      IKE_SAs per setup-rate run
#   PROPOSALS="aes128gcm16-prfsha256-x25519 aes256-sha256-modp2048"
#   IKED_BIN=path         iked binary (default: target/release/iked, built with cargo)
#   BUILD=0               do not run cargo build
#   OUT=dir               logs and results (default /tmp/iked-bench.<pid>)
#   IKE_TIMEOUT=s         bound for one setup-rate run (default 60 + N/10)
#   KINDS="iked swan"     responders of the setup-rate runs (KINDS=iked: iked alone)
#   IKED_BASE=path        a baseline iked, run interleaved beside iked (kind "base")
#   RESP_CPUS=0           run the iked responder under taskset -c (1 vs 2 cores)
#                         (KINDS="iked iked1 ...": kind iked1 is the same iked
#                         under taskset -c 0, interleaved with the others)
#   PERF=1                record iked's responder with perf (perf.data + perf-report.txt per run)
#   PERF=stat             count each responder's syscalls by kind, context switches and faults
#                         (perf stat: perf-stat.txt per run; works in the guest, where sampling does not);
#                         PERF=stat-all counts every syscall (and costs the responder CPU itself)
#   HEAPTRACK=1           run iked's responder under heaptrack (heaptrack.*.zst + heap-report.txt
#                         per run; its CPU and RSS figures are then heaptrack's too)
#
# Traffic stays in the namespaces made here (ikb-<pid>-*), on documentation
# prefixes (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32).
# Every process started is ended by its PID; the namespaces are deleted.
set -u -o pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
ROUNDS=${ROUNDS:-3}
CONF_N=${CONF_N:-10000}
IKE_N=${IKE_N:-"500 2000"}
PROPOSALS=${PROPOSALS:-"aes128gcm16-prfsha256-x25519 aes256-sha256-modp2048"}
OUT=${OUT:-/tmp/iked-bench.$$}
PFX=ikb-$$
PSK="iked-bench-psk-not-secret-0123456789"
WHAT=${*:-config ike}

mkdir -p "$OUT"
RESULTS=$OUT/results.md
: >"$RESULTS"

log() { echo "[$(date +%T)] $*" >&2; }
die() { log "FATAL: $*"; exit 1; }
now() { date +%s.%N; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", a-b}'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b+0==0) print "n/a"; else printf "%.2f", a/b}'; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR]=$1} END{ if (NR==0) {print "n/a"; exit} if (NR%2) print v[(NR+1)/2]; else printf "%.3f\n", (v[NR/2]+v[NR/2+1])/2 }'; }
res() { echo "$*" | tee -a "$RESULTS"; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

[ "$(id -u)" = 0 ] || die "run as root (namespaces, port 500)"

# ---------------------------------------------------------------- cleanup
PIDS=()
NSS=()
stop_pid() { # pid [grace seconds]: SIGTERM, then SIGKILL after the grace
    local p=$1 g=${2:-5} i
    kill -0 "$p" 2>/dev/null || return 0
    kill -TERM "$p" 2>/dev/null
    for ((i = 0; i < g * 10; i++)); do
        kill -0 "$p" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$p" 2>/dev/null
    return 0
}
children() { # direct children of a pid
    awk -v p="$1" '{ s=$0; sub(/.*\) /, "", s); split(s, a, " "); if (a[2]==p) { split(FILENAME, q, "/"); print q[3] } nextfile }' /proc/[0-9]*/stat 2>/dev/null
}
descendants() { local c; for c in $(children "$1"); do echo "$c"; descendants "$c"; done; }
cleanup() {
    local i p
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        p=${PIDS[$i]}
        for d in $(descendants "$p"); do stop_pid "$d" 3; done
        stop_pid "$p" 3
    done
    PIDS=()
    for n in "${NSS[@]}"; do ip netns del "$n" 2>/dev/null; done
    NSS=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# namespaces of earlier runs whose driver is gone
for n in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^ikb-[0-9]*-'); do
    p=${n#ikb-}; p=${p%%-*}
    kill -0 "$p" 2>/dev/null || ip netns del "$n" 2>/dev/null
done

# ---------------------------------------------------------------- installs
need=()
for pkg in strongswan-starter strongswan-charon charon-systemd strongswan-swanctl time iproute2 util-linux; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y "${need[@]}" >/dev/null ||
        { timeout 300 apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y "${need[@]}" >/dev/null; } ||
        die "apt-get install ${need[*]} failed"
fi
# the packaged strongSwan must not be running in the host namespace for us
# (it is not touched: everything here runs in our own namespaces).

IKED=${IKED_BIN:-$REPO/target/release/iked}
IKECTL=$(dirname "$IKED")/ikectl
if [ -z "${IKED_BIN:-}" ] && [ "${BUILD:-1}" != 0 ]; then
    log "cargo build --release -p ike --bins"
    (cd "$REPO" && timeout 1800 cargo build --release -p ike --bins 2>&1 | tail -3) >&2 || die "build failed"
fi
[ -x "$IKED" ] || die "no iked at $IKED"
[ -x "$IKECTL" ] || die "no ikectl at $IKECTL"
# a private copy: a concurrent `cargo build` must not swap the binary mid-run
mkdir -p "$OUT/bin"
cp "$IKED" "$OUT/bin/iked" && cp "$IKECTL" "$OUT/bin/ikectl" || die "copy of the binaries failed"
IKED_SRC="$IKED, built $(date -u -r "$IKED" '+%F %T UTC'), sha256 $(sha256sum "$IKED" | cut -c1-12)"
IKED=$OUT/bin/iked
IKECTL=$OUT/bin/ikectl
# a baseline iked beside it (KINDS gains "base"): before/after in one run
KINDS=${KINDS:-iked swan}
if [ -n "${IKED_BASE:-}" ]; then
    [ -x "$IKED_BASE" ] || die "no baseline iked at $IKED_BASE"
    cp "$IKED_BASE" "$OUT/bin/iked-base" || die "copy of the baseline failed"
    IKED_BASE_SRC="$IKED_BASE, sha256 $(sha256sum "$IKED_BASE" | cut -c1-12)"
    IKED_BASE=$OUT/bin/iked-base
    case " $KINDS " in *" base "*) ;; *) KINDS="base $KINDS" ;; esac
fi
SWAN_VER=$(dpkg-query -W -f '${Version}' strongswan-charon 2>/dev/null)
IKED_VER=$("$IKED" --version 2>/dev/null)
GIT_REV=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)$(git -C "$REPO" diff --quiet HEAD -- ike conf pki xfrm 2>/dev/null || echo "+dirty")

res "# iked vs strongSwan benchmarks ($(date -u '+%F %T UTC'))"
res ""
if [ -n "${IN_GUEST:-}" ]; then
    res "QEMU guest (TCG, software emulation, on the host's cores): $(nproc) vCPUs, $(uname -r), load average at start $(loadavg);"
    # what makes a syscall dear here: a clock source without vDSO makes every
    # clock read a syscall; page-table isolation (Meltdown) flushes the TLB
    res "clock source $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource 2>/dev/null), meltdown: $(cat /sys/devices/system/cpu/vulnerabilities/meltdown 2>/dev/null), CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-);"
else
    res "host: $(nproc) cores, $(uname -r), load average at start $(loadavg);"
fi
res "iked: $IKED_VER (main at git $GIT_REV; binary $IKED_SRC); strongSwan: $SWAN_VER; rounds: $ROUNDS (interleaved, medians)"
res ""

# ---------------------------------------------------------------- helpers
mkns() { # name: a fresh namespace with lo up
    ip netns add "$1" || die "ip netns add $1"
    NSS+=("$1")
    ip -n "$1" link set lo up
}
delns() { # name
    local i
    ip netns del "$1" 2>/dev/null
    for i in "${!NSS[@]}"; do [ "${NSS[$i]}" = "$1" ] && unset 'NSS[i]'; done
    NSS=("${NSS[@]}")
}
udp_rcvbuf_errors() { # namespace: UDP RcvbufErrors (datagrams dropped, socket buffer full)
    ip netns exec "$1" awk '/^Udp:/{ if (!h) { for (i = 1; i <= NF; i++) c[$i] = i; h = 1 } else print $c["RcvbufErrors"] }' /proc/net/snmp
}
hwm() { awk '/^VmHWM/{print $2}' "/proc/$1/status" 2>/dev/null; }
rss() { awk '/^VmRSS/{print $2}' "/proc/$1/status" 2>/dev/null; }
cpu() { # utime+stime of a pid, seconds
    awk -v hz="$(getconf CLK_TCK)" '{ s=$0; sub(/.*\) /, "", s); split(s, a, " "); printf "%.2f", (a[12]+a[13])/hz }' "/proc/$1/stat" 2>/dev/null
}
cpu_sys() { # stime of a pid (the kernel's work on its behalf: netlink, sockets), seconds
    awk -v hz="$(getconf CLK_TCK)" '{ s=$0; sub(/.*\) /, "", s); split(s, a, " "); printf "%.2f", a[13]/hz }' "/proc/$1/stat" 2>/dev/null
}
mb() { awk -v k="$1" 'BEGIN{ if (k=="") print "n/a"; else printf "%.1f", k/1024 }'; }

# strongswan.conf for a charon started by the starter (stroke) in a private
# mount namespace. $1: log file, $2: extra charon settings
SWAN_PLUGINS="random nonce openssl pem pkcs1 pkcs8 x509 revocation constraints pubkey curve25519 aes sha2 hmac gcm kdf kernel-netlink socket-default stroke updown"
swan_conf() {
    cat <<EOF
charon {
  load = $SWAN_PLUGINS
  install_routes = no
  install_virtual_ip = no
  $2
  filelog {
    bench {
      path = $1
      append = no
      default = 0
      cfg = 1
      flush_line = yes
      time_format = %T
    }
  }
  syslog {
    identifier = charon-bench
    daemon {
      default = -1
    }
  }
}
starter {
  load_warning = no
}
EOF
}

# starts the starter in namespace $1 with conf $2 secrets $3 strongswan.conf $4,
# output to $5; prints the pid of the process that execs into the starter.
start_starter() {
    local script="set -e; mount -t tmpfs ikb-run /run; mkdir -p /run/lock; \
mount --bind $2 /etc/ipsec.conf; mount --bind $3 /etc/ipsec.secrets; \
mount --bind $4 /etc/strongswan.conf; exec ipsec start --nofork"
    ip netns exec "$1" unshare -m --propagation private sh -c "$script" >"$5" 2>&1 &
    echo $!
}
in_starter() { # pid cmd...: run in the starter's mount+net namespaces
    local p=$1; shift
    timeout 60 nsenter -t "$p" -m -n "$@"
}
charon_pid() { in_starter "$1" cat /run/charon.pid 2>/dev/null | tr -d '[:space:]'; }
stop_starter() { # starter pid
    local c
    c=$(charon_pid "$1")
    stop_pid "$1" 10
    [ -n "$c" ] && stop_pid "$c" 5
    for c in $(descendants "$1"); do stop_pid "$c" 2; done
    wait "$1" 2>/dev/null
}
forget_pid() { local i; for i in "${!PIDS[@]}"; do [ "${PIDS[$i]}" = "$1" ] && unset 'PIDS[i]'; done; PIDS=("${PIDS[@]}"); }

# ================================================================ 1. config load
gen_conf() { # n: ipsec.conf with n conns (documentation prefixes only)
    awk -v n="$1" 'BEGIN{
      print "config setup\n  uniqueids=no\n"
      print "conn %default\n  keyexchange=ikev2\n  ike=aes256gcm16-prfsha384-ecp384!\n  esp=aes256gcm16-ecp384!\n  ikelifetime=60m\n  keylife=20m\n  rekeymargin=3m\n  keyingtries=%forever\n  authby=psk\n"
      print "conn base\n  left=192.0.2.1\n  leftsubnet=192.0.2.0/24\n  mobike=no\n  auto=ignore\n"
      for (i = 0; i < n; i++) {
        printf "conn site-%d\n  also=base\n  right=203.0.113.%d\n  rightsubnet=198.51.100.%d/32,2001:db8:%x::/48\n  rightid=@site-%d.example.org\n  mark=%d\n  auto=add\n\n", i, 1 + i % 254, i % 256, i, i, i + 1
      }
    }'
}

bench_config() {
    local d=$OUT/config ns=$PFX-cfg r t0 t1 p c n ok
    mkdir -p "$d"
    gen_conf "$CONF_N" >"$d/ipsec.conf"
    printf ': PSK "%s"\n' "$PSK" >"$d/ipsec.secrets"
    chmod 600 "$d/ipsec.secrets"
    swan_conf "$d/charon.log" "" >"$d/strongswan.conf"
    mkns "$ns"
    log "config load: $CONF_N conns ($(wc -c <"$d/ipsec.conf") bytes), $ROUNDS rounds"
    "$IKED" --check-config --config "$d/ipsec.conf" --secrets "$d/ipsec.secrets" >"$d/check-config.out" 2>&1 ||
        die "iked --check-config rejects the generated file: $(tail -3 "$d/check-config.out")"
    local it=() ir=() st=() sr=() sc=() la=() cc=() scc=() dt=() dr=() drss=()
    for ((r = 1; r <= ROUNDS; r++)); do
        # A: iked --check-config (process start to exit)
        t0=$(now)
        /usr/bin/time -f '%M' -o "$d/iked-time.$r" "$IKED" --check-config --config "$d/ipsec.conf" \
            --secrets "$d/ipsec.secrets" >"$d/iked.$r.out" 2>&1
        t1=$(now)
        n=$(grep -c '^site-\|site-[0-9]' "$d/iked.$r.out")
        it+=("$(sub "$t1" "$t0")")
        ir+=("$(tail -1 "$d/iked-time.$r")")
        # A': the iked daemon, from exec to its "starting: N conns" line (config
        # loaded, sockets bound), confirmed by `ikectl statusall`
        rm -f "$d/iked.ctl"
        t0=$(now)
        ip netns exec "$ns" "$IKED" --config "$d/ipsec.conf" --secrets "$d/ipsec.secrets" \
            --ctl "$d/iked.ctl" >"$d/iked-daemon.$r.log" 2>&1 &
        p=$!; PIDS+=("$p")
        ok=0
        for ((i = 0; i < 6000; i++)); do
            grep -q "starting: $((CONF_N + 1)) conns" "$d/iked-daemon.$r.log" 2>/dev/null && { ok=1; break; }
            kill -0 "$p" 2>/dev/null || break
            sleep 0.01
        done
        t1=$(now)
        sleep 0.2
        dt+=("$(sub "$t1" "$t0")"); dr+=("$(hwm "$p")"); drss+=("$(rss "$p")")
        [ $ok = 1 ] || log "iked daemon did not start: $(tail -3 "$d/iked-daemon.$r.log")"
        for ((i = 0; i < 100; i++)); do [ -S "$d/iked.ctl" ] && break; sleep 0.05; done
        c=$(timeout 60 "$IKECTL" --ctl "$d/iked.ctl" statusall 2>/dev/null | grep -c '^ *site-[0-9]*: .*\.\.\.')
        log "  round $r: iked daemon ${dt[-1]} s (statusall lists $c conns, VmHWM ${dr[-1]} kB, VmRSS ${drss[-1]} kB)"
        [ "$c" = "$CONF_N" ] || log "  WARNING: ikectl statusall listed $c of $CONF_N conns"
        stop_pid "$p" 10; wait "$p" 2>/dev/null; forget_pid "$p"
        # B: strongSwan starter + charon, from `ipsec start` to every conn added
        rm -f "$d/charon.log"
        t0=$(now)
        p=$(start_starter "$ns" "$d/ipsec.conf" "$d/ipsec.secrets" "$d/strongswan.conf" "$d/starter.$r.out")
        PIDS+=("$p")
        ok=0
        for ((i = 0; i < 6000; i++)); do # 0.05 s steps, 300 s bound
            c=$(grep -c "added configuration 'site-" "$d/charon.log" 2>/dev/null)
            [ "${c:-0}" -ge "$CONF_N" ] && { ok=1; break; }
            kill -0 "$p" 2>/dev/null || break
            sleep 0.05
        done
        t1=$(now)
        cp "$d/charon.log" "$d/charon.$r.log" 2>/dev/null
        [ $ok = 1 ] || { log "strongSwan did not load $CONF_N conns (have ${c:-0}); see $d/charon.$r.log"; }
        # memory, then confirm with the starter's own view
        local cp_=$(charon_pid "$p") spid
        spid=$(in_starter "$p" cat /run/starter.charon.pid 2>/dev/null | tr -d '[:space:]')
        st+=("$(sub "$t1" "$t0")")
        sr+=("$(hwm "$cp_")")
        sc+=("$(hwm "$spid")")
        cc+=("$(cpu "$cp_")"); scc+=("$(cpu "$spid")")
        c=$(in_starter "$p" ipsec statusall 2>/dev/null | tee "$d/statusall.$r.txt" | grep -c '^ *site-[0-9]*: .*\.\.\.')
        log "  round $r: iked ${it[-1]} s (${n} conn lines, peak RSS ${ir[-1]} kB) | strongSwan ${st[-1]} s (statusall lists $c conns, charon VmHWM ${sr[-1]} kB CPU ${cc[-1]} s, starter ${sc[-1]} kB CPU ${scc[-1]} s) | load $(loadavg)"
        la+=("$(cut -d' ' -f1 /proc/loadavg)")
        stop_starter "$p"
        forget_pid "$p"
        [ "$c" = "$CONF_N" ] || log "  WARNING: statusall listed $c of $CONF_N conns"
    done
    delns "$ns"
    local mi ms
    mi=$(echo "${it[*]}" | median); ms=$(echo "${st[*]}" | median)
    res "## Config load: $CONF_N conns ($(wc -c <"$d/ipsec.conf") bytes ipsec.conf)"
    res ""
    res "| | median time (s) | all rounds (s) | peak RSS (MB) |"
    res "| --- | --- | --- | --- |"
    res "| iked --check-config | $mi | ${it[*]} | $(mb "$(echo "${ir[*]}" | median)") |"
    res "| iked daemon start -> config loaded (log line) | $(echo "${dt[*]}" | median) | ${dt[*]} | $(mb "$(echo "${dr[*]}" | median)") (RSS after: $(mb "$(echo "${drss[*]}" | median)")) |"
    res "| strongSwan ipsec start -> all conns added | $ms | ${st[*]} | charon $(mb "$(echo "${sr[*]}" | median)") + starter $(mb "$(echo "${sc[*]}" | median)") |"
    res ""
    res "strongSwan CPU (median): charon $(echo "${cc[*]}" | median) s, starter $(echo "${scc[*]}" | median) s."
    res "ratio strongSwan/iked time: **$(div "$ms" "$mi")x** (vs iked --check-config), **$(div "$ms" "$(echo "${dt[*]}" | median)")x** (vs the iked daemon); load average (1 min) during rounds: ${la[*]}"
    res ""
}

# ================================================================ 2. IKE_SA setup rate
# Responder config, read by both iked and the starter's charon. Every
# initiator conn is a road warrior with an inner address of its own
# (2001:db8:1::k/128, narrowed from rightsubnet) behind one outer address:
# distinct selectors, so that every CHILD_SA is installed with its own SAs
# and policies (iked refuses a CHILD_SA whose selectors are another peer's,
# so one shared selector pair would measure its refusals, not installs).
resp_conf() { # proposal
    cat <<EOF
config setup
  uniqueids=no

conn bench
  keyexchange=ikev2
  left=192.0.2.2
  leftid=@responder.bench.example
  leftsubnet=2001:db8:2::/64
  right=%any
  rightsubnet=2001:db8:1::/64
  rightid=%any
  authby=secret
  ike=$1!
  esp=aes128gcm16!
  auto=add
EOF
}
# Initiator swanctl.conf: n conns with distinct identities, started on load.
init_conf() { # n proposal
    awk -v n="$1" -v prop="$2" -v psk="$PSK" 'BEGIN{
      print "connections {"
      for (i = 1; i <= n; i++) {
        printf "  b%d {\n    version = 2\n    local_addrs = 192.0.2.1\n    remote_addrs = 192.0.2.2\n    proposals = %s\n    unique = never\n    keyingtries = 1\n    mobike = no\n", i, prop
        printf "    local { auth = psk\n      id = i%d.bench.example\n    }\n    remote { auth = psk\n      id = responder.bench.example\n    }\n", i
        printf "    children { c%d { esp_proposals = aes128gcm16\n      local_ts = 2001:db8:1::%x/128\n      remote_ts = 2001:db8:2::/64\n      start_action = start\n    } }\n  }\n", i, i
      }
      print "}"
      printf "secrets {\n  ike-all {\n    secret = \"%s\"\n  }\n}\n", psk
    }'
}
init_strongswan_conf() { # dir (log), socket dir
    cat <<EOF
charon {
  load = random nonce openssl pem pkcs1 pkcs8 x509 revocation constraints pubkey curve25519 aes sha2 hmac gcm kdf kernel-netlink socket-default vici
  install_routes = no
  install_virtual_ip = no
  retransmit_tries = 3
  plugins {
    vici {
      socket = unix://$2/charon.vici
    }
  }
  filelog {
    bench {
      path = $1/charon.log
      append = no
      default = 1
      flush_line = yes
      time_format = %T
    }
  }
  syslog {
    identifier = charon-bench-init
    daemon {
      default = -1
    }
  }
}
EOF
}

# one setup-rate run: responder kind (iked|swan), n, proposal, tag
ike_run() {
    local kind=$1 n=$2 prop=$3 tag=$4
    local d=$OUT/ike/$tag ri=$PFX-i rr=$PFX-r
    mkdir -p "$d"
    local bound=${IKE_TIMEOUT:-$((60 + n / 10))}
    # unix sockets: the guest's shared folder (9p) cannot hold them
    local sd=$d
    [ -z "${IN_GUEST:-}" ] || { sd=/run/$PFX-$tag; mkdir -p "$sd"; }
    # software emulation: everything is an order of magnitude slower
    [ -z "${IN_GUEST:-}" ] || bound=${IKE_TIMEOUT:-$((180 + n))}
    # topology: initiator 192.0.2.1 <-veth-> responder 192.0.2.2
    mkns "$ri"; mkns "$rr"
    # no IPv6 on the link: a link-local address appearing mid-run would make a
    # MOBIKE initiator send an address update on every IKE_SA (and mobike=no below)
    ip netns exec "$ri" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    ip netns exec "$rr" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    ip link add "$PFX-vi" netns "$ri" type veth peer name "$PFX-vr" netns "$rr" || die "veth"
    ip -n "$ri" addr add 192.0.2.1/24 dev "$PFX-vi"; ip -n "$ri" link set "$PFX-vi" up
    ip -n "$rr" addr add 192.0.2.2/24 dev "$PFX-vr"; ip -n "$rr" link set "$PFX-vr" up
    ip -n "$rr" addr add 198.51.100.1/24 dev lo
    resp_conf "$prop" >"$d/ipsec.conf"
    printf ': PSK "%s"\n' "$PSK" >"$d/ipsec.secrets"; chmod 600 "$d/ipsec.secrets"
    # DoS settings aligned with iked's (COOKIE above 10 half-open IKE_SAs, no per-IP block)
    swan_conf "$d/resp-charon.log" "cookie_threshold = 10
  cookie_threshold_ip = 10
  block_threshold = 1000000" >"$d/strongswan.conf"
    # responder
    local rp rpid
    if [ "$kind" != swan ]; then
        # iked reads the charon section too: the same DoS thresholds, and the
        # same logger (a filelog at default 0, cfg 1) as the strongSwan responder
        swan_conf "$d/iked-filelog.log" "cookie_threshold = 10
  cookie_threshold_ip = 10
  block_threshold = 1000000" >"$d/iked-strongswan.conf"
        local bin=$IKED
        [ "$kind" = base ] && bin=$IKED_BASE
        local wrap=() cpus=${RESP_CPUS:-}
        [ "$kind" = iked1 ] && cpus=0
        [ "${HEAPTRACK:-0}" = 1 ] && [ "$kind" = iked ] && wrap=(heaptrack -o "$d/heaptrack")
        ip netns exec "$rr" ${cpus:+taskset -c "$cpus"} "${wrap[@]}" "$bin" --config "$d/ipsec.conf" --secrets "$d/ipsec.secrets" \
            --strongswan-conf "$d/iked-strongswan.conf" \
            --ctl "$sd/iked.ctl" >"$d/iked.log" 2>&1 &
        rp=$!; PIDS+=("$rp"); rpid=$rp
        for ((i = 0; i < 100; i++)); do [ -S "$sd/iked.ctl" ] && break; sleep 0.1; done
        [ -S "$sd/iked.ctl" ] || { log "iked did not start: $(tail -3 "$d/iked.log")"; }
        if [ ${#wrap[@]} -gt 0 ]; then
            # heaptrack runs iked as its child: measure iked itself
            rpid=$(pgrep -n -f "^$bin --config $d/ipsec.conf") || die "no iked under heaptrack"
        fi
    else
        rp=$(start_starter "$rr" "$d/ipsec.conf" "$d/ipsec.secrets" "$d/strongswan.conf" "$d/starter.out")
        PIDS+=("$rp")
        rpid=""
        for ((i = 0; i < 100; i++)); do
            grep -q "added configuration 'bench'" "$d/resp-charon.log" 2>/dev/null && rpid=$(charon_pid "$rp") && [ -n "$rpid" ] && break
            sleep 0.1
        done
        [ -n "$rpid" ] || log "strongSwan responder did not load 'bench': $(tail -3 "$d/resp-charon.log")"
    fi
    sleep 0.5
    local rss0 cpu0 sys0 drops0
    rss0=$(rss "$rpid"); cpu0=$(cpu "$rpid"); sys0=$(cpu_sys "$rpid"); drops0=$(udp_rcvbuf_errors "$rr")
    local idrops0 idrops1
    idrops0=$(udp_rcvbuf_errors "$ri")
    # initiator
    local id=$d/init
    mkdir -p "$id"
    init_strongswan_conf "$id" "$sd" >"$id/strongswan.conf"
    init_conf "$n" "$prop" >"$id/swanctl.conf"
    ip netns exec "$ri" env STRONGSWAN_CONF="$id/strongswan.conf" /usr/sbin/charon-systemd >"$id/stdout" 2>&1 &
    local ip_=$!; PIDS+=("$ip_")
    for ((i = 0; i < 100; i++)); do [ -S "$sd/charon.vici" ] && break; sleep 0.1; done
    [ -S "$sd/charon.vici" ] || die "initiator charon did not start: $(tail -3 "$id/charon.log")"
    local t0 t1 est=0 fail=0 ok=0 last=0 stall=0 pp=""
    local ps=""
    if [ "${PERF:-0}" = stat ] || [ "${PERF:-0}" = stat-all ]; then
        # counted, not sampled (sampling an attached process under TCG gets
        # almost no samples): syscalls by kind, context switches, faults;
        # the syscalls both daemons make (stat), or every one (stat-all: one
        # counter per thread and syscall, which costs the daemon CPU itself)
        local ev=task-clock,context-switches,cpu-migrations,page-faults,raw_syscalls:sys_enter sc
        if [ "$PERF" = stat-all ]; then
            ev+=',syscalls:sys_enter_*'
            ulimit -n 1048576 2>/dev/null || ulimit -n 65536 2>/dev/null
        else
            for sc in sendmsg recvmsg sendto recvfrom sendmmsg recvmmsg futex epoll_wait epoll_pwait poll pselect6 \
                write read getrandom clock_gettime gettimeofday getpid mmap munmap mprotect madvise brk sched_yield; do
                ev+=",syscalls:sys_enter_$sc"
            done
        fi
        perf stat -e "$ev" -p "$rpid" -o "$d/perf-stat.txt" >"$d/perf.out" 2>&1 &
        ps=$!; PIDS+=("$ps")
        sleep 0.5
    fi
    if [ "$kind" != swan ] && [ "${PERF:-0}" = 1 ]; then
        perf record -q -F ${PERF_FREQ:-2999} --call-graph dwarf,32768 -p "$rpid" -o "$d/perf.data" >"$d/perf.out" 2>&1 &
        pp=$!; PIDS+=("$pp")
        sleep 0.5
    fi
    t0=$(now)
    timeout 120 swanctl --load-all --file "$id/swanctl.conf" --uri "unix://$sd/charon.vici" >"$id/load.out" 2>&1 &
    local lp=$!
    for ((i = 0; i < bound * 10; i++)); do # 0.1 s steps
        est=$(grep -c "IKE_SA b[0-9]*\[[0-9]*\] established between" "$id/charon.log" 2>/dev/null)
        fail=$(grep -c "giving up after\|notify error" "$id/charon.log" 2>/dev/null)
        [ "$((est + fail))" -ge "$n" ] && { ok=1; break; }
        kill -0 "$rpid" 2>/dev/null || { log "responder $kind ($rpid) died"; break; }
        sleep 0.1
    done
    t1=$(now)
    wait "$lp" 2>/dev/null
    sleep 1 # let the last IKE_AUTH replies and failed CHILD_SA installs settle
    local rss1 hwm1 cpu1 sys1 rcount
    rss1=$(rss "$rpid"); hwm1=$(hwm "$rpid"); cpu1=$(cpu "$rpid"); sys1=$(cpu_sys "$rpid")
    local nsys=n/a nctx=n/a
    if [ -n "$ps" ]; then
        kill -INT "$ps" 2>/dev/null
        for ((i = 0; i < 100; i++)); do kill -0 "$ps" 2>/dev/null || break; sleep 0.1; done
        stop_pid "$ps" 5; forget_pid "$ps"
        nsys=$(awk '$2 == "raw_syscalls:sys_enter" { gsub(",", "", $1); print $1 }' "$d/perf-stat.txt")
        nctx=$(awk '$2 == "context-switches" { gsub(",", "", $1); print $1 }' "$d/perf-stat.txt")
    fi
    if [ -n "$pp" ]; then
        kill -INT "$pp" 2>/dev/null
        for ((i = 0; i < 300; i++)); do kill -0 "$pp" 2>/dev/null || break; sleep 0.1; done
        stop_pid "$pp" 5; forget_pid "$pp"
        perf report -i "$d/perf.data" --stdio --no-children --sort dso,symbol --percent-limit 0.5 -g none \
            >"$d/perf-report.txt" 2>/dev/null
        timeout 900 python3 "$HERE/perf-fold.py" "$d/perf.data" "$bin" "$n" >"$d/perf-fold.txt" 2>&1
    fi
    if [ "$kind" != swan ]; then
        rcount=$(IKED_CTL="$sd/iked.ctl" timeout 60 ip netns exec "$rr" "$IKECTL" --ctl "$sd/iked.ctl" status 2>&1 | tee "$d/status.txt" | grep -c "ESTABLISHED")
    else
        rcount=$(in_starter "$rp" ipsec status 2>&1 | tee "$d/status.txt" | grep -c "ESTABLISHED")
    fi
    # what the kernel holds for the responder: with ESP (the guest) two SAs
    # and three policies (in, out, fwd) per CHILD_SA; on the host (no ESP)
    # no SA, and only what a daemon installs before its SAs fail
    local ksas kpols
    ksas=$(ip -n "$rr" xfrm state 2>/dev/null | grep -c '^src')
    kpols=$(ip -n "$rr" xfrm policy 2>/dev/null | grep -c '^src')
    local el rate drops1 rtx
    el=$(sub "$t1" "$t0"); rate=$(div "$est" "$el")
    drops1=$(udp_rcvbuf_errors "$rr"); idrops1=$(udp_rcvbuf_errors "$ri")
    rtx=$(grep -c "retransmit [0-9]* of request" "$id/charon.log")
    rtx0=$(grep -c "retransmit [0-9]* of request with message ID 0" "$id/charon.log")
    # per-socket receive buffer size (rb) and drops (d) of the responder
    ip netns exec "$rr" ss -uamnp >"$d/ss.txt" 2>&1
    echo "$kind $n $prop est=$est fail=$fail resp_established=$rcount time=$el rate=$rate rss_before=$rss0 rss_after=$rss1 hwm=$hwm1 cpu=$(sub "${cpu1:-0}" "${cpu0:-0}") cpu_sys=$(sub "${sys1:-0}" "${sys0:-0}") udp_drops=$((drops1 - drops0)) init_udp_drops=$((idrops1 - idrops0)) retransmits=$rtx retransmits_init=$rtx0 failed=$fail kernel_sas=$ksas kernel_policies=$kpols syscalls=${nsys:-n/a} ctxsw=${nctx:-n/a} complete=$ok load=$(cut -d' ' -f1 /proc/loadavg)" >"$d/result"
    log "  $tag: $(cat "$d/result")"
    # stop: initiator first, then responder
    stop_pid "$ip_" 10; forget_pid "$ip_"
    if [ "$kind" != swan ]; then
        if [ "$rpid" != "$rp" ]; then
            # under heaptrack: iked first, then heaptrack writes its file
            stop_pid "$rpid" 15
            for ((i = 0; i < 1200; i++)); do kill -0 "$rp" 2>/dev/null || break; sleep 0.1; done
            local ht
            ht=$(ls "$d"/heaptrack.* 2>/dev/null | head -1)
            [ -z "$ht" ] || timeout 600 heaptrack_print -f "$ht" --print-peaks 1 --print-allocators 0 \
                --print-leaks 1 --peak-limit 40 --print-temporary 0 >"$d/heap-report.txt" 2>&1
        fi
        stop_pid "$rp" 15; forget_pid "$rp"
    else
        stop_starter "$rp"; forget_pid "$rp"
    fi
    wait 2>/dev/null
    delns "$ri"; delns "$rr"
}

bench_ike() {
    local n prop r kind
    for prop in $PROPOSALS; do
        if [ -n "${IN_GUEST:-}" ]; then
            # the guest reads the host's binaries and libraries over 9p: the
            # first run of each program pays for that (20 s for swanctl
            # here); one uncounted run of 5 IKE_SAs per kind first
            for kind in $KINDS; do ike_run "$kind" 5 "$prop" "warmup-$prop-$kind"; done
        fi
        for n in $IKE_N; do
            log "IKE_SA setup: $n IKE_SAs, $prop, $ROUNDS rounds"
            for ((r = 1; r <= ROUNDS; r++)); do
                for kind in $KINDS; do
                    ike_run "$kind" "$n" "$prop" "$prop-$n-$kind-$r"
                done
            done
            ike_table "$n" "$prop"
        done
    done
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" "$2"; }
ike_table() {
    local n=$1 prop=$2 kind f r
    declare -A M
    for kind in $KINDS; do
        for f in time rate rss_before rss_after hwm cpu cpu_sys est resp_established load udp_drops init_udp_drops retransmits retransmits_init failed kernel_sas kernel_policies syscalls ctxsw; do
            local v=()
            for ((r = 1; r <= ROUNDS; r++)); do v+=("$(field "$f" "$OUT/ike/$prop-$n-$kind-$r/result")"); done
            M[$kind.$f]=$(echo "${v[*]}" | median)
            M[$kind.$f.all]=${v[*]}
        done
    done
    res "## IKE_SA setup as responder: $n IKE_SAs, ike=$prop! (PSK, strongSwan initiator)"
    res ""
    res "| responder | time to all (s), median | rounds (s) | IKE_SAs/s | established at initiator, rounds (responder, median) | responder CPU (s) | CPU per IKE_SA (us) (of which sys) | RSS after (MB) | (RSS after - before) / N (KB) | VmHWM (MB) | kernel SAs (policies) after, rounds | UDP rcvbuf drops at responder (at initiator), rounds | initiator retransmits (of IKE_SA_INIT), rounds |"
    res "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    for kind in $KINDS; do
        local name=iked; [ $kind = swan ] && name="strongSwan charon"; [ $kind = base ] && name="iked (baseline: $IKED_BASE_SRC)"
        [ $kind = iked1 ] && name="iked on one core (taskset -c 0)"
        local per_cpu per_kb
        per_cpu=$(awk -v c="${M[$kind.cpu]}" -v y="${M[$kind.cpu_sys]}" -v n="$n" 'BEGIN{ if (c=="n/a") print "n/a"; else if (y=="n/a"||y=="") printf "%.0f", c*1e6/n; else printf "%.0f (%.0f)", c*1e6/n, y*1e6/n }')
        per_kb=$(awk -v a="${M[$kind.rss_after]}" -v b="${M[$kind.rss_before]}" -v n="$n" 'BEGIN{ if (a=="n/a"||b=="n/a") print "n/a"; else printf "%.1f", (a-b)/n }')
        res "| $name | ${M[$kind.time]} | ${M[$kind.time.all]} | ${M[$kind.rate]} | ${M[$kind.est.all]} (${M[$kind.resp_established]}) of $n | ${M[$kind.cpu]} | $per_cpu | $(mb "${M[$kind.rss_after]}") | $per_kb | $(mb "${M[$kind.hwm]}") | ${M[$kind.kernel_sas.all]} (${M[$kind.kernel_policies.all]}) | ${M[$kind.udp_drops.all]} (${M[$kind.init_udp_drops.all]}) | ${M[$kind.retransmits.all]} (${M[$kind.retransmits_init.all]}) |"
    done
    res ""
    if [ "${PERF:-0}" = stat ] || [ "${PERF:-0}" = stat-all ]; then
        for kind in $KINDS; do
            res "perf stat, per IKE_SA (median): $kind $(awk -v s="${M[$kind.syscalls]}" -v c="${M[$kind.ctxsw]}" -v n="$n" 'BEGIN{ printf "%.1f syscalls, %.1f context switches", s/n, c/n }') (details: perf-stat.txt of each run)"
        done
        res ""
    fi
    local k
    for k in $KINDS; do
        [ "$k" = iked ] && continue
        local nm=strongSwan; [ "$k" = base ] && nm=baseline; [ "$k" = iked1 ] && nm="iked on one core"
        res "ratios $nm/iked: time $(div "${M[$k.time]}" "${M[iked.time]}")x, responder CPU $(div "${M[$k.cpu]}" "${M[iked.cpu]}")x, RSS after $(div "${M[$k.rss_after]}" "${M[iked.rss_after]}")x; load average (1 min) at the end of each run: iked ${M[iked.load.all]} / $nm ${M[$k.load.all]}"
    done
    res ""
}

# ================================================================ 3. the ike benchmark in a guest
# The first ESP transform of a boot costs seconds (instantiation and the
# crypto self-tests under emulation): paid once here, before any round.
warm_esp() {
    local w=$PFX-warm
    mkns "$w"
    ip -n "$w" xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x100 reqid 1 mode tunnel \
        aead 'rfc4106(gcm(aes))' 0x0102030405060708090a0b0c0d0e0f1011121314 128 ||
        log "warning: the ESP warm-up SA was refused (no ESP in this kernel?)"
    delns "$w"
}
bench_guest() {
    local venv=${LAB_VENV:-/var/cache/iked-lab/venv} kver g=$OUT/guest
    [ -x "$venv/bin/vng" ] || die "no virtme-ng in $venv (run interop-tests/lab/setup.sh)"
    kver=$(ls /boot/vmlinuz-* 2>/dev/null | sed 's|/boot/vmlinuz-||' | sort -V | tail -1)
    [ -n "$kver" ] || die "no kernel in /boot (run interop-tests/lab/setup.sh)"
    # the guest sees the host's root read-only but not its /tmp: the binaries
    # go into the folder it shares
    mkdir -p "$g/host-bin"
    cp "$IKED" "$IKECTL" "$g/host-bin/" || die "copy of the binaries for the guest failed"
    [ -z "${IKED_BASE:-}" ] || cp "$IKED_BASE" "$g/host-bin/iked-base" || die "copy of the baseline failed"
    {
        printf 'export IN_GUEST=1 BUILD=0 OUT=%q IKED_BIN=%q KINDS=%q PATH=%q\n' "$g" "$g/host-bin/iked" "$KINDS" "$PATH"
        printf 'export ROUNDS=%q IKE_N=%q PROPOSALS=%q\n' "${GUEST_ROUNDS:-3}" "${GUEST_IKE_N:-100 300}" \
            "${GUEST_PROPOSALS:-aes128gcm16-prfsha256-x25519}"
        [ -z "${IKED_BASE:-}" ] || printf 'export IKED_BASE=%q\n' "$g/host-bin/iked-base"
        [ -z "${RESP_CPUS:-}" ] || printf 'export RESP_CPUS=%q\n' "$RESP_CPUS"
        [ -z "${PERF:-}" ] || printf 'export PERF=%q\n' "$PERF"
        [ -z "${HEAPTRACK:-}" ] || printf 'export HEAPTRACK=%q\n' "$HEAPTRACK"
        [ -z "${IKE_TIMEOUT:-}" ] || printf 'export IKE_TIMEOUT=%q\n' "$IKE_TIMEOUT"
    } >"$g/env.sh"
    # Under TCG the kernel takes the TSC for unstable and reads the HPET,
    # which has no vDSO: every clock read of both daemons (20-25 per IKE_SA)
    # would be a syscall, as it is on no real machine. QEMU's TSC follows the
    # host's clock on every vCPU; GUEST_APPEND="" keeps the HPET.
    local GUEST_APPEND=${GUEST_APPEND-clocksource=tsc tsc=reliable}
    log "booting $kver under QEMU (TCG, ${GUEST_CPUS:-2} vCPUs, kernel arguments: ${GUEST_APPEND:-none}) for the ike benchmark; console: $g/console.log"
    local t0 rc
    t0=$(now)
    # one guest at a time on this machine: the lab's lock
    PATH="$venv/bin:$PATH" flock -w 1200 /tmp/iked-guest.lock timeout "${GUEST_TIMEOUT:-3600}" vng --run "/boot/vmlinuz-$kver" \
        --disable-kvm -m "${GUEST_MEM:-2G}" -p "${GUEST_CPUS:-2}" --rwdir "$g" --append "$GUEST_APPEND" \
        --exec "bash -c '. $g/env.sh; exec bash $HERE/run.sh ike'" \
        >"$g/console.log" 2>&1 </dev/null
    rc=$?
    log "guest exited (rc $rc) after $(sub "$(now)" "$t0") s"
    [ -s "$g/results.md" ] || die "the guest wrote no results (console tail: $(tail -5 "$g/console.log"))"
    res "## In a QEMU guest with real ESP (results of $g)"
    res ""
    sed -e 's/^#/##/' "$g/results.md" | tee -a "$RESULTS" >/dev/null
    res ""
}

for w in $WHAT; do
    case $w in
    config) bench_config ;;
    ike) [ -z "${IN_GUEST:-}" ] || warm_esp; bench_ike ;;
    guest) bench_guest ;;
    *) die "unknown benchmark '$w' (config, ike, guest)" ;;
    esac
done
res "load average at end: $(loadavg); logs: $OUT"
cleanup
echo
cat "$RESULTS"

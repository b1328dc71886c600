#!/usr/bin/env bash
# Makes the Debian system the `deb-systemd` guest scenario boots with systemd
# as its PID 1 (root, Debian 12; idempotent, once per machine, ~5 minutes):
#   - debootstrap and systemd-container (systemd-nspawn) on this machine;
#   - a minimal Debian 12 tree in $LAB_SYSROOT (default /opt/iked-lab/sysroot;
#     not under /var/cache or /tmp, which virtme-ng hides in the guest) with
#     systemd, journald, iproute2, iptables and what iked's package depends on.
# Inside the QEMU guest, the scenario starts that tree with `systemd-nspawn
# --boot` in a lab namespace (systemd as PID 1 of the container, the guest's
# real kernel with ESP below it), installs target/deb/iked_*.deb there with
# apt-get and drives iked with systemctl, against strongSwan in the other
# namespace. The guest itself has no systemd (virtme-ng's init).
# env: LAB_SYSROOT (default /opt/iked-lab/sysroot)
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
ROOT=${LAB_SYSROOT:-/opt/iked-lab/sysroot}

need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v systemd-nspawn >/dev/null || need+=(systemd-container)
if [ ${#need[@]} -gt 0 ]; then
  echo "systemd setup: apt-get install ${need[*]}"
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi

if [ -x "$ROOT/lib/systemd/systemd" ] && [ -f "$ROOT/.iked-lab-ready" ]; then
  echo "systemd setup: ok ($ROOT, $(cat "$ROOT/.iked-lab-ready"))"
  exit 0
fi

tmp="$ROOT.new"
rm -rf "$tmp"
mkdir -p "$(dirname "$ROOT")"
echo "systemd setup: debootstrap bookworm into $ROOT"
debootstrap --variant=minbase \
  --include=systemd,systemd-sysv,dbus,iproute2,iptables,procps,kmod,libssl3,iputils-ping \
  bookworm "$tmp" http://deb.debian.org/debian >"$tmp.log" 2>&1 || {
  tail -n 20 "$tmp.log" >&2
  echo "systemd setup: debootstrap failed (log: $tmp.log)" >&2
  exit 1
}
# an empty machine-id: systemd makes one at each boot of the container
: >"$tmp/etc/machine-id"
echo iked-deb >"$tmp/etc/hostname"
# nothing in the container waits for a network it cannot configure
chroot "$tmp" systemctl mask systemd-networkd-wait-online.service \
  systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer >/dev/null 2>&1 || true
chroot "$tmp" apt-get clean
rm -rf "$ROOT"
mv "$tmp" "$ROOT"
rm -f "$tmp.log"
chroot "$ROOT" dpkg-query -W -f='systemd ${Version}' systemd >"$ROOT/.iked-lab-ready"
echo "systemd setup: ok ($ROOT, $(cat "$ROOT/.iked-lab-ready"))"

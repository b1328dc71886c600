#!/usr/bin/env bash
# Installs what the guest lab needs, idempotently (root, Debian):
#   - qemu-system-x86 + Debian's stock kernel (linux-image-amd64) for a full-featured guest kernel
#   - iproute2/ping/tcpdump/bc/iptables/conntrack used by guest scripts
#   - virtme-ng in a venv (vng needs its bin dir on PATH: it shells out to virtme-run)
# Prints nothing but a one-line summary when everything is already there.
# env: LAB_VENV (default: /var/cache/iked-lab/venv)
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
LAB_VENV=${LAB_VENV:-/var/cache/iked-lab/venv}

have_kernel() { ls /boot/vmlinuz-* >/dev/null 2>&1; }
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
have_kernel || need+=(linux-image-amd64)
command -v ping >/dev/null || need+=(iputils-ping)
command -v tcpdump >/dev/null || need+=(tcpdump)
command -v bc >/dev/null || need+=(bc)
# the daemon lab's NAT namespace (MASQUERADE) and its mapping change (conntrack -F)
command -v iptables >/dev/null || need+=(iptables)
command -v conntrack >/dev/null || need+=(conntrack)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)   # virtme-ng builds its initramfs with it
command -v ip >/dev/null || need+=(iproute2)
command -v python3 >/dev/null || need+=(python3)
python3 -c 'import ensurepip' 2>/dev/null || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  echo "lab setup: apt-get install ${need[*]}"
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi
if [ ! -x "$LAB_VENV/bin/vng" ]; then
  echo "lab setup: virtme-ng venv in $LAB_VENV"
  mkdir -p "$(dirname "$LAB_VENV")"
  python3 -m venv "$LAB_VENV"
  "$LAB_VENV/bin/pip" install -q virtme-ng
fi
KVER=$(ls /boot/vmlinuz-* | sed 's|/boot/vmlinuz-||' | sort -V | tail -1)
echo "lab setup: ok (kernel $KVER, vng $("$LAB_VENV/bin/vng" --version 2>/dev/null | head -1))"

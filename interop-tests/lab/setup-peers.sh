#!/usr/bin/env bash
# Installs the interop peers, idempotently (root, Debian 12):
#   - strongSwan: charon-systemd + swanctl (vici), strongswan-starter (`ipsec`, stroke),
#     the extra plugins (kernel-libipsec for the host-only data path), the extauth plugins
#     (eap-mschapv2, for the road-warrior client of the daemon lab's rw-peruser)
#   - libreswan 4.10, EXTRACTED into $LAB_LIBRESWAN (default /opt/iked-lab/libreswan; not
#     under /var/cache or /tmp, which virtme-ng hides in the guest): its Debian package
#     conflicts with strongSwan's, so it is never apt-installed; plus the libraries pluto needs
#   - iproute2, ping, tcpdump, NSS tools
# Prints one summary line when everything is already there.
# env: LAB_LIBRESWAN (default /opt/iked-lab/libreswan)
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
LSW=${LAB_LIBRESWAN:-/opt/iked-lab/libreswan}

pkgs=(strongswan-starter strongswan-charon strongswan-swanctl charon-systemd libstrongswan-standard-plugins libcharon-extra-plugins
      libcharon-extauth-plugins libstrongswan-extra-plugins iproute2 iputils-ping tcpdump procps util-linux
      libnss3-tools libcurl3-nss libevent-core-2.1-7 libevent-pthreads-2.1-7 libldns3
      libunbound8 libcap-ng0)
need=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need+=("$p")
done
updated=
if [ ${#need[@]} -gt 0 ]; then
  echo "peers setup: apt-get install ${need[*]}"
  apt-get update -q >/dev/null
  updated=1
  apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi
if [ ! -x "$LSW/usr/libexec/ipsec/pluto" ]; then
  echo "peers setup: extracting libreswan into $LSW (not installed: it conflicts with strongSwan)"
  [ -n "$updated" ] || apt-get update -q >/dev/null
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -q libreswan >/dev/null)
  mkdir -p "$LSW"
  dpkg -x "$tmp"/libreswan_*.deb "$LSW"
  rm -rf "$tmp"
fi
lsw_version=$("$LSW/usr/libexec/ipsec/pluto" --version 2>/dev/null | head -1 | cut -d' ' -f1-2 || true)
echo "peers setup: ok (strongSwan $(dpkg-query -W -f='${Version}' charon-systemd), ${lsw_version:-libreswan ?} in $LSW)"

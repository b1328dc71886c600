#!/usr/bin/env bash
# Installs the interop peers, idempotently (root, Debian 12):
#   - strongSwan: charon-systemd + swanctl (vici), strongswan-starter (`ipsec`, stroke),
#     the extra plugins (kernel-libipsec for the host-only data path), the extauth plugins
#     (eap-mschapv2, for the road-warrior client of the daemon lab's rw-peruser)
#   - libreswan 4.10, EXTRACTED into $LAB_LIBRESWAN (default /opt/iked-lab/libreswan; not
#     under /var/cache or /tmp, which virtme-ng hides in the guest): its Debian package
#     conflicts with strongSwan's, so it is never apt-installed; plus the libraries pluto needs
#   - OpenSSH's server, EXTRACTED into $LAB_OPENSSH (default /opt/iked-lab/openssh, with
#     libwrap0): the conformance runner starts sshd inside the test hosts of a scenario
#     that reaches a host by ssh (protoport-dual); installing the package would start
#     an sshd on this machine, so it is never apt-installed
#   - iproute2, ping, tcpdump, ssh (the client), NSS tools, strongSwan's pki (the
#     conformance runner and the road-warrior labs make their test PKIs with it)
# Prints one summary line when everything is already there.
# env: LAB_LIBRESWAN (default /opt/iked-lab/libreswan), LAB_OPENSSH (default /opt/iked-lab/openssh)
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
LSW=${LAB_LIBRESWAN:-/opt/iked-lab/libreswan}
OSSH=${LAB_OPENSSH:-/opt/iked-lab/openssh}

pkgs=(strongswan-starter strongswan-charon strongswan-swanctl charon-systemd libstrongswan-standard-plugins libcharon-extra-plugins
      libcharon-extauth-plugins libstrongswan-extra-plugins strongswan-pki iproute2 iputils-ping tcpdump procps util-linux openssh-client
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
if [ ! -x "$OSSH/usr/sbin/sshd" ] || [ ! -e "$OSSH/usr/lib/x86_64-linux-gnu/libwrap.so.0" ]; then
  echo "peers setup: extracting OpenSSH's sshd into $OSSH (not installed: it would start an sshd here)"
  [ -n "$updated" ] || apt-get update -q >/dev/null
  tmp=$(mktemp -d)
  chmod 755 "$tmp"
  (cd "$tmp" && apt-get download -q openssh-server libwrap0 >/dev/null 2>&1)
  mkdir -p "$OSSH"
  for d in "$tmp"/*.deb; do dpkg -x "$d" "$OSSH"; done
  rm -rf "$tmp"
fi
lsw_version=$("$LSW/usr/libexec/ipsec/pluto" --version 2>/dev/null | head -1 | cut -d' ' -f1-2 || true)
echo "peers setup: ok (strongSwan $(dpkg-query -W -f='${Version}' charon-systemd), ${lsw_version:-libreswan ?} in $LSW, sshd in $OSSH)"

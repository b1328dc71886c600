#!/usr/bin/env bash
# Builds the Debian package: bash packaging/build-deb.sh [--bin-dir DIR] [--out DIR]
#
#   --bin-dir DIR  take iked, ikectl, ipsec and iked-gen-docs from DIR
#                  (default: cargo build --release, then target/release)
#   --out DIR      where iked_VERSION-1_ARCH.deb goes (default: target/deb)
#
# Needs dpkg-deb, dpkg-shlibdeps (dpkg-dev), fakeroot, strip and gzip. The
# package: /usr/sbin/{iked,ikectl,ipsec}, iked.service, /etc/ipsec.conf and
# /etc/ipsec.secrets (0600) as conffiles, the /etc/ipsec.d layout, man pages
# and shell completions generated from the clap definitions (iked-gen-docs)
# and ipsec(8),
# the copyright and changelog. It prints the path of the .deb it wrote.
set -euo pipefail
cd "$(dirname "$0")/.."

bin_dir=""
out="target/deb"
while [ $# -gt 0 ]; do
  case "$1" in
    --bin-dir) bin_dir="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "usage: $0 [--bin-dir DIR] [--out DIR]" >&2; exit 2 ;;
  esac
done
for tool in dpkg-deb dpkg-shlibdeps fakeroot strip gzip; do
  command -v "$tool" >/dev/null || { echo "build-deb: $tool is missing (apt-get install dpkg-dev fakeroot binutils)" >&2; exit 1; }
done
if [ -z "$bin_dir" ]; then
  cargo build --release -q -p ike --bins
  bin_dir="target/release"
fi

upstream=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
version="${upstream}-1"
arch=$(dpkg --print-architecture)
deb="$out/iked_${version}_${arch}.deb"
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
chmod 0755 "$root"

# Binaries, stripped (the debug information stays in the build tree).
for b in iked ikectl ipsec; do
  install -D -m 0755 "$bin_dir/$b" "$root/usr/sbin/$b"
  strip --strip-unneeded --remove-section=.comment --remove-section=.note "$root/usr/sbin/$b"
done

# Man pages and completions from the clap definitions.
gen="$root/gen"
"$bin_dir/iked-gen-docs" "$gen"
install -d "$root/usr/share/man/man8"
for page in "$gen"/man8/*.8; do
  gzip -9n < "$page" > "$root/usr/share/man/man8/$(basename "$page").gz"
done
for c in iked ikectl; do
  install -D -m 0644 "$gen/completions/bash/$c.bash" "$root/usr/share/bash-completion/completions/$c"
  install -D -m 0644 "$gen/completions/zsh/_$c" "$root/usr/share/zsh/vendor-completions/_$c"
  install -D -m 0644 "$gen/completions/fish/$c.fish" "$root/usr/share/fish/vendor_completions.d/$c.fish"
done
rm -rf "$gen"
# ipsec parses its arguments by hand (strongSwan's surface): its page is written.
gzip -9n < packaging/deb/ipsec.8 > "$root/usr/share/man/man8/ipsec.8.gz"

# The unit, the configuration skeleton, the docs.
install -D -m 0644 packaging/systemd/iked.service "$root/lib/systemd/system/iked.service"
install -D -m 0644 packaging/deb/ipsec.conf "$root/etc/ipsec.conf"
install -D -m 0600 packaging/deb/ipsec.secrets "$root/etc/ipsec.secrets"
for d in cacerts certs crls aacerts ocspcerts acerts reqs; do
  install -d -m 0755 "$root/etc/ipsec.d/$d"
done
install -d -m 0700 "$root/etc/ipsec.d/private"
install -D -m 0644 packaging/deb/copyright "$root/usr/share/doc/iked/copyright"
install -D -m 0644 packaging/deb/lintian-overrides "$root/usr/share/lintian/overrides/iked"
gzip -9n < packaging/deb/changelog > "$root/usr/share/doc/iked/changelog.Debian.gz"
chmod 0644 "$root/usr/share/doc/iked/changelog.Debian.gz"

# Control files. Depends: what the binaries link, as dpkg-shlibdeps finds it.
install -d -m 0755 "$root/DEBIAN"
shl=$(mktemp -d)
mkdir "$shl/debian"
printf 'Source: iked\n\nPackage: iked\nArchitecture: any\n' > "$shl/debian/control"
depends=$(cd "$shl" && dpkg-shlibdeps -O "$root/usr/sbin/iked" "$root/usr/sbin/ikectl" "$root/usr/sbin/ipsec" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
rm -rf "$shl"
[ -n "$depends" ] || { echo "build-deb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<CONTROL
Package: iked
Version: $version
Architecture: $arch
Maintainer: iked maintainers <maintainers@users.noreply.h-seed-cefe747b.example>
Installed-Size: $size
Depends: $depends
Conflicts: strongswan-starter, strongswan-charon, charon-systemd
Replaces: strongswan-starter
Section: net
Priority: optional
Homepage: https://example.invalid/iked
Description: IKEv2 keying daemon, a drop-in for strongSwan's charon and starter
 iked negotiates IKEv2 IKE_SAs and CHILD_SAs and installs ESP SAs and
 policies through the kernel's XFRM interface. It reads strongSwan's
 /etc/ipsec.conf, /etc/ipsec.secrets, /etc/ipsec.d and the charon section
 of /etc/strongswan.conf, and brings ipsec(8) and ikectl(8) to control it.
 iked.service stands in for strongswan-starter.service and ipsec.service.
CONTROL
printf '/etc/ipsec.conf\n/etc/ipsec.secrets\n' > "$root/DEBIAN/conffiles"
for s in postinst prerm postrm; do
  install -m 0755 "packaging/deb/$s" "$root/DEBIAN/$s"
done
(cd "$root" && find . -type f ! -path './DEBIAN/*' ! -path './etc/*' -printf '%P\0' | sort -z | xargs -0 md5sum) > "$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"

mkdir -p "$out"
fakeroot dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"

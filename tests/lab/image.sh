#!/usr/bin/env bash
# The lab host's disk image: Debian 12 from this machine's Debian mirrors (debootstrap, then apt
# inside), with systemd as PID 1, Debian's cloud kernel, libvirt-daemon-system and
# qemu-system-x86 installed the Debian way, kvmtuned's runtime libraries (so its .deb installs
# without a network) and the lab runner unit. Cached by a key of its inputs: this script, the
# runner, the mirror. Prints the directory holding disk.raw, vmlinuz and initrd.img.
# Usage: image.sh (as root)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${KVMTUNED_LAB_CACHE:-/var/cache/kvmtuned-tests/lab}
SIZE=6G

# Everything the lab host needs besides kvmtuned: systemd and its kernel, libvirt and QEMU
# (guests inside are TCG), what kvmtuned links (its .deb then installs offline), and what the
# scenarios and the system tests use (hwloc's tools, bc, curl, python3 for JSON).
PACKAGES=(systemd systemd-sysv udev dbus linux-image-cloud-amd64 initramfs-tools e2fsprogs
  libvirt-daemon-system libvirt-clients qemu-system-x86 seabios
  libhwloc15 libinih1 libjson-c5 libmicrohttpd12 libvirt0 libxml2 libsystemd0
  hwloc bc curl python3 util-linux kmod)

log() { printf '# image: %s\n' "$*" >&2; }

# The Debian entries of this machine's apt sources, as one-line "deb" entries.
debian_sources() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] && grep -E '^deb\s+\S*debian' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && awk '
      function out() { if (t == "deb" && u ~ /debian/) { n = split(s, a, " "); for (i = 1; i <= n; i++) print "deb", u, a[i], c } t = u = s = c = "" }
      /^Types:/ { t = $2 } /^URIs:/ { u = $2 } /^Suites:/ { $1 = ""; s = $0 } /^Components:/ { $1 = ""; c = $0 }
      /^$/ { out() } END { out() }' "$f"
  done
}
SOURCES=$(debian_sources | sed 's/[[:space:]]\+/ /g' | sort -u)
MIRROR=$(awk '$3 == "bookworm" { print $2; exit }' <<<"$SOURCES")
[ -n "$MIRROR" ] || { echo "image: no Debian 12 mirror in this machine's apt sources" >&2; exit 1; }

key=$( (cat "$0" "$HERE/guest/kvmtuned-lab.service" "$HERE/guest/lab-runner"; echo "$SOURCES") | sha256sum | cut -c1-16)
dir="$CACHE/$key"
if [ -s "$dir/disk.raw" ] && [ -s "$dir/vmlinuz" ] && [ -s "$dir/initrd.img" ]; then
  log "cached: $dir"
  echo "$dir"
  exit 0
fi

mkdir -p "$CACHE"
root=$(mktemp -d /var/tmp/kvmtuned-lab-root-XXXXXX)
cleanup() {
  findmnt -rn -o TARGET | grep "^$root/" | sort -r | while read -r m; do umount -l "$m"; done
  rm -rf --one-file-system "$root"
}
trap cleanup EXIT
t0=$(date +%s)
log "debootstrap bookworm from $MIRROR"
debootstrap --variant=minbase --include=apt-utils bookworm "$root" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 ||
  { tail -n 20 "$CACHE/debootstrap.log" >&2; exit 1; }
printf '%s\n' "$SOURCES" >"$root/etc/apt/sources.list"
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d" # nothing starts while we build
chmod 0755 "$root/usr/sbin/policy-rc.d"
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --bind /dev "$root/dev"
in_root() { chroot "$root" env DEBIAN_FRONTEND=noninteractive LC_ALL=C "$@"; }
log "apt-get install ${#PACKAGES[@]} packages"
{ in_root apt-get update -q && in_root apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"; } \
  >"$CACHE/apt.log" 2>&1 || { tail -n 30 "$CACHE/apt.log" >&2; exit 1; }
in_root apt-get clean
umount "$root/dev" "$root/sys" "$root/proc"
rm -f "$root/usr/sbin/policy-rc.d"

# A host that boots to multi-user.target on a serial console and runs the lab.
echo lab >"$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 lab\n' >"$root/etc/hosts"
printf '/dev/vda / ext4 defaults 0 1\n' >"$root/etc/fstab"
echo 'root:lab' | chroot "$root" chpasswd
ln -sf /lib/systemd/system/multi-user.target "$root/etc/systemd/system/default.target"
install -D -m 0644 "$HERE/guest/kvmtuned-lab.service" "$root/etc/systemd/system/kvmtuned-lab.service"
install -D -m 0755 "$HERE/guest/lab-runner" "$root/usr/local/sbin/lab-runner"
ln -sf /etc/systemd/system/kvmtuned-lab.service "$root/etc/systemd/system/multi-user.target.wants/kvmtuned-lab.service"
# Timers that would compete for the CPUs during the lab.
for t in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer man-db.timer; do
  ln -sf /dev/null "$root/etc/systemd/system/$t"
done
# libvirt's default network needs dnsmasq and iptables; the lab guests need no network.
rm -f "$root/etc/libvirt/qemu/networks/autostart/default.xml"

tmp="$dir.tmp"
rm -rf "$tmp"
mkdir -p "$tmp"
cp "$root"/boot/vmlinuz-* "$tmp/vmlinuz"
cp "$root"/boot/initrd.img-* "$tmp/initrd.img"
log "mkfs.ext4 -d ($SIZE, sparse)"
mkfs.ext4 -q -F -L lab -d "$root" "$tmp/disk.raw" "$SIZE"
rm -rf "$dir"
mv "$tmp" "$dir"
log "built in $(($(date +%s) - t0)) s: $dir"
echo "$dir"

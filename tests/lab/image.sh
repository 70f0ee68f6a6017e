#!/usr/bin/env bash
# The lab host's disk image: Debian 12 from this machine's Debian mirrors (debootstrap, then apt
# inside), with systemd as PID 1, Debian's cloud kernel, libvirt-daemon-system and
# qemu-system-x86 installed the Debian way, the packages the .deb depends on (so it installs
# without a network) and the lab runner unit. Cached by a key of its inputs: this script, the
# runner, the apt sources and the .deb's dependencies. Prints, as its last line, the directory
# holding disk.raw, vmlinuz and initrd.img.
# Usage: image.sh DEB (as root)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/debian-sources.sh"
CACHE=${KVMTUNED_LAB_CACHE:-/var/cache/kvmtuned-tests/lab}
DEB=${1:?usage: image.sh DEB}
SIZE=6G

# Everything the lab host needs besides kvmtuned: systemd and its kernel, libvirt and QEMU
# (guests inside are TCG), and what the scenarios and the system tests use (hwloc's tools, bc,
# curl). kvmtuned's own dependencies come from its .deb.
PACKAGES=(systemd systemd-sysv udev dbus linux-image-cloud-amd64 initramfs-tools e2fsprogs
  libvirt-daemon-system libvirt-clients qemu-system-x86 seabios hwloc bc curl util-linux kmod)
mapfile -t DEPENDS < <(dpkg-deb -f "$DEB" Depends | tr ',' '\n' | sed 's/[(|].*//; s/[[:space:]]//g' | grep -v '^$')

log() { printf '# image: %s\n' "$*" >&2; }

SOURCES=$(debian_sources)
MIRROR=$(debian_mirror)
[ -n "$MIRROR" ] || { echo "image: no Debian 12 mirror in this machine's apt sources" >&2; exit 1; }

key=$( (cat "$0" "$HERE/guest/kvmtuned-lab.service" "$HERE/guest/lab-runner"
  echo "$SOURCES" "$MIRROR" "${DEPENDS[*]}") | sha256sum | cut -c1-16)
dir="$CACHE/$key"
mkdir -p "$CACHE"
exec 8>"$CACHE/lock" # one build at a time; a second waits and finds the first's image
flock -w 3600 8 || { echo "image: another build holds $CACHE/lock" >&2; exit 1; }
if [ -s "$dir/disk.raw" ] && [ -s "$dir/vmlinuz" ] && [ -s "$dir/initrd.img" ]; then
  log "cached: $dir"
  echo "$dir"
  exit 0
fi

# Builds a killed run left: their mounts, then their trees.
unmount_below() { findmnt -rn -o TARGET | grep "^$1/" | sort -r | while read -r m; do umount -l "$m"; done; }
for old in /var/tmp/kvmtuned-lab-root-*; do
  [ -d "$old" ] && log "removing $old, left by a killed build" && unmount_below "$old" && rm -rf --one-file-system "$old"
done
root=$(mktemp -d /var/tmp/kvmtuned-lab-root-XXXXXX)
cleanup() {
  unmount_below "$root"
  rm -rf --one-file-system "$root" "$dir.tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
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
log "apt-get install ${#PACKAGES[@]} packages and the .deb's ${#DEPENDS[@]} dependencies"
{ in_root apt-get update -q && in_root apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" "${DEPENDS[@]}"; } \
  >"$CACHE/apt.log" 2>&1 || { tail -n 30 "$CACHE/apt.log" >&2; exit 1; }
in_root apt-get clean
unmount_below "$root"
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

rm -rf "$dir.tmp"
mkdir -p "$dir.tmp"
cp "$root"/boot/vmlinuz-* "$dir.tmp/vmlinuz"
cp "$root"/boot/initrd.img-* "$dir.tmp/initrd.img"
log "mkfs.ext4 -d ($SIZE, sparse)"
mkfs.ext4 -q -F -L lab -d "$root" "$dir.tmp/disk.raw" "$SIZE"
rm -rf "$dir"
mv "$dir.tmp" "$dir"
# Images of other keys are of no further use.
find "$CACHE" -mindepth 1 -maxdepth 1 -type d ! -name "$key" -exec rm -rf {} +
log "built in $(($(date +%s) - t0)) s: $dir"
echo "$dir"

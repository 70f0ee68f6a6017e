#!/usr/bin/env bash
# Package test: the .deb in a fresh Debian 12 system made with debootstrap from the Debian
# mirrors this machine uses. apt installs it with its dependencies and puts every file in place
# (configuration files marked as such, the unit enabled), kvmtuned --check passes on the shipped
# files; after `apt remove` the hook it leaves lets a domain start; `apt purge` leaves nothing.
# Usage: install.sh DEBDIR (where build.sh put kvmtuned_*.deb).
set -u
source "$(dirname "$0")/../lib/tap.sh"
DEBS=${1:?usage: install.sh DEBDIR}
CACHE=/var/cache/kvmtuned-tests
ROOT=

[ "$(id -u)" -eq 0 ] || skip_all "needs root (debootstrap, chroot)"
command -v debootstrap >/dev/null || fail_all "debootstrap is installed (contrib/install-deps.sh installs it)"
deb=$(ls "$DEBS"/kvmtuned_*.deb 2>/dev/null | head -n 1)
[ -n "$deb" ] || fail_all "build.sh left a kvmtuned_*.deb in $DEBS"

# Unmounts what a chroot of this test has mounted, then removes it (never crossing into a mount).
remove_root() {
  local m
  findmnt -rn -o TARGET | grep "^$1/" | sort -r | while read -r m; do umount -l "$m"; done
  rm -rf --one-file-system "$1"
}
cleanup() { [ -z "$ROOT" ] || remove_root "$ROOT"; }
trap cleanup EXIT
trap 'exit 1' INT TERM
# What a killed run left: its chroot, mounts and all.
exec 8>/run/lock/kvmtuned-package-install.lock
flock -w 1800 8 || fail_all "another run of the package test holds /run/lock/kvmtuned-package-install.lock"
for old in /var/tmp/kvmtuned-chroot-* /var/tmp/kvmtuned-debootstrap-*; do
  [ -d "$old" ] && say "removing $old, left by a killed run" && remove_root "$old"
done

source "$(dirname "$0")/../lib/debian-sources.sh"
SOURCES=$(debian_sources)
MIRROR=$(debian_mirror)
[ -n "$MIRROR" ] || fail_all "this machine's apt sources name a Debian 12 (bookworm) mirror"
say "mirror $MIRROR"

# The minimal system, cached by what it is made from (suite, variant, mirror) for a week.
mkdir -p "$CACHE"
key=$(printf 'bookworm minbase %s\n' "$MIRROR" | sha256sum | cut -c1-16)
base="$CACHE/bookworm-minbase-$key.tar"
if [ ! -s "$base" ] || [ -n "$(find "$base" -mtime +7)" ]; then
  say "debootstrap --variant=minbase bookworm (not cached yet)"
  tmp=$(mktemp -d /var/tmp/kvmtuned-debootstrap-XXXXXX)
  if debootstrap --variant=minbase bookworm "$tmp" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1; then
    tar -C "$tmp" -cf "$base.new" . && mv "$base.new" "$base"
  else
    tail -n 20 "$CACHE/debootstrap.log" | sed 's/^/#   /'
  fi
  remove_root "$tmp"
fi
[ -s "$base" ] || fail_all "debootstrap makes a Debian 12 system"

ROOT=$(mktemp -d /var/tmp/kvmtuned-chroot-XXXXXX)
tar -C "$ROOT" -xf "$base"
printf '%s\n' "$SOURCES" >"$ROOT/etc/apt/sources.list"
# Maintainer scripts must not start services in here.
printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
chmod 0755 "$ROOT/usr/sbin/policy-rc.d"
mount -t proc proc "$ROOT/proc"
mount -t sysfs -o ro sysfs "$ROOT/sys" # the host model for --check; read-only
cp "$deb" "$ROOT/tmp/"
in_root() { chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive LC_ALL=C "$@"; }

in_root apt-get update -qq >"$ROOT/tmp/apt.log" 2>&1
in_root apt-get install -y -qq --no-install-recommends "/tmp/$(basename "$deb")" >>"$ROOT/tmp/apt.log" 2>&1
rc=$?
tail -n 15 "$ROOT/tmp/apt.log" | sed 's/^/#   /'
check "apt installs $(basename "$deb") with its dependencies" [ "$rc" -eq 0 ]

files=(/usr/sbin/kvmtuned /usr/bin/kvmtunectl /lib/systemd/system/kvmtuned.service
  /etc/kvmtuned/kvmtuned.conf /etc/kvmtuned/policy.d/00-default.conf /etc/kvmtuned/policy.d/40-dense.conf
  /etc/kvmtuned/policy.d/50-gaming.conf /etc/kvmtuned/policy.d/60-vdi.conf /etc/libvirt/hooks/qemu.d/kvmtuned
  /usr/share/man/man8/kvmtuned.8.gz /usr/share/man/man8/kvmtunectl.8.gz /usr/share/man/man5/kvmtuned.conf.5.gz
  /usr/share/doc/kvmtuned/README.md /usr/share/doc/kvmtuned/kvmtuned.json /usr/share/doc/kvmtuned/copyright
  /usr/share/doc/kvmtuned/examples/dense-host.conf /usr/share/doc/kvmtuned/examples/gaming-desktop.conf
  /usr/share/doc/kvmtuned/examples/vdi-pool.conf)
missing=()
for f in "${files[@]}"; do [ -f "$ROOT$f" ] || missing+=("$f"); done
[ ${#missing[@]} -eq 0 ] || say "missing: ${missing[*]}"
check "every file is in place (${#files[@]} checked)" [ ${#missing[@]} -eq 0 ]
check "the hook and the binaries are executable" \
  test -x "$ROOT/etc/libvirt/hooks/qemu.d/kvmtuned" -a -x "$ROOT/usr/sbin/kvmtuned" -a -x "$ROOT/usr/bin/kvmtunectl"
conffiles=$(in_root dpkg-query -W -f='${Conffiles}' kvmtuned)
check_sh "the configuration, the policy and the hook are configuration files" \
  "for f in /etc/kvmtuned/kvmtuned.conf /etc/kvmtuned/policy.d/60-vdi.conf /etc/libvirt/hooks/qemu.d/kvmtuned; do grep -q \" \$f \" <<<'$conffiles' || exit 1; done"
check "the unit is enabled (multi-user.target wants it)" \
  test -L "$ROOT/etc/systemd/system/multi-user.target.wants/kvmtuned.service"
out=$(in_root kvmtuned --check 2>&1)
say "kvmtuned --check: $out"
check "kvmtuned --check passes on the shipped files" grep -qx "configuration OK" <<<"$out"
check_sh "kvmtunectl topology reads the host" "in_root kvmtunectl topology | head -n 1 | grep -q 'CPUs'"

in_root apt-get remove -y -qq kvmtuned >>"$ROOT/tmp/apt.log" 2>&1
check "apt remove kvmtuned succeeds" [ $? -eq 0 ]
check "kvmtunectl is gone" test ! -e "$ROOT/usr/bin/kvmtunectl"
check "the hook stays (a configuration file)" test -x "$ROOT/etc/libvirt/hooks/qemu.d/kvmtuned"
out=$(echo "<domain type='kvm'><name>vm</name></domain>" |
  chroot "$ROOT" /etc/libvirt/hooks/qemu.d/kvmtuned vm prepare begin - 2>&1)
check "and lets a domain start: it exits 0 without kvmtunectl" [ $? -eq 0 ]
[ -z "$out" ] || say "the hook said: $out"

in_root apt-get purge -y -qq kvmtuned >>"$ROOT/tmp/apt.log" 2>&1
check "apt purge kvmtuned succeeds" [ $? -eq 0 ]
left=()
for f in /etc/libvirt/hooks/qemu.d/kvmtuned /etc/kvmtuned /var/lib/kvmtuned /run/kvmtuned \
  /lib/systemd/system/kvmtuned.service /etc/systemd/system/multi-user.target.wants/kvmtuned.service; do
  [ -e "$ROOT$f" ] || [ -L "$ROOT$f" ] && left+=("$f")
done
[ ${#left[@]} -eq 0 ] || say "left after purge: ${left[*]}"
check "purge leaves no hook, configuration, state or unit" [ ${#left[@]} -eq 0 ]
check_sh "dpkg forgets it" "! in_root dpkg-query -W kvmtuned >/dev/null 2>&1"
tap_summary

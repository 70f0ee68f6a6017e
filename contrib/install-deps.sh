#!/usr/bin/env bash
# Installs, with apt-get, the Debian 12 packages kvmtuned needs to build, run and test;
# only what is missing, so a second run costs nothing.
set -euo pipefail

packages=(
  # build
  cmake gcc make pkg-config
  libvirt-dev libhwloc-dev libsystemd-dev libcmocka-dev
  libinih-dev libxml2-dev libjson-c-dev libmicrohttpd-dev
  # run: libvirt + QEMU for the demo and system tests; hwloc's tools are the tests' oracle
  libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 hwloc
  # test: bc and curl for the system tests, a private D-Bus with a systemd stand-in, promtool,
  # groff to render the man pages; the package tier builds the .deb, checks it with lintian and
  # installs it into a fresh Debian 12 made with debootstrap
  bc curl dbus-daemon python3-dbusmock prometheus groff-base
  dpkg-dev debhelper lintian debootstrap
  # clang builds the fuzz targets with libFuzzer (tests/fuzz/fuzz.sh, ctest -L fuzz)
  clang libclang-rt-dev
  # the host lab boots a Debian 12 image under QEMU from an overlay disk
  qemu-utils e2fsprogs
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]} (run as root to install them)" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

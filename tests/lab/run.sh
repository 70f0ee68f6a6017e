#!/usr/bin/env bash
# The host lab: boots a Debian 12 host under QEMU (systemd as PID 1, cgroup v2, 8 vCPUs = 2
# sockets x 2 cores x 2 threads, one NUMA node per socket with 1.75 GiB each), installs
# kvmtuned there from its .deb and runs a tier inside it: "lab" (the scenarios of
# guest/scenarios.sh) or "lab-system" (the system tests under systemd, from the package's
# binaries). The lab host reports TAP lines on its second serial port; they are printed here as
# they come, and the last line is "N passed, N failed". A lab host that does not boot or does
# not finish is a failure with the reason and the end of its console.
# Usage: run.sh lab|lab-system DEBDIR (as root; DEBDIR holds kvmtuned_*.deb)
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
source "$SRC/tests/lib/tap.sh"
TIER=${1:?usage: run.sh lab|lab-system DEBDIR}
DEBS=${2:?usage: run.sh lab|lab-system DEBDIR}
case "$TIER" in
lab) BUDGET=${KVMTUNED_LAB_BUDGET:-2700} ;;
lab-system) BUDGET=${KVMTUNED_LAB_BUDGET:-3600} ;;
*) fail_all "tier $TIER: expected lab or lab-system" ;;
esac
BOOT_LIMIT=900 # seconds to the first TAP line: the lab host booted and its runner started

[ "$(id -u)" -eq 0 ] || skip_all "needs root (debootstrap, mkfs, QEMU with a 3.5 GiB guest)"
for tool in qemu-system-x86_64 qemu-img mkfs.ext4 debootstrap; do
  command -v "$tool" >/dev/null || fail_all "$tool is installed (contrib/install-deps.sh installs it)"
done
deb=$(ls "$DEBS"/kvmtuned_*.deb 2>/dev/null | head -n 1)
[ -n "$deb" ] || fail_all "a kvmtuned_*.deb in $DEBS (tests/package/build.sh makes it)"

WORK=
QEMU_PID=
cleanup() {
  [ -n "$QEMU_PID" ] && kill "$QEMU_PID" 2>/dev/null && wait "$QEMU_PID" 2>/dev/null
  [ -n "$WORK" ] && rm -rf --one-file-system "$WORK"
  return 0
}
trap cleanup EXIT
trap 'exit 1' INT TERM

t0=$(date +%s)
image=$(bash "$HERE/image.sh") || fail_all "the lab image builds (see /var/cache/kvmtuned-tests/lab/*.log)"
say "image $image ready after $(($(date +%s) - t0)) s"

# The lab disk: the .deb, the runner of the tier and what it needs from the tree.
WORK=$(mktemp -d /var/tmp/kvmtuned-lab-XXXXXX)
mkdir -p "$WORK/lab/tree"
cp "$deb" "$WORK/lab/"
cp "$HERE/guest/run" "$HERE/guest/scenarios.sh" "$HERE/guest/system.sh" "$WORK/lab/"
# KVMTUNED_LAB_SCRIPT=FILE: run FILE in the lab host instead of the tier (to look into it by hand).
[ -n "${KVMTUNED_LAB_SCRIPT:-}" ] && cp "$KVMTUNED_LAB_SCRIPT" "$WORK/lab/scenarios.sh"
echo "$TIER" >"$WORK/lab/tier"
# The tree the system tests run from (the package's binaries replace the build's).
tar -C "$SRC" -cf - tests/system tests/lib/tap.sh contrib/libvirt-env.sh contrib/quickstart.sh etc |
  tar -C "$WORK/lab/tree" -xf -
mkfs.ext4 -q -F -L kvmtuned-lab -d "$WORK/lab" "$WORK/lab.img" 1G || fail_all "the lab disk is made"
qemu-img create -q -f qcow2 -F raw -b "$image/disk.raw" "$WORK/disk.qcow2" || fail_all "the overlay disk is made"

accel=tcg
if [ -w /dev/kvm ] && qemu-system-x86_64 -accel kvm -machine none -nographic -S </dev/null >/dev/null 2>&1 &
  sleep 1 && kill $! 2>/dev/null; then
  accel=kvm
fi
say "the lab host runs with $( [ "$accel" = kvm ] && echo KVM || echo "TCG (no usable /dev/kvm)"); its guests with TCG"

: >"$WORK/tap.log"
qemu-system-x86_64 -name kvmtuned-lab -machine q35 -accel "$accel$([ "$accel" = tcg ] && echo ,thread=multi)" \
  -cpu Skylake-Client -smp 8,sockets=2,cores=2,threads=2 -m 3584 \
  -object memory-backend-ram,id=m0,size=1792M -object memory-backend-ram,id=m1,size=1792M \
  -numa node,nodeid=0,cpus=0-3,memdev=m0 -numa node,nodeid=1,cpus=4-7,memdev=m1 \
  -kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
  -append "root=/dev/vda rw console=ttyS0 systemd.unified_cgroup_hierarchy=1 panic=-1" \
  -drive "file=$WORK/disk.qcow2,if=virtio,format=qcow2" -drive "file=$WORK/lab.img,if=virtio,format=raw" \
  -serial "file:$WORK/console.log" -serial "file:$WORK/tap.log" -display none -nic none -monitor none \
  </dev/null >"$WORK/qemu.log" 2>&1 &
QEMU_PID=$!
say "booting the lab host (QEMU pid $QEMU_PID), tier $TIER, budget $BUDGET s"

# Prints the TAP lines as they come; returns when QEMU ends or the budget is spent.
shown=0 booted=0 start=$(date +%s)
while :; do
  lines=$(wc -l <"$WORK/tap.log")
  if [ "$lines" -gt "$shown" ]; then
    sed -n "$((shown + 1)),${lines}p" "$WORK/tap.log" | tr -d '\r'
    shown=$lines
    [ "$booted" = 1 ] || say "the lab host is up after $(($(date +%s) - start)) s"
    booted=1
  fi
  kill -0 "$QEMU_PID" 2>/dev/null || break
  elapsed=$(($(date +%s) - start))
  if [ "$booted" = 0 ] && [ "$elapsed" -gt "$BOOT_LIMIT" ]; then
    reason="the lab host did not start its runner within $BOOT_LIMIT s"
    break
  fi
  [ "$elapsed" -gt "$BUDGET" ] && reason="the lab did not finish within $BUDGET s" && break
  sleep 2
done
wait_status=0
if kill -0 "$QEMU_PID" 2>/dev/null; then
  kill "$QEMU_PID"
  wait "$QEMU_PID" 2>/dev/null
  wait_status=1
fi
QEMU_PID=
summary=$(tr -d '\r' <"$WORK/tap.log" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
say "the lab ran $(($(date +%s) - start)) s"
if [ -z "$summary" ] || [ "$wait_status" != 0 ]; then
  say "${reason:-the lab host stopped before its last line}; the end of its console:"
  tail -n 60 "$WORK/console.log" | tr -d '\r' | sed 's/^/#   /'
  sed 's/^/#   /' "$WORK/qemu.log"
  say "the end of what the lab host's commands printed (run.log on the lab disk):"
  debugfs -R "cat /run.log" "$WORK/lab.img" 2>/dev/null | tail -n 60 | sed 's/^/#   /'
  fail_all "${reason:-the lab host stopped before it reported its summary}"
fi
failed=$(sed 's/.* passed, \([0-9]*\) failed.*/\1/' <<<"$summary")
if [ "$failed" -ne 0 ]; then
  say "the end of what the lab host's commands printed (run.log on the lab disk):"
  debugfs -R "cat /run.log" "$WORK/lab.img" 2>/dev/null | tail -n 80 | sed 's/^/#   /'
fi
[ "$failed" -eq 0 ]

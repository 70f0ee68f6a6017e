#!/usr/bin/env bash
# The host lab: boots a Debian 12 host under QEMU (systemd as PID 1, cgroup v2, 8 vCPUs = 2
# sockets x 2 cores x 2 threads, one NUMA node per socket with 1.75 GiB each), installs
# kvmtuned there from its .deb and runs a tier inside it: "lab" (the scenarios of
# guest/scenarios.sh) or "lab-system" (the system tests under systemd, from the package's
# binaries). The lab host reports TAP lines on its second serial port; they are printed here as
# they come. This side counts them itself, requires every scenario of the tier to have reported,
# and prints "N passed, N failed" last. A lab host that does not boot or does not finish is a
# failure with the reason and the end of its console (a boot that hangs before the runner starts
# is tried again, visibly, up to BOOT_TRIES boots).
# Usage: run.sh lab|lab-system [DEBDIR] (as root; DEBDIR holds kvmtuned_*.deb, built from the
# tree by tests/package/build.sh when it is not given)
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
source "$SRC/tests/lib/tap.sh"
TIER=${1:?usage: run.sh lab|lab-system [DEBDIR]}
DEBS=${2:-}
# Every tag the tier must report at least once: a scenario that never ran is a failure.
case "$TIER" in
lab)
  BUDGET=${KVMTUNED_LAB_BUDGET:-3600}
  TAGS="lab:package lab:notify lab:watchdog lab:journal lab:hardening lab:isolation-systemd lab:numa-strict
        lab:hugepages-node lab:smt lab:span lab:shared-span lab:host-tuning lab:boot-autostart lab:libvirtd-restart lab:remove lab:purge"
  ;;
lab-system)
  BUDGET=${KVMTUNED_LAB_BUDGET:-3000}
  TAGS="lab-system:package lab-system:test-libvirt-env lab-system:test-daemon lab-system:test-tuning lab-system:test-host-tuning
        lab-system:test-boot lab-system:test-isolation lab-system:test-stats lab-system:test-liveness"
  ;;
*) fail_all "tier $TIER: expected lab or lab-system" ;;
esac
BOOT_LIMIT=${KVMTUNED_LAB_BOOT_LIMIT:-240} # s from QEMU's start to the first TAP line (the runner runs); 31-45 s here
BOOT_TRIES=3 # boots that hang before the runner are tried again, up to this many in all

[ "$(id -u)" -eq 0 ] || skip_all "needs root (debootstrap, mkfs, QEMU with a 3.5 GiB guest)"
for tool in qemu-system-x86_64 qemu-img mkfs.ext4 debugfs debootstrap dpkg-deb; do
  command -v "$tool" >/dev/null || fail_all "$tool is installed (contrib/install-deps.sh installs it)"
done
WORK=
QEMU_PID=
cleanup() {
  [ -n "$QEMU_PID" ] && kill "$QEMU_PID" 2>/dev/null && wait "$QEMU_PID" 2>/dev/null
  [ -n "$WORK" ] && rm -rf --one-file-system "$WORK"
  return 0
}
trap cleanup EXIT
trap 'exit 1' INT TERM
T0=$(date +%s) # the budget counts from here, image build included
left() { echo $((BUDGET - ($(date +%s) - T0))); }

# One lab at a time; what a killed one left (ctest's timeout kills without cleanup) goes first.
exec 9>/run/lock/kvmtuned-lab.lock
flock -w "$BUDGET" 9 || fail_all "another lab holds /run/lock/kvmtuned-lab.lock"
for old in /var/tmp/kvmtuned-lab-run-*; do
  [ -d "$old" ] || continue
  pid=$(cat "$old/qemu.pid" 2>/dev/null)
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = qemu-system-x86 ] && kill "$pid"
  say "removing $old, left by a killed lab" && rm -rf --one-file-system "$old"
done
if [ -z "$DEBS" ]; then
  DEBS=/var/tmp/kvmtuned-lab-package
  say "building the package from the tree into $DEBS"
  bash "$SRC/tests/package/build.sh" "$DEBS" | sed 's/^/#   /'
fi
deb=$(ls "$DEBS"/kvmtuned_*.deb 2>/dev/null | head -n 1)
[ -n "$deb" ] || fail_all "a kvmtuned_*.deb in $DEBS (tests/package/build.sh makes it)"
avail=$(df -Pk /var/tmp | awk 'NR == 2 { print $4 }')
[ "$avail" -gt $((4 * 1024 * 1024)) ] || fail_all "/var/tmp has 4 GiB free for the lab host's disks (it has $((avail / 1024)) MiB)"

image=$(bash "$HERE/image.sh" "$deb" | tail -n 1)
[ -n "$image" ] && [ -s "$image/disk.raw" ] || fail_all "the lab image builds (see ${KVMTUNED_LAB_CACHE:-/var/cache/kvmtuned-tests/lab}/*.log)"
say "image $image ready after $(($(date +%s) - T0)) s"

# The lab disk: the .deb, the runner of the tier and what it needs from the tree.
WORK=$(mktemp -d /var/tmp/kvmtuned-lab-run-XXXXXX)
mkdir -p "$WORK/lab/tree"
cp "$deb" "$WORK/lab/"
cp "$HERE/guest/run" "$HERE/guest/scenarios.sh" "$HERE/guest/system.sh" "$WORK/lab/"
# KVMTUNED_LAB_SCRIPT=FILE: run FILE in the lab host instead of the tier (to look into it by hand).
[ -n "${KVMTUNED_LAB_SCRIPT:-}" ] && cp "$KVMTUNED_LAB_SCRIPT" "$WORK/lab/scenarios.sh"
echo "$TIER" >"$WORK/lab/tier"
# The tree the system tests run from (the package's binaries replace the build's).
tar -C "$SRC" -cf - tests/system tests/lib contrib/libvirt-env.sh etc | tar -C "$WORK/lab/tree" -xf -

# KVM when this machine can run a guest with it, else TCG.
accel=tcg
if [ -w /dev/kvm ] && echo quit | timeout 20 qemu-system-x86_64 -accel kvm -machine none -nodefaults -display none \
  -monitor stdio >/dev/null 2>&1; then
  accel=kvm
fi
say "the lab host runs with $([ "$accel" = kvm ] && echo KVM || echo "TCG (no usable /dev/kvm)"); its guests with TCG"

# Starts QEMU on fresh disks (the image's overlay and the lab disk).
# A kernel panic (pvpanic) ends QEMU with an error instead of a silent reboot into the runner.
start_host() {
  rm -f "$WORK/lab.img" "$WORK/disk.qcow2"
  truncate -s 1G "$WORK/lab.img" && mkfs.ext4 -q -F -L kvmtuned-lab -d "$WORK/lab" "$WORK/lab.img" ||
    fail_all "the lab disk is made"
  qemu-img create -q -f qcow2 -F raw -b "$image/disk.raw" "$WORK/disk.qcow2" || fail_all "the overlay disk is made"
  : >"$WORK/tap.log"
  : >"$WORK/console.log"
  qemu-system-x86_64 -name kvmtuned-lab -machine q35 -accel "$accel$([ "$accel" = tcg ] && echo ,thread=multi)" \
    -cpu Skylake-Client -smp 8,sockets=2,cores=2,threads=2 -m 3584 \
    -object memory-backend-ram,id=m0,size=1792M -object memory-backend-ram,id=m1,size=1792M \
    -numa node,nodeid=0,cpus=0-3,memdev=m0 -numa node,nodeid=1,cpus=4-7,memdev=m1 \
    -kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
    -append "root=/dev/vda rw console=ttyS0 systemd.unified_cgroup_hierarchy=1 panic=-1" \
    -drive "file=$WORK/disk.qcow2,if=virtio,format=qcow2,werror=report,rerror=report" \
    -drive "file=$WORK/lab.img,if=virtio,format=raw,werror=report,rerror=report" \
    -device pvpanic -action panic=exit-failure \
    -serial "file:$WORK/console.log" -serial "file:$WORK/tap.log" -display none -nic none -monitor none \
    </dev/null >"$WORK/qemu.log" 2>&1 &
  QEMU_PID=$!
  echo "$QEMU_PID" >"$WORK/qemu.pid"
  start=$(date +%s)
  say "booting the lab host (QEMU pid $QEMU_PID), tier $TIER, $(left) s of the budget left"
}

# Prints the TAP lines as they come, until QEMU ends or time is up.
shown=0 booted=0 tries=1 reason= qemu_rc= lab_start=$(date +%s)
show_new() {
  local lines
  lines=$(wc -l <"$WORK/tap.log")
  [ "$lines" -gt "$shown" ] || return 1
  sed -n "$((shown + 1)),${lines}p" "$WORK/tap.log" | tr -d '\r'
  shown=$lines
}
start_host
while :; do
  if show_new && [ "$booted" = 0 ]; then
    booted=1
    say "the lab host is up after $(($(date +%s) - start)) s"
  fi
  if ! kill -0 "$QEMU_PID" 2>/dev/null; then
    wait "$QEMU_PID"
    qemu_rc=$?
    QEMU_PID=
    # Seen in CI: QEMU itself (multi-threaded TCG) died of SIGSEGV 0.9 s into the kernel's boot.
    # A QEMU killed by a signal before the runner started is tried again too, visibly.
    [ "$booted" = 0 ] && [ "$qemu_rc" -ge 128 ] && [ "$tries" -lt "$BOOT_TRIES" ] || break
    say "boot $tries of $BOOT_TRIES: QEMU died (status $qemu_rc) before the runner started; its console ended with:"
    tail -n 3 "$WORK/console.log" | tr -d '\r' | sed 's/^/#   /'
    tries=$((tries + 1))
    start_host
    continue
  fi
  if [ "$booted" = 0 ] && [ $(($(date +%s) - start)) -gt "$BOOT_LIMIT" ]; then
    # Seen in CI: the kernel (8 vCPUs under multi-threaded TCG) stopped printing 2.7 s into its
    # boot, before init. Such a boot is tried again, visibly; a host that never boots fails.
    say "boot $tries of $BOOT_TRIES did not start the runner within $BOOT_LIMIT s; its console ended with:"
    tail -n 3 "$WORK/console.log" | tr -d '\r' | sed 's/^/#   /'
    kill "$QEMU_PID" && wait "$QEMU_PID" 2>/dev/null
    if [ "$tries" -ge "$BOOT_TRIES" ]; then
      QEMU_PID=
      reason="the lab host did not start its runner in $BOOT_TRIES boots of $BOOT_LIMIT s each"
      break
    fi
    tries=$((tries + 1))
    start_host
  fi
  [ "$(left)" -gt 0 ] || { reason="the lab did not finish within $BUDGET s" && break; }
  sleep 2
done
if [ -z "$QEMU_PID" ]; then
  [ -z "$qemu_rc" ] || [ "$qemu_rc" -eq 0 ] || reason="QEMU ended with status $qemu_rc (a kernel panic, or QEMU's own error)"
elif kill -0 "$QEMU_PID" 2>/dev/null; then
  kill "$QEMU_PID"
  wait "$QEMU_PID" 2>/dev/null
else
  wait "$QEMU_PID"
  rc=$?
  [ "$rc" -eq 0 ] || reason="QEMU ended with status $rc (a kernel panic, or QEMU's own error)"
fi
QEMU_PID=
show_new
say "the lab ran $(($(date +%s) - lab_start)) s ($tries boot$([ "$tries" = 1 ] || echo s))"

# The verdict, from the lines themselves: each ok or not ok (a TODO is neither), every tag seen,
# and the host's own summary line present (the runner finished).
tap=$(tr -d '\r' <"$WORK/tap.log")
passed=$(grep -cE '^ok [0-9]+ ' <<<"$tap")
failed=$(grep -E '^not ok [0-9]+ ' <<<"$tap" | grep -vc '# TODO')
missing=()
for t in $TAGS; do grep -qF "[$t]" <<<"$tap" || missing+=("$t"); done
grep -qE '^[0-9]+ passed, [0-9]+ failed' <<<"$tap" || reason=${reason:-the lab host stopped before its last line}
if [ ${#missing[@]} -gt 0 ]; then
  say "no line from: ${missing[*]}"
  failed=$((failed + 1))
fi
if [ -n "$reason" ] || [ "$failed" -gt 0 ]; then
  say "${reason:-some checks failed}; the end of the lab host's console:"
  tail -n 40 "$WORK/console.log" | tr -d '\r' | sed 's/^/#   /'
  awk '!seen[$0]++' "$WORK/qemu.log" | sed 's/^/#   /' # TCG repeats each warning per vCPU
  say "the end of what the lab host's commands printed (run.log on the lab disk):"
  debugfs -R "cat /run.log" "$WORK/lab.img" 2>/dev/null | tail -n 60 | sed 's/^/#   /'
fi
[ -z "$reason" ] || { say "$reason" && failed=$((failed + 1)); }
printf '%d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]

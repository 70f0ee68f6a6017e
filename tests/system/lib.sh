#!/usr/bin/env bash
# Shared harness of the system tests: a real libvirtd (started when not running, stopped again
# if we started it), tiny diskless QEMU guests (KVM when /dev/kvm works, else TCG), kvmtuned
# in a private runtime directory, TAP-like checks and a closing "N passed, N failed" line.
set -u

KT_BUILD=${KT_BUILD:?KT_BUILD must name the build directory}
KVMTUNED="$KT_BUILD/daemon/kvmtuned"
KVMTUNECTL="$KT_BUILD/daemon/kvmtunectl"
VIRSH="virsh -q -c qemu:///system"
KT_TMP=$(mktemp -d /tmp/kvmtuned-system-XXXXXX)
KT_RUN="$KT_TMP/run"
KT_LOG="$KT_TMP/kvmtuned.log"
KT_GUESTS=()
KT_PASSED=0
KT_FAILED=0
KT_STARTED_LIBVIRTD=0
KT_PID=

say() { printf '# %s\n' "$*"; }

check() { # check "what" command...
  local what=$1
  shift
  if "$@" >/dev/null 2>&1; then
    KT_PASSED=$((KT_PASSED + 1))
    printf 'ok - %s\n' "$what"
  else
    KT_FAILED=$((KT_FAILED + 1))
    printf 'not ok - %s\n' "$what"
  fi
}

skip_all() {
  printf 'SKIP: %s\n' "$*"
  cleanup
  printf '0 passed, 0 failed, 1 skipped\n'
  exit 0
}

# Waits up to $2 seconds (default 10) for a command to succeed.
wait_for() {
  local cmd=$1 limit=${2:-10} i
  for ((i = 0; i < limit * 10; i++)); do
    eval "$cmd" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

libvirtd_up() { $VIRSH version >/dev/null 2>&1; }

start_libvirtd() {
  libvirtd_up && return 0
  # Debian's QEMU driver runs guests as libvirt-qemu:libvirt-qemu, which must exist.
  getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
  getent group kvm >/dev/null || groupadd -r kvm
  id libvirt-qemu >/dev/null 2>&1 || useradd -r -g libvirt-qemu -G kvm -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu
  mkdir -p /var/log/libvirt /run/libvirt /var/lib/libvirt
  pgrep -x virtlogd >/dev/null || virtlogd -d
  libvirtd -d || return 1
  KT_STARTED_LIBVIRTD=1
  wait_for libvirtd_up 20
}

# Chooses KVM when QEMU can use /dev/kvm, else TCG; prints which.
choose_accel() {
  KT_VIRT=qemu
  if [ -c /dev/kvm ]; then
    # The guest runs as libvirt-qemu, which reaches /dev/kvm through the kvm group.
    if [ "$(stat -c %G /dev/kvm)" != kvm ] || [ $((0$(stat -c %a /dev/kvm) & 060)) -ne 060 ]; then
      chgrp kvm /dev/kvm && chmod 0660 /dev/kvm
    fi
    KT_VIRT=kvm
  fi
}

# guest_xml NAME VCPUS MIB [EXTRA]: a diskless guest; EXTRA goes inside <domain>.
guest_xml() {
  cat <<XML
<domain type='$KT_VIRT'>
  <name>$1</name>
  <memory unit='MiB'>$3</memory>
  <vcpu>$2</vcpu>
  <iothreads>1</iothreads>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <cpu mode='custom' match='exact' check='none'><model>qemu64</model><feature policy='disable' name='svm'/></cpu>
  ${4:-}
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <video><model type='none'/></video>
    <memballoon model='none'/>
  </devices>
</domain>
XML
}

start_guest() { # start_guest NAME VCPUS MIB [EXTRA]
  guest_xml "$@" >"$KT_TMP/$1.xml"
  KT_GUESTS+=("$1")
  $VIRSH create "$KT_TMP/$1.xml" >/dev/null
}

stop_guest() { $VIRSH destroy "$1" >/dev/null 2>&1; }

guest_pid() { pgrep -f "guest=$1,"; }

# thread_affinity NAME PATTERN: the CPU list the kernel holds for the guest's thread whose
# name matches PATTERN ("CPU 0/KVM", "IO iothread1"); the main thread when PATTERN is "main".
thread_affinity() {
  local pid t
  pid=$(guest_pid "$1") || return 1
  if [ "$2" = main ]; then
    taskset -pc "$pid" | sed 's/.*: //'
    return
  fi
  for t in /proc/"$pid"/task/*; do
    if [[ "$(cat "$t"/comm)" == $2* ]]; then
      taskset -pc "$(basename "$t")" | sed 's/.*: //'
      return
    fi
  done
  return 1
}

start_kvmtuned() { # start_kvmtuned [extra options]
  "$KVMTUNED" --runtime-dir "$KT_RUN" --config "$KT_TMP/kvmtuned.conf" --policy-dir "$KT_TMP/policy.d" --debug "$@" \
    >>"$KT_LOG" 2>&1 &
  KT_PID=$!
  wait_for "$KVMTUNECTL --runtime-dir $KT_RUN status" 10
}

ctl() { "$KVMTUNECTL" --runtime-dir "$KT_RUN" "$@"; }

domain_state() { ctl domains | awk -v n="$1" '$1 == n { print $3 }'; }

cleanup() {
  local g
  for g in "${KT_GUESTS[@]}"; do stop_guest "$g"; done
  [ -n "$KT_PID" ] && kill "$KT_PID" 2>/dev/null && wait "$KT_PID" 2>/dev/null
  if [ "$KT_STARTED_LIBVIRTD" = 1 ]; then
    pkill -x libvirtd
    pkill -x virtlogd
  fi
  if [ "$KT_FAILED" -gt 0 ] && [ -f "$KT_LOG" ]; then
    say "kvmtuned's log:"
    sed 's/^/#   /' "$KT_LOG"
  fi
  rm -rf "$KT_TMP"
}

finish() {
  cleanup
  printf '%d passed, %d failed\n' "$KT_PASSED" "$KT_FAILED"
  [ "$KT_FAILED" -eq 0 ]
}

#!/usr/bin/env bash
# Shared harness of the system tests: a real libvirtd (started when not running, stopped again
# if we started it), tiny diskless QEMU guests (KVM when /dev/kvm works, else TCG), kvmtuned
# in a private runtime directory, TAP-like checks and a closing "N passed, N failed" line.
set -u

KT_BUILD=${KT_BUILD:?KT_BUILD must name the build directory}
source "$(dirname "${BASH_SOURCE[0]}")/../../contrib/libvirt-env.sh"
KVMTUNED="$KT_BUILD/daemon/kvmtuned"
KVMTUNECTL="$KT_BUILD/daemon/kvmtunectl"
KT_TMP=$(mktemp -d /tmp/kvmtuned-system-XXXXXX)
KT_RUN="$KT_TMP/run"
KT_LOG="$KT_TMP/kvmtuned.log"
KT_GUESTS=()
KT_PASSED=0
KT_FAILED=0
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

# What every test that starts guests needs first: root, a running libvirtd, the accelerator
# chosen and said.
need_guests() {
  [ "$(id -u)" -eq 0 ] || skip_all "needs root (libvirtd, guests, pinning)"
  command -v libvirtd >/dev/null || skip_all "libvirtd is not installed"
  start_libvirtd || skip_all "libvirtd does not start here"
  choose_accel
  say "guests run with $( [ "$KT_VIRT" = kvm ] && echo KVM || echo "TCG (no usable /dev/kvm, or KT_ACCEL=tcg)")"
}

start_guest() { # start_guest NAME VCPUS MIB [EXTRA]
  guest_xml "$@" >"$KT_TMP/$1.xml"
  KT_GUESTS+=("$1")
  $VIRSH create "$KT_TMP/$1.xml" >/dev/null
}

stop_guest() { $VIRSH destroy "$1" >/dev/null 2>&1; }

guest_pid() { pgrep -f "guest=$1,"; }

# thread_affinity NAME PATTERN: the CPU list the kernel holds for the guest's thread whose
# name matches PATTERN ("CPU 0/", "IO iothread1"); the main thread when PATTERN is "main".
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
  "$KVMTUNED" --runtime-dir "$KT_RUN" --state-dir "$KT_TMP/state" --config "$KT_TMP/kvmtuned.conf" --policy-dir "$KT_TMP/policy.d" --debug "$@" \
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
  KT_PID=
  # A test's own undo (hooks, mounts, sysfs values), after guests and kvmtuned are gone.
  if declare -F extra_cleanup >/dev/null; then extra_cleanup; fi
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

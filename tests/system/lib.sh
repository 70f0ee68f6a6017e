#!/usr/bin/env bash
# Shared harness of the system tests: a real libvirtd (started when not running, stopped again
# if we started it), tiny diskless QEMU guests (KVM when /dev/kvm works, else TCG), kvmtuned
# in a private runtime directory, TAP-like checks and a closing "N passed, N failed" line.
# A test that cannot run here prints "SKIP: why" and exits 77 (ctest shows it as skipped).
# Cleanup runs on any exit; what a killed run leaves behind is swept up by the next one.
set -u

KT_BUILD=${KT_BUILD:?KT_BUILD must name the build directory}
source "$(dirname "${BASH_SOURCE[0]}")/../../contrib/libvirt-env.sh"
KVMTUNED="$KT_BUILD/daemon/kvmtuned"
KVMTUNECTL="$KT_BUILD/daemon/kvmtunectl"
KT_TMP=$(mktemp -d /tmp/kvmtuned-system-XXXXXX)
chmod 0755 "$KT_TMP" # guests (libvirt-qemu) read their disks below it
# The journal of original settings outlives a killed test, so the next run can restore them.
KT_STATE=/var/lib/kvmtuned-system-tests
KT_RUN="$KT_TMP/run"
KT_LOG="$KT_TMP/kvmtuned.log"
KT_GUESTS=()
KT_PASSED=0
KT_FAILED=0
KT_PID=
KT_CLEANED=0
LOOPS=()
trap cleanup EXIT
trap 'exit 1' INT TERM

say() { printf '%s\n' "$*" | sed 's/^/# /'; }

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

# check_sh "what" 'shell code': like check, for pipelines and the helpers defined here.
check_sh() {
  local what=$1
  shift
  check "$what" eval "$1"
}

skip_all() {
  printf 'SKIP: %s\n' "$*"
  printf '0 passed, 0 failed, 1 skipped\n'
  exit 77
}

# A dependency the test needs is installed (install-deps.sh does that) but broken: a failure,
# never a skip.
fail_all() {
  printf 'not ok - %s\n' "$*"
  KT_FAILED=$((KT_FAILED + 1))
  exit 1
}

# Whether the journal in KT_STATE still holds settings or reservations to undo (kvmtuned keeps
# the file, emptied, after a clean stop).
journal_pending() {
  [ -f "$KT_STATE/journal" ] && ! tr -d ' \n' <"$KT_STATE/journal" | grep -q '"settings":{},"reservations":\[\]'
}

# One run at a time on this host, whichever build tree it comes from: taken before libvirtd is
# looked at, held on fd 9 until the test exits.
KT_LOCKED=0
take_run_lock() {
  [ "$KT_LOCKED" = 1 ] && return 0
  mkdir -p /run/lock
  exec 9>/run/lock/kvmtuned-system-tests.lock
  flock -w 1800 9 || fail_all "another run of the system tests holds /run/lock/kvmtuned-system-tests.lock"
  KT_LOCKED=1
}

# Leftovers of a run that was killed: its guests, its journal of original settings (restored
# by one start and clean stop of kvmtuned, which also undoes a leftover cpuset group).
sweep_leftovers() {
  local g
  take_run_lock
  # A kvmtuned the killed run left running restores the host itself when stopped.
  if pkill -f -- "--state-dir $KT_STATE "; then
    say "stopping a kvmtuned a killed run left behind"
    wait_for "! pgrep -f -- '--state-dir $KT_STATE '" 20
  fi
  for g in $($VIRSH list --name 2>/dev/null | grep '^kt-'); do $VIRSH destroy "$g" >/dev/null 2>&1; done
  if journal_pending; then
    say "restoring what a killed run left in $KT_STATE"
    printf '[Daemon]\nURI=test:///default\nMetrics=off\n[Host]\nIsolateHost=no\nGovernorDedicated=keep\n' >"$KT_TMP/sweep.conf"
    mkdir -p "$KT_TMP/sweep.d"
    "$KVMTUNED" --runtime-dir "$KT_TMP/sweep-run" --state-dir "$KT_STATE" --config "$KT_TMP/sweep.conf" \
      --policy-dir "$KT_TMP/sweep.d" >>"$KT_TMP/sweep.log" 2>&1 9>&- &
    local pid=$!
    wait_for "'$KVMTUNECTL' --runtime-dir '$KT_TMP/sweep-run' status" 10
    kill "$pid"
    wait "$pid" 2>/dev/null
    if journal_pending; then
      sed 's/^/#   /' "$KT_TMP/sweep.log"
      fail_all "kvmtuned could not restore what $KT_STATE/journal holds"
    fi
  fi
  forget_state
}

# Removes the emptied journal and the state directory, never a set-aside journal.
forget_state() {
  rm -f "$KT_STATE/journal" "$KT_STATE/lock" # the lock: kvmtuned's one-instance flock file
  rmdir "$KT_STATE" 2>/dev/null
  return 0
}

# What every test that starts guests needs first: root, a running libvirtd, no leftovers, the
# accelerator chosen and said.
need_guests() {
  [ "$(id -u)" -eq 0 ] || skip_all "needs root (libvirtd, guests, pinning)"
  command -v libvirtd >/dev/null || skip_all "libvirtd is not installed"
  take_run_lock
  start_libvirtd || fail_all "libvirtd starts"
  sweep_leftovers
  choose_accel
  say "guests run with $( [ "$KT_VIRT" = kvm ] && echo KVM || echo "TCG (no usable /dev/kvm, or KT_ACCEL=tcg)")"
}

# start_loops [CPU]: two host busy-loops (pinned to CPU when given), in LOOPS.
start_loops() {
  local i
  for i in 1 2; do
    # 9>&-: what outlives a killed run must not hold the run lock (see take_run_lock).
    if [ -n "${1:-}" ]; then
      taskset -c "$1" bash -c 'while :; do :; done' 9>&- &
    else
      bash -c 'while :; do :; done' 9>&- &
    fi
    LOOPS+=($!)
  done
}

stop_loops() {
  local p
  for p in "${LOOPS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  LOOPS=()
}

# The CPUs the kernel lets a process or thread run on, in kernel list syntax ("0-3,8").
cpus_of() { awk '/Cpus_allowed_list/ { print $2 }' "/proc/$1/status"; }

# in_list CPU LIST: whether CPU is in the kernel list LIST.
in_list() {
  local part lo hi
  local list=${2:-}
  for part in ${list//,/ }; do
    lo=${part%-*}
    hi=${part#*-}
    [ "$1" -ge "$lo" ] && [ "$1" -le "$hi" ] && return 0
  done
  return 1
}

# subset_of A B: whether every CPU of kernel list A is in list B (and A is not empty).
subset_of() {
  local part lo hi c
  [ -n "${1:-}" ] && [ -n "${2:-}" ] || return 1
  for part in ${1//,/ }; do
    lo=${part%-*}
    hi=${part#*-}
    for ((c = lo; c <= hi; c++)); do in_list "$c" "$2" || return 1; done
  done
}

# pool NAME: a pool of the running kvmtuned (housekeeping, dedicated, shared) in list syntax.
pool() { ctl status | sed -n "s/^pools: .*$1 \([0-9,-]*[0-9]\).*/\1/p"; }

# planned_cpu XML: the CPU kvmtunectl plan gives vCPU 0 of the domain in XML under the test's
# configuration, on this host as it is now.
planned_cpu() {
  "$KVMTUNECTL" plan --config "$KT_TMP/kvmtuned.conf" --policy-dir "$KT_TMP/policy.d" "$1" |
    sed -n 's/^  vcpu 0: CPU \([0-9]*\) (dedicated)$/\1/p'
}

start_guest() { # start_guest NAME VCPUS MIB [EXTRA]
  guest_xml "$@" >"$KT_TMP/$1.xml"
  KT_GUESTS+=("$1")
  $VIRSH create "$KT_TMP/$1.xml" >/dev/null
}

stop_guest() { $VIRSH destroy "$1" >/dev/null 2>&1; }

# The QEMU process of a guest, from libvirt's pidfile.
guest_pid() { cat "/run/libvirt/qemu/$1.pid" 2>/dev/null; }

# thread_affinity NAME PATTERN: the CPU list (kernel syntax) the kernel holds for the guest's
# thread whose name starts with PATTERN ("CPU 0/", "IO iothread1"); "main": the main thread.
thread_affinity() {
  local pid t
  pid=$(guest_pid "$1") || return 1
  [ -n "$pid" ] || return 1
  if [ "$2" = main ]; then
    cpus_of "$pid"
    return
  fi
  for t in /proc/"$pid"/task/*; do
    if [[ "$(cat "$t"/comm)" == $2* ]]; then
      cpus_of "$pid/task/$(basename "$t")"
      return
    fi
  done
  return 1
}

start_kvmtuned() { # start_kvmtuned [extra options]
  "$KVMTUNED" --runtime-dir "$KT_RUN" --state-dir "$KT_STATE" --config "$KT_TMP/kvmtuned.conf" --policy-dir "$KT_TMP/policy.d" --debug "$@" \
    >>"$KT_LOG" 2>&1 9>&- &
  KT_PID=$!
  wait_for "$KVMTUNECTL --runtime-dir $KT_RUN status" 10
}

# Stops kvmtuned with SIGTERM (or the signal given) and waits for it.
stop_kvmtuned() {
  [ -n "$KT_PID" ] || return 0
  kill "-${1:-TERM}" "$KT_PID" 2>/dev/null
  wait "$KT_PID" 2>/dev/null
  KT_PID=
}

ctl() { "$KVMTUNECTL" --runtime-dir "$KT_RUN" "$@"; }

domain_state() { ctl domains | awk -v n="$1" '$1 == n { print $3 }'; }

# Runs once, on any exit: guests, loops and kvmtuned (its clean stop restores the host), the
# test's own undo, then libvirtd if we started it.
cleanup() {
  local g
  [ "$KT_CLEANED" = 1 ] && return 0
  KT_CLEANED=1
  for g in "${KT_GUESTS[@]}"; do stop_guest "$g"; done
  stop_loops
  stop_kvmtuned
  # A test's own undo (hooks, mounts, sysfs values), after guests and kvmtuned are gone.
  if declare -F extra_cleanup >/dev/null; then extra_cleanup; fi
  [ "$KT_STARTED_LIBVIRTD" = 1 ] && stop_libvirtd
  stop_virtlogd
  if [ "$KT_FAILED" -gt 0 ] && [ -f "$KT_LOG" ]; then
    say "kvmtuned's log:"
    sed 's/^/#   /' "$KT_LOG"
  fi
  rm -rf "$KT_TMP"
  # What a journal still holds after the clean stop needs undoing: keep it for the next run.
  if journal_pending; then
    say "$KT_STATE/journal still holds host settings; the next run restores them"
  else
    forget_state
  fi
  return 0
}

finish() {
  cleanup
  printf '%d passed, %d failed\n' "$KT_PASSED" "$KT_FAILED"
  [ "$KT_FAILED" -eq 0 ]
}

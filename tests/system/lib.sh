#!/usr/bin/env bash
# Shared harness of the system tests: a real libvirtd (started when not running, stopped again
# if we started it), tiny diskless QEMU guests (KVM when /dev/kvm works, else TCG), kvmtuned
# in a private runtime directory, TAP-like checks and a closing "N passed, N failed" line.
# A test that cannot run here prints "SKIP: why" and exits 77 (ctest shows it as skipped).
# Cleanup runs on any exit; what a killed run leaves behind is swept up by the next one.
set -u

KT_BUILD=${KT_BUILD:?KT_BUILD must name the build directory}
source "$(dirname "${BASH_SOURCE[0]}")/../../contrib/libvirt-env.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../lib/tap.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../lib/host.sh"
KVMTUNED="$KT_BUILD/daemon/kvmtuned"
KVMTUNECTL="$KT_BUILD/daemon/kvmtunectl"
KT_TMP=$(mktemp -d /tmp/kvmtuned-system-XXXXXX)
chmod 0755 "$KT_TMP" # guests (libvirt-qemu) read their disks below it
# The journal of original settings outlives a killed test, so the next run can restore them.
KT_STATE=/var/lib/kvmtuned-system-tests
# A fixed runtime directory: a killed run's kvmtuned is found by the pid file it writes there.
KT_RUN=/run/kvmtuned-system-tests
KT_LOG="$KT_TMP/kvmtuned.log"
KT_GUESTS=()
KT_PID=
KT_CLEANED=0
LOOPS=()
trap cleanup EXIT
trap 'exit 1' INT TERM

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
  local g pid
  take_run_lock
  # A kvmtuned the killed run left running restores the host itself when stopped.
  if pid=$(pid_of "$KT_RUN/kvmtuned.pid" kvmtuned); then
    say "stopping a kvmtuned a killed run left behind (pid $pid)"
    stop_pid "$pid" || fail_all "the kvmtuned a killed run left behind (pid $pid) stops"
  fi
  rm -rf "$KT_RUN"
  # Persistent ones too (test-boot defines autostart guests): they would start at every boot.
  for g in $($VIRSH list --all --name 2>/dev/null | grep '^kt-'); do
    $VIRSH destroy "$g" >/dev/null 2>&1
    $VIRSH undefine "$g" >/dev/null 2>&1
  done
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

# The quick start leaves a kvmtuned on /run/kvmtuned and its demo VM running, as a newcomer's
# host has them after the README's first command. A second kvmtuned would place the same guests,
# and the demo VM holds a CPU the tests count on: for its run a test takes both over (kvmtuned by
# the pid in its runtime directory, or its systemd unit), and give_back_host starts them again as
# they were: the same command line, directory, environment and log, and the demo VM's XML. What
# was taken is written to TAKEN, so that a run that was killed is given back by the next one
# (which takes the directory over as its own).
HOST_RUN=/run/kvmtuned
HOST_DEMO=kvmtuned-demo
TAKEN=/run/kvmtuned-system-tests.taken
take_over_host() {
  local pid log
  take_run_lock
  mkdir -p "$TAKEN"
  if under_systemd && systemctl -q is-active kvmtuned 2>/dev/null; then
    systemctl stop kvmtuned || fail_all "systemctl stop kvmtuned (to take it over for the test)"
    touch "$TAKEN/unit"
    say "stopped kvmtuned.service for this test; it is started again at the end"
  elif pid=$(pid_of "$HOST_RUN/kvmtuned.pid" kvmtuned); then
    readlink "/proc/$pid/cwd" >"$TAKEN/cwd"
    log=$(readlink "/proc/$pid/fd/2")
    # A pipe, socket or terminal cannot be opened again by name: the restart logs nowhere then.
    [ -f "$log" ] || log=/dev/null
    echo "$log" >"$TAKEN/log"
    cat "/proc/$pid/cmdline" >"$TAKEN/cmdline"
    cat "/proc/$pid/environ" >"$TAKEN/environ"
    echo "$pid" >"$TAKEN/pid"
    stop_pid "$pid" || fail_all "the running kvmtuned (pid $pid) stops, so the test can take its place"
    say "stopped the running kvmtuned (pid $pid: $(tr '\0' ' ' <"$TAKEN/cmdline")); it is started again at the end"
  fi
  if [ "$($VIRSH domstate "$HOST_DEMO" 2>/dev/null)" = running ]; then
    # kvmtuned's live pins are not the VM's own: they go, so the restart places it afresh.
    $VIRSH dumpxml "$HOST_DEMO" | sed '/<cputune>/,/<\/cputune>/d; /<numatune>/,/<\/numatune>/d' \
      >"$TAKEN/demo.xml"
    $VIRSH destroy "$HOST_DEMO" >/dev/null || fail_all "the demo VM $HOST_DEMO stops"
    say "stopped the demo VM $HOST_DEMO; it is started again at the end"
  fi
}

# Puts back what take_over_host, claim_hook_path and test-libvirt-env (TAKEN/virtlogd) took;
# a failure to do so fails the test.
give_back_host() {
  local pid args env
  [ "$KT_LOCKED" = 1 ] && [ -d "$TAKEN" ] || return 0
  if [ -e "$TAKEN/hook" ]; then
    check "the libvirt hook moved aside for the test is back" mv "$TAKEN/hook" "$HOOK"
  fi
  if [ -e "$TAKEN/virtlogd" ] && ! pid_of /run/virtlogd.pid virtlogd >/dev/null; then
    rm -f $VIRTLOGD_SOCKETS
    virtlogd -d 9>&- && wait_for '[ -S /run/libvirt/virtlogd-sock ]' 10
    check "the virtlogd the test stopped runs again" pid_of /run/virtlogd.pid virtlogd
  fi
  if [ -e "$TAKEN/unit" ]; then
    check "kvmtuned.service, stopped for the test, is started again" systemctl start kvmtuned
  elif [ -e "$TAKEN/cmdline" ] && "$KVMTUNECTL" --runtime-dir "$HOST_RUN" status >/dev/null 2>&1; then
    say "a kvmtuned answers on $HOST_RUN already; the one a killed run stopped is not started twice"
  elif [ -e "$TAKEN/cmdline" ]; then
    mapfile -d '' args <"$TAKEN/cmdline"
    mapfile -d '' env <"$TAKEN/environ"
    (cd "$(cat "$TAKEN/cwd")" && exec setsid -f env -i "${env[@]}" "${args[@]}" </dev/null \
      >>"$(cat "$TAKEN/log")" 2>&1 9>&-)
    check "the kvmtuned the test stopped is started again as it was" \
      wait_for "'$KVMTUNECTL' --runtime-dir '$HOST_RUN' status" 20
    pid=$(pid_of "$HOST_RUN/kvmtuned.pid" kvmtuned)
    say "started again: ${args[*]} (pid ${pid:-?}, was $(cat "$TAKEN/pid")) in $(cat "$TAKEN/cwd"), log $(cat "$TAKEN/log")"
  fi
  if [ -e "$TAKEN/demo.xml" ] && [ "$($VIRSH domstate "$HOST_DEMO" 2>/dev/null)" = running ]; then
    say "the demo VM $HOST_DEMO runs already"
  elif [ -e "$TAKEN/demo.xml" ]; then
    check "the demo VM $HOST_DEMO, stopped for the test, runs again" $VIRSH create "$TAKEN/demo.xml"
    say "started again: the demo VM $HOST_DEMO"
  fi
  rm -rf "$TAKEN"
}

# The libvirt hook a test installs says so, so that one a killed run left behind can be told
# apart from an administrator's (or the package's): that one is moved aside for the run and
# put back by give_back_host.
HOOK=/etc/libvirt/hooks/qemu.d/kvmtuned
HOOK_MARK="# installed by kvmtuned's system test"
KT_HOOK_INSTALLED=0
claim_hook_path() {
  take_run_lock # a concurrent run's hook carries the same mark: not ours to remove
  [ -e "$HOOK" ] || return 0
  if grep -qF "$HOOK_MARK" "$HOOK"; then
    say "removing the hook a killed run of this test left behind"
    rm -f "$HOOK"
    return 0
  fi
  mkdir -p "$TAKEN"
  [ -e "$TAKEN/hook" ] && fail_all "$HOOK and the one a killed run moved aside ($TAKEN/hook) both exist"
  mv "$HOOK" "$TAKEN/hook" || fail_all "$HOOK can be moved aside for the test"
  say "moved $HOOK aside for the test; it is put back at the end"
}

# install_hook [PREAMBLE [TIMES]]: a hook that calls this run's kvmtuned (after the shell code
# PREAMBLE); with TIMES, it appends there how long kvmtuned took to answer each call, in ms.
# libvirtd sees a hook only when it starts or reloads: restart it afterwards.
install_hook() {
  local call="exec $KVMTUNECTL --runtime-dir $KT_RUN hook -- \"\$@\""
  [ -n "${2:-}" ] && call="t=\$(date +%s%N); $KVMTUNECTL --runtime-dir $KT_RUN hook -- \"\$@\"; rc=\$?
echo \"\$2 \$(((\$(date +%s%N) - t) / 1000000))\" >>'$2'; exit \$rc"
  mkdir -p "$(dirname "$HOOK")"
  printf '#!/bin/sh\n%s\n%s\n%s\n' "$HOOK_MARK" "${1:-}" "$call" >"$HOOK"
  chmod 0755 "$HOOK"
  KT_HOOK_INSTALLED=1
}

# What every test that starts guests needs first: root, a running libvirtd, no leftovers, the
# quick start's kvmtuned and demo VM taken over, the accelerator chosen and said.
need_guests() {
  [ "$(id -u)" -eq 0 ] || skip_all "needs root (libvirtd, guests, pinning)"
  command -v libvirtd >/dev/null || skip_all "libvirtd is not installed"
  take_run_lock
  start_libvirtd || fail_all "libvirtd starts"
  take_over_host
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
  [ "$KT_HOOK_INSTALLED" = 1 ] && rm -f "$HOOK" && KT_HOOK_INSTALLED=0
  [ "$KT_STARTED_LIBVIRTD" = 1 ] && stop_libvirtd
  stop_virtlogd
  give_back_host
  [ "$KT_LOCKED" = 1 ] && rm -rf "$KT_RUN" # never another run's
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
  tap_summary
}

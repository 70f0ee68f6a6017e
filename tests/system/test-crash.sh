#!/usr/bin/env bash
# System test (issue 12): kill -9 of kvmtuned at each step of its pipeline. The test build's
# crash points (-DKVMTUNED_CRASH_POINTS=ON, daemon/crash.h) make kvmtuned SIGKILL itself where
# KVMTUNED_CRASH_AT says: after planning a domain, with a pin job under way, when the pins came
# back, after writing the allocations file, between journaling a host setting and writing it,
# after writing it, and in the middle of a hook admission. After each, a restarted kvmtuned
# places the guest once, books no CPU twice, and a clean stop leaves every host setting as it was.
source "$(dirname "$0")/lib.sh"

need_guests
if ! strings "$KVMTUNED" | grep -q KVMTUNED_CRASH_AT; then
  skip_all "$KVMTUNED was built without -DKVMTUNED_CRASH_POINTS=ON (tests/run.sh turns it on)"
fi
THP_FILE=/sys/kernel/mm/transparent_hugepage/enabled
[ -w "$THP_FILE" ] || skip_all "$THP_FILE is not writable here"
thp() { sed 's/.*\[\(.*\)\].*/\1/' "$THP_FILE"; }
ORIG_THP=$(thp)
WANT_THP=never
[ "$ORIG_THP" = never ] && WANT_THP=madvise

mkdir -p "$KT_TMP/policy.d"
printf '[Daemon]\nURI=qemu:///system\nMetrics=off\n[Host]\nIsolateHost=no\nTransparentHugepages=%s\n' "$WANT_THP" \
  >"$KT_TMP/kvmtuned.conf"
cat >"$KT_TMP/policy.d/50-test.conf" <<CONF
[Class default]
CPUPolicy=shared

[Class ded]
MatchName=kt-crash*
CPUPolicy=dedicated
CONF
say "THP is $ORIG_THP; kvmtuned sets $WANT_THP"

# crashed_at POINT: starts kvmtuned to die at POINT, makes it get there, and checks it did.
crashed_at() {
  local point=$1 status
  export KVMTUNED_CRASH_AT=$point
  "$KVMTUNED" --runtime-dir "$KT_RUN" --state-dir "$KT_STATE" --config "$KT_TMP/kvmtuned.conf" \
    --policy-dir "$KT_TMP/policy.d" --debug >>"$KT_LOG" 2>&1 9>&- &
  KT_PID=$!
  unset KVMTUNED_CRASH_AT
  wait_for "ctl status || ! kill -0 $KT_PID" 15
  if [ "$point" = admitted ]; then
    printf '<domain type="kvm"><name>kt-crash-h</name><uuid>7d2e4b63-0000-4000-8000-000000000001</uuid><memory unit="MiB">64</memory><vcpu>1</vcpu></domain>' |
      ctl hook kt-crash-h prepare begin - >/dev/null 2>&1
  else
    kill -0 "$KT_PID" 2>/dev/null && start_guest kt-crash 1 64
  fi
  wait_for "! kill -0 $KT_PID" 60
  wait "$KT_PID"
  status=$?
  KT_PID=
  [ "$status" -eq 137 ] # killed by SIGKILL: the point was reached
}

# libvirtd 9.0.0 itself can die (SIGSEGV in remoteClientFreePrivateCallbacks) when a client is
# killed with calls in flight: a libvirt bug, not kvmtuned's; it is said, and libvirtd started
# again, so the checks below are about kvmtuned.
libvirtd_survived() {
  libvirtd_up && return 0
  say "libvirtd died when kvmtuned was killed at $1 (see dmesg): starting it again"
  launch_libvirtd
  wait_for libvirtd_up 30
}

for point in planned pinning pinned saved journaled written admitted; do
  say "--- kill -9 at $point"
  check "$point: kvmtuned reaches the point and dies there" crashed_at "$point"
  libvirtd_survived "$point"
  check "$point: it starts again" start_kvmtuned
  $VIRSH domstate kt-crash >/dev/null 2>&1 || start_guest kt-crash 1 64
  # placed, not adopted: adopted would mean its own half-made pins were taken for the domain's
  check "$point: kt-crash is placed once" \
    wait_for '[ "$(domain_state kt-crash)" = placed ] && [ "$(ctl domains | grep -c "^kt-crash ")" -eq 1 ]' 60
  held=$(ctl status | sed -n 's/^node [0-9]*: [0-9]* CPUs, \([0-9]*\) held by dedicated vCPUs.*/\1/p' | paste -sd+ | bc)
  check "$point: one CPU is held by dedicated vCPUs (not booked twice): $held" test "$held" = 1
  check_sh "$point: no admission survived a crash before it was answered" "! ctl domains | grep -q '^kt-crash-h '"
  check "$point: THP is $WANT_THP while kvmtuned runs" test "$(thp)" = "$WANT_THP"
  stop_kvmtuned
  check "$point: a clean stop puts THP back to $ORIG_THP" test "$(thp)" = "$ORIG_THP"
  check_sh "$point: the journal of original settings is empty" "! journal_pending"
  stop_guest kt-crash
  wait_for "! $VIRSH domstate kt-crash" 20
done
finish

#!/usr/bin/env bash
# bench/steal-isolation: one guest whose vCPU is always busy and two host busy-loops; prints the
# guest's vCPU steal (run_delay / wall time) for (a) no kvmtuned, (b) kvmtuned pinning only,
# (c) kvmtuned with IsolateHost=when-dedicated, plus the idle-host figure (no loops, pinned),
# and the ratio (a)/((c)+0.01). Needs root. Prints figures; never fails on them.
KT_BUILD=${KT_BUILD:-$(cd "$(dirname "$0")/.." && pwd)/build}
source "$(dirname "$0")/../tests/system/lib.sh"
need_guests
busy_disk "$KT_TMP/busy.img"
SECONDS_PER_CASE=${SECONDS_PER_CASE:-10}
mkdir -p "$KT_TMP/policy.d"
printf '[Class busy]\nMatchName=kt-busy*\nCPUPolicy=dedicated\nMemoryPolicy=strict\n' >"$KT_TMP/policy.d/50-test.conf"

# measure VAR MODE LOOPS: sets VAR to the guest's steal in percent, with kvmtuned in IsolateHost
# MODE (or none: no kvmtuned) and with host loops or not (yes|no). Runs in this shell, so the
# exit trap still knows the guest, the loops and kvmtuned if the run is interrupted.
measure() {
  if [ "$2" != none ]; then
    printf '[Daemon]\nURI=qemu:///system\nMetrics=off\n[Host]\nIsolateHost=%s\n' "$2" >"$KT_TMP/kvmtuned.conf"
    start_kvmtuned || echo "kvmtuned did not start: case $1 runs without it" >&2
  fi
  start_guest kt-busy 1 64 "" "$(busy_disk_xml "$KT_TMP/busy.img")"
  [ "$2" != none ] && wait_for '[ "$(domain_state kt-busy)" = placed ]' 10
  [ "$3" = yes ] && start_loops
  sleep 2
  printf -v "$1" '%s' "$(vcpu_steal kt-busy "$SECONDS_PER_CASE")"
  stop_loops
  stop_guest kt-busy
  stop_kvmtuned
}
echo "steal-isolation: $(nproc) CPUs, guest with $KT_VIRT, ${SECONDS_PER_CASE}s per case"
measure idle when-dedicated no
measure a none yes
measure b no yes
measure c when-dedicated yes
printf 'idle host (pinned, no loops):          %6.2f %%\n' "$idle"
printf '(a) no kvmtuned, 2 host loops:         %6.2f %%\n' "$a"
printf '(b) kvmtuned pinning only, 2 loops:    %6.2f %%\n' "$b"
printf '(c) kvmtuned + IsolateHost, 2 loops:   %6.2f %%\n' "$c"
printf '(a)/((c)+0.01) = %s; (c) - idle = %s percentage points\n' "$(echo "scale=1; $a / ($c + 0.01)" | bc)" "$(echo "$c - $idle" | bc)"
cleanup

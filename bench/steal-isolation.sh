#!/usr/bin/env bash
# bench/steal-isolation: one guest whose vCPU is always busy and two host busy-loops; prints the
# guest's vCPU steal (run_delay / wall time) for (a) no kvmtuned, (b) kvmtuned pinning only,
# (c) kvmtuned with IsolateHost=when-dedicated, plus the idle-host figure (no loops, pinned),
# and the ratio (a)/(c). Needs root. Prints figures; never fails on them.
KT_BUILD=${KT_BUILD:-$(cd "$(dirname "$0")/.." && pwd)/build}
source "$(dirname "$0")/../tests/system/lib.sh"
LOOPS=()
extra_cleanup() { local p; for p in "${LOOPS[@]}"; do kill "$p" 2>/dev/null; done; return 0; }
trap 'cleanup; exit 1' INT TERM
need_guests
chmod 0755 "$KT_TMP"
busy_disk "$KT_TMP/busy.img"
SECONDS_PER_CASE=${SECONDS_PER_CASE:-10}
mkdir -p "$KT_TMP/policy.d"
printf '[Class busy]\nMatchName=kt-busy*\nCPUPolicy=dedicated\nMemoryPolicy=strict\n' >"$KT_TMP/policy.d/50-test.conf"
loops() { local i; for i in 1 2; do bash -c 'while :; do :; done' & LOOPS+=($!); done; }
unloop() { local p; for p in "${LOOPS[@]}"; do kill "$p"; wait "$p" 2>/dev/null; done; LOOPS=(); }
measure() { # measure [kvmtuned IsolateHost mode | none] [loops yes|no]
  if [ "$1" != none ]; then
    printf '[Daemon]\nURI=qemu:///system\n[Host]\nIsolateHost=%s\n' "$1" >"$KT_TMP/kvmtuned.conf"
    start_kvmtuned
  fi
  start_guest kt-busy 1 64 "" "$(busy_disk_xml "$KT_TMP/busy.img")"
  [ "$1" != none ] && wait_for '[ "$(domain_state kt-busy)" = placed ]' 10
  [ "$2" = yes ] && loops
  sleep 2
  vcpu_steal kt-busy "$SECONDS_PER_CASE"
  unloop
  stop_guest kt-busy
  if [ -n "$KT_PID" ]; then kill "$KT_PID"; wait "$KT_PID" 2>/dev/null; KT_PID=; fi
}
echo "steal-isolation: $(nproc) CPUs, guest with $KT_VIRT, ${SECONDS_PER_CASE}s per case"
idle=$(measure when-dedicated no)
a=$(measure none yes)
b=$(measure no yes)
c=$(measure when-dedicated yes)
printf 'idle host (pinned, no loops):          %6.2f %%\n' "$idle"
printf '(a) no kvmtuned, 2 host loops:         %6.2f %%\n' "$a"
printf '(b) kvmtuned pinning only, 2 loops:    %6.2f %%\n' "$b"
printf '(c) kvmtuned + IsolateHost, 2 loops:   %6.2f %%\n' "$c"
printf '(a)/(c) = %s; (c) - idle = %s percentage points\n' "$(echo "scale=1; $a / ($c + 0.01)" | bc)" "$(echo "$c - $idle" | bc)"
cleanup

#!/usr/bin/env bash
# bench/stats-cost: CPU time of kvmtuned's statistics collector per pass with 1, 10 and 50
# running guests (real KVM/TCG guests, 1 vCPU each), measured by kvmtuned itself
# (CLOCK_PROCESS_CPUTIME_ID around each pass), and extrapolated per 1000 vCPUs and to the
# share of one CPU at StatsInterval=5s. Needs root. Prints figures; never fails on them.
KT_BUILD=${KT_BUILD:-$(cd "$(dirname "$0")/.." && pwd)/build}
source "$(dirname "$0")/../tests/system/lib.sh"
need_guests
mkdir -p "$KT_TMP/policy.d"
printf '[Daemon]\nURI=qemu:///system\nStatsInterval=1s\nMetrics=off\n' >"$KT_TMP/kvmtuned.conf"
printf '[Class default]\nCPUPolicy=shared\nCacheLocality=numa\nMemoryPolicy=strict\n' >"$KT_TMP/policy.d/00.conf"
field() { ctl --json top --once | grep -o "\"$1\":[0-9.e-]*" | cut -d: -f2; }
echo "stats-cost: $(nproc) CPUs, guests with $KT_VIRT"
start_kvmtuned || { echo "kvmtuned did not start"; exit 1; }
have=0
for n in 1 10 50; do
  while [ "$have" -lt "$n" ]; do start_guest "kt-cost-$have" 1 40 || break; have=$((have + 1)); done
  wait_for "[ \$(ctl domains | grep -c ' placed ') -ge $have ]" 60
  sleep 2
  p0=$(field passes); c0=$(field collector_cpu_seconds)
  sleep 61 # a whole numa_maps round (every 60th pass)
  p1=$(field passes); c1=$(field collector_cpu_seconds)
  if [ -z "$p0" ] || [ -z "$p1" ] || [ "$p1" -le "$p0" ]; then
    echo "guests=$have: the collector made no pass in 61 s (kvmtunectl top said passes $p0 -> $p1)"
    continue
  fi
  per_pass=$(echo "($c1 - $c0) / ($p1 - $p0)" | bc -l)
  printf 'guests=%-3d vCPUs=%-3d passes=%-3d collector CPU per pass %8.3f ms; per 1000 vCPUs %8.2f ms; at 5 s: %.4f %% of a CPU per 1000 vCPUs\n' \
    "$have" "$have" "$((p1 - p0))" "$(echo "$per_pass * 1000" | bc -l)" "$(echo "$per_pass * 1000 * 1000 / $have" | bc -l)" \
    "$(echo "$per_pass * 1000 / $have / 5 * 100" | bc -l)"
done
cleanup

#!/usr/bin/env bash
# bench/pin-latency: starts N diskless guests (N = 1, 5, 10) one after another on the real
# libvirtd with kvmtuned running, and prints per run the time from each guest's STARTED event
# to its verified pins (as kvmtuned measures it: median and max), and kvmtuned's RSS and CPU
# time. Needs root. Prints figures; never fails on time.
KT_BUILD=${KT_BUILD:-$(cd "$(dirname "$0")/.." && pwd)/build}
source "$(dirname "$0")/../tests/system/lib.sh"

need_guests
mkdir -p "$KT_TMP/policy.d"
printf '[Daemon]\nURI=qemu:///system\nMetrics=off\n' >"$KT_TMP/kvmtuned.conf"
printf '[Class default]\nCPUPolicy=shared\nCacheLocality=numa\nMemoryPolicy=strict\n' >"$KT_TMP/policy.d/00-default.conf"
hz=$(getconf CLK_TCK)
echo "pin-latency: $(nproc) CPUs, guests with $KT_VIRT, kvmtuned from $KT_BUILD"

for n in 1 5 10; do
  start_kvmtuned || { echo "kvmtuned did not start"; break; }
  for ((i = 0; i < n; i++)); do start_guest "kt-bench-$i" 1 48; done
  wait_for "[ \$(ctl domains | grep -c ' placed ') -eq $n ]" 60
  lat=$(ctl --json domains | grep -o '"pin_latency_us":[0-9]*' | cut -d: -f2 | sort -n)
  count=$(grep -c . <<<"$lat")
  if [ "$count" -eq 0 ]; then
    echo "N=$n: no guest reached placed within 60 s"
    for ((i = 0; i < n; i++)); do stop_guest "kt-bench-$i"; done
    stop_kvmtuned
    continue
  fi
  median=$(sed -n "$(((count + 1) / 2))p" <<<"$lat")
  max=$(tail -1 <<<"$lat")
  rss=$(awk '/VmRSS/ { print $2 }' /proc/"$KT_PID"/status)
  read -r ut st < <(awk '{ print $14, $15 }' /proc/"$KT_PID"/stat)
  printf 'N=%-3d placed %2d: STARTED -> verified pins median %6.2f ms, max %6.2f ms; kvmtuned RSS %.1f MiB, CPU time %.2f s\n' \
    "$n" "$count" "$(echo "$median / 1000" | bc -l)" "$(echo "$max / 1000" | bc -l)" "$(echo "$rss / 1024" | bc -l)" \
    "$(echo "($ut + $st) / $hz" | bc -l)"
  for ((i = 0; i < n; i++)); do stop_guest "kt-bench-$i"; done
  stop_kvmtuned
done
cleanup

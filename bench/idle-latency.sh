#!/usr/bin/env bash
# bench/idle-latency: how late a thread wakes on a dedicated vCPU's CPU while its guest idles,
# with the class's IdleLatency=keep and =poll, in one run (keep, poll, keep, poll). cyclictest
# (rt-tests) pinned to that CPU sleeps and wakes as the vCPU thread does when an interrupt comes
# for a halted guest: an idle state's exit latency is part of every such wake-up. Prints the
# median and max of each case and the kernel's idle driver; never fails on them. Needs root.
KT_BUILD=${KT_BUILD:-$(cd "$(dirname "$0")/.." && pwd)/build}
source "$(dirname "$0")/../tests/system/lib.sh"
command -v cyclictest >/dev/null || skip_all "cyclictest is not installed (apt-get install rt-tests)"
need_guests
LOOPS=${LOOPS:-20000} # at 200 us: 4 s per case
mkdir -p "$KT_TMP/policy.d"
printf '[Daemon]\nURI=qemu:///system\nMetrics=off\n[Host]\nIsolateHost=no\n' >"$KT_TMP/kvmtuned.conf"

# measure keep|poll: sets RESULT to "median max cpu resume-latency" (us) for a guest of a class
# with IdleLatency=$1. Runs in this shell, so the exit trap still knows the guest and kvmtuned.
measure() {
  printf '[Class idle]\nMatchName=kt-idle*\nCPUPolicy=dedicated\nIdleLatency=%s\n' "$1" >"$KT_TMP/policy.d/50-test.conf"
  start_kvmtuned || { echo "kvmtuned did not start" >&2; return 1; }
  start_guest kt-idle 1 64
  wait_for '[ "$(domain_state kt-idle)" = placed ]' 30
  local cpu qos
  cpu=$($VIRSH vcpupin kt-idle | awk '$1 == "0" { print $2 }')
  qos=$(cat "/sys/devices/system/cpu/cpu$cpu/power/pm_qos_resume_latency_us" 2>/dev/null)
  sleep 2 # the guest's firmware finds nothing to boot and halts
  RESULT=$(cyclictest -q -m -a "$cpu" -p 90 -i 200 -l "$LOOPS" -h 2000 2>/dev/null | awk -v cpu="$cpu" -v qos="$qos" '
    /^[0-9]+ / { n[$1 + 0] = $2; total += $2 }
    /^# Max Latencies:/ { max = $4 + 0 }
    END { half = total / 2; s = 0
          for (us = 0; us <= 2000; us++) { s += n[us]; if (s >= half) { med = us; break } }
          printf "%d %d %s %s\n", med, max, cpu, qos }')
  stop_guest kt-idle
  stop_kvmtuned
}
echo "idle-latency: $(nproc) CPUs, idle driver $(cat /sys/devices/system/cpu/cpuidle/current_driver 2>/dev/null || echo none), governor $(cat /sys/devices/system/cpu/cpuidle/current_governor_ro 2>/dev/null || echo none), guest with $KT_VIRT, $LOOPS wake-ups per case"
for round in 1 2; do
  for mode in keep poll; do
    measure "$mode"
    read -r med max cpu qos <<<"$RESULT"
    printf 'round %d IdleLatency=%-5s CPU %s (resume latency %s): median %4s us, max %5s us\n' "$round" "$mode" "$cpu" "$qos" "$med" "$max"
  done
done
cleanup

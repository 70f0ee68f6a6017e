#!/usr/bin/env bash
# System test: IsolateHost on this machine. A guest whose vCPU is always busy gets a dedicated
# CPU; two host busy-loops compete with it unless kvmtuned keeps host processes off that CPU.
# Checked: where the kernel lets the loops run (deterministic), and the guest's steal with and
# without isolation (compared as a ratio, printed with the figures).
source "$(dirname "$0")/lib.sh"
LOOPS=()
extra_cleanup() {
  local p
  for p in "${LOOPS[@]}"; do kill "$p" 2>/dev/null; done
  return 0
}
trap 'cleanup; exit 1' INT TERM

[ -f /sys/fs/cgroup/cpuset/cpuset.cpus ] || skip_all "no v1 cpuset hierarchy at /sys/fs/cgroup/cpuset"
[ "$(nproc)" -ge 2 ] || skip_all "needs 2 CPUs"
need_guests
chmod 0755 "$KT_TMP"
busy_disk "$KT_TMP/busy.img"

mkdir -p "$KT_TMP/policy.d"
printf '[Class busy]\nMatchName=kt-busy*\nCPUPolicy=dedicated\nMemoryPolicy=strict\n' >"$KT_TMP/policy.d/50-test.conf"
config() { printf '[Daemon]\nURI=qemu:///system\n[Host]\nIsolateHost=%s\n' "$1" >"$KT_TMP/kvmtuned.conf"; }

start_loops() {
  local i
  for i in 1 2; do
    bash -c 'while :; do :; done' &
    LOOPS+=($!)
  done
}
stop_loops() {
  local p
  for p in "${LOOPS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  LOOPS=()
}

# The CPUs the kernel lets a process run on, in kernel list syntax (0-1, not taskset's 0,1).
cpus_of() { awk '/Cpus_allowed_list/ { print $2 }' /proc/"$1"/status; }
ALL=$(cat /sys/devices/system/cpu/online)

run_case() { # run_case MODE: prints the steal of kt-busy with two host loops
  config "$1"
  start_kvmtuned || return 1
  start_guest kt-busy 1 64 "" "$(busy_disk_xml "$KT_TMP/busy.img")"
  wait_for '[ "$(domain_state kt-busy)" = placed ]' 10
  start_loops
  sleep 2
  steal=$(vcpu_steal kt-busy 5)
}

# Baseline: no kvmtuned, the guest floats, the loops contend with it.
start_guest kt-busy 1 64 "" "$(busy_disk_xml "$KT_TMP/busy.img")"
start_loops
sleep 2
steal_none=$(vcpu_steal kt-busy 5)
say "no kvmtuned: vCPU on $(thread_affinity kt-busy 'CPU 0/'), host loops on $(cpus_of "${LOOPS[0]}"), steal $steal_none %"
stop_loops
stop_guest kt-busy

run_case no
steal_no=$steal
say "IsolateHost=no (pinning only): vCPU on $(thread_affinity kt-busy 'CPU 0/'), host loops on $(cpus_of "${LOOPS[0]}"), steal $steal_no %"
check "without isolation the host loops may run on every CPU" test "$(cpus_of "${LOOPS[0]}")" = "$ALL"
stop_loops
stop_guest kt-busy
kill "$KT_PID"; wait "$KT_PID" 2>/dev/null; KT_PID=

run_case when-dedicated
steal_iso=$steal
vcpu=$(thread_affinity kt-busy 'CPU 0/')
loops=$(cpus_of "${LOOPS[0]}")
say "IsolateHost=when-dedicated: vCPU on $vcpu, host loops on $loops, steal $steal_iso %"
check "the busy guest's vCPU has its dedicated CPU" test "$vcpu" -ge 1
check "host processes are kept off the dedicated CPU" bash -c "! taskset -pc ${LOOPS[0]} | sed 's/.*: //' | tr ',' '\n' | grep -qx $vcpu"
check "kvmtuned's own process moved too" grep -q kvmtuned.housekeeping "/proc/$KT_PID/cpuset"
check "the guest's threads stay in libvirt's cgroup" bash -c "grep -q machine /proc/\$(pgrep -f guest=kt-busy, | head -1)/cpuset"
if [ "$(echo "$steal_none >= 5" | bc)" -eq 1 ]; then
  check "steal with isolation is under half of the unplaced guest's ($steal_iso % vs $steal_none %)" \
    bash -c "[ \$(echo '$steal_iso * 2 < $steal_none' | bc) -eq 1 ]"
else
  say "SKIP steal comparison: the host loops barely contended with the unplaced guest ($steal_none %)"
fi

stop_guest kt-busy
check "when the dedicated guest stops, host processes get every CPU back" \
  wait_for "[ \"\$(awk '/Cpus_allowed_list/ { print \$2 }' /proc/${LOOPS[0]}/status)\" = '$ALL' ]"
start_guest kt-busy2 1 64 "" "$(busy_disk_xml "$KT_TMP/busy.img")"
wait_for '[ "$(domain_state kt-busy2)" = placed ]' 10
kill "$KT_PID"; wait "$KT_PID" 2>/dev/null; KT_PID=
check "a clean stop undoes the isolation" test ! -d /sys/fs/cgroup/cpuset/kvmtuned.housekeeping
check "and the loops are back in the root cpuset" test "$(cat /proc/"${LOOPS[0]}"/cpuset)" = /
stop_loops
finish

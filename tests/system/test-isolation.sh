#!/usr/bin/env bash
# System test: IsolateHost on this machine. A guest whose vCPU is always busy gets a dedicated
# CPU (the one kvmtunectl plan predicts); two host busy-loops pinned to that very CPU compete
# with it unless kvmtuned moves host processes off it. Checked: where the kernel lets the loops run, which cgroups processes end
# up in, and the guest's steal with and without isolation.
source "$(dirname "$0")/lib.sh"

[ "$(nproc)" -ge 2 ] || skip_all "needs 2 CPUs"
[ -d /run/systemd/system ] && skip_all "systemd runs this host: its path is tested by test-isolation-systemd"
if [ -f /sys/fs/cgroup/cpuset/cpuset.cpus ]; then
  GROUP=/sys/fs/cgroup/cpuset/kvmtuned.housekeeping
elif grep -qw cpuset /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
  GROUP=/sys/fs/cgroup/kvmtuned.housekeeping
else
  skip_all "no cpuset hierarchy (v1 or v2 with the cpuset controller)"
fi
need_guests
busy_disk "$KT_TMP/busy.img"

mkdir -p "$KT_TMP/policy.d"
printf '[Class busy]\nMatchName=kt-busy*\nCPUPolicy=dedicated\nMemoryPolicy=strict\n' >"$KT_TMP/policy.d/50-test.conf"
config() { printf '[Daemon]\nURI=qemu:///system\nMetrics=off\n[Host]\nIsolateHost=%s\n' "$1" >"$KT_TMP/kvmtuned.conf"; }

# Where the dedicated vCPU will go, as the planner says for this host: the loops go there first.
config no
guest_xml kt-busy 1 64 "" "$(busy_disk_xml "$KT_TMP/busy.img")" >"$KT_TMP/plan.xml"
CPU=$(planned_cpu "$KT_TMP/plan.xml")
[ -n "$CPU" ] || skip_all "kvmtunectl plan gives the busy guest no dedicated CPU on this host"
say "the planner gives the busy guest's vCPU CPU $CPU"

# run_case MODE: loops pinned to CPU $CPU, then kvmtuned and the guest; sets steal to the
# guest's vCPU steal.
run_case() {
  config "$1"
  start_loops "$CPU"
  start_kvmtuned || return 1
  start_guest kt-busy 1 64 "" "$(busy_disk_xml "$KT_TMP/busy.img")"
  wait_for '[ "$(domain_state kt-busy)" = placed ]' 10
  sleep 2
  steal=$(vcpu_steal kt-busy 5)
}

steal=0
run_case no
steal_no=$steal
say "IsolateHost=no: vCPU on $(thread_affinity kt-busy 'CPU 0/'), host loops on $(cpus_of "${LOOPS[0]}"), steal $steal_no %"
check "the busy guest's vCPU has CPU $CPU" test "$(thread_affinity kt-busy 'CPU 0/')" = "$CPU"
check "without isolation the host loops stay on CPU $CPU" test "$(cpus_of "${LOOPS[0]}")" = "$CPU"
check_sh "and take a real share of it from the guest (steal >= 20 %)" "[ \$(echo '$steal_no >= 20' | bc) -eq 1 ]"
stop_loops
stop_guest kt-busy
stop_kvmtuned

steal=0
run_case when-dedicated
steal_iso=$steal
vcpu=$(thread_affinity kt-busy 'CPU 0/')
loops=$(cpus_of "${LOOPS[0]}")
say "IsolateHost=when-dedicated: vCPU on $vcpu, host loops on $loops, steal $steal_iso %"
check "the busy guest's vCPU has CPU $CPU" test "$vcpu" = "$CPU"
check_sh "host processes are moved off the dedicated CPU" "[ -n '$loops' ] && ! in_list $CPU '$loops'"
check "kvmtuned's own process moved too" grep -q kvmtuned.housekeeping "/proc/$KT_PID/cgroup"
# A kvmtuned (re)started inside the group must still model the whole host, not its own cpuset.
online=$(getconf _NPROCESSORS_ONLN)
say "kvmtunectl topology from inside the group: $(ctl topology | head -1)"
check_sh "kvmtunectl started inside the housekeeping group still sees all $online CPUs" \
  "grep -q kvmtuned.housekeeping /proc/self/cgroup && ctl topology | head -1 | grep -q ', $online CPUs'"
check_sh "the guest's threads stay in libvirt's cgroup" "grep -q machine /proc/\$(guest_pid kt-busy)/cgroup"
check_sh "steal with isolation is under half of steal without ($steal_iso % vs $steal_no %)" \
  "[ \$(echo '$steal_iso * 2 < $steal_no' | bc) -eq 1 ]"

stop_guest kt-busy
# The loops asked for CPU $CPU themselves; the kernel gives them their own choice back.
check_sh "when the dedicated guest stops, host processes may use its CPU again" \
  "wait_for 'in_list $CPU \"\$(cpus_of ${LOOPS[0]})\"'"
start_guest kt-busy2 1 64 "" "$(busy_disk_xml "$KT_TMP/busy.img")"
wait_for '[ "$(domain_state kt-busy2)" = placed ]' 10
stop_kvmtuned
check "a clean stop undoes the isolation" test ! -d "$GROUP"
check_sh "and the loops are back in the root cgroup" "! grep -q kvmtuned.housekeeping /proc/${LOOPS[0]}/cgroup"
finish

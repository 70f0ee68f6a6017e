#!/usr/bin/env bash
# System test (issue 14): IRQ affinity, idle latency, NUMA balancing and KSM on this machine's
# real procfs and sysfs with a real dedicated guest: applied while it runs (IRQs again after
# someone moves one back, at the next StatsInterval), given back when it stops, after kill -9
# by the next start, and KSM at a clean stop; each change counted in kvmtuned_actions_total.
source "$(dirname "$0")/lib.sh"
NB=/proc/sys/kernel/numa_balancing
KSM_RUN=/sys/kernel/mm/ksm/run
PORT=19655
IRQS_BEFORE=()

extra_cleanup() {
  local p
  [ -n "${nb_before:-}" ] && echo "$nb_before" >"$NB"
  [ -n "${ksm_before:-}" ] && echo "$ksm_before" >"$KSM_RUN"
  [ -n "${qos_before:-}" ] && [ -n "${QOS:-}" ] && echo "$qos_before" >"$QOS"
  for p in "${IRQS_BEFORE[@]}"; do echo "${p#*=}" >"${p%%=*}" 2>/dev/null; done
  return 0
}

# IRQs whose affinity still names CPU $1, except those the log lists as refused by the kernel.
irqs_on() {
  local f irq list refused
  refused=$(sed -n 's/.*the kernel does not let move (IRQ \([0-9,]*\)[,.)]*.*/\1/p' "$KT_LOG" | tail -1)
  for f in /proc/irq/[0-9]*/smp_affinity_list; do
    irq=${f#/proc/irq/}
    irq=${irq%%/*}
    in_list "$irq" "${refused:-x}" 2>/dev/null && continue
    list=$(cat "$f")
    in_list "$1" "$list" && echo "$irq"
  done
}

# The IRQ affinities as they are now, one "file=list" per line.
irq_state() { for f in /proc/irq/[0-9]*/smp_affinity_list; do echo "$f=$(cat "$f")"; done; }

metric() { # metric ACTION RESULT: kvmtuned_actions_total's value, or 0 (curl: the lab host has no python)
  curl -s "http://127.0.0.1:$PORT/metrics" |
    awk -v k="kvmtuned_actions_total{action=\"$1\",result=\"$2\"}" '$1 == k { v = $2 } END { print v + 0 }'
}

[ "$(id -u)" -eq 0 ] || skip_all "needs root"
[ -w "$NB" ] || skip_all "$NB is not writable here"
[ -w "$KSM_RUN" ] || skip_all "$KSM_RUN is not writable here"
ls /proc/irq/[0-9]*/smp_affinity_list >/dev/null 2>&1 || skip_all "no /proc/irq/N/smp_affinity_list here"
[ "$(nproc)" -ge 2 ] || skip_all "needs two CPUs (one to hold, one for the IRQs)"
need_guests
for f in /proc/irq/[0-9]*/smp_affinity_list; do IRQS_BEFORE+=("$f=$(cat "$f")"); done
irqs_before=$(irq_state)
nb_before=$(cat "$NB")
ksm_before=$(cat "$KSM_RUN")
# NUMA balancing on, so that turning it off shows (this host may have one node and keep it at 0).
echo 1 >"$NB" 2>/dev/null
nb_test=$(cat "$NB")
other_ksm=1
[ "$ksm_before" = 1 ] && other_ksm=0
say "kernel.numa_balancing $nb_before (the test sets $nb_test), KSM run $ksm_before, $(echo "$irqs_before" | wc -l) IRQs"

mkdir -p "$KT_TMP/policy.d"
ksm_word=on
[ "$other_ksm" = 0 ] && ksm_word=off
cat >"$KT_TMP/kvmtuned.conf" <<CONF
[Daemon]
URI=qemu:///system
Metrics=127.0.0.1:$PORT
StatsInterval=1s
[Host]
IsolateHost=no
IRQAffinity=away-from-dedicated
NumaBalancing=off-while-strict
KSM=$ksm_word
CONF
cat >"$KT_TMP/policy.d/50-test.conf" <<CONF
[Class default]
CPUPolicy=shared
MemoryPolicy=preferred

[Class ded]
MatchName=kt-ht*
CPUPolicy=dedicated
MemoryPolicy=strict
IdleLatency=poll
CONF

# Every CPU's resume latency before (a dedicated CPU is any but the first here); the check below
# uses the one the guest gets.
qos_before=$(cat /sys/devices/system/cpu/cpu1/power/pm_qos_resume_latency_us 2>/dev/null)
[ -n "$qos_before" ] && [ "$(cat /sys/devices/system/cpu/cpu[0-9]*/power/pm_qos_resume_latency_us | sort -u | wc -l)" -eq 1 ] ||
  say "CPUs' resume latencies differ before the test: checked against CPU 1's ($qos_before)"
QOS=
check "kvmtuned starts with KSM=$ksm_word" start_kvmtuned
check "KSM run is $other_ksm while kvmtuned runs" test "$(cat "$KSM_RUN")" = "$other_ksm"
start_guest kt-ht 1 64
check "kt-ht (dedicated, strict, IdleLatency=poll) is placed" wait_for '[ "$(domain_state kt-ht)" = placed ]' 60
cpu=$($VIRSH vcpupin kt-ht 2>/dev/null | awk '$1 == "0" { print $2 }')
say "kt-ht's vCPU runs on CPU $cpu"
QOS=/sys/devices/system/cpu/cpu$cpu/power/pm_qos_resume_latency_us
if [ -n "$qos_before" ]; then
  check "CPU $cpu's resume latency is n/a (no idle state) while kt-ht runs" wait_for "[ \"\$(cat $QOS)\" = n/a ]"
else
  say "SKIP idle latency: no $QOS here"
fi
check "no IRQ that can move still names CPU $cpu" wait_for "[ -z \"\$(irqs_on $cpu)\" ]"
say "IRQs the kernel would not move: $(sed -n 's/.*the kernel does not let move (IRQ \([0-9,]*\).*/\1/p' "$KT_LOG" | tail -1)"
check "kernel.numa_balancing is 0 while kt-ht (strict) runs" test "$(cat "$NB")" = 0
check_sh "explain names the IRQs kept off its CPU" "ctl explain kt-ht | grep -q 'host: .* device IRQs kept off CPUs $cpu'"
check_sh "explain names its idle latency" "ctl explain kt-ht | grep -q 'host: IdleLatency=poll on its dedicated CPUs'"
check_sh "explain says NUMA balancing is off" "ctl explain kt-ht | grep -q 'host: automatic NUMA balancing off'"
check "kvmtuned_actions_total counts the IRQ moves" test "$(metric irq ok)" -ge 1
check "kvmtuned_actions_total counts NUMA balancing" test "$(metric numa-balancing ok)" -ge 1
check "kvmtuned_actions_total counts the idle latency" test "$(metric idle-latency ok)" -ge 1

# doctor on this host, with the running daemon: its exit code is its worst finding's.
doctor_out=$("$KVMTUNECTL" --runtime-dir "$KT_RUN" doctor --config "$KT_TMP/kvmtuned.conf" --policy-dir "$KT_TMP/policy.d")
doctor_rc=$?
say "kvmtunectl doctor (exit $doctor_rc):"
say "$doctor_out"
want_rc=0
grep -q '^warning ' <<<"$doctor_out" && want_rc=1
grep -q '^blocker ' <<<"$doctor_out" && want_rc=2
check "doctor's exit code ($doctor_rc) is its worst finding's ($want_rc)" test "$doctor_rc" = "$want_rc"
check "doctor finds the running daemon" grep -q '^ok  *daemon:' <<<"$doctor_out"
check "doctor sees KSM running as kvmtuned set it" grep -q "^[a-z]*  *ksm: KSM" <<<"$doctor_out"
[ -e /dev/kvm ] || check "doctor calls a missing /dev/kvm a blocker" grep -q '^blocker  *kvm-device:' <<<"$doctor_out"
statuses=(ready warnings blockers)
doctor_json=$("$KVMTUNECTL" --runtime-dir "$KT_RUN" doctor --json --config "$KT_TMP/kvmtuned.conf" --policy-dir "$KT_TMP/policy.d")
check "doctor --json says the same (status ${statuses[$want_rc]}, as many findings)" \
  test "$(grep -o "\"status\":\"${statuses[$want_rc]}\"" <<<"$doctor_json" | wc -l)/$(grep -o '"check":' <<<"$doctor_json" | wc -l)" = \
  "1/$(grep -c '^[a-z]*  *[a-z0-9-]*: ' <<<"$doctor_out")"

# Someone (irqbalance, an operator) puts an IRQ back on the held CPU: the next rescan moves it.
first=$(for p in "${IRQS_BEFORE[@]}"; do
  f=${p%%=*}
  [ "$(cat "$f")" != "${p#*=}" ] && { irq=${f#/proc/irq/}; echo "${irq%%/*}"; break; }
done)
if [ -n "$first" ]; then
  echo "$(cat /proc/irq/$first/smp_affinity_list),$cpu" >/proc/irq/$first/smp_affinity_list
  check "IRQ $first, put back on CPU $cpu, is moved off again within a StatsInterval" \
    wait_for "! in_list $cpu \$(cat /proc/irq/$first/smp_affinity_list)" 10
else
  say "SKIP rescan: no IRQ was moved here"
fi

stop_guest kt-ht
check "after kt-ht stops every IRQ affinity is as before" wait_for '[ "$(irq_state)" = "$irqs_before" ]' 30
[ -n "$qos_before" ] && check "CPU $cpu's resume latency is back to $qos_before" test "$(cat "$QOS")" = "$qos_before"
check "kernel.numa_balancing is back to $nb_test" test "$(cat "$NB")" = "$nb_test"

# kill -9 while they are applied: the next start restores them from the journal.
start_guest kt-ht2 1 64
check "kt-ht2 is placed" wait_for '[ "$(domain_state kt-ht2)" = placed ]' 60
cpu2=$($VIRSH vcpupin kt-ht2 2>/dev/null | awk '$1 == "0" { print $2 }')
check "kernel.numa_balancing is 0 again" wait_for "[ \"\$(cat $NB)\" = 0 ]"
stop_kvmtuned KILL
stop_guest kt-ht2
check "after kill -9 the IRQs still avoid CPU $cpu2 (nobody restored them)" test -z "$(irqs_on "$cpu2")"
check "kvmtuned starts again" start_kvmtuned
check "the start restored the IRQ affinities from the journal" wait_for '[ "$(irq_state)" = "$irqs_before" ]' 30
check "and kernel.numa_balancing" test "$(cat "$NB")" = "$nb_test"
[ -n "$qos_before" ] && check "and CPU $cpu2's resume latency" test "$(cat /sys/devices/system/cpu/cpu$cpu2/power/pm_qos_resume_latency_us)" = "$qos_before"
check "and said so" grep -q "a previous run did not finish: restored" "$KT_LOG"
stop_kvmtuned
check "a clean stop puts KSM run back to $ksm_before" test "$(cat "$KSM_RUN")" = "$ksm_before"
finish

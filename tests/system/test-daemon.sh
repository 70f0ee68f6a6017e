#!/usr/bin/env bash
# System test: kvmtuned against a real libvirtd and real QEMU guests on this machine. Checks the
# kernel's view (sched_getaffinity of the guests' threads through taskset), not only libvirt's.
source "$(dirname "$0")/lib.sh"

need_guests

mkdir -p "$KT_TMP/policy.d"
printf '[Daemon]\nURI=qemu:///system\nMetrics=off\n' >"$KT_TMP/kvmtuned.conf"
cat >"$KT_TMP/policy.d/50-test.conf" <<CONF
[Class default]
CPUPolicy=shared
CacheLocality=numa
MemoryPolicy=strict

[Class ded]
MatchName=kt-ded*
CPUPolicy=dedicated
MemoryPolicy=strict
CONF
check "kvmtuned starts and answers on its control socket" start_kvmtuned
# The pools as kvmtuned drew them on this host (housekeeping: one core of each node).
HK=$(pool housekeeping)
DED=$(pool dedicated)
say "pools: housekeeping $HK, dedicated $DED, shared $(pool shared)"

# A dedicated guest: its vCPU thread on one dedicated CPU, emulator and iothread on housekeeping.
start_guest kt-ded 1 64
check "kt-ded is placed" wait_for '[ "$(domain_state kt-ded)" = placed ]'
vcpu=$(thread_affinity kt-ded "CPU 0/")
say "kt-ded threads: vCPU 0 on $vcpu, main on $(thread_affinity kt-ded main), iothread on $(thread_affinity kt-ded 'IO iothread1')"
check_sh "kt-ded vCPU 0 thread is on one dedicated CPU, not housekeeping" \
  "[[ '$vcpu' =~ ^[0-9]+\$ ]] && in_list '$vcpu' '$DED' && ! in_list '$vcpu' '$HK'"
check_sh "kt-ded emulator (main) thread is on housekeeping CPUs" "subset_of \"\$(thread_affinity kt-ded main)\" '$HK'"
check_sh "kt-ded iothread is on housekeeping CPUs" "subset_of \"\$(thread_affinity kt-ded 'IO iothread1')\" '$HK'"
check_sh "kt-ded memory is bound strictly to one node" "$VIRSH numatune kt-ded | grep -Eq 'numa_nodeset *: [0-9]+\$'"

if [ "$DED" = "$vcpu" ]; then
  # The dedicated guest took the only non-housekeeping CPU: a shared guest is refused.
  start_guest kt-shared 1 64
  check "kt-shared is refused while kt-ded holds the CPU" wait_for '[ "$(domain_state kt-shared)" = refused ]'
  check_sh "the refused guest keeps running" "$VIRSH domstate kt-shared | grep -q running"
  check_sh "on housekeeping CPUs (there are no shared ones), not on kt-ded's CPU" \
    "wait_for 'subset_of \"\$(thread_affinity kt-shared \"CPU 0/\")\" \"$HK\"' 10"
  # Two statistics passes after kvmtuned saw it: the first one read its memory by node.
  passes() { ctl --json top --once | grep -o '"passes":[0-9]*' | cut -d: -f2; }
  check_sh "and is not warned about a memory binding it never got" \
    "wait_for 'grep -q \"kt-shared: lifecycle\" $KT_LOG' && p0=\$(passes) && [ -n \"\$p0\" ] &&
     wait_for '[ \"\$(passes)\" -ge \$((p0 + 2)) ]' 20 && ! grep -q 'kt-shared: .* of its memory is off' $KT_LOG"
  say "refusal: $(ctl domains | awk '$1 == "kt-shared"' | cut -c83-)"
  stop_guest kt-ded
  check "stopping kt-ded frees its CPU: kt-shared is placed" wait_for '[ "$(domain_state kt-shared)" = placed ]'
  check "kt-shared vCPU thread floats over the shared CPU $DED" test "$(thread_affinity kt-shared 'CPU 0/')" = "$DED"
else
  start_guest kt-shared 1 64
  check "kt-shared is placed" wait_for '[ "$(domain_state kt-shared)" = placed ]'
  stop_guest kt-ded
fi
check "kt-ded is gone from kvmtuned's domains" wait_for '! ctl domains | grep -q "^kt-ded "'

# kill -9 and restart: the placement is adopted, nothing moves.
before=$(thread_affinity kt-shared 'CPU 0/')
stop_kvmtuned KILL
check "kvmtuned restarts after SIGKILL" start_kvmtuned
check "kt-shared is adopted as placed" wait_for '[ "$(domain_state kt-shared)" = placed ]'
check_sh "kt-shared did not move" '[ -n "$before" ] && [ "$(thread_affinity kt-shared "CPU 0/")" = "$before" ]'
check "the restart adopted the previous run's placement" grep -q "kt-shared: adopted the placement" "$KT_LOG"

# libvirtd restarts while kvmtuned runs; a guest starts while kvmtuned is not yet back. Four
# seconds down lets the reconnect backoff grow to 4 s, so libvirtd is back well before kvmtuned
# tries again.
check "libvirtd stops" stop_libvirtd
check_sh "kvmtuned notices the lost connection" "wait_for 'ctl status | grep -q DISCONNECTED' 15"
sleep 4
check "libvirtd starts again" launch_libvirtd
wait_for libvirtd_up 20
if ctl status | grep -q DISCONNECTED; then
  say "kvmtuned is still disconnected as kt-late starts"
else
  say "SKIP outage case: kvmtuned reconnected before kt-late could start (placed through the event instead)"
fi
start_guest kt-late 1 64
check "a guest started during the outage is placed after the reconnect" wait_for '[ "$(domain_state kt-late)" = placed ]' 40
check_sh "kvmtuned reconnected" "ctl status | grep -q 'connected (1 reconnects)'"
check_sh "kt-late vCPU thread floats over shared CPUs, off housekeeping" \
  "subset_of \"\$(thread_affinity kt-late 'CPU 0/')\" \"\$(pool shared)\""

# A bad policy reload keeps the running policy.
printf '[Class broken]\nCPUPolicy=fast\n' >"$KT_TMP/policy.d/90-bad.conf"
out=$(ctl reload 2>&1)
status=$?
say "bad reload said: $out"
check "a bad reload fails" test "$status" -ne 0
check "it names the file and line" grep -q "90-bad.conf:2: CPUPolicy=fast" <<<"$out"
check "the running policy and placements stay" test "$(domain_state kt-shared)" = placed
failures=$(grep -c 'reload failed' "$KT_LOG")
kill -HUP "$KT_PID"
check "SIGHUP with the bad file logs the error again" wait_for "[ \$(grep -c 'reload failed' '$KT_LOG') -gt $failures ]"
rm -f "$KT_TMP/policy.d/90-bad.conf"
check "a good reload succeeds" ctl reload

# A transient guest whose XML pins it (orchestrators start guests with createXML): left alone.
pinned_cpu=${HK%%[,-]*}
start_guest kt-pinned 1 64 "<cputune><vcpupin vcpu='0' cpuset='$pinned_cpu'/></cputune>"
check "kt-pinned (transient, its XML pins vCPU 0 to CPU $pinned_cpu) is adopted" \
  wait_for '[ "$(domain_state kt-pinned)" = adopted ]'
check_sh "kt-pinned's vCPU thread stays on CPU $pinned_cpu" "[ \"\$(thread_affinity kt-pinned 'CPU 0/')\" = '$pinned_cpu' ]"
stop_guest kt-pinned

# Dry run: everything computed and logged, nothing changed.
stop_kvmtuned
stop_guest kt-late
start_guest kt-dry 1 64
dry_before=$(thread_affinity kt-dry 'CPU 0/')
check "kvmtuned --dry-run starts" start_kvmtuned --dry-run
check "kt-dry is planned, nothing applied" wait_for '[ "$(domain_state kt-dry)" = planned ]'
check_sh "kt-dry's threads were not touched" '[ -n "$dry_before" ] && [ "$(thread_affinity kt-dry "CPU 0/")" = "$dry_before" ]'
check "the dry run logged what it would do" grep -q "dry run: kt-dry" "$KT_LOG"

finish

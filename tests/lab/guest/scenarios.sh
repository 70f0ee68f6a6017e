#!/bin/bash
# The lab scenarios, sourced by /lab/run inside the lab host: kvmtuned from its .deb under
# systemd on 2 NUMA nodes with SMT. Phase "first" runs until the host reboots with two autostart
# guests; phase "rebooted" checks that boot, then removes and purges the package.
source /lab/tree/contrib/libvirt-env.sh
KT_VIRT=qemu # guests inside the lab are TCG

# wait_for 'shell code' [SECONDS]: by the clock, not by a count of tries (a try may itself take
# seconds under TCG, or block while kvmtuned waits on libvirt).
wait_for() {
  local end=$((SECONDS + ${2:-30}))
  while :; do
    eval "$1" >/dev/null 2>&1 && return 0
    [ "$SECONDS" -lt "$end" ] || return 1
    sleep 0.5
  done
}

PHASE=$(cat "$STATE/phase" 2>/dev/null || echo first)
SYS=/sys/devices/system

# ---- helpers (tests/lib/host.sh has cpus_of, in_list, not_in_list, expand_list, vcpu_cpu) ----

source /lab/tree/tests/lib/host.sh
start_vm() { # start_vm NAME VCPUS MIB [EXTRA]
  guest_xml "$@" >"/lab/$1.xml"
  $VIRSH create "/lab/$1.xml"
}

stop_vm() { $VIRSH destroy "$1" >/dev/null 2>&1; }
state_of() { kvmtunectl domains | awk -v n="$1" '$1 == n { print $3 }'; }
placed() { [ "$(state_of "$1")" = placed ]; }
running() { [ "$($VIRSH domstate "$1" 2>/dev/null)" = running ]; }
node_of() { basename "$(ls -d "$SYS/cpu/cpu$1"/node[0-9]*)" | sed 's/node//'; }
siblings_of() { cat "$SYS/cpu/cpu$1/topology/thread_siblings_list"; }
pool_2m() { cat "$SYS/node/node$1/hugepages/hugepages-2048kB/nr_hugepages"; }
main_pid() { systemctl show -p MainPID --value kvmtuned; }
allowed() { systemctl show -p AllowedCPUs --value "$1"; }
thp() { sed 's/.*\[\(.*\)\].*/\1/' /sys/kernel/mm/transparent_hugepage/enabled; }
journal() { journalctl -q -b -u kvmtuned --no-pager "$@"; }
cursor() { journalctl -q -n 0 --show-cursor --no-pager | sed -n 's/^-- cursor: //p'; }
# What kvmtuned logged since the cursor CURSOR.
journal_since() { journalctl -q -u kvmtuned --no-pager --after-cursor="$1"; }
# A hugepage-backed guest, preallocated: its memory exists on the nodes it was given.
HUGE="<memoryBacking><hugepages/><allocation mode='immediate'/></memoryBacking>"

# ---- phase 1 --------------------------------------------------------------------------------

before_install() {
  thp >"$STATE/thp-before"
  for n in 0 1; do pool_2m "$n"; done >"$STATE/pools-before"
  for u in system.slice user.slice init.scope; do echo "$u=$(allowed "$u")"; done >"$STATE/allowed-before"
  say "before install: THP $(cat "$STATE/thp-before"), 2M pools $(tr '\n' ' ' <"$STATE/pools-before")"
}

scenario_package() {
  say "$(hwloc-info 2>/dev/null | head -n 3 | tr '\n' ' ')"
  # libvirtd exits after 2 idle minutes (--timeout 120): it runs now, so the install must make
  # this very libvirtd see the hook.
  systemctl start libvirtd
  local before
  before=$(systemctl show -p MainPID --value libvirtd)
  check package "the .deb installs with apt" apt-get install -y --no-install-recommends /lab/kvmtuned_*.deb
  check package "the unit is enabled" systemctl -q is-enabled kvmtuned
  check package "and active" systemctl -q is-active kvmtuned
  check_sh package "kvmtuned --check passes on the shipped files" "kvmtuned --check | grep -qx 'configuration OK'"
  say "libvirtd pid $before before the install, $(systemctl show -p MainPID --value libvirtd) after"
  check_sh package "the install restarted the running libvirtd (it finds hooks when it starts)" \
    "[ \"\$(systemctl show -p MainPID --value libvirtd)\" != '$before' ] && [ '$before' != 0 ]"
  # The shipped gaming class gives win1* dedicated CPUs; the lab host has 4 (8 minus a
  # housekeeping core per node).
  local out
  out=$(start_vm win10-lab 5 64 2>&1)
  say "virsh create win10-lab (5 dedicated vCPUs): $out"
  check package "the hook refuses a VM the policy refuses (the hook is live)" \
    grep -q 'kvmtuned: win10-lab refused: host: needs 5 dedicated CPUs, 4 free' <<<"$out"
  check package "and the VM does not run" bash -c "! $VIRSH domstate win10-lab 2>/dev/null | grep -q running"
  stop_vm win10-lab # should it have started
}

LAB_POLICY='[Class lab-ded]
MatchName=lab-ded-*
Priority=50
CPUPolicy=dedicated
CacheLocality=numa
MemoryPolicy=strict

[Class lab-iso]
MatchName=lab-iso-*
Priority=50
CPUPolicy=dedicated
ThreadPolicy=isolate
MemoryPolicy=strict

[Class lab-pre]
MatchName=lab-pre-*
Priority=50
CPUPolicy=dedicated
ThreadPolicy=prefer
MemoryPolicy=strict

[Class lab-idle]
MatchName=lab-idle-*
Priority=50
CPUPolicy=dedicated
MemoryPolicy=strict
IdleLatency=50

[Class lab-sh]
MatchName=lab-sh-*
Priority=50
CPUPolicy=shared
MemoryPolicy=strict

[Class lab-span]
MatchName=lab-span-*
Priority=50
CPUPolicy=shared
CacheLocality=numa
Overcommit=2
MemoryPolicy=strict
'

scenario_notify() {
  check_sh notify "the unit is Type=notify" "[ \"\$(systemctl show -p Type --value kvmtuned)\" = notify ]"
  # systemctl restart returns once the unit is active, which a notify unit is after READY=1.
  check notify "systemctl restart kvmtuned returns" systemctl restart kvmtuned
  check notify "and the control socket answers at once (READY=1 came after it served)" kvmtunectl status
  check_sh notify "systemctl status shows kvmtuned's STATUS=" \
    "systemctl status kvmtuned --no-pager | grep -q 'Status: \".*domains placed'"
  printf '[Class lab-bad]\nCPUPolcy=dedicated\n' >/etc/kvmtuned/policy.d/99-lab-bad.conf
  check_sh notify "systemctl reload with a bad policy fails" "! systemctl reload kvmtuned"
  check_sh notify "and says why, with file and line" "journal | grep -q '99-lab-bad.conf:2'"
  check notify "and kvmtuned stays active with the old policy" systemctl -q is-active kvmtuned
  rm -f /etc/kvmtuned/policy.d/99-lab-bad.conf
  printf '%s' "$LAB_POLICY" >/etc/kvmtuned/policy.d/70-lab.conf
  check notify "systemctl reload with a good policy succeeds" systemctl reload kvmtuned
  start_vm lab-ded-n 1 64 >/dev/null
  check_sh notify "and the new policy is in force (lab-ded-n gets class lab-ded)" \
    "wait_for \"kvmtunectl domains | grep -q '^lab-ded-n  *lab-ded  *placed'\" 60"
  stop_vm lab-ded-n
}

scenario_numa_strict() {
  local cpu0 cpu1 n0 n1 before0 before1 total on1
  # lab-ded-a takes node 0's dedicated CPUs first, so lab-ded-b must go to node 1.
  start_vm lab-ded-a 2 64 >/dev/null
  check numa-strict "lab-ded-a (2 dedicated vCPUs) is placed" wait_for "placed lab-ded-a" 60
  say "lab-ded-a: vCPUs on $(vcpu_cpu lab-ded-a 0),$(vcpu_cpu lab-ded-a 1)"
  before0=$(pool_2m 0) before1=$(pool_2m 1)
  start_vm lab-ded-b 2 128 "$HUGE" >/dev/null
  check numa-strict "lab-ded-b (2 dedicated vCPUs, 128 MiB preallocated 2M hugepages) starts" \
    wait_for "[ \"\$($VIRSH domstate lab-ded-b)\" = running ]" 60
  check numa-strict "lab-ded-b is placed" wait_for "placed lab-ded-b" 60
  cpu0=$(vcpu_cpu lab-ded-b 0) cpu1=$(vcpu_cpu lab-ded-b 1)
  say "lab-ded-b: vCPUs on $cpu0,$cpu1; numatune: $($VIRSH numatune lab-ded-b | tr -s ' \n' ' ')"
  check_sh numa-strict "its vCPU threads are on node-1 CPUs" \
    "[[ '$cpu0' =~ ^[0-9]+\$ ]] && [[ '$cpu1' =~ ^[0-9]+\$ ]] && [ \$(node_of $cpu0) = 1 ] && [ \$(node_of $cpu1) = 1 ]"
  check_sh numa-strict "numatune is strict on node 1" \
    "$VIRSH numatune lab-ded-b | grep -q 'numa_mode *: strict' && $VIRSH numatune lab-ded-b | grep -Eq 'numa_nodeset *: 1\$'"
  read -r total on1 < <(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^N[0-9]+=/) { split(substr($i, 2), a, "=");
      p = 4; if (match($0, /kernelpagesize_kB=[0-9]+/)) p = substr($0, RSTART + 18, RLENGTH - 18);
      t += a[2] * p; if (a[1] == 1) o += a[2] * p } } END { print t + 0, o + 0 }' "/proc/$(guest_pid lab-ded-b)/numa_maps")
  say "lab-ded-b memory: $on1 of $total KiB on node 1"
  check_sh numa-strict "at least 90 % of its RAM is on node 1" "[ $total -gt 0 ] && [ $((on1 * 100)) -ge $((total * 90)) ]"
  say "2M pools: node 0 $before0 -> $(pool_2m 0), node 1 $before1 -> $(pool_2m 1)"
  check_sh hugepages-node "the hook grew node 1's 2M pool for it (64 pages)" "[ \$(pool_2m 1) -ge $((before1 + 64)) ]"
  check_sh hugepages-node "and left node 0's alone" "[ \$(pool_2m 0) -eq $before0 ]"
  stop_vm lab-ded-b
  check hugepages-node "the pages are given back after it stops" wait_for "[ \$(pool_2m 1) -eq $before1 ]" 30
  stop_vm lab-ded-a
}

scenario_span() {
  local cpus="" v
  start_vm lab-ded-s 3 96 >/dev/null
  check span "lab-ded-s (3 dedicated vCPUs, more than a node's 2) is placed" wait_for "placed lab-ded-s" 60
  for v in 0 1 2; do cpus+="$(vcpu_cpu lab-ded-s $v) "; done
  say "lab-ded-s: vCPUs on $cpus; numatune: $($VIRSH numatune lab-ded-s | tr -s ' \n' ' ')"
  check_sh span "its vCPUs are on both nodes" \
    "n=''; for c in $cpus; do n+=\$(node_of \$c); done; [[ \$n == *0* ]] && [[ \$n == *1* ]]"
  check_sh span "memory strict on both" \
    "$VIRSH numatune lab-ded-s | grep -q 'numa_mode *: strict' && $VIRSH numatune lab-ded-s | grep -Eq 'numa_nodeset *: 0-1\$'"
  stop_vm lab-ded-s
}

# vcpu_nodes NAME V: the nodes the CPUs vCPU V of the guest may run on ("0", "1" or "0 1").
vcpu_nodes() {
  local c
  for c in $(expand_list "$(thread_affinity "$1" "CPU $2/")"); do node_of "$c"; done | sort -u | paste -sd' '
}

# A shared VM larger than any node's room has a group of vCPUs pinned on each node, as many as
# that node has room for. lab-span: Overcommit=2 on 2 shared CPUs per node, room for 4 each.
scenario_shared_span() {
  local v n a nodes="" same=0 other=0 several=0
  # lab-ded-s of the scenario before is released on its STOPPED event, which comes on its own time.
  wait_for "! placed lab-ded-s" 60 || say "lab-ded-s is still placed after 60 s"
  start_vm lab-span-a 3 64 >/dev/null
  check shared-span "lab-span-a (3 shared vCPUs at 2:1) is placed" wait_for "placed lab-span-a" 120
  a=$(vcpu_nodes lab-span-a 0)
  start_vm lab-span-b 5 64 >/dev/null
  check shared-span "lab-span-b (5 shared vCPUs; room for 1 on lab-span-a's node $a, 4 on the other) is placed" \
    wait_for "placed lab-span-b" 120
  for v in 0 1 2 3 4; do
    n=$(vcpu_nodes lab-span-b $v)
    nodes+="$v:[$n] "
    case "$n" in
    "$a") same=$((same + 1)) ;;
    0 | 1) other=$((other + 1)) ;;
    *) several=$((several + 1)) ;;
    esac
  done
  say "lab-span-a on node $a; lab-span-b vCPU:[nodes] $nodes; numatune: $($VIRSH numatune lab-span-b | tr -s ' \n' ' ')"
  say "$(kvmtunectl explain lab-span-b 2>&1 | grep 'shared vCPU' | tr '\n' ';')"
  check_sh shared-span "lab-span-a's vCPUs float on one node" "[[ '$a' =~ ^[01]\$ ]]"
  check_sh shared-span "each vCPU of lab-span-b runs within one node: 1 on lab-span-a's, 4 on the other" \
    "[ $several = 0 ] && [ $same = 1 ] && [ $other = 4 ]"
  check_sh shared-span "its memory is strict on both nodes" \
    "$VIRSH numatune lab-span-b | grep -q 'numa_mode *: strict' && $VIRSH numatune lab-span-b | grep -Eq 'numa_nodeset *: 0-1\$'"
  stop_vm lab-span-b
  stop_vm lab-span-a
}

scenario_smt() {
  local c s c0 c1 x
  start_vm lab-iso-1 1 64 >/dev/null
  check smt "lab-iso-1 (ThreadPolicy=isolate) is placed" wait_for "placed lab-iso-1" 60
  c=$(vcpu_cpu lab-iso-1 0)
  s=$(expand_list "$(siblings_of "${c:-0}")" | grep -vx "$c")
  say "lab-iso-1: vCPU on $c, its sibling $s; held: $(kvmtunectl status | grep '^node' | tr '\n' ' ')"
  start_vm lab-pre-x 1 64 >/dev/null
  check smt "the next dedicated VM, lab-pre-x, is placed" wait_for "placed lab-pre-x" 60
  x=$(vcpu_cpu lab-pre-x 0)
  say "lab-pre-x: vCPU on $x"
  check smt "isolate leaves the sibling thread empty: lab-pre-x does not get it" \
    eval "[[ '$c' =~ ^[0-9]+\$ ]] && [[ '$s' =~ ^[0-9]+\$ ]] && [[ '$x' =~ ^[0-9]+\$ ]] && [ $x != $s ] && [ $x != $c ]"
  stop_vm lab-pre-x
  stop_vm lab-iso-1
  start_vm lab-pre-2 2 64 >/dev/null
  check smt "lab-pre-2 (ThreadPolicy=prefer, 2 vCPUs) is placed" wait_for "placed lab-pre-2" 60
  c0=$(vcpu_cpu lab-pre-2 0) c1=$(vcpu_cpu lab-pre-2 1)
  say "lab-pre-2: vCPUs on $c0 and $c1; siblings of $c0: $(siblings_of "${c0:-0}")"
  check smt "prefer puts its two vCPUs on one core's two threads" \
    eval "[ -n '$c0' ] && [ -n '$c1' ] && [ '$c0' != '$c1' ] && in_list '$c1' \"\$(siblings_of '$c0')\""
  stop_vm lab-pre-2
}

scenario_isolation() {
  local busy c u pid cur
  start_vm lab-ded-i 1 64 >/dev/null
  check isolation-systemd "lab-ded-i (dedicated) is placed" wait_for "placed lab-ded-i" 60
  c=$(vcpu_cpu lab-ded-i 0)
  systemd-run --quiet --unit=lab-busy sh -c 'while :; do :; done'
  busy=$(systemctl show -p MainPID --value lab-busy)
  say "lab-ded-i on CPU $c; system.slice AllowedCPUs=$(allowed system.slice); lab-busy may run on $(cpus_of "$busy")"
  for u in system.slice user.slice init.scope; do
    check isolation-systemd "$u is confined off CPU $c (cpuset.cpus.effective)" \
      not_in_list "$c" "$(cat "/sys/fs/cgroup/$u/cpuset.cpus.effective")"
  done
  check isolation-systemd "the busy host service runs off CPU $c" not_in_list "$c" "$(cpus_of "$busy")"
  check isolation-systemd "the VM's vCPU thread keeps CPU $c" test "$(vcpu_cpu lab-ded-i 0)" = "$c"
  stop_vm lab-ded-i
  check isolation-systemd "undone when the VM stops" wait_for "in_list '$c' \"\$(cpus_of $busy)\"" 30
  start_vm lab-ded-i 1 64 >/dev/null
  wait_for "placed lab-ded-i" 60
  c=$(vcpu_cpu lab-ded-i 0)
  check isolation-systemd "confined again when it starts again" wait_for "not_in_list '$c' \"\$(cpus_of $busy)\"" 30
  systemctl stop kvmtuned
  local t0=$SECONDS
  check isolation-systemd "undone when kvmtuned stops" wait_for "in_list '$c' \"\$(cpus_of $busy)\"" 30
  say "lab-busy may run on CPU $c again $((SECONDS - t0)) s after systemctl stop returned"
  systemctl start kvmtuned
  wait_for "placed lab-ded-i" 60
  check isolation-systemd "and confined again when it starts" wait_for "not_in_list '$c' \"\$(cpus_of $busy)\"" 30
  # kill -9 with the restart held off 20 s, so that the VM surely stops while kvmtuned is down.
  mkdir -p /run/systemd/system/kvmtuned.service.d
  printf '[Service]\nRestartSec=20s\n' >/run/systemd/system/kvmtuned.service.d/lab-restart.conf
  systemctl daemon-reload
  pid=$(main_pid)
  cur=$(cursor)
  kill -9 "$pid"
  stop_vm lab-ded-i
  check isolation-systemd "the VM stopped while kvmtuned was down" bash -c "! systemctl -q is-active kvmtuned"
  check isolation-systemd "after kill -9, systemd restarts kvmtuned" \
    wait_for "[ \"\$(main_pid)\" != $pid ] && [ \"\$(main_pid)\" != 0 ] && kvmtunectl status" 60
  check isolation-systemd "which restores the host from its journal" \
    wait_for "journal_since '$cur' | grep -q 'a previous run did not finish: host isolation undone'" 20
  check isolation-systemd "and host processes may use CPU $c again" wait_for "in_list '$c' \"\$(cpus_of $busy)\"" 30
  rm -f /run/systemd/system/kvmtuned.service.d/lab-restart.conf
  systemctl daemon-reload
  systemctl stop lab-busy
}

scenario_watchdog() {
  local pid before after restarts cur
  mkdir -p /run/systemd/system/kvmtuned.service.d
  printf '[Service]\nWatchdogSec=5s\n' >/run/systemd/system/kvmtuned.service.d/lab-watchdog.conf
  systemctl daemon-reload
  systemctl restart kvmtuned
  start_vm lab-ded-w 2 64 >/dev/null
  check watchdog "lab-ded-w is placed" wait_for "placed lab-ded-w" 60
  before="$(vcpu_cpu lab-ded-w 0) $(vcpu_cpu lab-ded-w 1)"
  pid=$(main_pid)
  restarts=$(systemctl show -p NRestarts --value kvmtuned)
  cur=$(cursor)
  kill -STOP "$pid"
  check watchdog "systemd kills the frozen kvmtuned and starts it again (WatchdogSec=5s)" \
    wait_for "[ \"\$(main_pid)\" != $pid ] && [ \"\$(main_pid)\" != 0 ] && kvmtunectl status" 90
  check watchdog "because of the watchdog" wait_for "journal_since '$cur' | grep -qi 'watchdog timeout'" 10
  check watchdog "NRestarts grew" test "$(systemctl show -p NRestarts --value kvmtuned)" -gt "$restarts"
  check watchdog "the restart adopts the placement" wait_for "placed lab-ded-w" 30
  after="$(vcpu_cpu lab-ded-w 0) $(vcpu_cpu lab-ded-w 1)"
  say "lab-ded-w vCPUs before $before, after $after"
  check watchdog "and moves nothing" eval "[[ '$before' =~ ^[0-9]+\ [0-9]+\$ ]] && [ '$before' = '$after' ]"
  rm -f /run/systemd/system/kvmtuned.service.d/lab-watchdog.conf
  systemctl daemon-reload
  systemctl restart kvmtuned
  stop_vm lab-ded-w
}

scenario_libvirtd_restart() {
  local before after reconnects
  start_vm lab-ded-l 1 64 >/dev/null
  wait_for "placed lab-ded-l" 60
  before=$(vcpu_cpu lab-ded-l 0)
  reconnects=$(kvmtunectl status --json | sed -n 's/.*"reconnects":\([0-9]*\).*/\1/p')
  check libvirtd-restart "systemctl restart libvirtd" systemctl restart libvirtd
  start_vm lab-sh-late 1 64 >/dev/null
  check libvirtd-restart "kvmtuned reconnects" wait_for \
    "[ \"\$(kvmtunectl status --json | sed -n 's/.*\"reconnects\":\\([0-9]*\\).*/\\1/p')\" -gt '${reconnects:-0}' ] && kvmtunectl status | grep -q ' connected '" 60
  after=$(vcpu_cpu lab-ded-l 0)
  check libvirtd-restart "nothing moves (lab-ded-l stays on CPU $before)" \
    eval "[[ '$before' =~ ^[0-9]+\$ ]] && [ '$before' = '$after' ] && placed lab-ded-l"
  check libvirtd-restart "a VM started meanwhile is placed" wait_for "placed lab-sh-late" 60
  stop_vm lab-sh-late
  stop_vm lab-ded-l
}

# IRQ affinity, idle latency and NUMA balancing under the shipped unit (its sandbox, its one
# capability), applied while a strict dedicated VM runs and given back after it stops, and after
# a kill -9 by the restart systemd makes.
irqs_on() { # the IRQs whose affinity names CPU $1, except those the kernel would not move
  local f irq refused
  refused=$(journal | sed -n 's/.*the kernel does not let move (IRQ \([0-9,]*\).*/\1/p' | tail -1)
  for f in /proc/irq/[0-9]*/smp_affinity_list; do
    irq=${f#/proc/irq/}
    irq=${irq%%/*}
    in_list "$irq" "$refused" && continue
    in_list "$1" "$(cat "$f")" && echo "$irq"
  done
}
irq_state() { for f in /proc/irq/[0-9]*/smp_affinity_list; do echo "$f=$(cat "$f")"; done; }

# KSM=on on this 2-node host: run 1 after a reload; with a strict VM, merge_across_nodes 0 when
# nothing is merged, else left at 1 and said (kvmtuned never unmerges); KSM=keep puts run back.
scenario_ksm() {
  local ksm=/sys/kernel/mm/ksm run0 cursor
  run0=$(cat $ksm/run)
  echo 2 >$ksm/run # unmerge everything, so merge_across_nodes can change
  cursor=$(cursor)
  sed -i 's/^KSM=.*/KSM=on/' /etc/kvmtuned/kvmtuned.conf
  check host-tuning "KSM=on: after systemctl reload KSM runs" eval "systemctl reload kvmtuned && wait_for '[ \$(cat $ksm/run) = 1 ]' 30"
  start_vm lab-idle-k 1 64 >/dev/null
  check host-tuning "lab-idle-k (strict) is placed" wait_for "placed lab-idle-k" 60
  say "KSM pages_shared $(cat $ksm/pages_shared), merge_across_nodes $(cat $ksm/merge_across_nodes)"
  check host-tuning "merge_across_nodes is 0 while it runs, or kvmtuned said pages were merged already" \
    wait_for "[ \$(cat $ksm/merge_across_nodes) = 0 ] || journal_since '$cursor' | grep -q 'merged pages: merge_across_nodes stays 1'" 30
  stop_vm lab-idle-k
  check host-tuning "after it stops merge_across_nodes is 1 again (or kvmtuned said why not)" \
    wait_for "[ \$(cat $ksm/merge_across_nodes) = 1 ] || journal_since '$cursor' | grep -q 'stays 0 until nothing is merged'" 30
  sed -i 's/^KSM=.*/KSM=keep/' /etc/kvmtuned/kvmtuned.conf
  systemctl reload kvmtuned
  check host-tuning "KSM=keep: after a reload run is back to what kvmtuned found (2: the unmerge above)" \
    wait_for "[ \$(cat $ksm/run) = 2 ]" 30
  echo "$run0" >$ksm/run
}

irq_diff() { # says how the IRQ affinities differ from $1, if they do
  [ "$(irq_state)" = "$1" ] || say "IRQ affinities now differ: $(diff <(echo "$1") <(irq_state) | grep '^[<>]' | tr '\n' ' ')"
}

scenario_host_tuning() {
  local cpu irqs_before qos
  echo 1 >/proc/sys/kernel/numa_balancing
  # The VMs of the scenario before have stopped, but kvmtuned may still be giving their CPUs'
  # IRQs back: the originals are those it has no journal entry for any more.
  check host-tuning "no VM runs and kvmtuned's journal holds no IRQ (the scenario before is over)" \
    wait_for "[ -z \"\$($VIRSH list --name)\" ] && ! grep -q smp_affinity_list /var/lib/kvmtuned/journal" 60
  irqs_before=$(irq_state)
  start_vm lab-idle-a 1 64 >/dev/null
  check host-tuning "lab-idle-a (dedicated, strict, IdleLatency=50) is placed" wait_for "placed lab-idle-a" 60
  cpu=$(vcpu_cpu lab-idle-a 0)
  qos=$SYS/cpu/cpu$cpu/power/pm_qos_resume_latency_us
  say "lab-idle-a on CPU $cpu; IRQs: $(irq_state | tr '\n' ' ')"
  check host-tuning "CPU $cpu's PM QoS resume latency is 50 us" wait_for "[ \"\$(cat $qos)\" = 50 ]" 30
  check host-tuning "no IRQ the kernel lets move names CPU $cpu" wait_for "[ -z \"\$(irqs_on $cpu)\" ]" 30
  check host-tuning "kernel.numa_balancing is 0 (CAP_SYS_ADMIN in the unit)" \
    wait_for "[ \"\$(cat /proc/sys/kernel/numa_balancing)\" = 0 ]" 30
  check_sh host-tuning "explain shows the host settings" \
    "kvmtunectl explain lab-idle-a | grep -q 'host: IdleLatency=50' && kvmtunectl explain lab-idle-a | grep -q 'host: .*IRQs kept off'"
  stop_vm lab-idle-a
  check host-tuning "after it stops the IRQ affinities are as before" wait_for '[ "$(irq_state)" = "$irqs_before" ]' 30
  irq_diff "$irqs_before"
  check_sh host-tuning "and the resume latency and numa_balancing" \
    "[ \"\$(cat $qos)\" = 0 ] && [ \"\$(cat /proc/sys/kernel/numa_balancing)\" = 1 ]"
  start_vm lab-idle-b 1 64 >/dev/null
  check host-tuning "lab-idle-b is placed" wait_for "placed lab-idle-b" 60
  wait_for "[ \"\$(cat /proc/sys/kernel/numa_balancing)\" = 0 ]" 30
  local pid
  pid=$(main_pid)
  systemctl kill -s KILL kvmtuned
  stop_vm lab-idle-b
  check host-tuning "systemd restarts kvmtuned after kill -9" \
    wait_for "systemctl -q is-active kvmtuned && [ \"\$(main_pid)\" != $pid ] && kvmtunectl status" 60
  check host-tuning "the restart put back IRQ affinities, resume latency and numa_balancing" \
    wait_for "[ \"\$(irq_state)\" = \"\$irqs_before\" ] && [ \"\$(cat $qos)\" = 0 ] && [ \"\$(cat /proc/sys/kernel/numa_balancing)\" = 1 ]" 60
  irq_diff "$irqs_before"
  echo 0 >/proc/sys/kernel/numa_balancing
  scenario_ksm
  local out rc want=0
  out=$(kvmtunectl doctor)
  rc=$?
  say "kvmtunectl doctor (exit $rc): $(tr '\n' '|' <<<"$out")"
  grep -q '^warning ' <<<"$out" && want=1
  grep -q '^blocker ' <<<"$out" && want=2
  check host-tuning "doctor runs here; its exit code ($rc) is its worst finding's ($want)" test "$rc" = "$want"
  check host-tuning "doctor sees systemd, cgroup v2 cpuset, the hook and the running daemon" \
    eval "grep -q '^ok  *systemd:' <<<\"\$out\" && grep -q '^ok  *cgroup-cpuset: cgroup v2' <<<\"\$out\" && grep -q '^ok  *libvirt-hook:' <<<\"\$out\" && grep -q '^ok  *daemon:' <<<\"\$out\""
  say "$(systemd-analyze security kvmtuned 2>/dev/null | tail -1)"
  check_sh host-tuning "systemd-analyze security rates the running unit" \
    "systemd-analyze security kvmtuned | grep -q 'Overall exposure level for kvmtuned.service'"
}

scenario_journal_and_hardening() {
  start_vm lab-ded-m 1 64 >/dev/null
  wait_for "placed lab-ded-m" 60
  check journal "journalctl -u kvmtuned -o json carries DOMAIN=, ACTION=, CPUS=" \
    eval "journal -o json | grep '\"DOMAIN\":\"lab-ded-m\"' | grep '\"ACTION\"' | grep -q '\"CPUS\"'"
  check hardening "the per-node memory metrics of a running VM are non-zero" \
    wait_for "curl -s 127.0.0.1:9655/metrics | grep '^kvmtuned_domain_memory_bytes{domain=\"lab-ded-m\"' | awk '{ s += \$2 } END { exit !(s > 0) }'" 30
  stop_vm lab-ded-m
  check_denials
}

# No EPERM, EACCES or EROFS from kvmtuned in this boot, under the shipped unit.
check_denials() {
  local denied
  denied=$(journal | grep -iE 'EPERM|EACCES|EROFS|permission denied|operation not permitted|read-only file system')
  [ -z "$denied" ] || say "$denied"
  check hardening "no EPERM, EACCES or EROFS from kvmtuned in this boot" test -z "$denied"
}

prepare_reboot() {
  local g
  for g in $($VIRSH list --name); do stop_vm "$g"; done
  guest_xml lab-ded-boot 1 64 "$HUGE" >/lab/lab-ded-boot.xml
  guest_xml lab-sh-boot 1 64 >/lab/lab-sh-boot.xml
  for g in lab-ded-boot lab-sh-boot; do $VIRSH define "/lab/$g.xml" >/dev/null && $VIRSH autostart "$g" >/dev/null; done
  check boot-autostart "two autostart VMs are defined (one dedicated with hugepages, one shared)" \
    test "$($VIRSH list --all --autostart --name | grep -c 'boot$')" -eq 2
  check boot-autostart "kvmtuned is enabled" systemctl -q is-enabled kvmtuned
  echo rebooted >"$STATE/phase"
  rm -f "$STATE/running" # this reboot is the tier's own
  say "rebooting the lab host"
  sync
  systemctl reboot
  sleep 300
  echo rebooted >"$STATE/running"
  count fail
  tap "not ok $N - [lab:boot-autostart] the lab host reboots (systemctl reboot did not)"
  finish
}

# ---- phase 2 --------------------------------------------------------------------------------

scenario_after_boot() {
  local t
  check boot-autostart "both autostart VMs run" wait_for "running lab-ded-boot && running lab-sh-boot" 300
  check boot-autostart "both are placed" wait_for "placed lab-ded-boot && placed lab-sh-boot" 120
  t=$(cut -d' ' -f1 /proc/uptime)
  say "both placed ${t} s after the kernel started (boot to multi-user included)"
  check boot-autostart "no hook timed out, no start failed" \
    bash -c "! journalctl -q -b --no-pager | grep -Ei 'hook script execution failed|failed to autostart'"
  check boot-autostart "the watchdog did not fire" \
    eval "[ \$(systemctl show -p NRestarts --value kvmtuned) -eq 0 ] && ! journal | grep -qi watchdog"
  check_denials
  local g
  for g in lab-ded-boot lab-sh-boot; do stop_vm "$g" && $VIRSH undefine "$g" >/dev/null; done
}

scenario_remove() {
  local before
  # kvmtuned has changed the host when it is removed: THP, a hugepage pool, host isolation.
  sed -i 's/^TransparentHugepages=.*/TransparentHugepages=never/' /etc/kvmtuned/kvmtuned.conf
  systemctl reload kvmtuned
  before=$(pool_2m 1)
  start_vm lab-ded-rm 2 64 "$HUGE" >/dev/null
  check remove "a dedicated hugepage-backed VM is placed" wait_for "placed lab-ded-rm" 60
  say "before the removal: THP $(thp), 2M pools $(pool_2m 0) $(pool_2m 1), system.slice AllowedCPUs=$(allowed system.slice)"
  check remove "kvmtuned has changed THP, a pool and system.slice" \
    eval "[ \"\$(thp)\" = never ] && [ \$(pool_2m 0)\$(pool_2m 1) != 00 ] && [ -n \"\$(allowed system.slice)\" ]"
  check remove "apt remove kvmtuned" apt-get remove -y kvmtuned
  say "after the removal: THP $(thp), system.slice AllowedCPUs=$(allowed system.slice)"
  check remove "THP is back as before install" test "$(thp)" = "$(cat "$STATE/thp-before")"
  check remove "host isolation is undone" \
    eval "[ \"\$(for u in system.slice user.slice init.scope; do echo \"\$u=\$(allowed \$u)\"; done)\" = \"\$(cat $STATE/allowed-before)\" ] && [ \"\$(cat /sys/fs/cgroup/system.slice/cpuset.cpus.effective 2>/dev/null || echo 0-7)\" = 0-7 ]"
  stop_vm lab-ded-rm
  check remove "the pages the VM held go back once it stops" \
    wait_for "[ \"\$(for n in 0 1; do pool_2m \$n; done)\" = \"\$(cat $STATE/pools-before)\" ]" 30
  check remove "the hook stays (a configuration file)" test -x /etc/libvirt/hooks/qemu.d/kvmtuned
  start_vm lab-ded-r 1 64 >/dev/null
  check remove "VMs still start" wait_for "running lab-ded-r" 60
  stop_vm lab-ded-r
}

scenario_purge() {
  rm -f /etc/kvmtuned/policy.d/70-lab.conf # the lab's own file: dpkg keeps what it did not install
  check purge "apt purge kvmtuned" apt-get purge -y kvmtuned
  check_sh purge "no kvmtuned process is left" "! grep -qx kvmtuned /proc/[0-9]*/comm"
  local f left=""
  for f in /lib/systemd/system/kvmtuned.service /etc/libvirt/hooks/qemu.d/kvmtuned /etc/kvmtuned \
    /var/lib/kvmtuned /run/kvmtuned; do
    [ -e "$f" ] && left+="$f "
  done
  [ -z "$left" ] || say "left: $left"
  check_sh purge "no unit, hook, configuration or state is left" "[ -z '$left' ]"
  check_sh purge "THP is as before install" "[ \"\$(thp)\" = \"\$(cat $STATE/thp-before)\" ]"
  check_sh purge "the 2M pools are as before install" \
    "[ \"\$(for n in 0 1; do pool_2m \$n; done)\" = \"\$(cat $STATE/pools-before)\" ]"
  check_sh purge "AllowedCPUs of system.slice, user.slice, init.scope are as before install" \
    "[ \"\$(for u in system.slice user.slice init.scope; do echo \"\$u=\$(allowed \$u)\"; done)\" = \"\$(cat $STATE/allowed-before)\" ]"
}

if [ "$PHASE" = first ]; then
  before_install
  scenario_package
  scenario_notify
  scenario_numa_strict
  scenario_span
  scenario_shared_span
  scenario_smt
  scenario_isolation
  scenario_watchdog
  scenario_libvirtd_restart
  scenario_host_tuning
  scenario_journal_and_hardening
  prepare_reboot
else
  scenario_after_boot
  scenario_remove
  scenario_purge
fi

#!/usr/bin/env bash
# System test: host tuning on this machine's real sysfs with real guests: THP applied and
# restored (also from the journal after kill -9), hugepages reserved by the libvirt hook so a
# hugepage-backed guest can start and given back after it stops, VDI overcommit refused by
# the hook with kvmtuned's message.
source "$(dirname "$0")/lib.sh"
THP=/sys/kernel/mm/transparent_hugepage/enabled
POOL=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages # all nodes together
KT_MOUNTED=0
POOLS_BEFORE=()

extra_cleanup() {
  local p
  [ "$KT_MOUNTED" = 1 ] && umount /dev/hugepages && KT_MOUNTED=0
  [ -n "${thp_before:-}" ] && echo "$thp_before" >"$THP"
  for p in "${POOLS_BEFORE[@]}"; do echo "${p#*=}" >"${p%%=*}"; done
  return 0
}

[ "$(id -u)" -eq 0 ] || skip_all "needs root"
[ -w "$THP" ] || skip_all "$THP is not writable here"
[ -w "$POOL" ] || skip_all "$POOL is not writable here"
claim_hook_path
need_guests
thp_before=$(sed 's/.*\[\(.*\)\].*/\1/' "$THP")
for f in /sys/devices/system/node/node*/hugepages/hugepages-2048kB/nr_hugepages; do
  POOLS_BEFORE+=("$f=$(cat "$f")")
done
pool_before=$(cat "$POOL")
free_before=$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages)
# kvmtuned adds only what the free pages of the guest's node do not cover: predictable on one
# node, or when no node has free pages.
grow=
if [ "$free_before" -eq 0 ] || [ "$(ls -d /sys/devices/system/node/node[0-9]* | wc -l)" -eq 1 ]; then
  grow=$((free_before >= 32 ? 0 : 32 - free_before))
fi
say "THP is $thp_before, the host has $pool_before 2M hugepages ($free_before free) before the test"

mkdir -p "$KT_TMP/policy.d"
write_config() { printf '[Daemon]\nURI=qemu:///system\nMetrics=off\n[Host]\nTransparentHugepages=%s\nHugepages=on-demand\n' "$1" >"$KT_TMP/kvmtuned.conf"; }
cat >"$KT_TMP/policy.d/50-test.conf" <<CONF
[Class default]
CPUPolicy=shared
CacheLocality=numa
MemoryPolicy=strict
MemPageSize=2M

[Class vdi]
MatchName=kt-vdi*
CPUPolicy=shared
Overcommit=1
CONF
other=never
[ "$thp_before" = never ] && other=madvise

# THP: applied while kvmtuned runs, restored on a clean stop.
write_config "$other"
check "kvmtuned starts with TransparentHugepages=$other" start_kvmtuned
check "THP is $other while kvmtuned runs" grep -q "\[$other\]" "$THP"
stop_kvmtuned
check "THP is back to $thp_before after kvmtuned stops" grep -q "\[$thp_before\]" "$THP"

# kill -9 leaves the journal; the next start (with keep) restores from it.
check "kvmtuned starts again" start_kvmtuned
stop_kvmtuned KILL
check "after SIGKILL THP is still $other" grep -q "\[$other\]" "$THP"
write_config keep
check "kvmtuned starts with TransparentHugepages=keep" start_kvmtuned
check "the journal put THP back to $thp_before" grep -q "\[$thp_before\]" "$THP"
check "and said so" grep -q "a previous run did not finish: restored 1 host setting" "$KT_LOG"

# Hugepages: libvirt needs hugetlbfs, and finds mounts and hooks when it starts.
if ! grep -q " hugetlbfs " /proc/mounts; then
  mkdir -p /dev/hugepages && mount -t hugetlbfs hugetlbfs /dev/hugepages && KT_MOUNTED=1
fi
check "libvirtd restarts (to see hugetlbfs)" restart_libvirtd
HUGE="<memoryBacking><hugepages/></memoryBacking>"
guest_xml kt-huge0 1 64 "$HUGE" >"$KT_TMP/kt-huge0.xml"
KT_GUESTS+=(kt-huge0)
if [ "$(grep HugePages_Free /proc/meminfo | awk '{ print $2 }')" -lt 32 ]; then
  out=$($VIRSH create "$KT_TMP/kt-huge0.xml" 2>&1)
  say "virsh create kt-huge0 without the hook: $out"
  check "without the hook a hugepage-backed guest cannot start" test "$($VIRSH domstate kt-huge0 2>/dev/null)" != running
  check "for want of hugepages" grep -qi "memory\|huge" <<<"$out"
  stop_guest kt-huge0
else
  say "SKIP no-hook case: the host already has 32 free 2M pages, a guest would start anyway"
fi

install_hook
check "libvirtd restarts (to find the hook)" restart_libvirtd
check_sh "kvmtunectl status sees the hook" "ctl status | grep -q 'kvmtuned installed'"
start_guest kt-huge 1 64 "$HUGE"
check_sh "with the hook the hugepage-backed guest starts" "$VIRSH domstate kt-huge | grep -q running"
if [ -n "$grow" ]; then
  check "the hook grew the pool by $grow pages (the guest needs 32, $free_before were free)" \
    test "$(cat "$POOL")" -eq $((pool_before + grow))
else
  say "SKIP pool growth: several nodes with free pages, the growth depends on the node chosen"
fi
check "kt-huge is placed (after kvmtuned reconnects to the restarted libvirtd)" wait_for '[ "$(domain_state kt-huge)" = placed ]' 40
stop_guest kt-huge
check "the pages are given back after it stops" wait_for "[ \$(cat $POOL) -eq $pool_before ]"

# A guest running on hugepages while kvmtuned is killed; it stops meanwhile; the restart gives back.
start_guest kt-huge2 1 64 "$HUGE"
check_sh "kt-huge2 starts on reserved pages" "$VIRSH domstate kt-huge2 | grep -q running"
[ -n "$grow" ] && check "the pool grew by $grow pages again" test "$(cat "$POOL")" -eq $((pool_before + grow))
stop_kvmtuned KILL
stop_guest kt-huge2
check "kvmtuned restarts" start_kvmtuned
check "the restart gives back the pages of the guest that stopped meanwhile" wait_for "[ \$(cat $POOL) -eq $pool_before ]"

# VDI: Overcommit=1. kt-vdi1 takes every shared CPU of the node, so the hook refuses the second
# desktop with the ratio it would make.
if [ "$(ls -d /sys/devices/system/node/node[0-9]* | wc -l)" -ne 1 ]; then
  say "SKIP VDI case: written for one NUMA node (the planner would use the next node)"
else
  shared=$(ctl status | sed -n 's/^node 0: .*, \([0-9]*\) shared CPUs carrying.*/\1/p')
  say "node 0 has $shared shared CPUs"
  start_guest kt-vdi1 "$shared" 64
  check "kt-vdi1 ($shared vCPUs) is admitted" wait_for '[ "$(domain_state kt-vdi1)" = placed ]'
  guest_xml kt-vdi2 1 64 >"$KT_TMP/kt-vdi2.xml"
  KT_GUESTS+=(kt-vdi2)
  out=$($VIRSH create "$KT_TMP/kt-vdi2.xml" 2>&1)
  say "virsh create kt-vdi2: $out"
  check "kt-vdi2 does not start" test "$($VIRSH domstate kt-vdi2 2>/dev/null)" != running
  ratio=$(printf '%.2f' "$(echo "($shared + 1) / $shared" | bc -l)")
  check "libvirt shows kvmtuned's refusal" grep -qF \
    "kvmtuned: kt-vdi2 refused: node 0 shared ratio would be $ratio > 1.0 ($((shared + 1)) vCPUs / $shared CPUs)" <<<"$out"
fi

finish

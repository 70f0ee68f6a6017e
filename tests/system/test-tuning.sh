#!/usr/bin/env bash
# System test: host tuning on this machine's real sysfs with real guests: THP applied and
# restored (also from the journal after kill -9), hugepages reserved by the libvirt hook so a
# hugepage-backed guest can start and given back after it stops, VDI overcommit refused by
# the hook with kvmtuned's message.
source "$(dirname "$0")/lib.sh"
HOOK=/etc/libvirt/hooks/qemu.d/kvmtuned
THP=/sys/kernel/mm/transparent_hugepage/enabled
POOL=/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages
KT_MOUNTED=0
KT_HOOK_INSTALLED=0

extra_cleanup() {
  [ "$KT_HOOK_INSTALLED" = 1 ] && rm -f "$HOOK" && KT_HOOK_INSTALLED=0
  [ "$KT_MOUNTED" = 1 ] && umount /dev/hugepages && KT_MOUNTED=0
  [ -n "${thp_before:-}" ] && echo "$thp_before" >"$THP"
  [ -n "${pool_before:-}" ] && echo "$pool_before" >"$POOL"
  return 0
}
trap 'cleanup; exit 1' INT TERM

[ "$(id -u)" -eq 0 ] || skip_all "needs root"
[ -w "$THP" ] || skip_all "$THP is not writable here"
[ -w "$POOL" ] || skip_all "$POOL is not writable here"
command -v libvirtd >/dev/null || skip_all "libvirtd is not installed"
[ -e "$HOOK" ] && skip_all "$HOOK exists already; not touching someone else's hook"
need_guests
thp_before=$(sed 's/.*\[\(.*\)\].*/\1/' "$THP")
pool_before=$(cat "$POOL")
say "THP is $thp_before, node 0 has $pool_before 2M hugepages before the test"

mkdir -p "$KT_TMP/policy.d"
write_config() { printf '[Daemon]\nURI=qemu:///system\n[Host]\nTransparentHugepages=%s\nHugepages=on-demand\n' "$1" >"$KT_TMP/kvmtuned.conf"; }
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
kill "$KT_PID"; wait "$KT_PID" 2>/dev/null; KT_PID=
check "THP is back to $thp_before after kvmtuned stops" grep -q "\[$thp_before\]" "$THP"

# kill -9 leaves the journal; the next start (with keep) restores from it.
check "kvmtuned starts again" start_kvmtuned
kill -9 "$KT_PID"; wait "$KT_PID" 2>/dev/null; KT_PID=
check "after SIGKILL THP is still $other" grep -q "\[$other\]" "$THP"
write_config keep
check "kvmtuned starts with TransparentHugepages=keep" start_kvmtuned
check "the journal put THP back to $thp_before" grep -q "\[$thp_before\]" "$THP"
check "and said so" grep -q "a previous run did not finish: restored 1 host setting" "$KT_LOG"

# Hugepages: libvirt needs hugetlbfs, and finds mounts and hooks when it starts.
if ! grep -q " hugetlbfs " /proc/mounts; then
  mkdir -p /dev/hugepages && mount -t hugetlbfs hugetlbfs /dev/hugepages && KT_MOUNTED=1
fi
pkill -x libvirtd; wait_for '! pgrep -x libvirtd' 10; libvirtd -d; wait_for libvirtd_up 20
HUGE="<memoryBacking><hugepages/></memoryBacking>"
guest_xml kt-huge0 1 64 "$HUGE" >"$KT_TMP/kt-huge0.xml"
KT_GUESTS+=(kt-huge0)
check "without the hook a hugepage-backed guest cannot start (no pages)" bash -c "! $VIRSH create '$KT_TMP/kt-huge0.xml'"

mkdir -p "$(dirname "$HOOK")"
printf '#!/bin/sh\nexec %s --runtime-dir %s hook "$@"\n' "$KVMTUNECTL" "$KT_RUN" >"$HOOK"
chmod 0755 "$HOOK"
KT_HOOK_INSTALLED=1
pkill -x libvirtd; wait_for '! pgrep -x libvirtd' 10; libvirtd -d; wait_for libvirtd_up 20
check "kvmtunectl status sees the hook" bash -c "'$KVMTUNECTL' --runtime-dir '$KT_RUN' status | grep -q 'kvmtuned installed'"
start_guest kt-huge 1 64 "$HUGE"
check "with the hook the hugepage-backed guest starts" bash -c "$VIRSH domstate kt-huge | grep -q running"
check "the hook grew node 0's pool by the guest's 32 pages" test "$(cat "$POOL")" -eq $((pool_before + 32))
check "kt-huge is placed (after kvmtuned reconnects to the restarted libvirtd)" wait_for '[ "$(domain_state kt-huge)" = placed ]' 40
stop_guest kt-huge
check "the pages are given back after it stops" wait_for "[ \$(cat $POOL) -eq $pool_before ]"

# A guest running on hugepages while kvmtuned is killed; it stops meanwhile; the restart gives back.
start_guest kt-huge2 1 64 "$HUGE"
check "kt-huge2 starts on reserved pages" test "$(cat "$POOL")" -eq $((pool_before + 32))
kill -9 "$KT_PID"; wait "$KT_PID" 2>/dev/null; KT_PID=
stop_guest kt-huge2
check "kvmtuned restarts" start_kvmtuned
check "the restart gives back the pages of the guest that stopped meanwhile" wait_for "[ \$(cat $POOL) -eq $pool_before ]"

# VDI: Overcommit=1 on the one shared CPU: the second desktop is refused by the hook.
start_guest kt-vdi1 1 64
check "kt-vdi1 is admitted" wait_for '[ "$(domain_state kt-vdi1)" = placed ]'
guest_xml kt-vdi2 1 64 >"$KT_TMP/kt-vdi2.xml"
out=$($VIRSH create "$KT_TMP/kt-vdi2.xml" 2>&1)
say "virsh create kt-vdi2: $out"
check "kt-vdi2 does not start" bash -c "! $VIRSH domstate kt-vdi2 2>/dev/null | grep -q running"
check "libvirt shows kvmtuned's refusal" grep -q "kvmtuned: kt-vdi2 refused: node 0 shared ratio would be 2.00 > 1.0 (2 vCPUs / 1 CPUs)" <<<"$out"

KT_GUESTS+=(kt-vdi2)
finish

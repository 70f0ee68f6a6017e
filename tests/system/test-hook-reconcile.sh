#!/usr/bin/env bash
# System test (issue 12, defect 2): the prepare hook during a reconcile. libvirtd holds a domain
# while its hook runs, and listing the domains waits for that domain; a kvmtuned that listed on
# its loop could not answer the hook, which waited for it until kvmtunectl gave up (30 s), and
# libvirt then started the domain without an admission. Here kvmtuned restarts while a guest's
# prepare hook runs; the hook asks it once it has connected again (its reconcile's listing then
# waits for that guest): the answer comes at once, the guest starts admitted and is placed.
source "$(dirname "$0")/lib.sh"

claim_hook_path
need_guests

mkdir -p "$KT_TMP/policy.d"
printf '[Daemon]\nURI=qemu:///system\nMetrics=off\n' >"$KT_TMP/kvmtuned.conf"
printf '[Class default]\nCPUPolicy=shared\n' >"$KT_TMP/policy.d/50-test.conf"
check "kvmtuned starts" start_kvmtuned

CALLED="$KT_TMP/hook-called" GO="$KT_TMP/hook-go"
# The hook says libvirtd called it, then waits for the test's go before it asks kvmtuned.
install_hook "[ \"\$2\" = prepare ] && { touch '$CALLED'; i=0; while [ ! -e '$GO' ] && [ \$i -lt 600 ]; do sleep 0.1; i=\$((i+1)); done; }" \
  "$KT_TMP/hook-ms"
check "libvirtd restarts to find the hook" restart_libvirtd
connected() { ctl status | grep -q 'qemu:///system connected'; }
check "kvmtuned is connected" wait_for connected 40

guest_xml kt-hr1 1 48 >"$KT_TMP/kt-hr1.xml"
KT_GUESTS+=(kt-hr1)
$VIRSH create "$KT_TMP/kt-hr1.xml" >"$KT_TMP/create.out" 2>&1 9>&- &
CREATE=$!
check "libvirtd runs the prepare hook of kt-hr1" wait_for "[ -e '$CALLED' ]" 30
stop_kvmtuned
check "kvmtuned starts again while the hook runs" start_kvmtuned
check "and connects (its reconcile lists the domains, which waits for kt-hr1)" wait_for connected 30
sleep 1
t=$(date +%s%N)
touch "$GO"
wait "$CREATE"
rc=$?
say "virsh create: exit $rc, $((($(date +%s%N) - t) / 1000000)) ms after the hook went on: $(cat "$KT_TMP/create.out")"
check "kt-hr1 started" test "$rc" -eq 0
ms=$(awk '$1 == "prepare" { print $2 }' "$KT_TMP/hook-ms" | tail -n 1)
say "kvmtuned answered the prepare hook in ${ms:-?} ms"
check "the hook was answered at once (within 5 s; kvmtunectl gives up after 30 s)" test "${ms:-99999}" -lt 5000
check "kt-hr1 was admitted by the hook" grep -q "kt-hr1 admitted" "$KT_LOG"
check "kt-hr1 is placed" wait_for '[ "$(domain_state kt-hr1)" = placed ]' 60
finish

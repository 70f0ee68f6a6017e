#!/usr/bin/env bash
# System test: a host booting with autostart guests. libvirtd answers no client until its
# autostart is over, and autostart runs the prepare hook of each guest, which asks kvmtuned. A
# kvmtuned that connects to libvirt before it answers stalled there, so every hook waited 30 s
# for it (the trial boot of DESIGN.md §8: the watchdog killed it). Here libvirtd restarts with two
# autostart guests that both want the one dedicated CPU, and kvmtuned starts while the first
# hook waits for it: it must answer at once from what it knows, admit one, refuse the other, and
# place the admitted one once libvirtd answers.
source "$(dirname "$0")/lib.sh"

CALLED="$KT_TMP/hook-called"
DOWN_BEFORE=() # autostart domains of this host that were not running: the boot starts them
extra_cleanup() {
  local g
  for g in kt-boot1 kt-boot2; do $VIRSH undefine "$g" >/dev/null 2>&1; done
  for g in "${DOWN_BEFORE[@]}"; do
    [ "$($VIRSH domstate "$g" 2>/dev/null)" = running ] && $VIRSH shutdown "$g" >/dev/null 2>&1 &&
      say "shut down $g again, which the test's libvirtd restart autostarted"
  done
  return 0
}

claim_hook_path
need_guests
stat_autostart() { $VIRSH dominfo "$1" 2>/dev/null | awk '/^Autostart:/ { print $2 }'; }

mkdir -p "$KT_TMP/policy.d"
printf '[Daemon]\nURI=qemu:///system\nMetrics=off\n' >"$KT_TMP/kvmtuned.conf"
printf '[Class default]\nCPUPolicy=shared\n[Class ded]\nMatchName=kt-boot*\nCPUPolicy=dedicated\n' \
  >"$KT_TMP/policy.d/50-test.conf"
# One dedicated CPU on any host, so that the second guest finds it taken by the first's admission.
start_kvmtuned || fail_all "kvmtuned starts"
DED=$(pool dedicated)
stop_kvmtuned
ONE=${DED%%[,-]*}
[ -n "$ONE" ] || fail_all "kvmtuned names a dedicated pool"
printf '[Daemon]\nURI=qemu:///system\nMetrics=off\n[Host]\nDedicatedCPUs=%s\n' "$ONE" >"$KT_TMP/kvmtuned.conf"
say "the dedicated pool is CPU $ONE"

for g in kt-boot1 kt-boot2; do
  KT_GUESTS+=("$g")
  guest_xml "$g" 1 48 >"$KT_TMP/$g.xml"
  $VIRSH define "$KT_TMP/$g.xml" >/dev/null && $VIRSH autostart "$g" >/dev/null
done
check "two autostart guests are defined" test "$(stat_autostart kt-boot1)$(stat_autostart kt-boot2)" = enableenable

# The hook notes that libvirtd called it, then waits for kvmtuned's control socket, as a hook
# does when kvmtuned starts while libvirtd autostarts.
install_hook "[ \"\$2\" = prepare ] && { touch '$CALLED'; i=0; while [ ! -S '$KT_RUN/control' ] && [ \$i -lt 300 ]; do sleep 0.1; i=\$((i+1)); done; }" \
  "$KT_TMP/hook-ms"
mapfile -t DOWN_BEFORE < <($VIRSH list --inactive --autostart --name | grep -v -e '^kt-boot' -e '^$')
check "libvirtd stops" stop_libvirtd
rm -f /run/libvirt/qemu/autostarted # libvirtd autostarts once per boot: this is a boot
launch_libvirtd
check "libvirtd autostarts a guest and runs its prepare hook" wait_for "[ -e '$CALLED' ]" 60
t0=$(date +%s%N)
check "kvmtuned starts while libvirtd is in its autostart" start_kvmtuned
running() { [ "$($VIRSH domstate "$1" 2>/dev/null)" = running ]; }
wait_for 'running kt-boot1 || running kt-boot2' 40
ms=$((($(date +%s%N) - t0) / 1000000))
say "the first autostart guest ran $ms ms after kvmtuned started"
wait_for "[ \$(grep -c '^prepare ' '$KT_TMP/hook-ms') -ge 2 ]" 60
worst=$(awk '$1 == "prepare" && $2 > w { w = $2 } END { print w + 0 }' "$KT_TMP/hook-ms")
say "kvmtuned answered the prepare hooks in $(awk '$1 == "prepare" { printf "%s ms ", $2 }' "$KT_TMP/hook-ms")"
check "both prepare hooks were answered" test "$(grep -c '^prepare ' "$KT_TMP/hook-ms")" -eq 2
check "each at once (within 10 s; kvmtunectl gives up after 30 s)" test "$worst" -lt 10000
check "libvirtd answers again (its autostart is over)" wait_for libvirtd_up 60
if running kt-boot1; then ADMITTED=kt-boot1 REFUSED=kt-boot2; else ADMITTED=kt-boot2 REFUSED=kt-boot1; fi
check "only one of the two runs: the second hook counted the first admission" \
  wait_for "! running $REFUSED" 5
check "kvmtuned refused $REFUSED for the CPU the first admission holds" \
  grep -q "$REFUSED refused: host: needs 1 dedicated CPUs, 0 free" "$KT_LOG"
check "kvmtuned connects once libvirtd answers" wait_for "ctl status | grep -q 'qemu:///system connected'" 40
check "$ADMITTED is placed" wait_for "[ \"\$(domain_state $ADMITTED)\" = placed ]" 40
check_sh "its vCPU thread has the dedicated CPU $ONE" "[ \"\$(thread_affinity $ADMITTED 'CPU 0/')\" = '$ONE' ]"
finish

#!/usr/bin/env bash
# System test: steal statistics and the Prometheus endpoint with a real busy guest. The
# exported counter must follow libvirt's own vcpu.N.delay (the same schedstat run_delay), the
# series must go when the guest goes, and /metrics must answer while libvirtd is down.
source "$(dirname "$0")/lib.sh"
PORT=19277

command -v curl >/dev/null || skip_all "curl is not installed"
need_guests
busy_disk "$KT_TMP/busy.img"
mkdir -p "$KT_TMP/policy.d"
printf '[Daemon]\nURI=qemu:///system\nStatsInterval=1s\nMetrics=127.0.0.1:%d\n[Host]\nIsolateHost=no\n' "$PORT" >"$KT_TMP/kvmtuned.conf"
printf '[Class busy]\nMatchName=kt-busy*\nCPUPolicy=dedicated\n' >"$KT_TMP/policy.d/50-test.conf"

metric() { curl -s "127.0.0.1:$PORT/metrics" | awk -v m="$1" 'index($0, m) == 1 { print $2 }'; }
libvirt_delay() { $VIRSH domstats --vcpu kt-busy | awk -F= '/vcpu.0.delay/ { print $2 / 1e9 }'; }
STEAL='kvmtuned_vcpu_steal_seconds_total{domain="kt-busy",vcpu="0",class="busy"}'

check "kvmtuned starts" start_kvmtuned
check "it serves metrics on port $PORT (not someone else's)" grep -q "metrics on http://127.0.0.1:$PORT/metrics" "$KT_LOG"
start_guest kt-busy 1 64 "" "$(busy_disk_xml "$KT_TMP/busy.img")"
check "kt-busy is placed" wait_for '[ "$(domain_state kt-busy)" = placed ]'
# Two host loops on the guest's own CPU: steal large enough that scheduler slices (a few ms
# each) are noise next to it.
vcpu_cpu=$(thread_affinity kt-busy "CPU 0/")
start_loops "$vcpu_cpu"
check "the steal counter of kt-busy's vCPU is exported" wait_for '[ -n "$(metric "$STEAL")" ]' 10
check_sh "its placement context is exported" "curl -s 127.0.0.1:$PORT/metrics | grep -q 'kvmtuned_vcpu_info{domain=\"kt-busy\",vcpu=\"0\",cpus=\"$vcpu_cpu\"'"
check_sh "its memory by node is exported" "curl -s 127.0.0.1:$PORT/metrics | grep -q 'kvmtuned_domain_memory_bytes{domain=\"kt-busy\",node=\"0\"}'"
if command -v promtool >/dev/null; then
  check_sh "promtool accepts the live output" "curl -s 127.0.0.1:$PORT/metrics | promtool check metrics"
else # install-deps.sh installs it here; the host lab (lab-system) has no Prometheus
  say "SKIP promtool check: promtool is not installed (apt-get install prometheus)"
fi

# Read libvirt right after a collector pass changed kvmtuned's value, so both describe the same
# moment (within the ~50 ms of polling) at both ends of the window.
synced() {
  local prev cur i
  prev=$(metric "$STEAL")
  for ((i = 0; i < 60; i++)); do
    cur=$(metric "$STEAL")
    [ "$cur" != "$prev" ] && break
    sleep 0.05
  done
  echo "$cur $(libvirt_delay)"
}
read -r m0 l0 < <(synced)
sleep 20
read -r m1 l1 < <(synced)
dm=$(echo "$m1 - $m0" | bc -l); dl=$(echo "$l1 - $l0" | bc -l)
say "over 20 s: kvmtuned's counter grew $dm s, libvirt's vcpu.0.delay $dl s"
if [ "$(echo "$dl >= 0.1" | bc -l)" -eq 1 ]; then
  check_sh "the exported steal grows at libvirt's rate (within 5 %)" \
    "[ \$(echo 'r = $dm / $dl; r >= 0.95 && r <= 1.05' | bc -l) -eq 1 ]"
else
  fail_all "the loops pinned to the guest's CPU caused steal to compare ($dl s in 20 s)"
fi
check_sh "the counter equals libvirt's within one interval's growth" \
  "[ \$(echo 'd = $l1 - $m1; d >= -0.001 && d <= 0.05 * $l1 + $dl / 10' | bc -l) -eq 1 ]"
check "a dedicated vCPU with steal above StealWarnPercent for 3 intervals is reported" \
  grep -q "kt-busy vCPU 0 on CPU $vcpu_cpu: steal above 5 % for 3 intervals" "$KT_LOG"
out=$(ctl top --once)
say "kvmtunectl top --once: $(sed -n 3p <<<"$out")"
check "kvmtunectl top shows the vCPU" grep -q "^kt-busy busy 0 $vcpu_cpu 0 " <<<"$(sed 's/  */ /g' <<<"$out")"

stop_guest kt-busy
check "the series goes when the guest stops" wait_for '[ -z "$(metric "$STEAL")" ]' 10

check "libvirtd stops" stop_libvirtd
check "/metrics answers while libvirtd is down, with libvirt_connected 0" \
  wait_for '[ "$(metric kvmtuned_libvirt_connected)" = 0 ]' 15
check "libvirtd starts again" launch_libvirtd
wait_for libvirtd_up 20
check "and 1 again after the reconnect" wait_for '[ "$(metric kvmtuned_libvirt_connected)" = 1 ]' 40
check "reconnects are counted" test "$(metric kvmtuned_reconnects_total)" -ge 1
finish

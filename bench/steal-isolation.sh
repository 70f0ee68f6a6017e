#!/usr/bin/env bash
# bench/steal-isolation: one guest whose vCPU is always busy and two host busy-loops; prints the
# guest's vCPU steal (run_delay / wall time) for (a) no kvmtuned, (b) kvmtuned pinning only,
# (c) kvmtuned with IsolateHost=when-dedicated, plus the idle-host figure (no loops, pinned),
# and the ratio (a)/((c)+0.01). Then an interrupt load: a ping flood to the default gateway with
# the network card's IRQs steered onto the guest's CPU (as irqbalance or the boot may leave
# them), IsolateHost=when-dedicated, (d) IRQAffinity=keep against (e) away-from-dedicated: the
# steal and the device interrupts that CPU took, side by side. Needs root. Prints figures; never
# fails on them.
KT_BUILD=${KT_BUILD:-$(cd "$(dirname "$0")/.." && pwd)/build}
source "$(dirname "$0")/../tests/system/lib.sh"
need_guests
busy_disk "$KT_TMP/busy.img"
SECONDS_PER_CASE=${SECONDS_PER_CASE:-10}
mkdir -p "$KT_TMP/policy.d"
printf '[Class busy]\nMatchName=kt-busy*\nCPUPolicy=dedicated\nMemoryPolicy=strict\n' >"$KT_TMP/policy.d/50-test.conf"
NIC=$(ip route show default 2>/dev/null | awk '{ for (i = 1; i < NF; i++) if ($i == "dev") print $(i + 1); exit }')
GATEWAY=$(ip route show default 2>/dev/null | awk '{ print $3; exit }')
# Its IRQs: the MSI vectors of its PCI device (a virtio NIC's is the parent), or its legacy IRQ.
DEV=$(readlink -f "/sys/class/net/$NIC/device" 2>/dev/null)
for d in "$DEV" "$(dirname "$DEV")"; do
  [ -d "$d/msi_irqs" ] && NIC_IRQS=$(ls "$d/msi_irqs") && break
  [ -r "$d/irq" ] && [ "$(cat "$d/irq")" != 0 ] && NIC_IRQS=$(cat "$d/irq") && break
done
IRQS_BEFORE=()
for irq in $NIC_IRQS; do
  [ -w "/proc/irq/$irq/smp_affinity_list" ] && IRQS_BEFORE+=("$irq=$(cat "/proc/irq/$irq/smp_affinity_list")")
done
put_back_irqs() { local p; for p in "${IRQS_BEFORE[@]}"; do echo "${p#*=}" >"/proc/irq/${p%%=*}/smp_affinity_list" 2>/dev/null; done; }
extra_cleanup() { [ -n "${FLOOD:-}" ] && kill "$FLOOD" 2>/dev/null; put_back_irqs; return 0; }

# Device interrupts CPU $1 has taken so far (numbered IRQ lines of /proc/interrupts).
cpu_irqs() {
  awk -v c="$1" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "CPU" c) col = i + 1; next }
                 $1 ~ /^[0-9]+:$/ && col { s += $col } END { print s + 0 }' /proc/interrupts
}

# measure VAR MODE LOOPS [IRQAFFINITY]: sets VAR to the guest's steal in percent, with kvmtuned in
# IsolateHost MODE (or none: no kvmtuned) and with host loops or not (yes|no); with IRQAFFINITY,
# under the interrupt load instead of loops, and VAR_irqs to the interrupts the guest's CPU took.
# Runs in this shell, so the exit trap still knows the guest, the loops and kvmtuned.
measure() {
  if [ "$2" != none ]; then
    printf '[Daemon]\nURI=qemu:///system\nMetrics=off\nStatsInterval=1s\n[Host]\nIsolateHost=%s\nIRQAffinity=%s\n' \
      "$2" "${4:-keep}" >"$KT_TMP/kvmtuned.conf"
    start_kvmtuned || echo "kvmtuned did not start: case $1 runs without it" >&2
  fi
  start_guest kt-busy 1 64 "" "$(busy_disk_xml "$KT_TMP/busy.img")"
  [ "$2" != none ] && wait_for '[ "$(domain_state kt-busy)" = placed ]' 10
  [ "$3" = yes ] && start_loops
  local cpu irq n0
  if [ -n "${4:-}" ]; then
    cpu=$($VIRSH vcpupin kt-busy | awk '$1 == "0" { print $2 }')
    for irq in $NIC_IRQS; do echo "$cpu" >"/proc/irq/$irq/smp_affinity_list" 2>/dev/null; done
    ping -f -q -s 1200 "$GATEWAY" >/dev/null 2>&1 9>&- &
    FLOOD=$!
  fi
  sleep 2
  [ -n "${4:-}" ] && n0=$(cpu_irqs "$cpu")
  printf -v "$1" '%s' "$(vcpu_steal kt-busy "$SECONDS_PER_CASE")"
  if [ -n "${4:-}" ]; then
    printf -v "$1_irqs" '%s' "$(($(cpu_irqs "$cpu") - n0))"
    kill "$FLOOD" 2>/dev/null
    wait "$FLOOD" 2>/dev/null
    FLOOD=
  fi
  stop_loops
  stop_guest kt-busy
  stop_kvmtuned
  put_back_irqs
}
echo "steal-isolation: $(nproc) CPUs, guest with $KT_VIRT, ${SECONDS_PER_CASE}s per case"
measure idle when-dedicated no
measure a none yes
measure b no yes
measure c when-dedicated yes
printf 'idle host (pinned, no loops):          %6.2f %%\n' "$idle"
printf '(a) no kvmtuned, 2 host loops:         %6.2f %%\n' "$a"
printf '(b) kvmtuned pinning only, 2 loops:    %6.2f %%\n' "$b"
printf '(c) kvmtuned + IsolateHost, 2 loops:   %6.2f %%\n' "$c"
printf '(a)/((c)+0.01) = %s; (c) - idle = %s percentage points\n' "$(echo "scale=1; $a / ($c + 0.01)" | bc)" "$(echo "$c - $idle" | bc)"
if [ -z "$NIC_IRQS" ] || [ -z "$GATEWAY" ] || ! command -v ping >/dev/null || [ ${#IRQS_BEFORE[@]} -eq 0 ]; then
  echo "interrupt load: skipped (needs ping, a default route and a network card whose IRQs can be steered)"
else
  for round in 1 2; do
    measure d when-dedicated no keep
    measure e when-dedicated no away-from-dedicated
    printf 'round %d, ping flood with %s IRQs %s on the guest CPU:\n' "$round" "$NIC" "$(echo $NIC_IRQS | tr ' ' ,)"
    printf '  (d) IRQAffinity=keep:                %6.2f %% steal, %7d device interrupts on its CPU\n' "$d" "$d_irqs"
    printf '  (e) IRQAffinity=away-from-dedicated: %6.2f %% steal, %7d device interrupts on its CPU\n' "$e" "$e_irqs"
  done
fi
cleanup

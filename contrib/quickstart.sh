#!/usr/bin/env bash
# Quick start: installs what is missing, builds kvmtuned, starts libvirtd if it is not running,
# runs kvmtuned with the shipped policy and starts a small demo VM for it to place. kvmtuned
# and the demo VM keep running afterwards; the last lines say how to stop them.
set -euo pipefail
cd "$(dirname "$0")/.."
source contrib/libvirt-env.sh

[ "$(id -u)" -eq 0 ] || { echo "quickstart: run as root (it starts libvirtd and a VM)" >&2; exit 1; }
contrib/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
ctl() { build/daemon/kvmtunectl "$@"; }

echo
echo "== this host as kvmtuned sees it"
ctl topology | head -n 12
echo
echo "== the shipped configuration and policy"
build/daemon/kvmtuned --check --config etc/kvmtuned.conf --policy-dir etc/policy.d

start_libvirtd || { echo "quickstart: libvirtd does not start" >&2; exit 1; }
choose_accel
if ! ctl status >/dev/null 2>&1; then
  build/daemon/kvmtuned --config etc/kvmtuned.conf --policy-dir etc/policy.d >/var/log/kvmtuned.log 2>&1 &
  wait_for "build/daemon/kvmtunectl status" 10 || { echo "quickstart: kvmtuned did not start, see /var/log/kvmtuned.log" >&2; exit 1; }
fi

echo
echo "== starting the demo VM kvmtuned-demo (1 vCPU, 64 MiB, $([ "$KT_VIRT" = kvm ] && echo KVM || echo TCG))"
$VIRSH destroy kvmtuned-demo >/dev/null 2>&1 || true
guest_xml kvmtuned-demo 1 64 >/tmp/kvmtuned-demo.xml
$VIRSH create /tmp/kvmtuned-demo.xml
wait_for "build/daemon/kvmtunectl domains | grep -q '^kvmtuned-demo .* placed'" 10 || true
echo
ctl status
echo
ctl domains
echo
ctl explain kvmtuned-demo
echo
echo "== curl -s 127.0.0.1:9655/metrics (after the first statistics pass)"
sleep 6
curl -s 127.0.0.1:9655/metrics | grep -E '^kvmtuned_(vcpu|cpus|libvirt)' || echo "(metrics are off or not reachable)"
echo
echo "kvmtuned keeps running (log: /var/log/kvmtuned.log). Stop it with: kill \$(cat /run/kvmtuned/kvmtuned.pid)"
echo "Stop the demo VM with: virsh destroy kvmtuned-demo"

#!/usr/bin/env bash
# Quick start: installs what is missing, builds kvmtuned and runs what it can do on this host
# today: the host model, a check of the shipped policy, and a what-if plan of demo domains.
# The daemon demo (a small VM placed by kvmtuned) replaces the plan once the daemon lands.
set -euo pipefail
cd "$(dirname "$0")/.."

contrib/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"

echo
echo "== kvmtunectl topology: this host as kvmtuned sees it"
build/daemon/kvmtunectl topology
echo
echo "== kvmtuned --check: the shipped configuration and policy"
build/daemon/kvmtuned --check --config etc/kvmtuned.conf --policy-dir etc/policy.d
echo
echo "== kvmtunectl plan: where the sample domains would go on this host"
status=0
build/daemon/kvmtunectl plan --config etc/kvmtuned.conf --policy-dir etc/policy.d \
  tests/fixtures/domains/win10-virt-install.xml tests/fixtures/domains/mixed-rt.xml || status=$?
# 3 means a domain was refused, which a 2-CPU host does; anything else is a failure.
[ "$status" -eq 0 ] || [ "$status" -eq 3 ]

#!/usr/bin/env bash
# Quick start: installs what is missing, builds kvmtuned and runs its main job on this host.
# Today the main job is the host model; the daemon demo (a small VM placed by kvmtuned)
# arrives with the daemon.
set -euo pipefail
cd "$(dirname "$0")/.."

contrib/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
echo
echo "== kvmtunectl topology (this host as kvmtuned sees it)"
build/daemon/kvmtunectl topology

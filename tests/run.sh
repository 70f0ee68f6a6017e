#!/usr/bin/env bash
# The test command (README and CI): installs what is missing, builds with -Werror and
# AddressSanitizer + UndefinedBehaviorSanitizer, runs every tier but bench with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."

contrib/install-deps.sh
build=${BUILD_DIR:-build-test}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DKVMTUNED_WERROR=ON -DKVMTUNED_SANITIZE=ON -DKVMTUNED_CRASH_POINTS=ON >/dev/null
cmake --build "$build" -j"$(nproc)"
cd "$build"
ctest --output-on-failure -LE bench "$@"

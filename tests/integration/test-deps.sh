#!/usr/bin/env bash
# Every library CMake requires is one some target links: a requirement nothing links makes
# users install a -dev package for nothing (and hides that its job is done another way).
set -u
SRC=$(cd "$(dirname "$0")/../.." && pwd)
source "$SRC/tests/lib/tap.sh"
required=$(sed -n 's/^kvmtuned_require(\([A-Z0-9_]*\) .*/\1/p' "$SRC/CMakeLists.txt")
[ -n "$required" ] || fail_all "CMakeLists.txt names its requirements with kvmtuned_require"
for name in $required; do
  check "$name (required by CMakeLists.txt) is linked by a target" \
    grep -rqs --include=CMakeLists.txt "PkgConfig::$name\b" "$SRC"
done
tap_summary

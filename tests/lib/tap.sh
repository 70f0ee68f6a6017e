#!/usr/bin/env bash
# TAP-like checks for the shell test tiers (system, package): "ok - what" / "not ok - what"
# lines, '#' comments, and a closing "N passed, N failed" line. Sourced, not run. A test that
# cannot run here prints "SKIP: why" and exits 77 (ctest shows it as skipped).
KT_PASSED=0
KT_FAILED=0

say() { printf '%s\n' "$*" | sed 's/^/# /'; }

check() { # check "what" command...
  local what=$1
  shift
  if "$@" >/dev/null 2>&1; then
    KT_PASSED=$((KT_PASSED + 1))
    printf 'ok - %s\n' "$what"
  else
    KT_FAILED=$((KT_FAILED + 1))
    printf 'not ok - %s\n' "$what"
  fi
}

# check_sh "what" 'shell code': like check, for pipelines and the helpers defined here.
check_sh() {
  local what=$1
  shift
  check "$what" eval "$1"
}

skip_all() {
  printf 'SKIP: %s\n' "$*"
  printf '0 passed, 0 failed, 1 skipped\n'
  exit 77
}

# A dependency the test needs is installed (install-deps.sh does that) but broken: a failure,
# never a skip.
fail_all() {
  printf 'not ok - %s\n' "$*"
  KT_FAILED=$((KT_FAILED + 1))
  exit 1
}

# The closing line; the status says whether every check passed.
tap_summary() {
  printf '%d passed, %d failed\n' "$KT_PASSED" "$KT_FAILED"
  [ "$KT_FAILED" -eq 0 ]
}

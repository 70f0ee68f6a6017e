#!/usr/bin/env bash
# System test: the README's first command, as the system tier's first step, so that every later
# system test runs beside what it leaves (kvmtuned on /run/kvmtuned and its demo VM), as on a
# newcomer's machine. "after" (the tier's last step) checks that the tests gave both back.
source "$(dirname "$0")/lib.sh"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
HOSTCTL() { "$KVMTUNECTL" --runtime-dir "$HOST_RUN" "$@"; }

[ "$(id -u)" -eq 0 ] || skip_all "needs root (the quick start starts libvirtd and a VM)"
command -v libvirtd >/dev/null || skip_all "libvirtd is not installed"
take_run_lock

demo_placed() { HOSTCTL domains | awk -v n="$HOST_DEMO" '$1 == n && $3 == "placed" { f = 1 } END { exit !f }'; }

case "${1:-start}" in
start)
  say "running contrib/quickstart.sh as a newcomer does (its output follows)"
  (cd "$SRC" && bash contrib/quickstart.sh 9>&-) >"$KT_TMP/quickstart.log" 2>&1
  rc=$?
  sed 's/^/#   /' "$KT_TMP/quickstart.log"
  check "contrib/quickstart.sh succeeds" [ "$rc" -eq 0 ]
  check "its kvmtuned answers on $HOST_RUN/control" HOSTCTL status
  check "and wrote its pid to $HOST_RUN/kvmtuned.pid" pid_of "$HOST_RUN/kvmtuned.pid" kvmtuned
  check "the demo VM $HOST_DEMO is placed" wait_for demo_placed 10
  check_sh "its metrics are served on 127.0.0.1:9655" \
    "curl -sf 127.0.0.1:9655/metrics | grep -q '^kvmtuned_libvirt_connected 1'"
  check_sh "the quick start names the pid file to stop kvmtuned with" \
    "grep -q 'kill \$(cat $HOST_RUN/kvmtuned.pid)' '$KT_TMP/quickstart.log'"
  ;;
after)
  check "after every system test, the quick start's kvmtuned answers again" HOSTCTL status
  check "and the demo VM $HOST_DEMO is placed again" wait_for demo_placed 10
  ;;
esac
finish

#!/usr/bin/env bash
# System test: how the harness and the quick start bring up libvirt on a host without
# systemd. A killed virtlogd leaves its socket file behind; taking that file for a running
# virtlogd made every guest start fail with "Connection refused" (CI saw it on 2026-11-21).
# Before the fix, "a guest starts" fails here.
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" -eq 0 ] || skip_all "needs root (virtlogd, libvirtd, a guest)"
command -v virtlogd >/dev/null || skip_all "virtlogd is not installed"
under_systemd && skip_all "systemd owns virtlogd here (socket activation); this is the path for hosts without it"
take_run_lock
# A virtlogd that runs already (the quick start's) is taken over: the guests that log to it
# stop first, it is stopped by its pid, and all of it starts again at the end.
take_over_host
if pid=$(pid_of /run/virtlogd.pid virtlogd); then
  check "the running virtlogd (pid $pid) stops, so the test can kill its own" stop_pid "$pid"
  touch "$TAKEN/virtlogd"
  say "stopped the running virtlogd (pid $pid); it is started again at the end"
fi

# The leftover, made the way it happens: a virtlogd killed with SIGKILL (as when the session
# or machine it ran in is stopped) cannot remove its socket file.
mkdir -p /run/libvirt
rm -f $VIRTLOGD_SOCKETS # no virtlogd runs: whatever is there is an older leftover
virtlogd -d 9>&-
check "a virtlogd starts" wait_for '[ -S /run/libvirt/virtlogd-sock ]'
pid=$(pid_of /run/virtlogd.pid virtlogd)
check "and is killed" stop_pid "${pid:-0}" KILL
check "its socket file stays behind, nobody listening" [ -S /run/libvirt/virtlogd-sock ]

need_guests
check "start_libvirtd started virtlogd again" pid_of /run/virtlogd.pid virtlogd
check "and says so, so that the cleanup stops it" [ "$KT_STARTED_VIRTLOGD" = 1 ]
start_guest kt-env 1 48
check_sh "a guest starts (it logs through virtlogd)" '[ "$($VIRSH domstate kt-env)" = running ]'
stop_guest kt-env
[ "$KT_STARTED_LIBVIRTD" = 1 ] && check "stop_libvirtd stops the libvirtd it started" stop_libvirtd
KT_STARTED_LIBVIRTD=0 # stopped here, not again by the cleanup
check "stop_virtlogd stops the virtlogd it started" stop_virtlogd
check_sh "and removes the sockets it leaves" '[ ! -e /run/libvirt/virtlogd-sock ] && [ ! -e /run/libvirt/virtlogd-admin-sock ]'
finish

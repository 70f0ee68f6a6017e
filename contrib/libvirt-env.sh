#!/usr/bin/env bash
# Helpers shared by the quick start, the system tests and the benchmarks: a running libvirtd
# (started the way DESIGN.md describes for hosts without systemd), the accelerator to use, and
# the XML of a tiny diskless guest. Sourced, not run. Sets KT_STARTED_LIBVIRTD=1 and
# KT_STARTED_VIRTLOGD=1 when it started them itself.

VIRSH=${VIRSH:-virsh -q -c qemu:///system}
KT_STARTED_LIBVIRTD=${KT_STARTED_LIBVIRTD:-0}
KT_STARTED_VIRTLOGD=${KT_STARTED_VIRTLOGD:-0}

# Waits up to $2 seconds (default 10) for a command to succeed.
wait_for() {
  local cmd=$1 limit=${2:-10} i
  for ((i = 0; i < limit * 10; i++)); do
    eval "$cmd" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

libvirtd_up() { $VIRSH version >/dev/null 2>&1; }

# Under systemd the distribution's units own libvirtd and virtlogd (socket activation); a
# libvirtd started by hand beside them would fight over the sockets.
under_systemd() { [ -d /run/systemd/system ]; }

# Starts libvirtd as a daemon. 9>&-: the system tests' run lock must not live on in it.
launch_libvirtd() {
  if under_systemd; then systemctl start libvirtd; else libvirtd -d 9>&-; fi
}

# pid_of PIDFILE NAME: the pid a daemon wrote there, when that process still runs and is NAME
# (not another process that got the number of one that died).
pid_of() {
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] && echo "$pid"
}

# stop_pid PID [SIGNAL]: signals one process and waits up to 20 s until it is gone. Never a
# process group: 0, 1 and what is not a number are refused.
stop_pid() {
  [[ "${1:-}" =~ ^[0-9]+$ ]] && [ "$1" -gt 1 ] || return 1
  kill "-${2:-TERM}" "$1" 2>/dev/null || return 0
  wait_for "! kill -0 $1" 20
}

# Stops libvirtd, by the pid in its pidfile, and waits until it is gone (a dying daemon still
# answers, and its pidfile would make the next start fail). Returns non-zero if it did not stop.
# Under systemd, any client (kvmtuned reconnecting) may start it again through its socket.
stop_libvirtd() {
  if under_systemd; then
    systemctl stop libvirtd
    return
  fi
  local pid
  pid=$(pid_of /run/libvirtd.pid libvirtd) || return 0
  stop_pid "$pid"
}

# Stops and starts libvirtd again (QEMU guests keep running); non-zero if it is not back.
restart_libvirtd() {
  if under_systemd; then
    systemctl restart libvirtd || return 1
    wait_for libvirtd_up 20
    return
  fi
  stop_libvirtd || return 1
  launch_libvirtd || return 1
  wait_for libvirtd_up 20
}

VIRTLOGD_SOCKETS="/run/libvirt/virtlogd-sock /run/libvirt/virtlogd-admin-sock"

# QEMU guests log through virtlogd, so it must run before libvirtd starts one. Its socket
# file alone proves nothing: a virtlogd that was killed leaves it behind, and connecting to
# it is refused, so without systemd the test is whether the process of its pidfile runs.
# Sets KT_STARTED_VIRTLOGD=1 when it started it.
start_virtlogd() {
  under_systemd && return 0 # libvirtd.service pulls in virtlogd.socket
  pid_of /run/virtlogd.pid virtlogd >/dev/null && return 0
  rm -f $VIRTLOGD_SOCKETS
  virtlogd -d 9>&- || return 1
  KT_STARTED_VIRTLOGD=1
  wait_for '[ -S /run/libvirt/virtlogd-sock ]' 10
}

# Stops the virtlogd start_virtlogd started (by its pidfile), and removes the sockets it leaves.
stop_virtlogd() {
  [ "$KT_STARTED_VIRTLOGD" = 1 ] || return 0
  local pid
  pid=$(pid_of /run/virtlogd.pid virtlogd) && { stop_pid "$pid" || return 1; }
  KT_STARTED_VIRTLOGD=0
  rm -f $VIRTLOGD_SOCKETS
}

start_libvirtd() {
  mkdir -p /var/log/libvirt /run/libvirt /var/lib/libvirt
  # Checked even when libvirtd answers: a virtlogd that died under a running libvirtd fails
  # every guest start with "Connection refused".
  start_virtlogd || return 1
  libvirtd_up && return 0
  # Debian's QEMU driver runs guests as libvirt-qemu:libvirt-qemu, which must exist.
  getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
  getent group kvm >/dev/null || groupadd -r kvm
  id libvirt-qemu >/dev/null 2>&1 || useradd -r -g libvirt-qemu -G kvm -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu
  launch_libvirtd || return 1
  KT_STARTED_LIBVIRTD=1
  wait_for libvirtd_up 20
}

# Sets KT_VIRT to kvm when /dev/kvm exists (made usable by the kvm group), else qemu (TCG).
choose_accel() {
  KT_VIRT=qemu
  [ "${KT_ACCEL:-}" = tcg ] && return 0 # KT_ACCEL=tcg forces software emulation
  if [ -c /dev/kvm ]; then
    # The guest runs as libvirt-qemu, which reaches /dev/kvm through the kvm group.
    if [ "$(stat -c %G /dev/kvm)" != kvm ] || [ $((0$(stat -c %a /dev/kvm) & 060)) -ne 060 ]; then
      chgrp kvm /dev/kvm && chmod 0660 /dev/kvm
    fi
    KT_VIRT=kvm
  fi
}

# guest_xml NAME VCPUS MIB [EXTRA [DEVICES]]: a diskless guest (unless DEVICES adds a disk);
# EXTRA goes inside <domain>, DEVICES inside <devices>.
guest_xml() {
  cat <<XML
<domain type='$KT_VIRT'>
  <name>$1</name>
  <memory unit='MiB'>$3</memory>
  <vcpu>$2</vcpu>
  <iothreads>1</iothreads>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <cpu mode='custom' match='exact' check='none'><model>qemu64</model><feature policy='disable' name='svm'/></cpu>
  ${4:-}
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <video><model type='none'/></video>
    <memballoon model='none'/>
    ${5:-}
  </devices>
</domain>
XML
}


# busy_disk FILE: a one-sector raw disk whose boot code is "jmp $": a guest that boots from it
# keeps its vCPU 100 % busy.
busy_disk() {
  head -c 512 /dev/zero >"$1"
  printf '\xeb\xfe' | dd of="$1" bs=1 seek=0 conv=notrunc status=none
  printf '\x55\xaa' | dd of="$1" bs=1 seek=510 conv=notrunc status=none
  chmod 0644 "$1"
}

# busy_disk_xml FILE: the <disk> element that boots it.
busy_disk_xml() {
  echo "<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='$1'/><target dev='hda' bus='ide'/><boot order='1'/></disk>"
}

# vcpu_steal NAME SECONDS: the share of wall time vCPU 0 of the domain spent runnable but
# waiting for a CPU (schedstat run_delay, libvirt's vcpu.0.delay), in percent.
vcpu_steal() {
  local d0 d1 t0 t1
  d0=$($VIRSH domstats --vcpu "$1" | awk -F= '/vcpu.0.delay/ { print $2 }')
  t0=$(date +%s%N)
  sleep "$2"
  d1=$($VIRSH domstats --vcpu "$1" | awk -F= '/vcpu.0.delay/ { print $2 }')
  t1=$(date +%s%N)
  echo "scale=2; 100 * ($d1 - $d0) / ($t1 - $t0)" | bc
}

#!/usr/bin/env bash
# Where the kernel lets processes and guest threads run, for the shell tiers (system tests on
# this machine, scenarios in the host lab). Sourced, not run.

# The CPUs the kernel lets a process or thread run on, in kernel list syntax ("0-3,8").
cpus_of() { awk '/Cpus_allowed_list/ { print $2 }' "/proc/$1/status"; }

# in_list CPU LIST: whether CPU is in the kernel list LIST.
in_list() {
  local part lo hi
  local list=${2:-}
  for part in ${list//,/ }; do
    lo=${part%-*}
    hi=${part#*-}
    [ "$1" -ge "$lo" ] && [ "$1" -le "$hi" ] && return 0
  done
  return 1
}

# subset_of A B: whether every CPU of kernel list A is in list B (and A is not empty).
subset_of() {
  local part lo hi c
  [ -n "${1:-}" ] && [ -n "${2:-}" ] || return 1
  for part in ${1//,/ }; do
    lo=${part%-*}
    hi=${part#*-}
    for ((c = lo; c <= hi; c++)); do in_list "$c" "$2" || return 1; done
  done
}

# not_in_list CPU LIST: whether CPU, a number, is outside the non-empty kernel list LIST (an empty
# or malformed argument is no proof of being outside: false).
not_in_list() {
  [[ "${1:-}" =~ ^[0-9]+$ ]] && [ -n "${2:-}" ] && ! in_list "$1" "$2"
}

# The CPUs of a kernel list ("2-3,6"), one per line.
expand_list() {
  local part c
  for part in ${1//,/ }; do
    for ((c = ${part%-*}; c <= ${part#*-}; c++)); do echo "$c"; done
  done
}

# The QEMU process of a guest, from libvirt's pidfile.
guest_pid() { cat "/run/libvirt/qemu/$1.pid" 2>/dev/null; }

# thread_affinity NAME PATTERN: the CPU list (kernel syntax) the kernel holds for the guest's
# thread whose name starts with PATTERN ("CPU 0/", "IO iothread1"); "main": the main thread.
thread_affinity() {
  local pid t
  pid=$(guest_pid "$1") || return 1
  [ -n "$pid" ] || return 1
  if [ "$2" = main ]; then
    cpus_of "$pid"
    return
  fi
  for t in /proc/"$pid"/task/*; do
    if [[ "$(cat "$t"/comm)" == $2* ]]; then
      cpus_of "$pid/task/$(basename "$t")"
      return
    fi
  done
  return 1
}


# vcpu_cpu NAME V: the one CPU vCPU V of the guest is pinned to; fails unless it is one number.
vcpu_cpu() {
  local c
  c=$(thread_affinity "$1" "CPU $2/") && [[ "$c" =~ ^[0-9]+$ ]] && echo "$c"
}

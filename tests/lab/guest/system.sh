#!/bin/bash
# The lab-system tier, sourced by /lab/run inside the lab host: the system tests of the tree run
# under systemd against kvmtuned's package binaries (/usr/sbin/kvmtuned, /usr/bin/kvmtunectl), each
# of their checks reported as a lab TAP line tagged with the test. The quick start's tests are
# not among them: they build the tree, and the lab host has no compiler.
TESTS=(test-libvirt-env test-daemon test-tuning test-boot test-isolation test-stats)

check lab-system "the .deb installs with apt" apt-get install -y --no-install-recommends /lab/kvmtuned_*.deb
mkdir -p /tmp/ktbuild/daemon
ln -sf /usr/sbin/kvmtuned /tmp/ktbuild/daemon/kvmtuned
ln -sf /usr/bin/kvmtunectl /tmp/ktbuild/daemon/kvmtunectl
export KT_BUILD=/tmp/ktbuild

# run_test NAME: runs tests/system/NAME.sh and turns its lines into lab TAP lines.
run_test() {
  local name=$1 line rc t0 fails=0
  t0=$SECONDS
  bash "/lab/tree/tests/system/$name.sh" >"/lab/$name.out" 2>&1
  rc=$?
  while IFS= read -r line; do
    case "$line" in
    "ok - "*) count ok && tap "ok $N - [lab-system:$name] ${line#ok - }" ;;
    "not ok - "*) count fail && fails=$((fails + 1)) && tap "not ok $N - [lab-system:$name] ${line#not ok - }" ;;
    "SKIP: "*) count ok && tap "ok $N - [lab-system:$name] # SKIP ${line#SKIP: }" ;;
    "# "*) tap "$line" ;;
    esac
  done <"/lab/$name.out"
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ "$fails" -eq 0 ]; then
    count fail
    tap "not ok $N - [lab-system:$name] exits $rc with no failed check"
  fi
  say "$name: exit $rc in $((SECONDS - t0)) s"
}

for t in "${TESTS[@]}"; do run_test "$t"; done

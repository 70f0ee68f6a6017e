#!/bin/bash
# The lab-system tier, sourced by /lab/run inside the lab host: the system tests of the tree run
# under systemd against kvmtuned's package binaries (/usr/sbin/kvmtuned, /usr/bin/kvmtunectl), each
# of their checks reported as a lab TAP line tagged with the test. The quick start's tests are
# not among them: they build the tree, and the lab host has no compiler.
TESTS=(test-libvirt-env test-daemon test-tuning test-host-tuning test-boot test-isolation test-stats test-liveness)

check lab-system:package "the .deb installs with apt" apt-get install -y --no-install-recommends /lab/kvmtuned_*.deb
mkdir -p /tmp/ktbuild/daemon
ln -sf /usr/sbin/kvmtuned /tmp/ktbuild/daemon/kvmtuned
ln -sf /usr/bin/kvmtunectl /tmp/ktbuild/daemon/kvmtunectl
export KT_BUILD=/tmp/ktbuild

# Only these may skip, each for the reason it gives: under systemd virtlogd is socket-activated,
# and host isolation goes through systemd ([lab:isolation-systemd] tests that path).
MAY_SKIP="test-libvirt-env test-isolation"

# run_test NAME: runs tests/system/NAME.sh (15 minutes at most) and turns its lines into lab
# TAP lines.
run_test() {
  local name=$1 line rc t0 fails=0 checks=0 tag="lab-system:$1"
  t0=$SECONDS
  timeout 900 bash "/lab/tree/tests/system/$name.sh" >"/lab/$name.out" 2>&1
  rc=$?
  while IFS= read -r line; do
    case "$line" in
    "ok - "*) checks=$((checks + 1)) && count ok && tap "ok $N - [$tag] ${line#ok - }" ;;
    "not ok - "*) checks=$((checks + 1)) && fails=$((fails + 1)) && count fail && tap "not ok $N - [$tag] ${line#not ok - }" ;;
    "SKIP: "*)
      if [[ " $MAY_SKIP " == *" $name "* ]]; then
        count ok && tap "ok $N - [$tag] # SKIP ${line#SKIP: }"
      else
        count fail && fails=$((fails + 1)) && tap "not ok $N - [$tag] skipped, which it must not here: ${line#SKIP: }"
      fi
      ;;
    "# "*) tap "$line" ;;
    esac
  done <"/lab/$name.out"
  if [ "$rc" -eq 124 ]; then
    count fail
    tap "not ok $N - [$tag] did not finish within 15 minutes"
  elif [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ "$fails" -eq 0 ]; then
    count fail
    tap "not ok $N - [$tag] exits $rc with no failed check"
  elif [ "$rc" -eq 0 ] && [ "$checks" -eq 0 ]; then
    count fail
    tap "not ok $N - [$tag] exits 0 without a single check"
  fi
  say "$name: exit $rc in $((SECONDS - t0)) s"
}

for t in "${TESTS[@]}"; do run_test "$t"; done

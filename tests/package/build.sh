#!/usr/bin/env bash
# Package test: builds kvmtuned_<version>_<arch>.deb from a copy of the tree with
# dpkg-buildpackage -b, as a packager would on Debian 12 (build dependencies from
# debian/control), and runs lintian on it: an error fails the test, warnings are listed.
# Usage: build.sh OUTDIR (the .deb ends up in OUTDIR).
set -u
source "$(dirname "$0")/../lib/tap.sh"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:?usage: build.sh OUTDIR}

for tool in dpkg-buildpackage dh lintian; do
  command -v "$tool" >/dev/null || fail_all "$tool is installed (contrib/install-deps.sh installs it)"
done
version=$(dpkg-parsechangelog -l "$SRC/debian/changelog" -S Version)
arch=$(dpkg --print-architecture)
rm -rf "$OUT"
mkdir -p "$OUT/src/kvmtuned-$version"
# A copy: dpkg-buildpackage writes beside the source tree, and build trees must not go in.
tar -C "$SRC" --exclude='./build*' --exclude=./.git --exclude='./debian/build' -cf - . |
  tar -C "$OUT/src/kvmtuned-$version" -xf -

if ! (cd "$OUT/src/kvmtuned-$version" && dpkg-checkbuilddeps) >"$OUT/builddeps.log" 2>&1; then
  [ "$(id -u)" -eq 0 ] || skip_all "build dependencies missing and not root: $(cat "$OUT/builddeps.log")"
  say "installing the build dependencies of debian/control"
  (cd "$OUT/src/kvmtuned-$version" && DEBIAN_FRONTEND=noninteractive apt-get build-dep -y -qq ./) >/dev/null ||
    fail_all "apt-get build-dep installs the build dependencies"
fi

# The unit tests run during the build read the topology corpus beside the real tree.
export KVMTUNED_TOPOLOGIES=${KVMTUNED_TOPOLOGIES:-$SRC/../shared/topologies}
(cd "$OUT/src/kvmtuned-$version" && dpkg-buildpackage -b -us -uc) >"$OUT/build.log" 2>&1
rc=$?
tail -n 40 "$OUT/build.log" | sed 's/^/#   /'
check "dpkg-buildpackage -b -us -uc succeeds" [ "$rc" -eq 0 ]
deb="$OUT/src/kvmtuned_${version}_${arch}.deb"
check "it produces kvmtuned_${version}_${arch}.deb" [ -f "$deb" ]
[ -f "$deb" ] && cp "$deb" "$OUT/"

lintian --display-info --fail-on error "$OUT/src/kvmtuned_${version}_${arch}.changes" >"$OUT/lintian.log" 2>&1
rc=$?
say "lintian (errors fail; warnings and notes listed):"
sed 's/^/#   /' "$OUT/lintian.log"
check "lintian reports no errors" [ "$rc" -eq 0 ]
check "lintian's output has no E: line" bash -c "! grep -q '^E:' '$OUT/lintian.log'"
tap_summary

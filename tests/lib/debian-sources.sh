#!/usr/bin/env bash
# This machine's Debian 12 apt sources, for the Debian systems the package and lab tiers make
# with debootstrap: only Debian's own archives (a third-party repository in the list would need
# its keys), only bookworm and its updates and security suites, options ([signed-by=...])
# dropped. Sourced, not run. KVMTUNED_DEBIAN_MIRROR overrides the mirror debootstrap uses.

# Prints "deb URI SUITE COMPONENTS" lines, sorted and unique.
debian_sources() {
  local f
  {
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
      [ -f "$f" ] && sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?/deb /p' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
      [ -f "$f" ] && awk '
        function out() { if (t ~ /(^| )deb( |$)/) { n = split(s, a, " "); for (i = 1; i <= n; i++) print "deb", u, a[i], c } t = u = s = c = "" }
        /^Types:/ { $1 = ""; t = $0 " " } /^URIs:/ { u = $2 } /^Suites:/ { $1 = ""; s = $0 } /^Components:/ { $1 = ""; c = $0 }
        /^$/ { out() } END { out() }' "$f"
    done
  } | awk '$2 ~ /^https?:\/\/[^\/]*(debian\.org|debian\.net)\// || $2 ~ /\/debian(-security)?\/?$/ { if ($3 ~ /^bookworm(-updates|-security|\/updates)?$/) print }' |
    sed 's/[[:space:]]\+/ /g; s/ $//' | sort -u
}

# The mirror of the bookworm suite itself.
debian_mirror() {
  [ -n "${KVMTUNED_DEBIAN_MIRROR:-}" ] && { echo "$KVMTUNED_DEBIAN_MIRROR"; return; }
  debian_sources | awk '$3 == "bookworm" { print $2; exit }'
}

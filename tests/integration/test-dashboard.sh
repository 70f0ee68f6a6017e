#!/usr/bin/env bash
# Every query of the Grafana dashboard is valid PromQL (promtool parses them as recording
# rules) and names only metrics kvmtuned exports (checked against the golden exposition).
set -u
dir=$(cd "$(dirname "$0")/../.." && pwd)
command -v promtool >/dev/null || { echo "SKIP: promtool not installed (apt-get install prometheus)"; echo "0 passed, 0 failed, 1 skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - "$dir/contrib/grafana/kvmtuned.json" "$tmp/rules.yml" "$dir/tests/fixtures/metrics.golden" <<'PY'
import json, re, sys
dash = json.load(open(sys.argv[1]))
exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
with open(sys.argv[2], "w") as f:
    f.write("groups:\n- name: dashboard\n  rules:\n")
    for i, e in enumerate(exprs):
        f.write("  - record: kvmtuned:dashboard_%d\n    expr: %s\n" % (i, json.dumps(e)))
exported = set(re.findall(r"^# TYPE (\S+)", open(sys.argv[3]).read(), re.M))
used = set(m for e in exprs for m in re.findall(r"\bkvmtuned_[a-z_]+", e))
unknown = used - exported
print("%d queries, metrics used: %s" % (len(exprs), ", ".join(sorted(used))))
if unknown:
    print("not exported: " + ", ".join(sorted(unknown)))
    sys.exit(1)
PY
names=$?
promtool check rules "$tmp/rules.yml"
parse=$?
passed=0 failed=0
[ $names -eq 0 ] && passed=$((passed + 1)) || failed=$((failed + 1))
[ $parse -eq 0 ] && passed=$((passed + 1)) || failed=$((failed + 1))
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]

#!/usr/bin/env bash
# Bounded fuzzing: fuzz.sh [SECONDS] runs every fuzz target (FUZZ_TARGETS: a subset) for SECONDS
# (default 20) with libFuzzer, FUZZ_JOBS at once (default: the number of CPUs).
#
# It makes a clang build of its own (FUZZ_BUILD_DIR, default build-fuzz-clang in the source tree;
# FUZZ_CC names the compiler) with -DKVMTUNED_FUZZ=ON, builds only the fuzz targets, and fuzzes a
# scratch copy of each seed corpus, so tests/fuzz/corpus is never written. It prints per target
# the executions, libFuzzer's cov: and ft: figures of its last stats line, and the crashes. A
# crash (a sanitizer report, a broken invariant, a leak, a timeout or running out of memory)
# makes it exit 1 and names the input, kept in FUZZ_BUILD_DIR/fuzz-artifacts/TARGET/: once the
# bug is fixed it belongs in tests/fuzz/corpus/TARGET/ as a regression input.
# Exits 77 (skipped) with the reason when clang or its libFuzzer runtime is missing.
set -euo pipefail

seconds=${1:-20}
if ! [[ $seconds =~ ^[0-9]+$ ]] || [ "$seconds" -eq 0 ]; then
        echo "usage: $0 [SECONDS]" >&2
        exit 2
fi
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${FUZZ_BUILD_DIR:-$src/build-fuzz-clang}
targets=(${FUZZ_TARGETS:-config domain cpulist allocations journal control cmdline})
jobs=${FUZZ_JOBS:-$(nproc)}

# The longest input per target: a few times the largest seed, so that the search stays on the
# structure rather than on size.
declare -A max_len=([config]=4096 [domain]=8192 [cpulist]=128 [allocations]=8192 [journal]=4096 [control]=8192)
declare -A dict=([domain]=domain.dict [allocations]=json.dict [journal]=json.dict [control]=json.dict)

cc=${FUZZ_CC:-}
if [ -z "$cc" ] || [[ $cc == *-NOTFOUND ]]; then
        cc=$(command -v clang || command -v clang-14 || true)
fi
if [ -z "$cc" ]; then
        echo "SKIP: clang not found (contrib/install-deps.sh installs it)"
        exit 77
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/kvmtuned-fuzz-run-XXXXXX")
trap 'rm -rf "$work"' EXIT

# Debian ships libFuzzer and the sanitizer runtimes in libclang-rt-N-dev, which clang only recommends.
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n);\n%s\n' \
        'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void) d; (void) n; return 0; }' \
        >"$work/probe.c"
if ! "$cc" -fsanitize=fuzzer,address,undefined "$work/probe.c" -o "$work/probe" 2>"$work/probe.err"; then
        echo "SKIP: $cc cannot link -fsanitize=fuzzer,address,undefined (apt-get install libclang-rt-dev):" \
                "$(grep -m1 error "$work/probe.err" || true)"
        exit 77
fi

echo "fuzz: $("$cc" --version | head -1); build in $build"
# RelWithDebInfo: optimised as a release is, with line numbers in the reports. The project's
# -Werror stays off here (clang warns where gcc does not); the fuzz targets themselves use it.
if ! CC=$cc cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKVMTUNED_FUZZ=ON \
        -DKVMTUNED_SANITIZE=ON -DKVMTUNED_WERROR=OFF >"$work/configure.log" 2>&1; then
        cat "$work/configure.log"
        echo "fuzz: cannot configure the clang build in $build"
        exit 1
fi
if ! cmake --build "$build" --target fuzz-targets -j"$(nproc)" >"$work/build.log" 2>&1; then
        grep -E -A5 'error|Error' "$work/build.log" | head -60
        echo "fuzz: cannot build the fuzz targets"
        exit 1
fi
grep -E 'warning:' "$work/build.log" | sort -u | sed 's/^/fuzz: clang: /' || true

# The targets' private files on tmpfs when there is one: the journal fsyncs every save.
scratch_tmp=$work/tmp
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
        scratch_tmp=$(mktemp -d /dev/shm/kvmtuned-fuzz-XXXXXX)
        trap 'rm -rf "$work" "$scratch_tmp"' EXIT
fi
mkdir -p "$scratch_tmp"

run_target() {
        local t=$1 corpus=$work/corpus-$t artifacts=$build/fuzz-artifacts/$t
        mkdir -p "$corpus" "$artifacts"
        cp -r "$src/tests/fuzz/corpus/$t/." "$corpus/"
        local args=(-max_total_time="$seconds" -max_len="${max_len[$t]:-4096}" -timeout=10 -rss_limit_mb=2048
                -print_final_stats=1 -artifact_prefix="$artifacts/")
        [ -n "${dict[$t]:-}" ] && args+=(-dict="$src/tests/fuzz/dict/${dict[$t]}")
        local rc=0
        TMPDIR=$scratch_tmp \
                LSAN_OPTIONS="suppressions=$src/tests/lsan.supp:print_suppressions=0" \
                UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
                "$build/tests/fuzz/fuzz-$t" "${args[@]}" "$corpus" >"$work/$t.log" 2>&1 || rc=$?
        echo "$rc" >"$work/$t.rc"
        ls "$corpus" | wc -l >"$work/$t.corpus"
}

echo "fuzz: ${#targets[@]} targets, ${seconds}s each, $jobs at once"
for t in "${targets[@]}"; do
        if [ ! -d "$src/tests/fuzz/corpus/$t" ]; then
                echo "fuzz: no target $t" >&2
                exit 2
        fi
        while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
                wait -n || true
        done
        run_target "$t" &
done
wait

failed=0
printf '%-12s %12s %8s %8s %10s  %s\n' target executions cov ft corpus result
for t in "${targets[@]}"; do
        log=$work/$t.log
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        stats=$(grep -E '^#[0-9]+' "$log" | grep ' cov: ' | tail -1 || true)
        cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$stats")
        ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$stats")
        seeds=$(ls "$src/tests/fuzz/corpus/$t" | wc -l)
        result=ok
        if [ "$(cat "$work/$t.rc")" != 0 ]; then
                failed=1
                input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
                result="CRASH: ${input:-no input written (exit $(cat "$work/$t.rc"))}"
        fi
        printf '%-12s %12s %8s %8s %10s  %s\n' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" \
                "$seeds+$(($(cat "$work/$t.corpus") - seeds))" "$result"
done
for t in "${targets[@]}"; do
        [ "$(cat "$work/$t.rc")" = 0 ] && continue
        echo
        echo "=== fuzz-$t: the report (replay: $build/tests/fuzz/fuzz-$t INPUT)"
        grep -E -A40 '^==[0-9]+==ERROR|runtime error|invariant broken|ERROR: libFuzzer' "$work/$t.log" | head -60
done
exit $failed

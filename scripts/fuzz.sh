#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a bounded time each and reports what they found.
#
#   scripts/fuzz.sh [SECONDS]          # default 60 s per target
#   FUZZ_TARGETS="guard har" scripts/fuzz.sh 300
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and a nightly toolchain (libFuzzer needs
# -Zsanitizer). Without a nightly toolchain it uses the stable one with RUSTC_BOOTSTRAP=1,
# which enables the same unstable flags. Crashes land in fuzz/artifacts/<target>/; keep a
# minimized copy under tests/data/fuzz-regressions/<target>/ with a regression test.
set -uo pipefail

seconds=${1:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "fuzz.sh: cargo-fuzz is not installed; run: cargo install cargo-fuzz" >&2
    exit 2
fi
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    fuzz=(cargo +nightly fuzz)
else
    echo "fuzz.sh: no nightly toolchain; using stable with RUSTC_BOOTSTRAP=1" >&2
    export RUSTC_BOOTSTRAP=1
    fuzz=(cargo fuzz)
fi

targets=${FUZZ_TARGETS:-$("${fuzz[@]}" list)}
"${fuzz[@]}" build || exit 2

failed=()
for target in $targets; do
    corpus="fuzz/corpus/$target"
    mkdir -p "$corpus"
    # Seed with earlier crashes so a fixed bug stays fixed.
    if [ -d "tests/data/fuzz-regressions/$target" ]; then
        cp -n tests/data/fuzz-regressions/"$target"/* "$corpus"/ 2>/dev/null
    fi
    dict=()
    if [ -f "fuzz/dict/$target.dict" ]; then
        dict=("-dict=fuzz/dict/$target.dict")
    fi
    echo "== $target: ${seconds}s"
    log="fuzz/$target.log"
    "${fuzz[@]}" run "$target" "$corpus" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        "${dict[@]}" >"$log" 2>&1
    status=$?
    grep -E '^stat::(number_of_executed_units|peak_rss_mb)|^Done ' "$log" | sed 's/^/   /'
    cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -1)
    echo "   ${cov:-cov: ?}  exit=$status  (full log: $log)"
    if [ $status -ne 0 ]; then
        failed+=("$target")
        grep -E 'panicked at|ERROR: libFuzzer|SUMMARY|Test unit written to' "$log" | head -5 | sed 's/^/   /'
    fi
done

if [ ${#failed[@]} -ne 0 ]; then
    echo "fuzz.sh: findings in: ${failed[*]} (inputs under fuzz/artifacts/)"
    exit 1
fi
echo "fuzz.sh: all targets ran ${seconds}s clean"

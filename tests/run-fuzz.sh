#!/bin/sh
# Run each libFuzzer program for SECONDS from its seed corpus
# (tests/fuzz/corpus/NAME/, read-only; new inputs go to a scratch copy).
# A crash, leak or sanitizer report fails; the input that caused it is
# kept as BUILD_DIR/fuzz/NAME-crash-* to reproduce with `BIN FILE`.
# FUZZ_SEED=N fixes libFuzzer's seed (make test does, so CI explores the
# same inputs on every run and a red CI is reproducible); unset, each run
# explores anew.
#   tests/run-fuzz.sh BUILD_DIR SECONDS BIN...
set -u
seed_arg=""
[ -n "${FUZZ_SEED:-}" ] && seed_arg="-seed=$FUZZ_SEED"
build=$1 seconds=$2
shift 2
failed=""
for bin in "$@"; do
    name=$(basename "$bin")
    seeds="tests/fuzz/corpus/$name"
    work=$(mktemp -d)
    [ -d "$seeds" ] && cp "$seeds"/* "$work"/ 2>/dev/null
    log="$build/fuzz/$name.log"
    "$bin" $seed_arg -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$build/fuzz/$name-" "$work" >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rm -rf "$work"
    if [ $rc -eq 0 ]; then
        echo "PASS $name (${runs:-?} inputs in ${seconds}s)"
    else
        echo "FAIL $name (exit $rc), last lines of $log:"
        tail -n 40 "$log" | sed 's/^/    /'
        failed="$failed $name"
    fi
done
if [ -n "$failed" ]; then
    echo "fuzz targets failed:$failed"
    exit 1
fi

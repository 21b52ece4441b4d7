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
# One target per core at once (each is one process): the same inputs
# explored (the seed is fixed) in less wall time.
jobs=$(nproc 2>/dev/null || echo 1)
fuzz_one() { # BIN: runs it, writes BUILD_DIR/fuzz/NAME.rc
    name=$(basename "$1")
    seeds="tests/fuzz/corpus/$name"
    work=$(mktemp -d)
    [ -d "$seeds" ] && cp "$seeds"/* "$work"/ 2>/dev/null
    "$1" $seed_arg -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$build/fuzz/$name-" "$work" >"$build/fuzz/$name.log" 2>&1
    echo $? >"$build/fuzz/$name.rc"
    rm -rf "$work"
}
running=0
for bin in "$@"; do
    fuzz_one "$bin" &
    running=$((running + 1))
    if [ $running -ge "$jobs" ]; then
        wait
        running=0
    fi
done
wait
failed=""
for bin in "$@"; do
    name=$(basename "$bin")
    log="$build/fuzz/$name.log"
    rc=$(cat "$build/fuzz/$name.rc" 2>/dev/null || echo 1)
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    if [ "$rc" -eq 0 ]; then
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

#!/bin/sh
# Run every tests/integration/*.sh against the programs in BUILD_DIR/bin.
# A script exits 0 (pass) or anything else (fail); there is no silent skip
# in `make test`: what CI cannot run is a failure to be fixed.
#   tests/run-integration.sh BUILD_DIR
set -u
build=$1
export SCULPT_BIN="$PWD/$build/bin"
export SCULPT_TOP="$PWD"
mkdir -p "$build/integration"
failed=""
for t in tests/integration/*.sh; do
    [ -e "$t" ] || continue
    name=$(basename "$t" .sh)
    log="$build/integration/$name.log"
    start=$(date +%s)
    sh "$t" >"$log" 2>&1
    rc=$?
    took=$(( $(date +%s) - start ))
    if [ $rc -eq 0 ]; then
        echo "PASS $name (${took}s)"
    else
        echo "FAIL $name (exit $rc, ${took}s), last lines of $log:"
        tail -n 40 "$log" | sed 's/^/    /'
        failed="$failed $name"
    fi
done
if [ -n "$failed" ]; then
    echo "integration tests failed:$failed"
    exit 1
fi

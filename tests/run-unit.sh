#!/bin/sh
# Run unit test binaries; each is a cmocka program.  VALGRIND=1 runs them
# under valgrind (memcheck, leaks are errors).
#   tests/run-unit.sh BUILD_DIR BIN...
set -u
build=$1; shift
failed=""
for t in "$@"; do
    name=$(basename "$t")
    if [ "${VALGRIND:-0}" = 1 ]; then
        valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
            "$t" >"$build/tests/$name.log" 2>&1
    else
        "$t" >"$build/tests/$name.log" 2>&1
    fi
    rc=$?
    if [ $rc -eq 0 ]; then
        echo "PASS $name"
    else
        echo "FAIL $name (exit $rc), log:"
        sed 's/^/    /' "$build/tests/$name.log"
        failed="$failed $name"
    fi
done
if [ -n "$failed" ]; then
    echo "unit tests failed:$failed"
    exit 1
fi

#!/bin/sh
# Run benchmark areas.  Each area is tests/bench/AREA.sh; it prints its
# figures as `BENCH <name> <value>` lines, each next to the baseline it is
# compared with, measured in the same run.
#   tests/bench/run.sh BUILD_DIR AREA...
set -u
build=$1; shift
export SCULPT_BIN="$PWD/$build/bin"
export SCULPT_TOP="$PWD"
rc=0
for area in "$@"; do
    script="tests/bench/$area.sh"
    if [ ! -f "$script" ]; then
        echo "bench-$area: no benchmark in this area yet"
        continue
    fi
    echo "== bench-$area"
    sh "$script" || { echo "bench-$area: FAILED"; rc=1; }
done
exit $rc

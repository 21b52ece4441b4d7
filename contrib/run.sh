#!/bin/sh
# The main job (`make run`).  Today: replay the real trace excerpts kept in
# the repository through every allocation policy and print the comparison.
# Later issues grow this into the local cloud (PostgreSQL, RabbitMQ,
# libvirtd, Nova, sculpt-compute and its dashboard).
#   contrib/run.sh BUILD_DIR
set -eu
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
bin="$top/$build/bin"
data="$top/tests/data/traces"

# The full public traces, when this checkout sits beside them.
full="$top/../shared/data/traces"
for f in bitbrains azure-cpu alibaba-machines; do
    echo "=== sculpt-replay --format $f $data/$f"
    "$bin/sculpt-replay" --format "$f" "$data/$f"
    echo
done
if [ -d "$full" ]; then
    echo "=== the full public traces in $full"
    "$bin/sculpt-replay" --format bitbrains "$full/bitbrains-gwa-t-12-rnd"
    echo
    "$bin/sculpt-replay" --format azure-cpu "$full/azure-public-dataset-v1-cpu-100vms"
    echo
    "$bin/sculpt-replay" --format alibaba-machines "$full/alibaba-cluster-trace-v2018-machines"
fi

#!/bin/sh
# The main job (`make run`) and its counterpart (`make stop`).
#
# The local cloud is started service by service from contrib/stack/: each
# NAME.sh takes `start|stop|status RUN_DIR`, keeps everything it owns under
# RUN_DIR/NAME (data, logs, pid files), listens on loopback only, and
# writes what clients need to RUN_DIR/env/NAME.env.  Services start in the
# order below and stop in reverse.  Then the trace replay prints how the
# allocation policies compare on the real excerpts kept in the repository.
#   contrib/run.sh BUILD_DIR [start|stop]
set -eu
build=${1:-build}
action=${2:-start}
top=$(cd "$(dirname "$0")/.." && pwd)
bin="$top/$build/bin"
run="$top/run"
services="postgres rabbitmq libvirt nova sculpt"

if [ "$action" = stop ]; then
    for s in $(echo $services | tr ' ' '\n' | tac); do
        [ -x "$top/contrib/stack/$s.sh" ] && "$top/contrib/stack/$s.sh" stop "$run" || true
    done
    exit 0
fi

mkdir -p "$run/env"
for s in $services; do
    if [ -x "$top/contrib/stack/$s.sh" ]; then
        echo "=== starting $s"
        SCULPT_BIN="$bin" "$top/contrib/stack/$s.sh" start "$run"
    fi
done

# The cloud, summed up once its services run.
if [ -f "$run/env/sculpt.env" ] && [ -f "$run/env/nova.env" ]; then
    . "$run/env/sculpt.env"
    . "$run/env/nova.env"
    echo "=== the cloud"
    echo "Nova (Zed) with sculpt-compute as compute host $SCULPT_HOST"
    echo "  openstack CLI:  set -a; . $run/env/nova.env; set +a; openstack server list"
    echo "  sculpt REST API: $SCULPT_API_URL  (token: $SCULPT_API_TOKEN)"
    echo "  sculptctl:      SCULPT_URL=$SCULPT_API_URL SCULPT_TOKEN=$SCULPT_API_TOKEN $bin/sculptctl instances"
    echo "  dashboard:      $SCULPT_DASHBOARD"
    echo
fi

data="$top/tests/data/traces"
for f in bitbrains azure-cpu alibaba-machines; do
    echo "=== sculpt-replay --format $f $data/$f"
    "$bin/sculpt-replay" --format "$f" "$data/$f"
    echo
done
# Pre-sculpting: the request-arrival excerpts through the pool policies.
arr="$top/tests/data/arrivals"
for f in azure-arrivals azure-functions alibaba-batch; do
    echo "=== sculpt-replay --arrivals --format $f $arr/$f"
    "$bin/sculpt-replay" --arrivals --quiet --format "$f" "$arr/$f"
    echo
done
# The full public traces, when this checkout sits beside them.
full="$top/../shared/data/traces"
if [ -d "$full" ]; then
    echo "=== the full public traces in $full"
    "$bin/sculpt-replay" --format bitbrains "$full/bitbrains-gwa-t-12-rnd"
    echo
    "$bin/sculpt-replay" --format azure-cpu "$full/azure-public-dataset-v1-cpu-100vms"
    echo
    "$bin/sculpt-replay" --format alibaba-machines "$full/alibaba-cluster-trace-v2018-machines"
fi
[ -n "${SCULPT_DASHBOARD:-}" ] && echo "=== dashboard: $SCULPT_DASHBOARD"
exit 0

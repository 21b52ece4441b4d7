#!/bin/sh
# bench-rpc: the same compute RPC load (get_console_output calls of a real
# instance from the C load generator bench_rpc: 2 connections with 32
# calls in flight on each) against
# sculpt-compute and against Debian's nova-compute with the fake driver,
# both registered with one real Nova control plane on one RabbitMQ.
# Prints for both: calls/s, p50/p99 latency, CPU-seconds the compute spent
# per call, RSS, and the CPU per call of RabbitMQ and of the generator
# (they share the cores with the compute); then the ratios sculpt /
# nova-compute:
#   BENCH rpc_throughput_ratio   (target >= 10)
#   BENCH rpc_cpu_per_call_ratio (target <= 0.1)
#   BENCH rss_ratio              (target <= 0.1)
# BENCH_RPC_SECONDS (default 15), BENCH_RPC_CONNS (2) and BENCH_RPC_INFLIGHT
# (32 per connection) tune the load; both computes get it, and nova-compute
# also gets 8 calls in flight on one connection, its best of the two kept.
set -eu
top=${SCULPT_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${SCULPT_BIN:-$top/build/bin}
stack=$top/contrib/stack
seconds=${BENCH_RPC_SECONDS:-15}
conns=${BENCH_RPC_CONNS:-2}
inflight=${BENCH_RPC_INFLIGHT:-32}
. "$top/tests/lib.sh"
tmp=$(mktemp -d /tmp/sculpt-bench-rpc.XXXXXX)
chmod 755 "$tmp"
run=$tmp/run
novapid=""
cleanup() {
    set +e
    if [ -n "$novapid" ]; then
        # it logs while it shuts down: gone before its folder is removed
        kill "$novapid" 2>/dev/null
        i=0
        while [ $i -lt 100 ] && [ "$(sed 's/^.*) \(.\).*/\1/' "/proc/$novapid/stat" 2>/dev/null || echo Z)" != Z ]; do
            sleep 0.1
            i=$((i + 1))
        done
        kill -9 "$novapid" 2>/dev/null
        wait "$novapid" 2>/dev/null
    fi
    stack_stop_all "$run" bench
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

RABBITMQ_PORT=auto "$stack/rabbitmq.sh" start "$run" >/dev/null
"$stack/postgres.sh" start "$run" 2>/dev/null
"$stack/nova.sh" start "$run" 2>/dev/null
set -a
. "$run/env/nova.env"
. "$run/env/rabbitmq.env"
set +a
rabbitpid=$(cat "$run/rabbitmq/rabbitmq.pid")
SCULPT_BIN=$bin SCULPT_NAME=bench SCULPT_HOST=bench-sculpt SCULPT_COMPUTE_DRIVER=fake \
    SCULPT_DEMO_GUESTS=0 "$stack/sculpt.sh" start "$run" >/dev/null 2>&1
. "$run/env/bench.env"

# Debian's nova-compute (python3-nova; /usr/bin/nova-compute is in another
# package that pulls in libvirt) with the fake driver, as the recipe runs it.
printf '#!/usr/bin/python3\nimport sys\nfrom nova.cmd.compute import main\nsys.exit(main())\n' >"$tmp/nova-compute"
chmod +x "$tmp/nova-compute"
printf '[DEFAULT]\nhost = bench-nova\ncompute_driver = fake.FakeDriver\n' >"$tmp/compute.conf"
setsid nohup "$tmp/nova-compute" --config-file "$NOVA_CONF" --config-file "$tmp/compute.conf" \
    --log-file "$tmp/nova-compute.log" >"$tmp/nova-compute.out" 2>&1 </dev/null &
novapid=$!
i=0
until "$RABBITMQ_CTL" -q list_queues name consumers 2>/dev/null | grep -qE '^compute\.bench-nova[[:space:]]+1'; do
    i=$((i + 1))
    [ $i -lt 240 ] || { tail -n 20 "$tmp/nova-compute.log"; echo "nova-compute did not start" >&2; exit 1; }
    sleep 0.5
done
nova-manage --config-file "$NOVA_CONF" cell_v2 discover_hosts >/dev/null 2>&1
/usr/bin/python3 "$top/tests/bench/rpc_setup.py" bench-sculpt bench-nova >"$tmp/servers"

cpu_s() { # PID: user+system CPU seconds so far
    awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"
}
rss_mb() { awk '/^VmRSS/{print $2 / 1024}' "/proc/$1/status"; }

measure() { # NAME HOST PID CONNS INFLIGHT: sets NAME_{cps,p50,p99,cpc,rss,rpc,gen}
    uuid=$(awk -v h="$2" '$1==h{print $2}' "$tmp/servers")
    c0=$(cpu_s "$3")
    r0=$(cpu_s "$rabbitpid")
    out=$("$bin/../bench/bench_rpc" --url "$RABBITMQ_URL" --host "$2" --instance "$uuid" \
        --seconds "$seconds" --conns "$4" --inflight "$5")
    c1=$(cpu_s "$3")
    r1=$(cpu_s "$rabbitpid")
    rss=$(rss_mb "$3")
    calls=$(echo "$out" | sed 's/.*calls=\([0-9]*\).*/\1/')
    cps=$(echo "$out" | sed 's/.*calls_per_s=\([0-9.]*\).*/\1/')
    p50=$(echo "$out" | sed 's/.*p50_ms=\([0-9.]*\).*/\1/')
    p99=$(echo "$out" | sed 's/.*p99_ms=\([0-9.]*\).*/\1/')
    gen=$(echo "$out" | sed 's/.*gen_cpu_ms_per_call=\([0-9.]*\).*/\1/')
    cpc=$(echo "$c0 $c1 $calls" | awk '{printf "%.6f", ($2 - $1) / $3 * 1000}')
    rpc=$(echo "$r0 $r1 $calls" | awk '{printf "%.6f", ($2 - $1) / $3 * 1000}')
    echo "$1 ($4 x $5 in flight): $out cpu_ms_per_call=$cpc rss_mb=$rss rabbitmq_cpu_ms_per_call=$rpc" >&2
    eval "${1}_cps=$cps ${1}_p50=$p50 ${1}_p99=$p99 ${1}_cpc=$cpc ${1}_rss=$rss ${1}_rpc=$rpc ${1}_gen=$gen"
}

emit() { # NAME
    for k in cps:calls_per_s p50:p50_ms p99:p99_ms cpc:cpu_ms_per_call rss:rss_mb \
        rpc:rabbitmq_cpu_ms_per_call gen:generator_cpu_ms_per_call; do
        eval "echo \"BENCH rpc_${1}_${k#*:} \$${1}_${k%%:*}\""
    done
}

# nova-compute at its best: with the generator's load, and with 8 calls in
# flight on one connection (the Python executor does worse with many at
# once); the better throughput and the lower CPU per call of the two are
# its figures.
measure nova_a bench-nova "$novapid" "$conns" "$inflight"
measure nova_b bench-nova "$novapid" 1 8
measure sculpt bench-sculpt "$SCULPT_PID" "$conns" "$inflight"
best=nova_a
[ "$(echo "$nova_a_cps $nova_b_cps" | awk '{print ($2 > $1)}')" = 1 ] && best=nova_b
for k in cps p50 p99 rss rpc gen; do eval "nova_$k=\$${best}_$k"; done
nova_cpc=$(echo "$nova_a_cpc $nova_b_cpc" | awk '{print ($1 < $2 ? $1 : $2)}')
emit nova
emit sculpt
echo "BENCH rpc_throughput_ratio $(echo "$sculpt_cps $nova_cps" | awk '{printf "%.2f", $1 / $2}')"
echo "BENCH rpc_cpu_per_call_ratio $(echo "$sculpt_cpc $nova_cpc" | awk '{printf "%.4f", $1 / $2}')"
echo "BENCH rss_ratio $(echo "$sculpt_rss $nova_rss" | awk '{printf "%.4f", $1 / $2}')"

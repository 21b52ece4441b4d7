#!/bin/sh
# sculpt-replay: the refusals its modes share (driver/replay_cli_common.c)
# that the per-mode scripts do not already check, in every mode that has
# them.  All fail before a trace is read: this takes well under a second.
set -eu
. "$SCULPT_TOP/tests/lib.sh"

replay="$SCULPT_BIN/sculpt-replay"
traces="$SCULPT_TOP/tests/data/traces/bitbrains"
arrivals="$SCULPT_TOP/tests/data/arrivals/azure-arrivals"

# an empty --policy list
expect_fail 1 "--policy needs at least one policy" "$replay" --format bitbrains --policy , "$traces"
expect_fail 1 "--policy needs at least one policy" "$replay" --pack --format bitbrains --policy , "$traces"
expect_fail 1 "--policy needs at least one policy" "$replay" --arrivals --format azure-arrivals --policy , "$arrivals"
# the unknown-policy message lists the known ones
expect_fail 1 "(known: static," "$replay" --pack --format bitbrains --policy magic "$traces"
expect_fail 1 "(known: none, fixed, hybrid, sculpt)" "$replay" --arrivals --format azure-arrivals --policy oracle "$arrivals"
# an unknown trace format with --pack
expect_fail 1 "unknown format \`google\` (bitbrains, azure-cpu, alibaba-machines)" "$replay" --pack --format google x
# a config file that is not there
expect_fail 1 "/nonexistent/sculpt.conf" "$replay" --format bitbrains --config /nonexistent/sculpt.conf "$traces"
expect_fail 1 "/nonexistent/sculpt.conf" "$replay" --pack --format bitbrains --config /nonexistent/sculpt.conf "$traces"
expect_fail 1 "/nonexistent/sculpt.conf" "$replay" --arrivals --format azure-arrivals --config /nonexistent/sculpt.conf "$arrivals"
# --classes takes a count
expect_fail 1 "--classes \`-1\`: a count" "$replay" --arrivals --format azure-arrivals --classes -1 "$arrivals"
expect_fail 1 "--fixed-size \`2000000\`: a count from 0 to 1000000" "$replay" --arrivals --format azure-arrivals --fixed-size 2000000 "$arrivals"
echo "replay_cli_errors: all checks passed"

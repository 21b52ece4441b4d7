#!/bin/sh
# sculpt.conf through the real programs: the sample documents every option,
# bad values are refused with file:line, secrets stay out of the log.
set -eu
. "$SCULPT_TOP/tests/lib.sh"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$SCULPT_BIN/sculpt-compute" --sample-config >"$tmp/sample.conf"
cmp "$tmp/sample.conf" "$SCULPT_TOP/contrib/sculpt.conf"
"$SCULPT_BIN/sculptctl" config check "$SCULPT_TOP/contrib/sculpt.conf"

cat >"$tmp/good.conf" <<'CONF'
[DEFAULT]
host = cmp-1
transport_url = rabbit://nova:s3cr3t-pw@127.0.0.1:5672/
log_level = info
CONF
"$SCULPT_BIN/sculpt-compute" --config "$tmp/good.conf" --check-config 2>"$tmp/log"
grep -q 'transport_url = rabbit://nova:\*\*\*@127.0.0.1:5672/' "$tmp/log"
if grep -q 's3cr3t-pw' "$tmp/log"; then
    echo "the password reached the log" >&2
    exit 1
fi

printf '[DEFAULT]\nhost = a\ncpu_allocation_ratio = lots\n' >"$tmp/bad.conf"
expect_fail 1 "bad.conf:3: option \`[DEFAULT] cpu_allocation_ratio\`: \`lots\` is not a finite number" \
    "$SCULPT_BIN/sculpt-compute" --config "$tmp/bad.conf" --check-config
printf '[sculpt]\nwhatever = 1\n' >"$tmp/bad2.conf"
expect_fail 1 "bad2.conf:2: unknown option" "$SCULPT_BIN/sculptctl" config check "$tmp/bad2.conf"
expect_fail 1 "/nonexistent.conf" "$SCULPT_BIN/sculpt-compute" --config /nonexistent.conf --check-config
echo "config_cli: all checks passed"

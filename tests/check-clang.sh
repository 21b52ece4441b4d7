#!/bin/sh
# Every C file through clang's front end as well as gcc's: clang refuses
# what gcc lets pass silently, above all a goto that jumps past a variable
# with __attribute__((cleanup)) (autofree): gcc then frees an indeterminate
# pointer on that error path.  A few seconds; run by `make check`.
#   tests/check-clang.sh "PKG_CFLAGS"
set -u
cd "$(dirname "$0")/.."
if ! command -v clang >/dev/null 2>&1; then
    echo "check-clang: clang not found (contrib/install-deps.sh installs it)" >&2
    exit 1
fi
out=$(ls common/*.c driver/*.c driver/*/*.c db/*.c openstack/*.c api/*.c \
    tests/unit/*.c tests/unit/*/*.c tests/bench/*.c tests/bench/*/*.c tests/fuzz/*.c tests/harness/*.c 2>/dev/null |
    xargs -P2 -n8 clang -fsyntax-only -std=c11 -D_GNU_SOURCE -I. -Itests/unit $1 2>&1 |
    grep -E 'error:' )
if [ -n "$out" ]; then
    echo "check-clang: clang refuses these (see tests/check-clang.sh):"
    echo "$out"
    exit 1
fi

#!/bin/sh
# The architecture as a check (design.md): dependencies point one way,
# common <- driver <- db <- openstack <- api; each library's types stay in
# the folder that owns them.  Program entry points (*_main.c) are the
# composition roots that wire the layers together and may include any of
# them.  Prints every offending #include and fails.
set -u
cd "$(dirname "$0")/.."
bad=0

allowed() { # MODULE -> modules it may include
    case $1 in
    common) echo "common" ;;
    driver) echo "common driver" ;;
    db) echo "common driver db" ;;
    openstack) echo "common driver db openstack" ;;
    api) echo "common driver db openstack api" ;;
    esac
}

for m in common driver db openstack api; do
    ok=$(allowed $m)
    for f in $(find $m -name '*.[ch]' ! -name '*_main.c' 2>/dev/null); do
        for inc in $(sed -n 's/^#include "\([a-z_]*\)\/.*"/\1/p' "$f"); do
            case " $ok " in
            *" $inc "*) ;;
            *) echo "layering: $f includes $inc/ (allowed: $ok)"; bad=1 ;;
            esac
        done
    done
done

# library headers: HEADER-REGEX FOLDER...
lib_rule() {
    header=$1
    shift
    for f in $(grep -rlE "#include <($header)" common driver db openstack api 2>/dev/null); do
        ok=0
        for where in "$@"; do
            case $f in $where/*) ok=1 ;; esac
        done
        [ $ok = 1 ] || { echo "layering: $f includes <$header> (only $* may)"; bad=1; }
    done
}
lib_rule 'libvirt/' driver/libvirt
lib_rule 'archive(_entry)?\.h>' driver/libvirt
lib_rule 'libpq-fe.h' db
lib_rule 'jansson.h' openstack api
lib_rule 'rabbitmq-c/|amqp' openstack
lib_rule 'microhttpd.h' api
lib_rule 'curl/' openstack api
lib_rule 'openssl/' openstack

exit $bad

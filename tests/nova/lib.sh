# Shell helpers the Nova phase scripts share (sourced; the caller defines
# fail MESSAGE and has the openstack CLI's environment).

# wait_status SERVER STATUS [SECONDS]: until Nova shows STATUS with no task
# in progress; fails at once on ERROR (with the fault), or after SECONDS.
wait_status() {
    n=${3:-120}
    i=0
    while [ $i -lt "$n" ]; do
        out=$(openstack server show "$1" -f value -c status -c OS-EXT-STS:task_state 2>/dev/null | tr '\n' ' ')
        case "$out" in
        *"$2"*None*|*None*"$2"*) return 0 ;;
        *ERROR*) openstack server show "$1" -c fault -f value >&2; fail "$1 went to ERROR" ;;
        esac
        sleep 1
        i=$((i + 1))
    done
    fail "$1 not $2 after $n s (now: $out)"
}

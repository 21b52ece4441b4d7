# Sourced by contrib/stack/*.sh: ending a server by its PID and waiting,
# bounded, until it is really gone -- not merely until its pid file or its
# ports are (a RabbitMQ node removes its pid file and closes its ports
# seconds before its beam.smp exits).

# pid_gone PID: true once PID has exited.  PID 1 here does not reap, so an
# exited process may linger as a zombie; and a multi-threaded one
# (beam.smp, libvirtd) shows its leader as a zombie while its other
# threads are still exiting -- the last one releases its memory -- so
# every thread must be a zombie.
pid_gone() {
    [ -d "/proc/$1" ] || return 0
    for _t in /proc/"$1"/task/*/stat; do
        _s=$(sed 's/^.*) \(.\).*/\1/' "$_t" 2>/dev/null) || continue
        case "$_s" in Z | X | '') ;; *) return 1 ;; esac
    done
    return 0
}

# pid_since T0: seconds (one decimal) since T0, a `date +%s%N`.
pid_since() {
    _ms=$((($(date +%s%N) - $1) / 1000000))
    printf '%d.%d' $((_ms / 1000)) $((_ms % 1000 / 100))
}

# pid_stop NAME PID STEP...: ends process PID (NAME in messages) step by
# step.  A STEP is SIGNAL:SECONDS: send SIGNAL (`-`: none, the caller has
# asked the server to stop already), then wait up to SECONDS for PID to be
# gone.  A signal after the first is an escalation, said on stderr.  True
# once PID is gone, false if it is still there after the last step; either
# way $pid_report says what happened ("pid 123 exited after 0.4 s",
# "... after 12.1 s, on SIGKILL", "pid 123 still there after 15.0 s, SIGKILL sent"),
# timed from $pid_t0 (a `date +%s%N` the caller took when it asked) if set,
# else from the call.
pid_stop() {
    _name=$1 _pid=$2
    shift 2
    _t0=${pid_t0:-$(date +%s%N)} _asked=0 _esc= _last=
    pid_t0=
    for _step in "$@"; do
        _sig=${_step%%:*}
        if [ "$_sig" != - ] && ! pid_gone "$_pid"; then
            if [ "$_asked" -gt 0 ]; then
                echo "$_name: pid $_pid still there after $(pid_since "$_t0") s: SIG$_sig" >&2
                _esc=$_sig
            fi
            kill -"$_sig" "$_pid" 2>/dev/null || true
            _last=$_sig
        fi
        _asked=$((_asked + 1))
        _i=0 _n=$((${_step#*:} * 10))
        while ! pid_gone "$_pid" && [ $_i -lt $_n ]; do
            sleep 0.1
            _i=$((_i + 1))
        done
        if pid_gone "$_pid"; then
            pid_report="pid $_pid exited after $(pid_since "$_t0") s${_esc:+, on SIG$_esc}"
            return 0
        fi
    done
    pid_report="pid $_pid still there after $(pid_since "$_t0") s${_last:+, SIG$_last sent}"
    return 1
}

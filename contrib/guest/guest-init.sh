#!/bin/busybox sh
# /init of sculpt's tiny test guest (built by build-tiny-guest.sh).
#
# Reports on the serial console (ttyS0), one line per fact, each starting
# with a tag a test can wait for:
#   GUEST-INIT-READY uptime=S cpus_online=L     once per boot
#   GUEST-DISK marker=...                       the base image seen through the overlay
#   GUEST-OTHER-DISK vdX marker=...             each further virtio disk's (a stable
#                                               device rescue's, added last)
#   GUEST-STAT uptime=S cpus_online=L memtotal_kb=N memfree_kb=N
#                                               whenever CPUs or memory change,
#                                               and on the `stat` command
#   GUEST-ACK <command>                         a command was obeyed
#   GUEST-POWER-BUTTON                          the ACPI power button: powering off
#   GUEST-AGENT-READY port=vportNpM             the guest agent's port is open (only
#                                               with a channel org.qemu.guest_agent.0)
#   GUEST-AGENT <command>                       each agent command, as received
#   GUEST-PASSWORD user=U hash=H                guest-set-user-password applied
#                                               (H: the crypt(3) hash now in
#                                               /etc/shadow, never the password)
#   GUEST-FSFREEZE frozen n=N | thawed n=N      guest-fsfreeze-freeze / -thaw applied
#                                               (N: filesystems frozen / thawed)
# Commands typed on the console, one per line:
#   burn N SECONDS    keep N CPUs busy for SECONDS
#   disk MIB          write MIB MiB to the disk (beyond its first MiB)
#   dirty MIB SECONDS rewrite MIB MiB of memory over and over for SECONDS
#                     (a live migration cannot converge without a pause)
#   net N             send N pings of 1400 bytes out of eth0 (to a static
#                     neighbour nobody answers for: traffic leaves, none returns)
#   stat              print a GUEST-STAT line now
#   online            online every memory block left offline (a guest's
#                     owner fixing what its kernel did not do)
#   poweroff          power off (ACPI), as a guest shutting itself down
#   agent off         stop the guest agent (its port closes: the host sees
#                     an agent that does not answer)
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# Memory a virtio-mem device plugs is onlined as it comes (no udev here):
# movable while the movable part stays within 3x the rest (auto-movable),
# so it can be unplugged again, else as kernel memory, which holds the page
# structures of what is plugged next (a small boot memory alone runs out).
# memhp_default_state=offline on the command line leaves it offline, as a
# stock Debian kernel does (what sculpt must notice).
echo auto-movable >/sys/module/memory_hotplug/parameters/online_policy 2>/dev/null
grep -q 'memhp_default_state=offline' /proc/cmdline ||
    echo online >/sys/devices/system/memory/auto_online_blocks 2>/dev/null
for m in $(cat /mods/order); do
    insmod "/mods/$m.ko" 2>/dev/null
done

up() { cut -d' ' -f1 /proc/uptime; }
stat_line() {
    on=$(cat /sys/devices/system/cpu/online)
    mt=$(awk '/^MemTotal/{print $2}' /proc/meminfo)
    mf=$(awk '/^MemFree/{print $2}' /proc/meminfo)
    echo "GUEST-STAT uptime=$(up) cpus_online=$on memtotal_kb=$mt memfree_kb=$mf"
}

# The power button's count before READY: a press right after READY is a
# press (the watcher below used to read its baseline only once it ran).
pwr=/sys/firmware/acpi/interrupts/ff_pwr_btn
presses() { [ -r $pwr ] && set -- $(cat $pwr) && echo "$1" || echo 0; }
pressed=$(presses)

echo "GUEST-INIT-READY uptime=$(up) cpus_online=$(cat /sys/devices/system/cpu/online)"
marker() { head -c 64 "$1" | head -n 1 | tr -cd 'A-Za-z0-9 .-'; }
[ -b /dev/vda ] && echo "GUEST-DISK marker=$(marker /dev/vda)"
for d in /dev/vd[b-z]; do
    [ -b "$d" ] && echo "GUEST-OTHER-DISK ${d#/dev/} marker=$(marker "$d")"
done
for i in /sys/class/net/eth*; do
    [ -e "$i" ] && ip link set "${i##*/}" up
done

# A minimal QEMU guest agent (qemu-ga's protocol, one JSON command a line
# on the virtio-serial port the host names org.qemu.guest_agent.0): the
# sync handshakes libvirt opens a session with (guest-sync; the reply to
# guest-sync-delimited starts with the 0xFF sentinel, and a client may send
# one before a command), guest-ping, guest-info, and
# guest-set-user-password (base64 password, clear or `crypted`), which
# sets the user's hash in /etc/shadow as qemu-ga's chpasswd would.  Users:
# root alone.  guest-fsfreeze-freeze / -thaw / -status as qemu-ga: every
# read-write filesystem of a block device frozen (fsfreeze), how many the
# answer; the initramfs this guest lives in cannot be, so 0 unless a disk
# is mounted.
agent_port() {
    for n in /sys/class/virtio-ports/*/name; do
        [ -r "$n" ] && [ "$(cat "$n")" = org.qemu.guest_agent.0 ] || continue
        p=${n%/name}
        echo "${p##*/}"
        return 0
    done
    return 1
}
agent_reply() { printf '%s\n' "$1" >&4; }
agent_error() { agent_reply "{\"error\": {\"class\": \"GenericError\", \"desc\": \"$1\"}}"; }
json_str() { sed -n "s/.*\"$1\" *: *\"\([^\"]*\)\".*/\1/p"; }
agent_set_password() { # LINE
    user=$(printf '%s' "$1" | json_str username)
    b64=$(printf '%s' "$1" | json_str password | tr -d '\\') # a JSON writer may escape `/`
    pw=$(printf '%s' "$b64" | base64 -d 2>/dev/null) || { agent_error "invalid base64"; return; }
    if printf '%s' "$1" | grep -q '"crypted" *: *true'; then
        hash=$pw
    else
        hash=$(printf '%s\n' "$pw" | mkpasswd -m sha512 -s) || { agent_error "hash failed"; return; }
    fi
    if [ -z "$user" ] || ! grep -q "^$user:" /etc/shadow; then
        agent_error "child process has failed to set user password: user '$user' unknown"
        return
    fi
    awk -F: -v u="$user" -v h="$hash" 'BEGIN {OFS = ":"} $1 == u {$2 = h} {print}' \
        /etc/shadow >/etc/shadow.new && mv /etc/shadow.new /etc/shadow
    echo "GUEST-PASSWORD user=$user hash=$(grep "^$user:" /etc/shadow | cut -d: -f2)"
    agent_reply '{"return": {}}'
}
agent_fs() { # -f|-u: the block devices' read-write mounts frozen or thawed; prints how many
    n=0
    while read -r dev mnt _ opts _; do
        case "$dev,$opts," in /dev/*,rw,* | /dev/*,*,rw,*) fsfreeze "$1" "$mnt" 2>/dev/null && n=$((n + 1)) ;; esac
    done </proc/mounts
    echo "$n"
}
agent_serve() {
    frozen=
    # no virtio-serial port (a domain without the channel): no agent
    [ -n "$(ls /sys/class/virtio-ports 2>/dev/null)" ] || return 0
    i=0
    port=$(agent_port)
    while [ -z "$port" ] && [ "$i" -lt 50 ]; do # the host names its ports just after boot
        sleep 0.1
        i=$((i + 1))
        port=$(agent_port)
    done
    [ -n "$port" ] && [ -c "/dev/$port" ] || return 0
    mkdir -p /etc /root
    echo 'root:x:0:0:root:/root:/bin/sh' >/etc/passwd
    echo 'root:*:20000:0:99999:7:::' >/etc/shadow
    chmod 600 /etc/shadow
    exec 4<>"/dev/$port"
    echo "GUEST-AGENT-READY port=$port"
    # a read ends at once while no client is on the host's side of the
    # port (libvirt connects once it sees the guest open it): wait for one
    while :; do
        line=
        if ! read -r line <&4 && [ -z "$line" ]; then
            sleep 0.2
            continue
        fi
        line=$(printf '%s' "$line" | tr -d '\377\r')
        cmd=$(printf '%s' "$line" | json_str execute)
        [ -n "$cmd" ] || continue
        echo "GUEST-AGENT $cmd"
        id=$(printf '%s' "$line" | sed -n 's/.*"id" *: *\([0-9-]*\).*/\1/p')
        case "$cmd" in
        guest-sync) agent_reply "{\"return\": ${id:-0}}" ;;
        guest-sync-delimited) printf '\377{"return": %s}\n' "${id:-0}" >&4 ;;
        guest-ping) agent_reply '{"return": {}}' ;;
        guest-info) agent_reply '{"return": {"version": "sculpt-tiny", "supported_commands": []}}' ;;
        guest-set-user-password) agent_set_password "$line" ;;
        guest-fsfreeze-freeze)
            if [ -n "$frozen" ]; then
                agent_error "The command guest-fsfreeze-freeze has been disabled for this instance"
            else
                frozen=$(agent_fs -f)
                echo "GUEST-FSFREEZE frozen n=$frozen"
                agent_reply "{\"return\": $frozen}"
            fi
            ;;
        guest-fsfreeze-thaw)
            n=0
            [ -z "$frozen" ] || n=$(agent_fs -u)
            frozen=
            echo "GUEST-FSFREEZE thawed n=$n"
            agent_reply "{\"return\": $n}"
            ;;
        guest-fsfreeze-status) agent_reply "{\"return\": \"$([ -n "$frozen" ] && echo frozen || echo thawed)\"}" ;;
        *) agent_reply "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command $cmd has not been found\"}}" ;;
        esac
    done
}
agent_serve &
agent_pid=$!

# No udev or acpid here: online hot-added CPUs ourselves, report changes,
# and power off when the ACPI power button is pressed (virsh shutdown).
(
    last=""
    while true; do
        if [ "$(presses)" != "$pressed" ]; then
            echo "GUEST-POWER-BUTTON uptime=$(up)"
            poweroff -f
        fi
        for c in /sys/devices/system/cpu/cpu[0-9]*; do
            [ -f "$c/online" ] && [ "$(cat "$c/online")" = 0 ] && echo 1 >"$c/online"
        done
        s="$(cat /sys/devices/system/cpu/online) $(awk '/^MemTotal/{print $2}' /proc/meminfo)"
        if [ "$s" != "$last" ]; then
            stat_line
            last="$s"
        fi
        sleep 1
    done
) &

# The console is a tty: reads block until a line comes; never let /init end.
while true; do
    while read -r cmd a b; do
        case "$cmd" in
        burn)
            n=${a:-1}
            i=0
            while [ "$i" -lt "$n" ]; do
                timeout "${b:-10}" sh -c 'while :; do :; done' &
                i=$((i + 1))
            done
            echo "GUEST-ACK burn $n ${b:-10}"
            ;;
        disk)
            dd if=/dev/zero of=/dev/vda bs=1M seek=1 count="${a:-8}" 2>/dev/null
            sync
            echo "GUEST-ACK disk ${a:-8}"
            ;;
        dirty)
            # random, not zeros (a zero page costs a migration nothing),
            # then written over with itself: the same pages dirty again.
            # One random MiB repeated: /dev/urandom under TCG on a loaded
            # host took longer than a test's wait for the ack for 16 MiB
            dd if=/dev/urandom of=/dirty.1m bs=1M count=1 2>/dev/null
            : >/dirty
            i=0
            while [ $i -lt "${a:-16}" ]; do cat /dirty.1m >>/dirty; i=$((i + 1)); done
            timeout "${b:-10}" sh -c 'while :; do dd if=/dirty of=/dirty bs=1M conv=notrunc 2>/dev/null; done' &
            echo "GUEST-ACK dirty ${a:-16} ${b:-10}"
            ;;
        net)
            ip addr add 192.0.2.2/24 dev eth0 2>/dev/null
            arp -i eth0 -s 192.0.2.1 02:00:00:00:00:01 2>/dev/null
            ping -q -c "${a:-100}" -i 0.01 -s 1400 -W 1 192.0.2.1 >/dev/null 2>&1
            echo "GUEST-ACK net ${a:-100}"
            ;;
        stat)
            stat_line
            ;;
        online)
            for m in /sys/devices/system/memory/memory*/state; do
                [ "$(cat "$m")" = offline ] && echo online >"$m" 2>/dev/null
            done
            echo "GUEST-ACK online"
            ;;
        agent)
            [ "$a" = off ] && kill "$agent_pid" 2>/dev/null
            echo "GUEST-ACK agent $a"
            ;;
        poweroff)
            echo "GUEST-ACK poweroff"
            poweroff -f
            ;;
        esac
    done </dev/console
    sleep 1
done

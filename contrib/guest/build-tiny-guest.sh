#!/bin/sh
# Build sculpt's tiny test guest from Debian packages only:
#
#   contrib/guest/build-tiny-guest.sh [CACHE_DIR]
#
# prints the folder it built (or found) under CACHE_DIR (default
# /var/cache/sculpt/tiny-guest): CACHE_DIR/STAMP, where STAMP is the
# checksum of this script and the guest's init.  That folder receives
#   vmlinuz      Debian's cloud kernel (hot-plug CPU, virtio as modules)
#   initrd.gz    a busybox initramfs whose /init (guest-init.sh beside this
#                script) loads the virtio, balloon, virtio-mem and ACPI button
#                drivers, onlines hot-added vCPUs and memory, answers the QEMU
#                guest agent's commands on its port, reports on the
#                serial console and obeys
#                commands typed on it (burn CPU, write disk, power off)
#   base.qcow2   a small qcow2 base image carrying a marker the guest reads
#                through its overlay at boot ("GUEST-DISK marker=...")
#   cmdline      the kernel command line to boot it with
# The build is cached: it runs again only when this script or the guest's
# init changes, and concurrent callers wait for one build (flock).  Each
# version has its own folder, so trees with different inits (worktrees, a
# CI run beside a developer's) never rebuild a guest under each other's
# running tests; a version unused for a day is removed.  Needs apt lists,
# network for the first build, and qemu-img and cpio (contrib/install-deps.sh
# libvirt).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
exec 3>&1 # the folder's name alone goes there; the rest to stderr
exec 1>&2
cache=${1:-/var/cache/sculpt/tiny-guest}
want=$(cat "$0" "$here/guest-init.sh" | sha256sum | cut -c1-16)
mkdir -p "$cache/$want"
out=$(cd "$cache/$want" && pwd)

ready() {
    [ "$(cat "$out/stamp" 2>/dev/null)" = "$want" ] &&
        [ -s "$out/vmlinuz" ] && [ -s "$out/initrd.gz" ] && [ -s "$out/base.qcow2" ]
}
# in use: its folder's time says so, and other versions unused for a day go
found() {
    touch "$out"
    find "$cache" -mindepth 1 -maxdepth 1 -type d -name '????????????????' ! -name "$want" \
        -mtime +0 -exec rm -rf {} + 2>/dev/null || true
    echo "$out" >&3
    exit 0
}
ready && found

exec 9>"$out/.lock"
flock 9
ready && found

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"  # apt-get download drops privileges to _apt
cd "$work"

# Fetch without installing: no kernel hooks on the host, and busybox-static
# would replace the host's busybox.
kpkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
    awk '/Depends: linux-image-[0-9]/{print $2; exit}')
if [ -z "$kpkg" ]; then
    apt-get -o DPkg::Lock::Timeout=900 update -q >&2
    kpkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
fi
[ -n "$kpkg" ] || { echo "build-tiny-guest: no linux-image-cloud-amd64 in the apt lists" >&2; exit 1; }
apt-get download -q "$kpkg" busybox-static >&2
dpkg-deb -x "$kpkg"_*.deb k
dpkg-deb -x busybox-static_*.deb bb
kver=$(ls k/lib/modules)

r="$work/rootfs"
mkdir -p "$r/bin" "$r/proc" "$r/sys" "$r/dev" "$r/mods" "$r/tmp"
cp bb/bin/busybox "$r/bin/busybox"
# dependency order, from the modules' depends= fields
mods="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
      virtio_balloon virtio_mem virtio_blk failover net_failover virtio_net button
      virtio_console"
for m in $mods; do
    f=$(find "k/lib/modules/$kver" -name "$m.ko")
    [ -n "$f" ] || { echo "build-tiny-guest: module $m missing from $kpkg" >&2; exit 1; }
    cp "$f" "$r/mods/"
done
echo "$mods" | tr -s ' \n' ' ' >"$r/mods/order"
cp "$here/guest-init.sh" "$r/init"
chmod 755 "$r/init"
(cd "$r" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/initrd.gz"

# The base image: a 64 MiB disk whose first sector names it; the guest
# reads it through its own overlay and writes only beyond the first MiB.
printf 'SCULPT-BASE-IMAGE v1 %s\n' "$want" >marker
truncate -s 64M base.raw
dd if=marker of=base.raw conv=notrunc status=none
qemu-img convert -f raw -O qcow2 base.raw "$work/base.qcow2"

cp "k/boot/vmlinuz-$kver" "$out/vmlinuz.tmp"
mv "$out/vmlinuz.tmp" "$out/vmlinuz"
mv "$work/initrd.gz" "$out/initrd.gz"
mv "$work/base.qcow2" "$out/base.qcow2"
echo "console=ttyS0 panic=-1 quiet loglevel=4" >"$out/cmdline"
echo "$kpkg" >"$out/kernel-package"
echo "$want" >"$out/stamp"
echo "build-tiny-guest: $out ($kpkg, $(du -sh "$out" | cut -f1))" >&2
found

/* Server snapshots as nova's libvirt driver takes them without live
 * snapshot (driver.py snapshot, its cold path): a guest that runs or is
 * paused is saved to disk (managed save, as _suspend_guest_for_snapshot
 * does), so QEMU has closed its disk; qemu-img convert writes the overlay,
 * its base merged in, as one standalone image in snapshots_dir (the
 * Qcow2 image backend's snapshot_extract); the guest is restored as it
 * was (a paused guest comes back paused).  A guest that is off or
 * suspended is copied as it is.
 *
 * Why not pause and copy: a paused QEMU still holds the qcow2 open, with
 * its write lock (qemu-img would need -U, "force share") and table
 * updates possibly still in its metadata cache, so the copy could be
 * inconsistent.  Why not live (block copy): nova falls back to this path
 * whenever live snapshot is off; it is the one every libvirt supports.
 * The price is the guest's memory written out and read back.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "driver/libvirt/driver_priv.h"
#include "driver/libvirt/volume.h"

LOG_INIT("driver.libvirt.snapshot");

/* A snapshot file's name: "<guest uuid>-XXXXXX" (mkstemp). */
#define SNAP_SUFFIX_LEN 7

/* qemu-img convert -f qcow2 -O FORMAT DISK OUT: the overlay and its
 * backing chain read as one disk, written whole. */
static int snap_convert(const char *qemu_img, const char *disk, const char *out,
                        const char *format, struct err **err)
{
    char *argv[] = {(char *)qemu_img, (char *)"convert", (char *)"-q",   (char *)"-f",
                    (char *)"qcow2",  (char *)"-O",      (char *)format, (char *)disk,
                    (char *)out,      NULL};
    autostrbuf o = STRBUF_INIT;
    int rc = lv_volume_run(argv, &o, err);
    if (rc < 0)
        return err_wrap(err, "qemu-img convert `%s`", disk);
    if (rc != 0)
        return err_set(err, ERR_INTERNAL, "qemu-img convert `%s` to %s: %s", disk, format,
                       o.s && o.s[0] ? o.s : "failed");
    return 0;
}

/* A new empty file in dir, named after the guest; its path into out. */
static int snap_file(const char *dir, const char *uuid, struct drv_hv_snapshot *out,
                     struct err **err)
{
    if (dir[0] != '/')
        return err_set(err, ERR_INVALID, "[libvirt] snapshots_directory `%s` is not absolute",
                       dir);
    if (lv_volume_make_dir(dir, err) < 0)
        return -1;
    out->path = xasprintf("%s/%s-XXXXXX", dir, uuid);
    int fd = mkstemp(out->path);
    if (fd < 0)
        return err_set_errno(err, errno, "create `%s`", out->path);
    close(fd);
    return 0;
}

int lv_snapshot(struct drv_hv *hv, const char *uuid, struct drv_hv_snapshot *out,
                struct err **err)
{
    struct lv *lv = lv_of(hv);
    virDomainPtr dom = lv_domain(lv, uuid, true, err);
    if (!dom)
        return -1;
    struct lv_meta meta = {0};
    int rc = -1;
    if (!lv_entry_meta_get(lv, uuid, &meta)) {
        err_set(err, ERR_CONFLICT, "domain `%s` was not spawned by sculpt", uuid);
        goto out;
    }
    if (!meta.disk_path) {
        err_set(err, ERR_UNSUPPORTED, "guest `%s` has no disk to snapshot", uuid);
        goto out;
    }
    snprintf(out->format, sizeof(out->format), "%s", lv->snapshot_format);
    if (snap_file(lv->snapshots_dir, uuid, out, err) < 0)
        goto out;

    int state = VIR_DOMAIN_NOSTATE, reason = 0;
    if (virDomainGetState(dom, &state, &reason, 0) < 0) {
        lv_dom_error(err, "virDomainGetState", dom);
        goto out;
    }
    bool saved = false;
    int64_t t0 = clock_mono_ns();
    if (state == VIR_DOMAIN_RUNNING || state == VIR_DOMAIN_PAUSED) {
        lv_expect(lv, uuid, DRV_HV_EVENT_SUSPENDED);
        if (virDomainManagedSave(dom, 0) < 0) {
            lv_unexpect(lv, uuid, DRV_HV_EVENT_SUSPENDED);
            lv_dom_error(err, "virDomainManagedSave", dom);
            goto out;
        }
        saved = true;
    }
    int64_t t1 = clock_mono_ns();
    rc = snap_convert(lv->qemu_img, meta.disk_path, out->path, out->format, err);
    int64_t t2 = clock_mono_ns();
    if (saved) {
        /* back as it was, whether the copy worked or not: the save image
         * knows whether it ran or was paused */
        autoerr struct err *e = NULL;
        if (lv_start(lv, dom, uuid, &e) < 0) {
            err_wrap(&e, "restore `%s` after its snapshot", uuid);
            if (rc == 0) {
                *err = steal_pointer(&e);
                rc = -1;
            } else {
                log_err(LOG_LEVEL_ERROR, e, "guest %s left saved", uuid);
            }
        }
    }
    if (rc == 0) {
        struct stat st;
        if (stat(out->path, &st) < 0) {
            rc = err_set_errno(err, errno, "stat `%s`", out->path);
            goto out;
        }
        out->bytes = st.st_size;
        log_info("snapshot of %s: %s, %lld bytes (%s); saved %.1f s, copied %.1f s, restored "
                 "%.1f s",
                 uuid, out->path, (long long)out->bytes, out->format, (t1 - t0) / 1e9,
                 (t2 - t1) / 1e9, (clock_mono_ns() - t2) / 1e9);
    }
out:
    lv_meta_release(&meta);
    virDomainFree(dom);
    return rc;
}

void lv_snapshot_sweep(struct lv *lv)
{
    DIR *d = opendir(lv->snapshots_dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        /* only what lv_snapshot names so: the folder may be shared */
        if (n != DRV_UUID_LEN + SNAP_SUFFIX_LEN || de->d_name[DRV_UUID_LEN] != '-')
            continue;
        autofree char *p = xasprintf("%s/%s", lv->snapshots_dir, de->d_name);
        if (unlink(p) == 0)
            log_warn("snapshot file %s left by an earlier run removed", p);
    }
    closedir(d);
}

/* Server snapshots as nova's libvirt driver takes them (driver.py
 * snapshot).
 *
 * Live (its default, _live_snapshot): a running or paused guest's overlay
 * is block-copied, shallow, into a delta over the same base; once the copy
 * is in sync it is cancelled, which leaves the delta a point-in-time copy
 * of the disk (QEMU's cancel of a ready mirror), and the guest never stops.
 * The job is transient, so the domain stays defined (nova undefines it for
 * the copy, from before libvirt could copy a persistent domain's disk).
 *
 * Cold ([workarounds] disable_libvirt_livesnapshot, or a libvirt that
 * cannot copy): the guest is saved to disk (managed save, as
 * _suspend_guest_for_snapshot does), so QEMU has closed its disk, and
 * restored as it was afterwards (a paused guest comes back paused).  Why
 * not pause and copy: a paused QEMU still holds the qcow2 open, with its
 * write lock and table updates possibly still in its metadata cache.
 *
 * Either way qemu-img convert writes the copy, its base merged in, as one
 * standalone image in snapshots_dir (the Qcow2 image backend's
 * snapshot_extract).  A guest that is off or suspended is copied as it is.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
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
#include "driver/libvirt/config.h"
#include "driver/libvirt/driver_priv.h"
#include "driver/libvirt/host.h"
#include "driver/libvirt/volume.h"

LOG_INIT("driver.libvirt.snapshot");

/* A snapshot file's name: "<guest uuid>-XXXXXX" (mkstemp); a live copy's
 * delta beside it adds DELTA_SUFFIX. */
#define SNAP_SUFFIX_LEN 7
#define DELTA_SUFFIX ".delta"

/* How often a live copy is looked at, and the longest it may take to get
 * in sync before the snapshot is given up. */
#define COPY_POLL_MS 100
#define COPY_MAX_MS (3600 * 1000)

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

/* Freeze the guest's filesystems for the copy's end, recorded first (a
 * crash before the thaw is undone at the next start: quiesce.c); true
 * when frozen.  A freeze the agent cannot make is skipped as Zed skips
 * it, or fails the snapshot when required (*err set, false). */
static bool snap_freeze(virDomainPtr dom, const char *uuid, enum drv_hv_quiesce quiesce,
                        struct drv_hv_snapshot *out, struct err **err)
{
    autoerr struct err *e = NULL;
    if (lv_quiesce_record(dom, true, &e) < 0) {
        err_wrap(&e, "no record of the freeze");
    } else if (lv_fs_set(dom, true, &out->frozen, &e) < 0) {
        /* qemu-ga thaws what it froze before it answers with an error, and
         * an agent that does not answer never got the command */
        autoerr struct err *re = NULL;
        if (lv_quiesce_record(dom, false, &re) < 0)
            log_err(LOG_LEVEL_WARN, re, "the freeze record of %s kept", uuid);
    } else {
        log_info("live snapshot of %s: copy in sync, %d filesystem(s) frozen", uuid, out->frozen);
        out->quiesced = true;
        return true;
    }
    if (quiesce == DRV_HV_QUIESCE_REQUIRE) {
        log_err(LOG_LEVEL_ERROR, e, "Quiescing instance %s failed and it is required", uuid);
        out->quiesce_failed = true;
        *err = steal_pointer(&e);
        return false;
    }
    log_info("Skipping quiescing instance %s: %s.", uuid, e->msg);
    return false;
}

/* Thaw what snap_freeze froze: tried twice (an agent busy a moment), the
 * record kept when it fails, for the next start to thaw. */
static int snap_thaw(virDomainPtr dom, const char *uuid, struct err **err)
{
    autoerr struct err *e = NULL;
    int n = lv_quiesce_thaw(dom, uuid, &e);
    if (n < 0) {
        log_err(LOG_LEVEL_WARN, e, "thaw of %s failed: trying again", uuid);
        err_clear(&e);
        clock_sleep_ms(1000);
        n = lv_quiesce_thaw(dom, uuid, &e);
    }
    if (n < 0) {
        log_err(LOG_LEVEL_ERROR, e, "guest %s left frozen (thawed at the next start)", uuid);
        *err = steal_pointer(&e);
        return -1;
    }
    log_info("live snapshot of %s: %d filesystem(s) thawed", uuid, n);
    return 0;
}

/* Copy `disk` of running or paused `dom` live into `delta` (made by the
 * caller over the same base) and stop the copy once in sync, quiesced as
 * asked between the two (Zed's _live_snapshot: the freeze as short as
 * can be, the mirror in sync throughout it); on failure the copy is
 * stopped, the guest thawed and left as it was. */
static int snap_copy_live(virDomainPtr dom, const char *uuid, const char *disk,
                          const char *delta, enum drv_hv_quiesce quiesce,
                          struct drv_hv_snapshot *out, struct err **err)
{
    /* a job an earlier crash left on the disk would refuse the copy */
    virDomainBlockJobInfo info;
    if (virDomainGetBlockJobInfo(dom, disk, &info, 0) == 1) {
        log_warn("block job %d left on `%s` aborted", info.type, disk);
        virDomainBlockJobAbort(dom, disk, 0);
    }
    autofree char *xml = lv_cfg_copy_dest_format(delta);
    unsigned int flags = VIR_DOMAIN_BLOCK_COPY_SHALLOW | VIR_DOMAIN_BLOCK_COPY_REUSE_EXT |
                         VIR_DOMAIN_BLOCK_COPY_TRANSIENT_JOB;
    if (virDomainBlockCopy(dom, disk, xml, NULL, 0, flags) < 0)
        return lv_dom_error(err, "virDomainBlockCopy", dom);
    bool synced = false;
    int64_t deadline = clock_mono_ms() + COPY_MAX_MS;
    for (;;) {
        int r = virDomainGetBlockJobInfo(dom, disk, &info, 0);
        if (r < 0) {
            lv_dom_error(err, "virDomainGetBlockJobInfo", dom);
            break;
        }
        if (r == 0) {
            err_set(err, ERR_INTERNAL, "the block copy of `%s` ended before it was in sync",
                    disk);
            break;
        }
        /* libvirt shows cur == end only once the copy is ready */
        if (info.end > 0 && info.cur == info.end) {
            synced = true;
            break;
        }
        if (clock_mono_ms() > deadline) {
            err_set(err, ERR_TIMEOUT, "the block copy of `%s` not in sync after %d s (%llu of "
                    "%llu bytes)", disk, COPY_MAX_MS / 1000, info.cur, info.end);
            break;
        }
        clock_sleep_ms(COPY_POLL_MS);
    }
    bool frozen = synced && quiesce != DRV_HV_QUIESCE_NONE &&
                  snap_freeze(dom, uuid, quiesce, out, err);
    if (synced && *err)
        synced = false; /* a required freeze failed */
    if (virDomainBlockJobAbort(dom, disk, 0) < 0 && synced) {
        lv_dom_error(err, "virDomainBlockJobAbort", dom);
        synced = false;
    } else if (synced) {
        log_info("live snapshot of %s: copy stopped", uuid);
    }
    if (frozen) {
        /* Zed's unquiesce in its finally: a thaw that fails fails the snapshot */
        autoerr struct err *te = NULL;
        if (snap_thaw(dom, uuid, &te) < 0 && synced) {
            *err = steal_pointer(&te);
            synced = false;
        }
    }
    return synced ? 0 : -1;
}

/* The live snapshot: *unsupported set when libvirt cannot copy (the
 * caller then takes it cold). */
static int snap_live(struct lv *lv, virDomainPtr dom, const char *uuid, const char *disk,
                     enum drv_hv_quiesce quiesce, struct drv_hv_snapshot *out, bool *unsupported,
                     struct err **err)
{
    autofree char *delta = xasprintf("%s%s", out->path, DELTA_SUFFIX);
    if (lv_volume_create_delta(lv->qemu_img, disk, delta, err) < 0)
        return -1;
    int64_t t0 = clock_mono_ns();
    int rc = snap_copy_live(dom, uuid, disk, delta, quiesce, out, err);
    /* (a required freeze the agent could not make is no reason to copy cold) */
    *unsupported = rc < 0 && err_code_of(*err) == ERR_UNSUPPORTED && !out->quiesce_failed;
    int64_t t1 = clock_mono_ns();
    if (rc == 0)
        rc = snap_convert(lv->qemu_img, delta, out->path, out->format, err);
    if (unlink(delta) < 0 && errno != ENOENT)
        log_warn("`%s` not removed: %s", delta, strerror(errno));
    if (rc == 0)
        log_info("live snapshot of %s: copied in %.1f s, converted in %.1f s", uuid,
                 (t1 - t0) / 1e9, (clock_mono_ns() - t1) / 1e9);
    return rc;
}

/* The cold snapshot: a guest in QEMU (`in_qemu`) saved for the copy and
 * restored after it, whether the copy worked or not. */
static int snap_cold(struct lv *lv, virDomainPtr dom, const char *uuid, const char *disk,
                     bool in_qemu, struct drv_hv_snapshot *out, struct err **err)
{
    int64_t t0 = clock_mono_ns();
    if (in_qemu) {
        lv_expect(lv, uuid, DRV_HV_EVENT_SUSPENDED);
        if (virDomainManagedSave(dom, 0) < 0) {
            lv_unexpect(lv, uuid, DRV_HV_EVENT_SUSPENDED);
            return lv_dom_error(err, "virDomainManagedSave", dom);
        }
    }
    int64_t t1 = clock_mono_ns();
    int rc = snap_convert(lv->qemu_img, disk, out->path, out->format, err);
    int64_t t2 = clock_mono_ns();
    if (in_qemu) {
        /* the save image knows whether it ran or was paused */
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
    if (rc == 0)
        log_info("cold snapshot of %s: saved %.1f s, copied %.1f s, restored %.1f s", uuid,
                 (t1 - t0) / 1e9, (t2 - t1) / 1e9, (clock_mono_ns() - t2) / 1e9);
    return rc;
}

int lv_snapshot(struct drv_hv *hv, const char *uuid, enum drv_hv_quiesce quiesce,
                struct drv_hv_snapshot *out, struct err **err)
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
    bool in_qemu = state == VIR_DOMAIN_RUNNING || state == VIR_DOMAIN_PAUSED;
    bool unsupported = false;
    if (in_qemu && lv->live_snapshot) {
        rc = snap_live(lv, dom, uuid, meta.disk_path, quiesce, out, &unsupported, err);
        out->live = rc == 0;
    }
    if (!out->live) {
        if (unsupported) {
            log_err(LOG_LEVEL_WARN, *err, "snapshot of %s taken cold", uuid);
            err_clear(err);
        }
        if (!in_qemu || !lv->live_snapshot || unsupported)
            rc = snap_cold(lv, dom, uuid, meta.disk_path, in_qemu, out, err);
    }
    if (rc == 0) {
        struct stat st;
        if (stat(out->path, &st) < 0) {
            rc = err_set_errno(err, errno, "stat `%s`", out->path);
            goto out;
        }
        out->bytes = st.st_size;
        log_info("snapshot of %s: %s, %lld bytes (%s, %s%s)", uuid, out->path,
                 (long long)out->bytes, out->format, out->live ? "live" : "cold",
                 out->quiesced ? ", quiesced" : "");
    }
out:
    lv_meta_release(&meta);
    virDomainFree(dom);
    return rc;
}

/* Stop the copies of live snapshots a crash left running: QEMU mirrors the
 * disk into a delta no one will read until the job is stopped.  Found by
 * their destination, a delta in snapshots_dir (a live migration copies
 * disks elsewhere). */
static void snap_stop_left_copy(struct lv *lv, const char *uuid, virDomainPtr dom, void *arg)
{
    (void)arg;
    autofree char *xml = virDomainGetXMLDesc(dom, 0);
    autofree char *target = xml ? lv_cfg_copy_target(xml, lv->snapshots_dir) : NULL;
    if (!target)
        return;
    autoerr struct err *e = NULL;
    if (virDomainBlockJobAbort(dom, target, 0) < 0) {
        lv_dom_error(&e, "virDomainBlockJobAbort", dom);
        log_err(LOG_LEVEL_WARN, e, "snapshot copy of %s left running", uuid);
    } else {
        log_warn("snapshot copy of %s (disk %s) left by an earlier run stopped", uuid, target);
    }
}

void lv_snapshot_sweep(struct lv *lv)
{
    lv_each_active(lv, snap_stop_left_copy, NULL);
    lv_quiesce_sweep(lv);
    DIR *d = opendir(lv->snapshots_dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        /* only what lv_snapshot names so: the folder may be shared */
        size_t base = DRV_UUID_LEN + SNAP_SUFFIX_LEN;
        bool delta =
            n == base + strlen(DELTA_SUFFIX) && strcmp(de->d_name + base, DELTA_SUFFIX) == 0;
        if ((n != base && !delta) || de->d_name[DRV_UUID_LEN] != '-')
            continue;
        autofree char *p = xasprintf("%s/%s", lv->snapshots_dir, de->d_name);
        if (unlink(p) == 0)
            log_warn("snapshot file %s left by an earlier run removed", p);
    }
    closedir(d);
}

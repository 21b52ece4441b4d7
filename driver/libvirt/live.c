/* Live migration, both ends (live.h): live_prepare, live_finish and
 * live_rollback on the destination; live_migrate and live_abort on the
 * source.  The migration call blocks for as long as the migration runs,
 * so it runs in a thread of its own while the caller's watches it
 * (libvirt's job statistics), sets the downtime, carries out the aborts
 * and forced completions asked for (post-copy or a pause) and takes
 * live_migration_timeout_action past its completion timeout, as nova's
 * _live_migration_monitor does. */
#include "driver/libvirt/live.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "driver/hypervisor_priv.h"
#include "driver/libvirt/driver_priv.h"
#include "driver/libvirt/volume.h"

LOG_INIT("driver.libvirt.live");

/* Nova's migration flags for block migration (live_migration_flag and
 * block_migration_flag of old): live, peer to peer, defined on the
 * destination and undefined here, the disks' own data copied (the base
 * is on both hosts). */
#define LIVE_FLAGS                                                                                 \
    (VIR_MIGRATE_LIVE | VIR_MIGRATE_PEER2PEER | VIR_MIGRATE_PERSIST_DEST |                         \
     VIR_MIGRATE_UNDEFINE_SOURCE | VIR_MIGRATE_NON_SHARED_INC)

#define LIVE_POLL_MS 500
/* How long a destination holds the serial console port it named for a
 * guest that has not arrived yet (a migration that fails leaves it free
 * again after that) */
#define LIVE_SERIAL_HOLD_MS (30 * 60 * 1000)

int lv_live_prepare(struct drv_hv *hv, const struct drv_hv_guest_spec *spec, char **dest_info,
                    struct err **err)
{
    struct lv *lv = lv_of(hv);
    if (drv_hv_check_host_policy(&lv->info, lv->nodes, &spec->shape, err) < 0 ||
        lv_spawn_check_new(lv, spec, err) < 0)
        return -1;
    struct lv_meta meta;
    lv_design_meta(&lv->pol, spec, clock_wall_ms(), &meta);
    if (lv_spawn_files(lv, &meta, spec->config_drive, err) < 0) {
        if (err_code_of(err ? *err : NULL) != ERR_CONFLICT) /* another guest's: left alone */
            lv_volume_remove_dir(lv->instances_path, meta.instance_dir, NULL);
        lv_meta_release(&meta);
        return -1;
    }
    struct lv_live_info info;
    lv_live_info_of(&meta, lv->live.inbound_addr, &info);
    info.vnc = lv->vnc_listen;
    char port[16];
    if (lv->serial.host) {
        /* Zed's pre_live_migration: the ports the guest's serial console
         * takes here, held for the migration's time */
        int p = -1;
        virConnectPtr conn = lv_host_conn(lv->host, NULL, err);
        if (conn) {
            lv_serial_lock(&lv->serial);
            p = lv_serial_acquire(&lv->serial, conn, spec->uuid, LIVE_SERIAL_HOLD_MS, err);
            lv_serial_unlock(&lv->serial);
            virConnectClose(conn);
        }
        if (p < 0) {
            lv_volume_remove_dir(lv->instances_path, meta.instance_dir, NULL);
            lv_meta_release(&meta);
            return err_wrap(err, "serial console of `%s`", spec->uuid);
        }
        snprintf(port, sizeof(port), "%d", p);
        info.serial = lv->serial.host;
        info.serial_port = port;
    }
    *dest_info = lv_live_info_format(&info);
    log_info("ready to take %s live into %s", spec->uuid, meta.instance_dir);
    lv_meta_release(&meta);
    return 0;
}

/* ---- the source ---- */

/* One migration call, run by mig_thread. */
struct mig_call {
    virDomainPtr dom;
    const char *dconnuri;
    virTypedParameterPtr params;
    int nparams;
    unsigned flags; /* LIVE_FLAGS, and VIR_MIGRATE_POSTCOPY when permitted */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    int rc;
    virErrorPtr error; /* the call's, when it failed */
};

static void *mig_thread(void *arg)
{
    struct mig_call *c = arg;
    int rc = virDomainMigrateToURI3(c->dom, c->dconnuri, c->params, (unsigned)c->nparams, c->flags);
    virErrorPtr e = rc < 0 ? virSaveLastError() : NULL;
    pthread_mutex_lock(&c->lock);
    c->rc = rc;
    c->error = e;
    c->done = true;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

static uint64_t stat_u64(virTypedParameterPtr p, int n, const char *name)
{
    unsigned long long v = 0;
    return virTypedParamsGetULLong(p, n, name, &v) == 1 ? (uint64_t)v : 0;
}

/* The job's figures into *out; false when there is no job (not started
 * yet, or over). */
static bool job_progress(virDomainPtr dom, struct drv_hv_live_progress *out)
{
    int type = VIR_DOMAIN_JOB_NONE, n = 0;
    virTypedParameterPtr p = NULL;
    if (virDomainGetJobStats(dom, &type, &p, &n, 0) < 0) {
        virResetLastError();
        return false;
    }
    bool on = type != VIR_DOMAIN_JOB_NONE;
    if (on)
        *out = (struct drv_hv_live_progress){
            .elapsed_ms = (int64_t)stat_u64(p, n, VIR_DOMAIN_JOB_TIME_ELAPSED),
            .memory_total = stat_u64(p, n, VIR_DOMAIN_JOB_MEMORY_TOTAL),
            .memory_processed = stat_u64(p, n, VIR_DOMAIN_JOB_MEMORY_PROCESSED),
            .memory_remaining = stat_u64(p, n, VIR_DOMAIN_JOB_MEMORY_REMAINING),
            .disk_total = stat_u64(p, n, VIR_DOMAIN_JOB_DISK_TOTAL),
            .disk_processed = stat_u64(p, n, VIR_DOMAIN_JOB_DISK_PROCESSED),
            .disk_remaining = stat_u64(p, n, VIR_DOMAIN_JOB_DISK_REMAINING),
        };
    virTypedParamsFree(p, n);
    return on;
}

/* What the watcher did to the migration it watches. */
struct mig_acts {
    bool timed_out;      /* aborted past its deadline */
    bool timeout_forced; /* forced past its deadline (timeout action force_complete) */
    bool abort_pending;  /* asked for, the job not seen yet */
    bool aborted;        /* aborted as asked */
    bool force_pending;  /* asked for, not carried out yet */
    int force_failures;  /* suspends or switches refused so far (retried each poll) */
    bool paused;         /* paused by us to force its completion */
    bool postcopy;       /* switched to post-copy by us to force it */
};

/* Force the migration's completion as lv_live_force_how says; false when
 * it stays pending (libvirt refused: retried at the next poll, since a
 * step refused in one phase of the job, its state lock busy or QEMU's copy
 * not begun behind the disks', may pass in the next). */
static bool mig_force(struct lv *lv, const char *uuid, struct mig_call *c,
                      const struct drv_hv_live_watch *w, struct mig_acts *a)
{
    int st = VIR_DOMAIN_NOSTATE;
    if (virDomainGetState(c->dom, &st, NULL, 0) < 0)
        virResetLastError();
    bool postcopy_permitted = (c->flags & VIR_MIGRATE_POSTCOPY) != 0;
    switch (lv_live_force_how(postcopy_permitted, a->postcopy, st == VIR_DOMAIN_RUNNING)) {
    case LV_LIVE_FORCE_POSTCOPY:
        /* the source's guest stops as the destination's starts: libvirt
         * reports it suspended twice, for the switch-over (migrated) and
         * then for post-copy, both the migration's (live_mark_out) */
        if (virDomainMigrateStartPostCopy(c->dom, 0) < 0) {
            if (a->force_failures++ == 0)
                log_warn("%s: not switched to post-copy yet (retried): %s", uuid,
                         virGetLastErrorMessage());
            virResetLastError();
            return false;
        }
        a->postcopy = true;
        log_info("%s: live migration switched to post-copy (forced): the guest runs on the "
                 "destination",
                 uuid);
        if (w->postcopy)
            w->postcopy(w->opaque);
        return true;
    case LV_LIVE_FORCE_PAUSE:
        lv_expect(lv, uuid, DRV_HV_EVENT_PAUSED);
        if (virDomainSuspend(c->dom) < 0) {
            lv_unexpect(lv, uuid, DRV_HV_EVENT_PAUSED);
            if (a->force_failures++ == 0)
                log_warn("%s: not paused to force the migration's completion yet (retried): %s",
                         uuid, virGetLastErrorMessage());
            virResetLastError();
            return false;
        }
        a->paused = true;
        log_info("%s: paused until its live migration completes (forced)", uuid);
        if (w->paused)
            w->paused(w->opaque);
        return true;
    default:
        /* in post-copy, or paused already (by us, or before: then it stays so) */
        log_info("%s: %s: its migration converges as it is", uuid,
                 a->postcopy ? "in post-copy" : "not running");
        return true;
    }
}

/* The requests made of the migration, carried out once its job runs:
 * the job aborted (virDomainAbortJob, as nova's live_migration_abort;
 * not in post-copy, where the guest runs on the destination already), or
 * its completion forced (mig_force; nova's force-complete). */
static void mig_requests(struct lv *lv, const char *uuid, struct mig_call *c,
                         const struct drv_hv_live_watch *w, bool job_on, struct mig_acts *a)
{
    unsigned r = w->requests ? w->requests(w->opaque) : 0;
    if (r & DRV_HV_LIVE_ABORT)
        a->abort_pending = true;
    if (r & DRV_HV_LIVE_FORCE_COMPLETE)
        a->force_pending = true;
    if (!job_on)
        return;
    if (a->abort_pending && a->postcopy) {
        a->abort_pending = false;
        log_warn("%s: abort refused: the migration runs in post-copy", uuid);
    } else if (a->abort_pending) {
        a->abort_pending = false;
        a->force_pending = false;
        if (virDomainAbortJob(c->dom) < 0) {
            log_warn("%s: abort: %s", uuid, virGetLastErrorMessage());
            virResetLastError();
        } else {
            a->aborted = true;
            log_info("%s: live migration aborted as asked", uuid);
        }
    }
    if (a->force_pending && mig_force(lv, uuid, c, w, a))
        a->force_pending = false;
}

/* Watch call c until it returns: progress reported, the downtime set once
 * the job runs, requests carried out, live_migration_timeout_action taken
 * past its deadline: the job aborted, or its completion forced. */
static void mig_watch(struct lv *lv, const char *uuid, struct mig_call *c,
                      const struct drv_hv_live_watch *w, struct mig_acts *a)
{
    bool downtime_set = false;
    int64_t t0 = clock_mono_ms();
    pthread_mutex_lock(&c->lock);
    while (!c->done) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += LIVE_POLL_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        int wrc = pthread_cond_timedwait(&c->cond, &c->lock, &until);
        if (c->done || (wrc != 0 && wrc != ETIMEDOUT))
            continue;
        pthread_mutex_unlock(&c->lock);
        struct drv_hv_live_progress p;
        bool on = job_progress(c->dom, &p);
        mig_requests(lv, uuid, c, w, on, a);
        if (on) {
            if (!downtime_set) {
                downtime_set = true;
                if (virDomainMigrateSetMaxDowntime(c->dom, (unsigned long long)lv->live.downtime_ms,
                                                   0) < 0) {
                    log_warn("%s: downtime not set: %s", uuid, virGetLastErrorMessage());
                    virResetLastError();
                }
            }
            if (w->progress)
                w->progress(w->opaque, &p);
            int64_t limit = lv_live_deadline_ms(lv->live.completion_timeout_s,
                                                p.memory_total + p.disk_total);
            if (!a->timed_out && !a->timeout_forced && !a->aborted &&
                lv_live_past_deadline(limit, clock_mono_ms() - t0, a->postcopy)) {
                if (lv->live.timeout_force) {
                    /* carried out at the next poll, as a request */
                    a->timeout_forced = true;
                    a->force_pending = true;
                    log_warn("%s: live migration past its %lld s, its completion forced", uuid,
                             (long long)(limit / 1000));
                } else {
                    a->timed_out = true;
                    log_warn("%s: live migration past its %lld s, aborted", uuid,
                             (long long)(limit / 1000));
                    if (virDomainAbortJob(c->dom) < 0) {
                        log_warn("%s: abort: %s", uuid, virGetLastErrorMessage());
                        virResetLastError();
                    }
                }
            }
        }
        pthread_mutex_lock(&c->lock);
    }
    pthread_mutex_unlock(&c->lock);
}

/* A guest paused to force a migration that failed runs again here
 * (nova's run_recover_tasks). */
static void mig_unpause(struct lv *lv, virDomainPtr dom, const char *uuid)
{
    int st = VIR_DOMAIN_NOSTATE;
    if (virDomainGetState(dom, &st, NULL, 0) < 0 || st != VIR_DOMAIN_PAUSED) {
        virResetLastError();
        return;
    }
    lv_expect(lv, uuid, DRV_HV_EVENT_RESUMED);
    if (virDomainResume(dom) < 0) {
        lv_unexpect(lv, uuid, DRV_HV_EVENT_RESUMED);
        log_warn("%s: left paused after its failed migration: %s", uuid,
                 virGetLastErrorMessage());
        virResetLastError();
        return;
    }
    log_info("%s: runs again here after its failed migration", uuid);
}

/* While a migration of uuid out runs, its switch-over pauses (libvirt's
 * suspended/migrated at the end of a pre-copy, suspended/post-copy) are
 * reported as sculpt's: neither the power sync nor the engine takes them
 * for a pause by hand.  They come as the copy ends, minutes after it
 * began, so an expectation (lv_expect) could have expired. */
static void live_mark_out(struct lv *lv, const char *uuid, bool on)
{
    pthread_mutex_lock(&lv->lock);
    struct lv_entry *e = lv_entry_find(lv, uuid);
    if (e)
        e->migrating_out = on;
    pthread_mutex_unlock(&lv->lock);
}

/* Migrate dom with `flags`, watched, and wait until it is over.  *forced:
 * how its completion was forced ("paused", "post-copy"; NULL: it was not). */
static int mig_run(struct lv *lv, virDomainPtr dom, const char *uuid, const char *dconnuri,
                   virTypedParameterPtr params, int nparams, unsigned flags,
                   const struct drv_hv_live_watch *watch, const char **forced, struct err **err)
{
    struct mig_call c = {
        .dom = dom, .dconnuri = dconnuri, .params = params, .nparams = nparams, .flags = flags};
    pthread_mutex_init(&c.lock, NULL);
    pthread_cond_init(&c.cond, NULL);
    int rc = -1;
    struct mig_acts a = {0};
    pthread_t tid;
    int prc = pthread_create(&tid, NULL, mig_thread, &c);
    if (prc != 0) {
        err_set_errno(err, prc, "migration thread");
    } else {
        mig_watch(lv, uuid, &c, watch, &a);
        pthread_join(tid, NULL);
        if (c.rc == 0)
            rc = 0;
        else if (a.aborted)
            err_set(err, ERR_CONFLICT, "live migration aborted as asked");
        else if (a.timed_out)
            err_set(err, ERR_TIMEOUT, "live migration aborted after its completion timeout");
        else
            lv_error_saved(err, c.error, "virDomainMigrateToURI3", uuid);
        if (rc < 0 && a.postcopy) {
            /* its state is split between the hosts: libvirt leaves both
             * paused, and resuming either would run the guest on a part of
             * its memory (nova: the guest must be rebooted) */
            err_wrap(err, "failed in post-copy (the guest's state is lost)");
        } else if (rc < 0 && a.paused) {
            mig_unpause(lv, dom, uuid);
        }
    }
    *forced = a.postcopy ? "post-copy" : a.paused ? "paused" : NULL;
    virFreeError(c.error);
    pthread_cond_destroy(&c.cond);
    pthread_mutex_destroy(&c.lock);
    return rc;
}

/* The typed parameters of the migration to dst; the XMLs are copied. */
static int mig_params(struct lv *lv, const char *xml, const char *persistent,
                      const struct lv_live_info *dst, virTypedParameterPtr *p, int *n,
                      struct err **err)
{
    int max = 0;
    int rc = virTypedParamsAddString(p, n, &max, VIR_MIGRATE_PARAM_DEST_XML, xml);
    if (rc == 0)
        rc = virTypedParamsAddString(p, n, &max, VIR_MIGRATE_PARAM_PERSIST_XML, persistent);
    if (rc == 0 && dst->addr) {
        autofree char *mu = lv_live_migrate_uri(dst->addr);
        rc = virTypedParamsAddString(p, n, &max, VIR_MIGRATE_PARAM_URI, mu);
        if (rc == 0)
            rc = virTypedParamsAddString(p, n, &max, VIR_MIGRATE_PARAM_LISTEN_ADDRESS, dst->addr);
    }
    if (rc == 0 && lv->live.bandwidth_mib > 0)
        rc = virTypedParamsAddULLong(p, n, &max, VIR_MIGRATE_PARAM_BANDWIDTH,
                                     lv->live.bandwidth_mib);
    if (rc < 0) {
        err_set(err, ERR_INTERNAL, "migration parameters: %s", virGetLastErrorMessage());
        virResetLastError();
    }
    return rc;
}

/* The domain's XML (live or its definition), as the destination takes it. */
static char *dest_xml(virDomainPtr dom, unsigned which, const struct lv_meta *m,
                      const struct lv_live_info *dst, struct err **err)
{
    char *xml = virDomainGetXMLDesc(dom, which | VIR_DOMAIN_XML_MIGRATABLE | VIR_DOMAIN_XML_SECURE);
    if (!xml) {
        lv_dom_error(err, "virDomainGetXMLDesc", dom);
        return NULL;
    }
    char *out = lv_live_rewrite_xml(xml, m, dst, err);
    free(xml);
    if (out && dst->vnc) {
        /* QEMU there binds the destination's address (a destination of
         * an older sculpt names none: the source's stays) */
        char *moved = lv_cfg_vnc_listen_rewrite(out, dst->vnc, err);
        free(out);
        out = moved;
    }
    if (out) {
        /* a TCP serial console listens where the destination said, or
         * goes back to a unix socket there (one of an older sculpt, or
         * with [serial_console] disabled) */
        int port = dst->serial_port ? atoi(dst->serial_port) : 0;
        char *moved = lv_cfg_serial_rewrite(out, dst->serial, port, dst->socket, err);
        free(out);
        out = moved;
    }
    return out;
}

int lv_live_migrate(struct drv_hv *hv, const char *uuid, const char *dest, const char *dest_info,
                    const struct drv_hv_live_watch *watch, struct err **err)
{
    struct lv *lv = lv_of(hv);
    struct lv_live_info dst;
    if (lv_live_info_parse(dest_info, &dst, err) < 0)
        return -1;
    const char *host = dst.addr ? dst.addr : dest;
    if (!lv_ssh_host_ok(host)) {
        lv_live_info_release(&dst);
        return err_set(err, ERR_INVALID, "`%s` is not a host name or address", host);
    }
    virDomainPtr dom = lv_domain(lv, uuid, true, err);
    if (!dom) {
        lv_live_info_release(&dst);
        return -1;
    }
    int rc = -1;
    autofree char *xml = NULL, *persistent = NULL, *dconnuri = NULL;
    virTypedParameterPtr params = NULL;
    int nparams = 0;
    struct lv_meta m;
    bool have_meta = lv_entry_meta_get(lv, uuid, &m);
    int active = virDomainIsActive(dom);
    if (!have_meta) {
        err_set(err, ERR_CONFLICT, "domain `%s` was not spawned by sculpt", uuid);
        goto out;
    }
    if (active != 1) {
        err_set(err, ERR_CONFLICT, "guest `%s` is not running (a cold migration moves it)", uuid);
        goto out;
    }
    if (!(xml = dest_xml(dom, 0, &m, &dst, err)) ||
        !(persistent = dest_xml(dom, VIR_DOMAIN_XML_INACTIVE, &m, &dst, err)) ||
        !(dconnuri = lv_live_dest_uri(lv->live.uri, host, err)) ||
        mig_params(lv, xml, persistent, &dst, &params, &nparams, err) < 0)
        goto out;

    /* post-copy permitted unless the guest is paused (libvirt refuses
     * post-copy for a paused guest; nova drops the flag then too) */
    unsigned flags = LIVE_FLAGS;
    int st = VIR_DOMAIN_NOSTATE;
    if (virDomainGetState(dom, &st, NULL, 0) < 0)
        virResetLastError();
    if (lv->live.permit_post_copy && st == VIR_DOMAIN_RUNNING)
        flags |= VIR_MIGRATE_POSTCOPY;
    lv_expect(lv, uuid, DRV_HV_EVENT_STOPPED);
    lv_expect(lv, uuid, DRV_HV_EVENT_UNDEFINED);
    int64_t t0 = clock_mono_ms();
    log_info("live-migrating %s to %s (%s%s)", uuid, dest, dconnuri,
             flags & VIR_MIGRATE_POSTCOPY ? ", post-copy permitted" : "");
    const char *forced = NULL;
    live_mark_out(lv, uuid, true);
    if (mig_run(lv, dom, uuid, dconnuri, params, nparams, flags, watch, &forced, err) < 0) {
        /* the guest stays: a pause from now on is someone's */
        live_mark_out(lv, uuid, false);
        lv_unexpect(lv, uuid, DRV_HV_EVENT_STOPPED);
        lv_unexpect(lv, uuid, DRV_HV_EVENT_UNDEFINED);
        lv_failed(lv, err ? *err : NULL);
        goto out;
    }
    rc = 0;
    log_info("%s live-migrated to %s in %lld ms%s%s%s", uuid, dest,
             (long long)(clock_mono_ms() - t0), forced ? " (forced: " : "", forced ? forced : "",
             forced ? ")" : "");
    /* it runs there now: what is left here goes (Nova's post_live_migration
     * cleanup of an instance on local disks) */
    struct err *e = NULL;
    if (lv_entry_drop(lv, uuid, false, &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "%s gone to %s, its files left here", uuid, dest);
    err_free(e);
out:
    virTypedParamsFree(params, nparams);
    if (have_meta)
        lv_meta_release(&m);
    lv_live_info_release(&dst);
    virDomainFree(dom);
    return rc;
}

int lv_live_abort(struct drv_hv *hv, const char *uuid, struct err **err)
{
    struct lv *lv = lv_of(hv);
    virDomainPtr dom = lv_domain(lv, uuid, false, err);
    if (!dom)
        return -1;
    virDomainJobInfo j;
    int rc = 0;
    if (virDomainGetJobInfo(dom, &j) < 0)
        rc = lv_dom_error(err, "virDomainGetJobInfo", dom);
    else if (j.type == VIR_DOMAIN_JOB_NONE)
        rc = err_set(err, ERR_CONFLICT, "no migration of `%s` under way", uuid);
    else if (virDomainAbortJob(dom) < 0)
        rc = lv_dom_error(err, "virDomainAbortJob", dom);
    virDomainFree(dom);
    if (rc == 0)
        log_info("live migration of %s aborted", uuid);
    return rc;
}

/* ---- the destination, afterwards ---- */

int lv_live_finish(struct drv_hv *hv, const char *uuid, struct err **err)
{
    struct lv *lv = lv_of(hv);
    /* the entry as the domain's metadata says, paths already ours */
    virDomainPtr dom = lv_domain(lv, uuid, true, err);
    if (!dom)
        return -1;
    int active = virDomainIsActive(dom);
    virDomainFree(dom);
    struct lv_meta m;
    if (!lv_entry_meta_get(lv, uuid, &m))
        return err_set(err, ERR_CONFLICT, "domain `%s` came without sculpt's metadata", uuid);
    bool here = strncmp(m.instance_dir, lv->instances_path, strlen(lv->instances_path)) == 0;
    log_info("took %s on (%s, files in %s)", uuid, active == 1 ? "running" : "not running",
             m.instance_dir);
    lv_meta_release(&m);
    if (!here)
        return err_set(err, ERR_INTERNAL, "migrated `%s` keeps its files outside `%s`", uuid,
                       lv->instances_path);
    return 0;
}

int lv_live_rollback(struct drv_hv *hv, const char *uuid, struct err **err)
{
    struct lv *lv = lv_of(hv);
    autoerr struct err *e = NULL;
    virDomainPtr dom = lv_domain(lv, uuid, false, &e);
    if (!dom && err_code_of(e) != ERR_NOT_FOUND) {
        if (err) {
            err_free(*err);
            *err = steal_pointer(&e);
        }
        return -1;
    }
    if (dom) {
        int st = VIR_DOMAIN_NOSTATE;
        /* libvirt tears the incoming domain of a failed (or aborted)
         * migration down itself: it may go while we look */
        bool gone = virDomainGetState(dom, &st, NULL, 0) < 0;
        if (gone)
            virResetLastError();
        virDomainFree(dom);
        if (st == VIR_DOMAIN_RUNNING)
            return err_set(err, ERR_CONFLICT, "`%s` runs here: the migration did not fail", uuid);
        if (!gone) {
            log_info("%s: the guest a failed migration left here (state %d) goes", uuid, st);
            autoerr struct err *de = NULL;
            if (hv->ops->destroy(hv, uuid, false, &de) == 0)
                return 0;
            if (err_code_of(de) != ERR_NOT_FOUND) {
                if (err) {
                    err_free(*err);
                    *err = steal_pointer(&de);
                }
                return -1;
            }
        }
        /* gone meanwhile: its folder still goes */
    }
    autofree char *dir = xasprintf("%s/%s", lv->instances_path, uuid);
    if (lv_volume_remove_dir(lv->instances_path, dir, err) < 0)
        return -1;
    log_info("%s: what its live migration here prepared is gone", uuid);
    return 0;
}

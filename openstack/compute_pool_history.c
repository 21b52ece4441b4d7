/* What the pool manager learnt, kept in PostgreSQL across restarts: each
 * request class with the template of its last cold build, and the build
 * requests the forecaster learns from, written as builds come
 * (compute_presculpt.c); each class's boot time and the planner's idle
 * calibration, saved with the predictor states when they changed.  Read
 * back at start-up: a restarted service makes members of the classes it
 * knew without waiting for a new cold build of each, in pools sized as
 * they would have been without the restart, paused once booted as before. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "common/strmap.h"
#include "db/db.h"
#include "driver/presculpt_pool.h"
#include "openstack/compute_priv.h"

LOG_INIT("openstack.compute_pool_history");

/* Bounds of the start-up read: classes, and (class, interval) counts. */
#define OS_POOL_CLASSES_MAX 4096
#define OS_POOL_ARRIVAL_ROWS_MAX (256 * 1024)
/* Classes forgotten per call of os_compute_pools_trim (each call is made
 * every fleet_save_interval): a bounded pause of the pool manager. */
#define OS_POOL_TRIM_MAX 64

/* What os_compute_pools_save() last queued, so it writes only changes. */
struct os_pool_saved {
    struct strmap *boot_bits; /* class key -> the bits of its boot_ms saved */
    bool calib_saved;
    struct drv_presculpt_calibration calib;
};

void os_compute_pools_saved_free(struct os_pool_saved *s)
{
    if (!s)
        return;
    strmap_free(s->boot_bits);
    free(s);
}

static int64_t double_bits(double v)
{
    int64_t b;
    memcpy(&b, &v, sizeof(b));
    return b;
}

/* The database's class of request r (borrowed strings). */
static void class_of(const struct drv_pool_request *r, char key[DRV_POOL_KEY_MAX],
                     struct db_pool_class *out)
{
    char group[DRV_POOL_KEY_MAX];
    drv_pool_request_keys(r, key, group);
    memset(out, 0, sizeof(*out));
    out->key = key;
    out->flavor_name = (char *)r->flavor;
    out->image_ref = (char *)r->image;
    out->project_id = (char *)r->project;
    out->vcpus = r->vcpus;
    out->mem_mib = r->mem_mib;
    out->root_gb = r->root_gb;
}

static void request_of_class(const struct db_pool_class *k, struct drv_pool_request *r)
{
    memset(r, 0, sizeof(*r));
    r->flavor = k->flavor_name;
    r->image = k->image_ref;
    r->project = k->project_id;
    r->vcpus = k->vcpus;
    r->mem_mib = k->mem_mib;
    r->root_gb = k->root_gb;
}

void os_compute_pools_note_request(struct os_compute *c, const struct drv_pool_request *r,
                                   int64_t t_ms)
{
    if (!c->db)
        return;
    char key[DRV_POOL_KEY_MAX];
    struct db_pool_class k;
    class_of(r, key, &k);
    autoerr struct err *e = NULL;
    if (db_pool_arrival_add(c->db, &k, t_ms, &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "request of class `%s` not recorded for the forecast", key);
}

void os_compute_pools_note_template(struct os_compute *c, const struct drv_pool_request *r,
                                    const struct drv_pool_template *t)
{
    if (!c->db)
        return;
    char key[DRV_POOL_KEY_MAX];
    struct db_pool_class k;
    class_of(r, key, &k);
    k.has_template = true;
    k.tmpl = *t; /* borrowed */
    autoerr struct err *e = NULL;
    if (db_pool_class_learn(c->db, &k, clock_wall_ms(), &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "template of class `%s` not recorded", key);
}

/* Is every file of the template's image still there (the image cache may
 * have been cleaned while the service was down)? */
static bool template_files_present(const struct drv_pool_template *t, const char **missing)
{
    const char *files[] = {t->guest.image.kernel, t->guest.image.initrd,
                           t->guest.image.disk_base};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        if (files[i] && access(files[i], R_OK) != 0) {
            *missing = files[i];
            return false;
        }
    }
    return true;
}

/* The planner continues from the idle calibration a previous run saved;
 * returns the factor the budget is tightened by now. */
static double pools_recall_calibration(struct os_compute *c)
{
    struct drv_presculpt_calibration cal;
    autoerr struct err *e = NULL;
    if (db_presculpt_calibration_get(c->db, &cal, &e) < 0 ||
        drv_pool_mgr_set_calibration(c->pools, &cal, &e) < 0) {
        if (err_code_of(e) != ERR_NOT_FOUND)
            log_err(LOG_LEVEL_WARN, e, "saved idle calibration not used: it starts over at 1");
    }
    drv_pool_mgr_calibration(c->pools, &cal);
    return exp(cal.log_factor);
}

void os_compute_pools_recall(struct os_compute *c)
{
    if (!c->db || !c->pools)
        return;
    int64_t now_ms = clock_wall_ms();
    autoerr struct err *e = NULL;
    autoptr(db_pool_class_list) classes = db_pool_class_list(
        c->db, now_ms - c->cfg->db_pool_class_retention_s * 1000, OS_POOL_CLASSES_MAX, &e);
    if (!classes) {
        log_err(LOG_LEVEL_WARN, e, "pool classes not read back: each waits for a cold build "
                "of it, and the forecast starts over");
        return;
    }
    autoptr(db_pool_arrival_list) arrivals =
        db_pool_arrival_list(c->db, now_ms - c->cfg->db_pool_arrival_retention_s * 1000,
                             c->cfg->presculpt_interval_s, OS_POOL_ARRIVAL_ROWS_MAX, &e);
    if (!arrivals) {
        log_err(LOG_LEVEL_WARN, e, "requests not read back: the forecast starts over");
        err_clear(&e);
    }
    struct strmap *ix = strmap_new();
    for (size_t i = 0; i < classes->n; i++)
        strmap_put(ix, classes->v[i]->key, (int64_t)i);
    /* requests first, in time order, as they came */
    size_t nreq = 0, nrows = 0;
    for (size_t i = 0; arrivals && i < arrivals->n; i++) {
        int64_t k = strmap_get(ix, arrivals->v[i].class_key);
        if (k < 0) /* a class past the read's bound */
            continue;
        struct drv_pool_request r;
        request_of_class(classes->v[k], &r);
        drv_pool_mgr_record(c->pools, &r, arrivals->v[i].t_s * 1000, arrivals->v[i].n);
        nreq += arrivals->v[i].n;
        nrows++;
    }
    size_t ntmpl = 0, nboot = 0;
    for (size_t i = 0; i < classes->n; i++) {
        const struct db_pool_class *k = classes->v[i];
        struct drv_pool_request r;
        request_of_class(k, &r);
        drv_pool_mgr_seen(c->pools, &r, k->last_request_ms);
        if (k->boot_ms > 0) {
            if (drv_pool_mgr_set_boot_time(c->pools, &r, k->boot_ms, &e) < 0) {
                log_err(LOG_LEVEL_WARN, e, "class `%s`: saved boot time not used", k->key);
                err_clear(&e);
            } else {
                nboot++;
            }
        }
        if (!k->has_template)
            continue;
        const char *missing = NULL;
        if (!template_files_present(&k->tmpl, &missing)) {
            log_warn("class `%s`: its image `%s` is not in the cache any more: no member of it "
                     "until its next cold build",
                     k->key, missing);
            continue;
        }
        drv_pool_mgr_learn(c->pools, &r, &k->tmpl);
        ntmpl++;
    }
    strmap_free(ix);
    double factor = pools_recall_calibration(c);
    log_info("pre-sculpting: %zu request class(es) read back, %zu with a template to make "
             "members from, %zu with a boot time; the forecast learnt %zu request(s) over %zu "
             "interval(s) of the last %lld s; idle budget tightened by %.3g",
             classes->n, ntmpl, nboot, nreq, nrows,
             (long long)c->cfg->db_pool_arrival_retention_s, factor);
}

size_t os_compute_pools_trim(struct os_compute *c)
{
    if (!c->pools)
        return 0;
    int64_t keep_s = c->cfg->db_pool_class_retention_s;
    size_t n = drv_pool_mgr_trim(c->pools, clock_wall_ms(), keep_s * 1000, OS_POOL_TRIM_MAX);
    if (n)
        log_info("pre-sculpting: %zu request class(es) nobody asked for in %lld s forgotten",
                 n, (long long)keep_s);
    return n;
}

int os_compute_pools_save(struct os_compute *c, size_t *written, struct err **err)
{
    if (!c->db || !c->pools)
        return 0;
    if (!c->pools_saved) {
        c->pools_saved = xzalloc(sizeof(*c->pools_saved));
        c->pools_saved->boot_bits = strmap_new();
    }
    struct os_pool_saved *s = c->pools_saved;
    struct drv_pool_boot *boots = NULL;
    size_t n = drv_pool_mgr_boot_times(c->pools, &boots), k = 0;
    /* the marks of the classes there are now: a class forgotten since
     * (drv_pool_mgr_trim) loses its mark too */
    struct strmap *marks = strmap_new();
    for (size_t i = 0; i < n; i++) {
        strmap_put(marks, boots[i].key, double_bits(boots[i].boot_ms));
        if (strmap_get(s->boot_bits, boots[i].key) != double_bits(boots[i].boot_ms))
            boots[k++] = boots[i];
    }
    int rc = db_pool_class_boot_times_save(c->db, boots, k, err);
    if (rc == 0) {
        strmap_free(s->boot_bits);
        s->boot_bits = marks;
    } else {
        strmap_free(marks);
    }
    free(boots);
    size_t done = rc == 0 ? k : 0;
    struct drv_presculpt_calibration cal;
    drv_pool_mgr_calibration(c->pools, &cal);
    if (rc == 0 && (!s->calib_saved || memcmp(&cal, &s->calib, sizeof(cal)) != 0)) {
        rc = db_presculpt_calibration_save(c->db, &cal, err);
        if (rc == 0) {
            s->calib = cal;
            s->calib_saved = true;
            done++;
        }
    }
    if (written)
        *written = done;
    return rc;
}

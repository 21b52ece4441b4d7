/* The pool manager's learning, kept across restarts: request classes with
 * their templates and boot times, the build requests per class and second
 * the forecaster learns from (migration 0007), and the planner's
 * idle-budget calibration (0008). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "db/db_priv.h"

#define DB_CLASS_REQUEST_COLS                                                               \
    "key, flavor_name, image_ref, project_id, vcpus, mem_mib, root_gb, last_request_at"

static const struct db_stmt st_class_request = {
    "INSERT INTO pool_classes (" DB_CLASS_REQUEST_COLS ")"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, sculpt_ts($8))"
    " ON CONFLICT (key) DO UPDATE SET flavor_name = excluded.flavor_name,"
    " image_ref = excluded.image_ref, project_id = excluded.project_id,"
    " vcpus = excluded.vcpus, mem_mib = excluded.mem_mib, root_gb = excluded.root_gb,"
    " last_request_at = greatest(pool_classes.last_request_at, excluded.last_request_at)",
    8};
static const struct db_stmt st_arrival_add = {
    "INSERT INTO pool_arrivals (t_s, class_key, n) VALUES ($1, $2, 1)"
    " ON CONFLICT (t_s, class_key) DO UPDATE SET n = pool_arrivals.n + 1",
    2};
static const struct db_stmt st_class_learn = {
    "UPDATE pool_classes SET learnt_at = sculpt_ts($2), guest_flavor_name = $3,"
    " image_kernel = $4, image_initrd = $5, image_cmdline = $6, image_disk_base = $7,"
    " image_disk_format = $8, image_root_gb = $9, nvifs = $10, shape_res = $11,"
    " shape_vcpus_online = $12, shape_vcpus_max = $13, shape_mem_max_mib = $14,"
    " shape_pcpus = $15, shape_numa_node = $16, shape_cpu_weight = $17, ceiling = $18,"
    " vcpus_max = $19, mem_max_mib = $20, mem_floor_mib = $21, guest_agent = $22"
    " WHERE key = $1",
    22};
static const struct db_stmt st_class_list = {
    "SELECT key, flavor_name, image_ref, project_id, vcpus, mem_mib, root_gb,"
    " sculpt_ms(last_request_at), sculpt_ms(learnt_at), guest_flavor_name, image_kernel,"
    " image_initrd, image_cmdline, image_disk_base, image_disk_format, image_root_gb, nvifs,"
    " shape_res, shape_vcpus_online, shape_vcpus_max, shape_mem_max_mib, shape_pcpus,"
    " shape_numa_node, shape_cpu_weight, ceiling, vcpus_max, mem_max_mib, mem_floor_mib,"
    " boot_ms, guest_agent FROM pool_classes WHERE last_request_at >= sculpt_ts($1)"
    " ORDER BY last_request_at DESC, key LIMIT $2",
    2};
static const struct db_stmt st_class_boot = {
    "UPDATE pool_classes SET boot_ms = $2 WHERE key = $1", 2};
static const struct db_stmt st_calib_put = {
    "INSERT INTO presculpt_calibration (id, interval_s, real_idle, allowed_idle, weight,"
    " log_factor) VALUES (1, $1, $2, $3, $4, $5)"
    " ON CONFLICT (id) DO UPDATE SET interval_s = excluded.interval_s,"
    " real_idle = excluded.real_idle, allowed_idle = excluded.allowed_idle,"
    " weight = excluded.weight, log_factor = excluded.log_factor, saved_at = now()",
    5};
static const struct db_stmt st_calib_get = {
    "SELECT interval_s, real_idle, allowed_idle, weight, log_factor"
    " FROM presculpt_calibration WHERE id = 1", 0};
/* the newest bins first, then back in time order */
static const struct db_stmt st_arrival_list = {
    "SELECT class_key, t, n FROM (SELECT class_key, (t_s / $2) * $2 AS t, sum(n) AS n"
    "  FROM pool_arrivals WHERE t_s >= $1 GROUP BY 1, 2 ORDER BY 2 DESC, 1 LIMIT $3) a"
    " ORDER BY t, class_key",
    3};

static int db_class_check(const struct db_pool_class *c, struct err **err)
{
    if (!c->key || !*c->key || strlen(c->key) > 255)
        return err_set(err, ERR_INVALID, "pool class key must have 1 to 255 characters");
    if (c->vcpus < 0 || !(c->mem_mib >= 0 && c->mem_mib < 1e12) || c->root_gb < 0)
        return err_set(err, ERR_INVALID, "pool class `%s`: %d vCPUs, %g MiB, %lld GB",
                       c->key, c->vcpus, c->mem_mib, (long long)c->root_gb);
    return 0;
}

static void db_class_request_params(struct db_params *p, const struct db_pool_class *c,
                                    int64_t t_ms)
{
    db_param_str(p, c->key);
    db_param_str(p, c->flavor_name);
    db_param_str(p, c->image_ref);
    db_param_str(p, c->project_id);
    db_param_int(p, c->vcpus);
    db_param_double(p, c->mem_mib);
    db_param_int(p, c->root_gb);
    db_param_int(p, t_ms);
}

int db_pool_arrival_add(struct db *db, const struct db_pool_class *cls, int64_t t_ms,
                        struct err **err)
{
    if (db_class_check(cls, err) < 0)
        return -1;
    if (t_ms <= 0)
        return err_set(err, ERR_INVALID, "pool class `%s`: request time %lld", cls->key,
                       (long long)t_ms);
    struct db_write *w = db_write_new("pool_arrival_add", 1);
    db_class_request_params(db_write_add(w, &st_class_request, NULL), cls, t_ms);
    struct db_params *p = db_write_add(w, &st_arrival_add, NULL);
    db_param_int(p, t_ms / 1000);
    db_param_str(p, cls->key);
    return db_enqueue(db, db_write_item(w), err);
}

int db_pool_class_learn(struct db *db, const struct db_pool_class *cls, int64_t now_ms,
                        struct err **err)
{
    if (db_class_check(cls, err) < 0)
        return -1;
    const struct drv_hv_guest_spec *g = &cls->tmpl.guest;
    const struct drv_sculpt_guest_spec *e = &cls->tmpl.engine;
    if (db_check_shape("pool class template shape", &g->shape, err) < 0)
        return -1;
    if (g->nvifs > DRV_HV_MAX_VIFS || e->vcpus_max < 0 || !(e->mem_max_mib >= 0) ||
        !(e->mem_floor_mib >= 0))
        return err_set(err, ERR_INVALID, "pool class `%s`: template out of range", cls->key);
    struct db_write *w = db_write_new("pool_class_learn", 1);
    db_class_request_params(db_write_add(w, &st_class_request, NULL), cls, now_ms);
    struct db_params *p = db_write_add(w, &st_class_learn, NULL);
    db_param_str(p, cls->key);
    db_param_int(p, now_ms);
    db_param_str(p, g->flavor_name);
    db_param_str(p, g->image.kernel);
    db_param_str(p, g->image.initrd);
    db_param_str(p, g->image.cmdline);
    db_param_str(p, g->image.disk_base);
    db_param_str(p, g->image.disk_format);
    db_param_int(p, g->image.root_gb);
    db_param_int(p, (long long)g->nvifs);
    db_param_shape(p, &g->shape);
    db_param_res(p, &e->ceiling);
    db_param_int(p, e->vcpus_max);
    db_param_double(p, e->mem_max_mib);
    db_param_double(p, e->mem_floor_mib);
    db_param_bool(p, g->guest_agent);
    return db_enqueue(db, db_write_item(w), err);
}

void db_pool_class_free(struct db_pool_class *c)
{
    if (!c)
        return;
    free(c->key);
    free(c->flavor_name);
    free(c->image_ref);
    free(c->project_id);
    drv_hv_guest_spec_release(&c->tmpl.guest);
    free(c);
}

void db_pool_class_list_free(struct db_pool_class_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        db_pool_class_free(l->v[i]);
    free(l->v);
    free(l);
}

static struct db_pool_class *db_class_from_row(const PGresult *r, int row, struct err **err)
{
    autoptr(db_pool_class) c = xzalloc(sizeof(*c));
    c->key = db_col_str(r, row, 0);
    c->flavor_name = db_col_str(r, row, 1);
    c->image_ref = db_col_str(r, row, 2);
    c->project_id = db_col_str(r, row, 3);
    c->vcpus = (int32_t)db_col_int(r, row, 4);
    c->mem_mib = db_col_double(r, row, 5);
    c->root_gb = db_col_int(r, row, 6);
    c->last_request_ms = db_col_int(r, row, 7);
    c->boot_ms = db_col_double(r, row, 21 + DB_SHAPE_COLS);
    c->has_template = !db_col_is_null(r, row, 8);
    if (!c->has_template)
        return steal_pointer(&c);
    c->learnt_ms = db_col_int(r, row, 8);
    struct drv_hv_guest_spec *g = &c->tmpl.guest;
    g->flavor_name = db_col_str(r, row, 9);
    g->image.kernel = db_col_str(r, row, 10);
    g->image.initrd = db_col_str(r, row, 11);
    g->image.cmdline = db_col_str(r, row, 12);
    g->image.disk_base = db_col_str(r, row, 13);
    g->image.disk_format = db_col_str(r, row, 14);
    g->image.root_gb = db_col_int(r, row, 15);
    long long nvifs = db_col_int(r, row, 16);
    if (nvifs < 0 || nvifs > DRV_HV_MAX_VIFS) {
        err_set(err, ERR_INTERNAL, "pool class `%s`: %lld interfaces", c->key, nvifs);
        return NULL;
    }
    g->nvifs = (size_t)nvifs;
    g->guest_agent = db_col_bool(r, row, 22 + DB_SHAPE_COLS);
    struct drv_sculpt_guest_spec *e = &c->tmpl.engine;
    if (db_col_shape(r, row, 17, &g->shape, NULL, err) < 0 ||
        db_col_res(r, row, 17 + DB_SHAPE_COLS, &e->ceiling, err) < 0)
        return NULL;
    e->vcpus_max = (int32_t)db_col_int(r, row, 18 + DB_SHAPE_COLS);
    e->mem_max_mib = db_col_double(r, row, 19 + DB_SHAPE_COLS);
    e->mem_floor_mib = db_col_double(r, row, 20 + DB_SHAPE_COLS);
    return steal_pointer(&c);
}

struct db_pool_class_list *db_pool_class_list(struct db *db, int64_t since_ms, size_t max,
                                              struct err **err)
{
    autoparams p = DB_PARAMS_INIT;
    db_param_int(&p, since_ms);
    db_param_int(&p, (long long)max);
    PGresult *r = db_session_read(db, &st_class_list, &p, err);
    if (!r)
        return NULL;
    autoptr(db_pool_class_list) l = xzalloc(sizeof(*l));
    bool ok = DB_COLLECT(l, r, db_class_from_row, err);
    PQclear(r);
    return ok ? steal_pointer(&l) : NULL;
}

void db_pool_arrival_list_free(struct db_pool_arrival_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].class_key);
    free(l->v);
    free(l);
}

struct db_pool_arrival_list *db_pool_arrival_list(struct db *db, int64_t since_ms, int64_t bin_s,
                                                  size_t max, struct err **err)
{
    if (bin_s <= 0) {
        err_set(err, ERR_INVALID, "arrival bins of %lld s", (long long)bin_s);
        return NULL;
    }
    autoparams p = DB_PARAMS_INIT;
    db_param_int(&p, since_ms / 1000);
    db_param_int(&p, bin_s);
    db_param_int(&p, (long long)max);
    PGresult *r = db_session_read(db, &st_arrival_list, &p, err);
    if (!r)
        return NULL;
    int rows = PQntuples(r);
    autoptr(db_pool_arrival_list) l = xzalloc(sizeof(*l));
    l->v = xcalloc((size_t)rows + 1, sizeof(*l->v));
    for (int i = 0; i < rows; i++, l->n++) {
        l->v[i].class_key = db_col_str(r, i, 0);
        l->v[i].t_s = db_col_int(r, i, 1);
        long long n = db_col_int(r, i, 2);
        l->v[i].n = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
    }
    PQclear(r);
    return steal_pointer(&l);
}

int db_pool_class_boot_times_save(struct db *db, const struct drv_pool_boot *v, size_t n,
                                  struct err **err)
{
    for (size_t i = 0; i < n; i++)
        if (!v[i].key[0] || !(v[i].boot_ms > 0 && v[i].boot_ms < 1e12))
            return err_set(err, ERR_INVALID, "pool class `%s`: boot time %g ms", v[i].key,
                           v[i].boot_ms);
    if (n == 0)
        return 0;
    struct db_write *w = db_write_new("pool_class_boot_times", n);
    for (size_t i = 0; i < n; i++) {
        struct db_params *p = db_write_add(w, &st_class_boot, NULL);
        db_param_strdup(p, v[i].key);
        db_param_double(p, v[i].boot_ms);
    }
    return db_enqueue(db, db_write_item(w), err);
}

/* The checks of the table's constraints, so a bad value is refused here
 * rather than by the writer, which would drop the whole transaction. */
static int db_calib_check(const struct drv_presculpt_calibration *c, struct err **err)
{
    if (c->interval_s <= 0 || !(c->real_idle >= 0 && c->real_idle < 1e15) ||
        !(c->allowed_idle >= 0 && c->allowed_idle < 1e15) ||
        !(c->weight >= 0 && c->weight <= 1) || !(c->log_factor >= 0 && c->log_factor < 1e3))
        return err_set(err, ERR_INVALID,
                       "idle calibration: interval %lld s, idle %g of %g, weight %g, factor "
                       "log %g",
                       (long long)c->interval_s, c->real_idle, c->allowed_idle, c->weight,
                       c->log_factor);
    return 0;
}

int db_presculpt_calibration_save(struct db *db, const struct drv_presculpt_calibration *c,
                                  struct err **err)
{
    if (db_calib_check(c, err) < 0)
        return -1;
    struct db_write *w = db_write_new("presculpt_calibration", 1);
    struct db_params *p = db_write_add(w, &st_calib_put, NULL);
    db_param_int(p, c->interval_s);
    db_param_double(p, c->real_idle);
    db_param_double(p, c->allowed_idle);
    db_param_double(p, c->weight);
    db_param_double(p, c->log_factor);
    return db_enqueue(db, db_write_item(w), err);
}

int db_presculpt_calibration_get(struct db *db, struct drv_presculpt_calibration *out,
                                 struct err **err)
{
    autoparams p = DB_PARAMS_INIT;
    PGresult *r = db_session_read(db, &st_calib_get, &p, err);
    if (!r)
        return -1;
    int rc = 0;
    if (PQntuples(r) != 1) {
        rc = err_set(err, ERR_NOT_FOUND, "no idle calibration saved");
    } else {
        out->interval_s = db_col_int(r, 0, 0);
        out->real_idle = db_col_double(r, 0, 1);
        out->allowed_idle = db_col_double(r, 0, 2);
        out->weight = db_col_double(r, 0, 3);
        out->log_factor = db_col_double(r, 0, 4);
    }
    PQclear(r);
    return rc;
}

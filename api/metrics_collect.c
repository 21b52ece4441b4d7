#include "api/metrics_collect.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "api/server.h"
#include "common/alloc.h"
#include "common/log.h"
#include "common/metrics.h"
#include "db/db.h"
#include "driver/sculpt.h"

LOG_INIT("api.metrics");

static struct {
    struct metrics_family *guests, *capacity, *ceiling, *allocated, *used, *flavors;
    struct metrics_family *contiguity, *shortage, *decisions, *reshapes, *over_shape;
    struct metrics_family *guest_alloc, *guest_used;
    struct metrics_family *pool_size, *pool_target, *pool_hits, *pool_misses, *pool_expiries;
    struct metrics_family *pool_reclaims, *pool_idle;
} m;

static void api_metrics_register(void)
{
    m.guests = metrics_gauge("sculpt_guests", "Guests the engine holds.", NULL);
    m.capacity = metrics_gauge("sculpt_host_capacity", "Physical capacity for guests.",
                               "resource");
    m.ceiling = metrics_gauge("sculpt_host_ceiling",
                              "Capacity times the overcommit ratio: the most shapes may sum to.",
                              "resource");
    m.allocated = metrics_gauge("sculpt_allocated", "Sum of the guests' shapes.", "resource");
    m.used = metrics_gauge("sculpt_used", "Sum of the guests' last observed use.", "resource");
    m.flavors = metrics_gauge("sculpt_flavors_allocated",
                              "Sum of the guests' flavors (what Nova counts).", "resource");
    m.contiguity = metrics_gauge("sculpt_host_contiguity",
                                 "Mean contiguity of the guests' CPU sets (1: every one a "
                                 "single run in one node and L3).", NULL);
    m.shortage = metrics_gauge("sculpt_host_shortage",
                               "1 when the last step could not fit every guest's floor.", NULL);
    m.decisions = metrics_counter("sculpt_engine_decisions_total",
                                  "Engine decisions by kind.", "kind");
    m.reshapes = metrics_counter("sculpt_reshapes_total", "Shape changes of live guests.", NULL);
    m.over_shape = metrics_gauge("sculpt_guests_over_shape",
                                 "Guests whose last observed use exceeds their shape "
                                 "(violations in progress).", "resource");
    m.guest_alloc = metrics_gauge("sculpt_guest_allocated", "A guest's shape.",
                                  "instance,resource");
    m.guest_used = metrics_gauge("sculpt_guest_used", "A guest's last observed use.",
                                 "instance,resource");
    m.pool_size = metrics_gauge("sculpt_pool_size", "Live members of a pre-sculpted pool.",
                                "pool");
    m.pool_target = metrics_gauge("sculpt_pool_target_size",
                                  "Size the pool manager aims at.", "pool");
    m.pool_hits = metrics_counter("sculpt_pool_hits_total",
                                  "Requests served from a pre-sculpted pool.", "pool");
    m.pool_misses = metrics_counter("sculpt_pool_misses_total",
                                    "Requests of a pool's class built cold.", "pool");
    m.pool_expiries = metrics_counter("sculpt_pool_expiries_total",
                                      "Pool members released unclaimed.", "pool");
    /* per pool, from PostgreSQL (so across restarts); the process's own
     * sculpt_pool_reclaimed_total (openstack/compute_presculpt.c) is the sum
     * since it started */
    m.pool_reclaims = metrics_counter("sculpt_pool_reclaims_total",
                                      "Idle pool members destroyed to make room for a real "
                                      "guest.", "pool");
    m.pool_idle = metrics_gauge("sculpt_pool_idle", "Capacity held by live pool members.",
                                "resource");
}

static void api_set_res(struct metrics_family *f, const struct drv_res *r)
{
    for (int k = 0; k < DRV_RES_LAST; k++)
        metrics_set(f, r->v[k], METRICS_LABELS(drv_res_kind_name((enum drv_res_kind)k)));
}

static void api_collect_engine(struct drv_sculpt *engine)
{
    autoptr(drv_sculpt_snapshot) s = drv_sculpt_snapshot(engine);
    metrics_set(m.guests, (double)s->nguests, NULL);
    api_set_res(m.capacity, &s->capacity);
    api_set_res(m.ceiling, &s->ceiling);
    api_set_res(m.allocated, &s->allocated);
    api_set_res(m.used, &s->used);
    api_set_res(m.flavors, &s->flavors);
    metrics_set(m.contiguity, s->contiguity, NULL);
    metrics_set(m.shortage, s->shortage ? 1 : 0, NULL);
    metrics_set_total(m.reshapes, (double)s->reshapes, NULL);
    const struct {
        const char *kind;
        uint64_t n;
    } d[] = {{"admitted", s->admitted}, {"refused", s->refused}, {"reshape", s->reshapes},
             {"squeeze", s->squeezes},  {"repin", s->repins},     {"skipped", s->skipped}};
    for (size_t i = 0; i < ARRAY_SIZE(d); i++)
        metrics_set_total(m.decisions, (double)d[i].n, METRICS_LABELS(d[i].kind));

    double over[DRV_RES_LAST] = {0};
    metrics_clear(m.guest_alloc);
    metrics_clear(m.guest_used);
    for (size_t i = 0; i < s->nguests; i++) {
        const struct drv_sculpt_guest_view *g = &s->guests[i];
        for (int k = 0; k < DRV_RES_LAST; k++) {
            const char *r = drv_res_kind_name((enum drv_res_kind)k);
            metrics_set(m.guest_alloc, g->shape.res.v[k], METRICS_LABELS(g->uuid, r));
            metrics_set(m.guest_used, g->use.v[k], METRICS_LABELS(g->uuid, r));
            if (g->use.v[k] > g->shape.res.v[k] * (1 + 1e-9))
                over[k] += 1;
        }
    }
    for (int k = 0; k < DRV_RES_LAST; k++)
        metrics_set(m.over_shape, over[k],
                    METRICS_LABELS(drv_res_kind_name((enum drv_res_kind)k)));
}

/* The pools' figures (the database layer reports its own series). */
static void api_collect_pools(struct db *db)
{
    struct db_status st;
    db_status_get(db, &st);
    if (!st.connected)
        return; /* the figures would wait for the database: skip them this time */

    autoerr struct err *err = NULL;
    autoptr(db_pool_list) pools = db_pool_list(db, &err);
    autoptr(db_pool_member_list) members = pools ? db_pool_member_list(db, NULL, true, &err)
                                                 : NULL;
    if (!members) {
        log_err(LOG_LEVEL_WARN, err, "pool figures for /metrics");
        return;
    }
    metrics_clear(m.pool_size);
    metrics_clear(m.pool_target);
    struct drv_res idle = drv_res_zero();
    for (size_t i = 0; i < pools->n; i++) {
        const struct db_pool *p = pools->v[i];
        double size = 0;
        for (size_t k = 0; k < members->n; k++)
            if (members->v[k]->pool_key && strcmp(members->v[k]->pool_key, p->key) == 0)
                size += 1;
        metrics_set(m.pool_size, size, METRICS_LABELS(p->key));
        metrics_set(m.pool_target, p->target_size, METRICS_LABELS(p->key));
        metrics_set_total(m.pool_hits, (double)p->hits, METRICS_LABELS(p->key));
        metrics_set_total(m.pool_misses, (double)p->misses, METRICS_LABELS(p->key));
        metrics_set_total(m.pool_expiries, (double)p->expiries, METRICS_LABELS(p->key));
        metrics_set_total(m.pool_reclaims, (double)p->reclaims, METRICS_LABELS(p->key));
    }
    for (size_t k = 0; k < members->n; k++)
        idle = drv_res_add(idle, members->v[k]->shape.res);
    api_set_res(m.pool_idle, &idle);
}

static void api_metrics_collect(void *ctx)
{
    const struct api_deps *deps = ctx;
    if (deps->engine)
        api_collect_engine(deps->engine);
    if (deps->db)
        api_collect_pools(deps->db);
}

int api_metrics_collect_start(const struct api_deps *deps)
{
    api_metrics_register();
    return metrics_collector_add(api_metrics_collect, (void *)deps);
}

void api_metrics_collect_stop(int id)
{
    metrics_collector_remove(id);
}

/* The pool manager (presculpt_pool.h): members made, claimed, handed over,
 * expired and reclaimed; the planner decides how many. */
#include "driver/presculpt_pool.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/strmap.h"
#include "common/uuid.h"

LOG_INIT("driver.presculpt_pool");

/* Members are squeezed, and reclaimed, before any guest. */
#define PM_PRIORITY (-1000) /* the engine's lowest */
/* A round makes at most this many members (each is a spawn). */
#define PM_MAKE_PER_ROUND 8
#define PM_MAX_LIVE 4096
/* Arrivals kept to teach a planner of a new interval (a ring). */
#define PM_ARRIVALS_KEPT 16384

static const char *const member_state_names[DRV_MEMBER_LAST] = {
    [DRV_MEMBER_PREPARING] = "preparing",     [DRV_MEMBER_BOOTING] = "booting",
    [DRV_MEMBER_PAUSING] = "pausing",         [DRV_MEMBER_PAUSED] = "paused",
    [DRV_MEMBER_CLAIMED] = "claimed",         [DRV_MEMBER_HANDED_OVER] = "handed_over",
    [DRV_MEMBER_RELEASED] = "released",
};

const char *drv_member_state_name(enum drv_member_state s)
{
    return (unsigned)s < DRV_MEMBER_LAST ? member_state_names[s] : "?";
}

void drv_pool_request_keys(const struct drv_pool_request *r, char cls[DRV_POOL_KEY_MAX],
                           char group[DRV_POOL_KEY_MAX])
{
    const char *img = r->image && *r->image ? r->image : "-";
    snprintf(cls, DRV_POOL_KEY_MAX, "%s:%s:%s", r->flavor && *r->flavor ? r->flavor : "-", img,
             r->project && *r->project ? r->project : "-");
    snprintf(group, DRV_POOL_KEY_MAX, "vcpu=%d,disk=%lld:%s", r->vcpus, (long long)r->root_gb,
             img);
}

void drv_pool_request_family_key(const struct drv_pool_request *r, char family[DRV_POOL_KEY_MAX])
{
    snprintf(family, DRV_POOL_KEY_MAX, "disk=%lld:%s", (long long)r->root_gb,
             r->image && *r->image ? r->image : "-");
}

/* A request class the manager has seen. */
struct pm_class {
    char key[DRV_POOL_KEY_MAX];
    char group[DRV_POOL_KEY_MAX];
    char family[DRV_POOL_KEY_MAX];
    int idx;                            /* the planner's class index */
    struct drv_res size;                /* what one guest of it requests */
    double boot_ms;                     /* learnt boot time (EWMA); 0: none yet */
    int64_t last_request_ms;            /* its latest request; 0: none known yet */
    bool has_tmpl;
    struct drv_pool_template tmpl;
};

/* A member to make, decided under the lock, made outside it. */
struct pm_job {
    struct drv_pool_member m;
    struct drv_pool_template tmpl;
    struct drv_res size;
    struct drv_res max;  /* a family member: its domain's maxima (the family's largest) */
    bool wide;           /* a family member, started at `size` */
    bool placed; /* the engine took it (a refusal is no member) */
};

/* What the manager keeps of a pool besides its view. */
struct pm_pool {
    struct drv_pool_view sent; /* the counters as the count hook last had them */
    bool refused;              /* the engine refused its last member */
    bool recorded;             /* the pool hook had it: its counters may move at once */
};

struct drv_pool_mgr {
    pthread_mutex_t lock;
    struct drv_presculpt_params p;
    struct drv_presculpt *ps;
    struct drv_hv *hv;
    struct drv_sculpt *engine;
    struct drv_pool_hooks hooks;
    struct pm_class *cls;
    size_t ncls, cls_cap;
    struct strmap *cls_ix;
    struct drv_pool_view *pools;        /* per pool key: plan and counters */
    struct pm_pool *priv;               /* per pool, beside `pools` */
    size_t npools, pool_cap;
    struct strmap *pool_ix;
    struct drv_pool_member *mem;        /* live: preparing, paused, claimed */
    size_t nmem, mem_cap;
    int64_t last_ms;
    double factor;
    bool bound;
    /* the round thread */
    pthread_t thread;
    pthread_cond_t cond;
    bool running, stopping;
    bool round_now;                     /* drv_pool_params_round_now(): a round at once */
    /* the latest arrivals, oldest first from `arr_next` once full */
    struct pm_arrival {
        int32_t cls;                    /* index in cls[] */
        uint32_t n;                     /* requests at t_s */
        int64_t t_s;
    } *arr;
    size_t narr, arr_next;
};

struct drv_pool_mgr *drv_pool_mgr_new(const struct drv_presculpt_params *p, struct drv_hv *hv,
                                      struct drv_sculpt *engine,
                                      const struct drv_pool_hooks *hooks, struct err **err)
{
    if (!hv || !engine) {
        err_set(err, ERR_INVALID, "the pool manager needs a backend and an engine");
        return NULL;
    }
    if (p->interval_s <= 0 || p->member_ttl_s <= 0) {
        err_set(err, ERR_INVALID, "pool interval %lld s and member lifetime %lld s",
                (long long)p->interval_s, (long long)p->member_ttl_s);
        return NULL;
    }
    struct drv_pool_mgr *m = xzalloc(sizeof(*m));
    pthread_mutex_init(&m->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->cond, &ca);
    pthread_condattr_destroy(&ca);
    m->p = *p;
    m->ps = drv_presculpt_new(p);
    m->hv = hv;
    m->engine = engine;
    if (hooks)
        m->hooks = *hooks;
    m->cls_ix = strmap_new();
    m->pool_ix = strmap_new();
    m->factor = 1;
    return m;
}

static void pm_template_release(struct drv_pool_template *t)
{
    drv_hv_guest_spec_release(&t->guest);
    memset(t, 0, sizeof(*t));
}

void drv_pool_mgr_free(struct drv_pool_mgr *m)
{
    if (!m)
        return;
    drv_pool_mgr_stop(m);
    for (size_t i = 0; i < m->ncls; i++)
        if (m->cls[i].has_tmpl)
            pm_template_release(&m->cls[i].tmpl);
    free(m->cls);
    free(m->arr);
    free(m->pools);
    free(m->priv);
    free(m->mem);
    strmap_free(m->cls_ix);
    strmap_free(m->pool_ix);
    drv_presculpt_free(m->ps);
    pthread_cond_destroy(&m->cond);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

bool drv_pool_params_round_now(const struct drv_presculpt_params *was,
                               const struct drv_presculpt_params *now)
{
    return now->enabled != was->enabled || now->interval_s != was->interval_s ||
           now->member_ttl_s < was->member_ttl_s || now->max_share < was->max_share ||
           now->idle_budget < was->idle_budget;
}

int drv_pool_mgr_set_params(struct drv_pool_mgr *m, const struct drv_presculpt_params *in,
                            struct err **err)
{
    const struct drv_presculpt_params *p = in;
    if (p->interval_s <= 0 || p->member_ttl_s <= 0)
        return err_set(err, ERR_INVALID, "pool interval %lld s and member lifetime %lld s",
                       (long long)p->interval_s, (long long)p->member_ttl_s);
    pthread_mutex_lock(&m->lock);
    int rc = 0;
    if (p->interval_s != m->p.interval_s) {
        /* the history is binned by the interval: a planner of the new one
         * starts it over, with the classes known (their templates stay) */
        struct drv_presculpt *ps = drv_presculpt_new(p);
        int *idx = xcalloc(m->ncls + 1, sizeof(*idx));
        for (size_t i = 0; i < m->ncls; i++)
            idx[i] = drv_presculpt_class_in(ps, m->cls[i].key, m->cls[i].group,
                                            m->cls[i].family, &m->cls[i].size);
        rc = drv_presculpt_set_params(ps, p, err);
        if (rc == 0) {
            for (size_t i = 0; i < m->ncls; i++)
                m->cls[i].idx = idx[i];
            /* what it can learn again: the arrivals kept, in their order */
            size_t start = m->narr < PM_ARRIVALS_KEPT ? 0 : m->arr_next;
            for (size_t k = 0; k < m->narr; k++) {
                const struct pm_arrival *a = &m->arr[(start + k) % PM_ARRIVALS_KEPT];
                drv_presculpt_record(ps, idx[a->cls], a->t_s, a->n);
            }
            drv_presculpt_free(m->ps);
            m->ps = ps;
            log_warn("pre-sculpting: interval %lld s (was %lld s): the forecast starts over "
                     "from the %zu arrivals kept",
                     (long long)p->interval_s, (long long)m->p.interval_s, m->narr);
        } else {
            drv_presculpt_free(ps);
        }
        free(idx);
    } else {
        rc = drv_presculpt_set_params(m->ps, p, err);
    }
    if (rc == 0) {
        m->round_now |= drv_pool_params_round_now(&m->p, p);
        if (p->enabled != m->p.enabled)
            log_info(p->enabled ? "pre-sculpting on: members are made from this round on"
                                : "pre-sculpting off: members are destroyed by a round at once");
        /* a new lifetime holds for the members there are too (their rows
         * get it with their next change) */
        for (size_t i = 0; p->member_ttl_s != m->p.member_ttl_s && i < m->nmem; i++)
            m->mem[i].expires_ms = m->mem[i].created_ms + p->member_ttl_s * 1000;
        m->p = *p;
        log_info("pre-sculpting: a round every %lld s, idle budget %.3g, host share %.3g, "
                 "member lifetime %lld s, cold start %.3g s priced %.3g, boot sign `%s` "
                 "awaited %lld s at most",
                 (long long)p->interval_s, p->idle_budget, p->max_share,
                 (long long)p->member_ttl_s, p->cold_start_s, p->cold_start_price,
                 p->boot_marker, (long long)p->boot_wait_max_s);
    }
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

/* ---- tables (under the lock) ---- */

static struct pm_class *pm_class_get(struct drv_pool_mgr *m, const struct drv_pool_request *r)
{
    char key[DRV_POOL_KEY_MAX], group[DRV_POOL_KEY_MAX], family[DRV_POOL_KEY_MAX];
    drv_pool_request_keys(r, key, group);
    drv_pool_request_family_key(r, family);
    int64_t ix = strmap_get(m->cls_ix, key);
    if (ix >= 0)
        return &m->cls[ix];
    if (m->ncls == m->cls_cap) {
        m->cls_cap = m->cls_cap ? 2 * m->cls_cap : 16;
        m->cls = xreallocarray(m->cls, m->cls_cap, sizeof(*m->cls));
    }
    struct pm_class *c = &m->cls[m->ncls];
    memset(c, 0, sizeof(*c));
    snprintf(c->key, sizeof(c->key), "%s", key);
    snprintf(c->group, sizeof(c->group), "%s", group);
    snprintf(c->family, sizeof(c->family), "%s", family);
    c->size = drv_res_zero();
    c->size.v[DRV_RES_VCPU] = r->vcpus;
    c->size.v[DRV_RES_MEM_MIB] = r->mem_mib;
    c->idx = drv_presculpt_class_in(m->ps, key, group, family, &c->size);
    strmap_put(m->cls_ix, key, (int64_t)m->ncls);
    return &m->cls[m->ncls++];
}

static struct drv_pool_view *pm_pool_get(struct drv_pool_mgr *m, const char *key, bool group)
{
    int64_t ix = strmap_get(m->pool_ix, key);
    if (ix >= 0)
        return &m->pools[ix];
    if (m->npools == m->pool_cap) {
        m->pool_cap = m->pool_cap ? 2 * m->pool_cap : 16;
        m->pools = xreallocarray(m->pools, m->pool_cap, sizeof(*m->pools));
        m->priv = xreallocarray(m->priv, m->pool_cap, sizeof(*m->priv));
    }
    memset(&m->priv[m->npools], 0, sizeof(m->priv[m->npools]));
    struct drv_pool_view *v = &m->pools[m->npools];
    memset(v, 0, sizeof(*v));
    snprintf(v->key, sizeof(v->key), "%s", key);
    v->group = group;
    strmap_put(m->pool_ix, key, (int64_t)m->npools);
    return &m->pools[m->npools++];
}

/* Set whether the engine refused pool `key`'s last member; the old value. */
static bool pm_refused(struct drv_pool_mgr *m, const char *key, bool refused)
{
    pthread_mutex_lock(&m->lock);
    int64_t ix = strmap_get(m->pool_ix, key);
    bool was = false;
    if (ix >= 0) {
        was = m->priv[ix].refused;
        m->priv[ix].refused = refused;
    }
    pthread_mutex_unlock(&m->lock);
    return was;
}

static struct drv_pool_member *pm_member_find(struct drv_pool_mgr *m, const char *uuid)
{
    for (size_t i = 0; i < m->nmem; i++)
        if (strcasecmp(m->mem[i].uuid, uuid) == 0)
            return &m->mem[i];
    return NULL;
}

static struct drv_pool_member *pm_member_add(struct drv_pool_mgr *m,
                                             const struct drv_pool_member *src)
{
    if (m->nmem == m->mem_cap) {
        m->mem_cap = m->mem_cap ? 2 * m->mem_cap : 16;
        m->mem = xreallocarray(m->mem, m->mem_cap, sizeof(*m->mem));
    }
    m->mem[m->nmem] = *src;
    return &m->mem[m->nmem++];
}

/* Take member i out of the live table into *out. */
static void pm_member_take(struct drv_pool_mgr *m, size_t i, struct drv_pool_member *out)
{
    *out = m->mem[i];
    m->mem[i] = m->mem[--m->nmem];
}

/* A member nobody is using or changing: it may expire, be surplus or be
 * reclaimed. */
static bool pm_idle(const struct drv_pool_member *mb)
{
    return mb->state == DRV_MEMBER_PAUSED || mb->state == DRV_MEMBER_BOOTING;
}

/* The engine's reclaimable flag follows pm_idle() (lock held, the engine's
 * taken inside it as a claim does): a member being placed, spawned or
 * paused cannot be given up for a real guest meanwhile, so its room is
 * not offered as reclaimable (Placement's inventory counts it as used) --
 * a build then is never admitted by Placement and refused by the engine
 * for room it could not reclaim. */
static void pm_reclaimable(struct drv_pool_mgr *m, const struct drv_pool_member *mb)
{
    autoerr struct err *e = NULL;
    if (drv_sculpt_set_reclaimable(m->engine, mb->uuid, pm_idle(mb), &e) < 0 &&
        err_code_of(e) != ERR_NOT_FOUND)
        log_err(LOG_LEVEL_WARN, e, "member %s: reclaimable flag not set", mb->uuid);
}

/* ---- effects (without the lock) ---- */

static void pm_hook_member(struct drv_pool_mgr *m, const struct drv_pool_member *mb)
{
    if (m->hooks.member)
        m->hooks.member(mb, m->hooks.opaque);
}

static void pm_hook_count(struct drv_pool_mgr *m, const struct drv_pool_view *gained)
{
    if (m->hooks.count)
        m->hooks.count(gained->key, gained, m->hooks.opaque);
}

/* Pool k's counters gained since the count hook last had them, into
 * *gained (its key too), now taken as had; whether any moved (lock held). */
static bool pm_counts_take(struct drv_pool_mgr *m, size_t k, struct drv_pool_view *gained)
{
    const struct drv_pool_view *now = &m->pools[k], *sent = &m->priv[k].sent;
    memset(gained, 0, sizeof(*gained));
    snprintf(gained->key, sizeof(gained->key), "%s", now->key);
    gained->hits = now->hits - sent->hits;
    gained->misses = now->misses - sent->misses;
    gained->expiries = now->expiries - sent->expiries;
    gained->reclaims = now->reclaims - sent->reclaims;
    m->priv[k].sent = *now;
    return gained->hits || gained->misses || gained->expiries || gained->reclaims;
}

/* Destroy a member's guest and let the engine forget it; the member is
 * released with `why`. */
static void pm_destroy(struct drv_pool_mgr *m, struct drv_pool_member *mb, const char *why,
                       int64_t now_ms)
{
    autoerr struct err *e = NULL;
    if (drv_hv_destroy(m->hv, mb->uuid, false, &e) < 0 && err_code_of(e) != ERR_NOT_FOUND)
        log_err(LOG_LEVEL_WARN, e, "member %s of `%s` not destroyed", mb->uuid, mb->pool);
    err_clear(&e);
    if (drv_sculpt_remove(m->engine, mb->uuid, &e) < 0 && err_code_of(e) != ERR_NOT_FOUND)
        log_err(LOG_LEVEL_WARN, e, "member %s not forgotten by the engine", mb->uuid);
    mb->state = DRV_MEMBER_RELEASED;
    if (why != mb->reason)
        snprintf(mb->reason, sizeof(mb->reason), "%s", why);
    log_info("pool `%s`: member %s released (%s) after %.0f s, confidence was %.2f", mb->pool,
             mb->uuid, why, (double)(now_ms - mb->created_ms) / 1000, mb->confidence);
    pm_hook_member(m, mb);
}

/* A flat blueprint at the member's shape: it needs exactly that, no more. */
static struct drv_blueprint *pm_blueprint(const struct drv_pool_mgr *m, struct drv_res need,
                                          int64_t now_s, struct err **err)
{
    int32_t step = 60, n = (int32_t)(m->p.member_ttl_s / step);
    if (n < 1)
        n = 1;
    struct drv_blueprint *bp = drv_blueprint_new(n, step, now_s, err);
    if (!bp)
        return NULL;
    drv_blueprint_fill_flat(bp, need);
    bp->confidence = 1;
    for (int k = 0; k < DRV_RES_LAST; k++)
        bp->res_confidence[k] = 1;
    snprintf(bp->model, sizeof(bp->model), "presculpt-member");
    return bp;
}

/* Place and spawn one member (it boots; drv_pool_mgr_watch pauses it).
 * 0, or -1 with *err (nothing left). */
static int pm_make(struct drv_pool_mgr *m, struct pm_job *j, struct err **err)
{
    struct drv_pool_member *mb = &j->m;
    int64_t now_s = mb->created_ms / 1000;
    struct drv_sculpt_guest_spec es = j->tmpl.engine;
    snprintf(es.uuid, sizeof(es.uuid), "%s", mb->uuid);
    es.priority = PM_PRIORITY;
    es.reclaimable = false; /* until it runs (pm_reclaimable) */
    struct drv_res need = j->tmpl.guest.shape.res;
    if (j->wide) {
        /* a family member reserves its base shape, and is defined with the
         * family's largest: the hand-over grows it live */
        es.ceiling.v[DRV_RES_VCPU] = j->size.v[DRV_RES_VCPU];
        es.ceiling.v[DRV_RES_MEM_MIB] = j->size.v[DRV_RES_MEM_MIB];
        need.v[DRV_RES_VCPU] = j->size.v[DRV_RES_VCPU];
        need.v[DRV_RES_MEM_MIB] = j->size.v[DRV_RES_MEM_MIB];
        int32_t vmax = (int32_t)ceil(j->max.v[DRV_RES_VCPU] - 1e-9);
        if (es.vcpus_max < vmax)
            es.vcpus_max = vmax;
        if (es.mem_max_mib < j->max.v[DRV_RES_MEM_MIB])
            es.mem_max_mib = j->max.v[DRV_RES_MEM_MIB];
    }
    /* a group member reserves the group's largest memory */
    if (j->size.v[DRV_RES_MEM_MIB] > es.ceiling.v[DRV_RES_MEM_MIB])
        es.ceiling.v[DRV_RES_MEM_MIB] = j->size.v[DRV_RES_MEM_MIB];
    if (es.mem_max_mib < es.ceiling.v[DRV_RES_MEM_MIB])
        es.mem_max_mib = es.ceiling.v[DRV_RES_MEM_MIB];
    if (j->size.v[DRV_RES_MEM_MIB] > need.v[DRV_RES_MEM_MIB])
        need.v[DRV_RES_MEM_MIB] = j->size.v[DRV_RES_MEM_MIB];
    need = drv_res_min(need, es.ceiling);
    autoptr(drv_blueprint) bp = pm_blueprint(m, need, now_s, err);
    if (!bp)
        return -1;
    struct drv_sculpt_refusal why;
    if (drv_sculpt_place(m->engine, &es, bp, now_s, &mb->shape, &why, err) < 0)
        return err_wrap(err, "member of `%s` not placed", mb->pool);
    j->placed = true;
    pm_hook_member(m, mb);

    struct drv_hv_guest_spec g;
    drv_hv_guest_spec_copy(&g, &j->tmpl.guest);
    snprintf(g.uuid, sizeof(g.uuid), "%s", mb->uuid);
    free(g.name);
    g.name = xstrdup(mb->domain);
    free(g.display_name);
    g.display_name = xasprintf("pool member of %s", mb->pool);
    free(g.project_id);
    g.project_id = NULL;
    free(g.user_id);
    g.user_id = NULL;
    g.shape = mb->shape;
    /* an empty drive the hand-over puts the instance's config drive in;
     * never another instance's */
    drv_hv_config_drive_free(g.config_drive);
    g.config_drive = NULL;
    g.cdrom_tray = true;
    if (g.shape.mem_max_mib < es.mem_max_mib)
        g.shape.mem_max_mib = es.mem_max_mib;
    mb->shape = g.shape;
    for (size_t i = 0; i < g.nvifs; i++) { /* each member gets its own */
        g.vifs[i].mac[0] = '\0';
        g.vifs[i].tap[0] = '\0';
        free(g.vifs[i].port_id);
        g.vifs[i].port_id = NULL;
    }
    int rc = drv_hv_spawn(m->hv, &g, err);
    drv_hv_guest_spec_release(&g);
    if (rc < 0) {
        autoerr struct err *e = NULL;
        drv_sculpt_remove(m->engine, mb->uuid, &e);
        return err_wrap(err, "member of `%s`", mb->pool);
    }
    return 0;
}

/* ---- claims and hand-overs ---- */

/* Keep an arrival for a planner of another interval (under the lock). */
static void pm_arrival_keep(struct drv_pool_mgr *m, int32_t cls, int64_t t_s, uint32_t n)
{
    if (!m->arr)
        m->arr = xcalloc(PM_ARRIVALS_KEPT, sizeof(*m->arr));
    m->arr[m->arr_next] = (struct pm_arrival){cls, n, t_s};
    m->arr_next = (m->arr_next + 1) % PM_ARRIVALS_KEPT;
    if (m->narr < PM_ARRIVALS_KEPT)
        m->narr++;
}

void drv_pool_mgr_learn(struct drv_pool_mgr *m, const struct drv_pool_request *r,
                        const struct drv_pool_template *t)
{
    pthread_mutex_lock(&m->lock);
    struct pm_class *c = pm_class_get(m, r);
    if (c->has_tmpl)
        pm_template_release(&c->tmpl);
    drv_hv_guest_spec_copy(&c->tmpl.guest, &t->guest);
    c->tmpl.engine = t->engine;
    c->has_tmpl = true;
    pthread_mutex_unlock(&m->lock);
}

void drv_pool_mgr_record(struct drv_pool_mgr *m, const struct drv_pool_request *r, int64_t t_ms,
                         uint32_t count)
{
    if (count == 0)
        return;
    pthread_mutex_lock(&m->lock);
    struct pm_class *c = pm_class_get(m, r);
    if (t_ms > c->last_request_ms)
        c->last_request_ms = t_ms;
    drv_presculpt_record(m->ps, c->idx, t_ms / 1000, count);
    pm_arrival_keep(m, (int32_t)(c - m->cls), t_ms / 1000, count);
    pthread_mutex_unlock(&m->lock);
}

size_t drv_pool_mgr_boot_times(struct drv_pool_mgr *m, struct drv_pool_boot **out)
{
    pthread_mutex_lock(&m->lock);
    struct drv_pool_boot *v = xcalloc(m->ncls + 1, sizeof(*v));
    size_t n = 0;
    for (size_t i = 0; i < m->ncls; i++) {
        if (!(m->cls[i].boot_ms > 0))
            continue;
        snprintf(v[n].key, sizeof(v[n].key), "%s", m->cls[i].key);
        v[n++].boot_ms = m->cls[i].boot_ms;
    }
    pthread_mutex_unlock(&m->lock);
    *out = v;
    return n;
}

int drv_pool_mgr_set_boot_time(struct drv_pool_mgr *m, const struct drv_pool_request *r,
                               double boot_ms, struct err **err)
{
    if (!(boot_ms > 0 && boot_ms <= 86400e3))
        return err_set(err, ERR_INVALID, "boot time %g ms", boot_ms);
    pthread_mutex_lock(&m->lock);
    pm_class_get(m, r)->boot_ms = boot_ms;
    pthread_mutex_unlock(&m->lock);
    return 0;
}

void drv_pool_mgr_calibration(struct drv_pool_mgr *m, struct drv_presculpt_calibration *out)
{
    pthread_mutex_lock(&m->lock);
    drv_presculpt_calibration_get(m->ps, out);
    pthread_mutex_unlock(&m->lock);
}

int drv_pool_mgr_set_calibration(struct drv_pool_mgr *m,
                                 const struct drv_presculpt_calibration *in, struct err **err)
{
    pthread_mutex_lock(&m->lock);
    int rc = drv_presculpt_calibration_set(m->ps, in, err);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

void drv_pool_mgr_seen(struct drv_pool_mgr *m, const struct drv_pool_request *r, int64_t t_ms)
{
    pthread_mutex_lock(&m->lock);
    struct pm_class *c = pm_class_get(m, r);
    if (t_ms > c->last_request_ms)
        c->last_request_ms = t_ms;
    pthread_mutex_unlock(&m->lock);
}

static int pm_slot(struct drv_pool_mgr *m, const char *key);

static bool pm_class_has_member(const struct drv_pool_mgr *m, const char *key)
{
    for (size_t i = 0; i < m->nmem; i++)
        if (strcmp(m->mem[i].class_key, key) == 0)
            return true;
    return false;
}

/* The classes gone[i] (m->cls) and drop[] (the planner's) go; the
 * arrivals kept of them, and the views of pools nothing plans any more
 * and no member is in (lock held). */
static void pm_forget_classes(struct drv_pool_mgr *m, const bool *gone, const bool *drop)
{
    int *remap = xcalloc(drv_presculpt_nclasses(m->ps) + 1, sizeof(*remap));
    drv_presculpt_drop_classes(m->ps, drop, remap);
    int *pmap = xcalloc(m->ncls + 1, sizeof(*pmap));
    strmap_free(m->cls_ix);
    m->cls_ix = strmap_new();
    size_t k = 0;
    for (size_t i = 0; i < m->ncls; i++) {
        struct pm_class *c = &m->cls[i];
        if (gone[i]) {
            if (c->has_tmpl)
                pm_template_release(&c->tmpl);
            pmap[i] = -1;
            continue;
        }
        pmap[i] = (int)k;
        c->idx = remap[c->idx];
        strmap_put(m->cls_ix, c->key, (int64_t)k);
        m->cls[k++] = *c;
    }
    m->ncls = k;
    /* the arrivals kept, oldest first, without the classes gone */
    if (m->narr) {
        struct pm_arrival *arr = xcalloc(PM_ARRIVALS_KEPT, sizeof(*arr));
        size_t start = m->narr < PM_ARRIVALS_KEPT ? 0 : m->arr_next, na = 0;
        for (size_t j = 0; j < m->narr; j++) {
            struct pm_arrival a = m->arr[(start + j) % PM_ARRIVALS_KEPT];
            if (pmap[a.cls] < 0)
                continue;
            a.cls = pmap[a.cls];
            arr[na++] = a;
        }
        free(m->arr);
        m->arr = arr;
        m->narr = na;
        m->arr_next = na % PM_ARRIVALS_KEPT;
    }
    size_t nv = 0;
    strmap_free(m->pool_ix);
    m->pool_ix = strmap_new();
    for (size_t v = 0; v < m->npools; v++) {
        bool has = false;
        for (size_t i = 0; i < m->nmem && !has; i++)
            has = strcmp(m->mem[i].pool, m->pools[v].key) == 0;
        if (!has && pm_slot(m, m->pools[v].key) < 0)
            continue;
        m->pools[nv] = m->pools[v];
        m->priv[nv] = m->priv[v];
        strmap_put(m->pool_ix, m->pools[nv].key, (int64_t)nv);
        nv++;
    }
    m->npools = nv;
    free(pmap);
    free(remap);
}

size_t drv_pool_mgr_trim(struct drv_pool_mgr *m, int64_t now_ms, int64_t keep_ms, size_t max)
{
    pthread_mutex_lock(&m->lock);
    bool *gone = xcalloc(m->ncls + 1, sizeof(*gone));
    bool *drop = xcalloc(drv_presculpt_nclasses(m->ps) + 1, sizeof(*drop));
    size_t n = 0;
    for (size_t i = 0; i < m->ncls && n < max; i++) {
        struct pm_class *c = &m->cls[i];
        if (!c->last_request_ms) /* from before the time was known: counted from now */
            c->last_request_ms = now_ms;
        if (c->last_request_ms >= now_ms - keep_ms || pm_class_has_member(m, c->key))
            continue;
        gone[i] = true;
        drop[c->idx] = true;
        n++;
    }
    if (n)
        pm_forget_classes(m, gone, drop);
    pthread_mutex_unlock(&m->lock);
    free(gone);
    free(drop);
    return n;
}

/* The member a request of class c takes, or NULL: of the class's pool,
 * else its group's, else its family's (a member defined with room
 * enough); a paused member, the oldest (the nearest to its expiry) first;
 * else the one booting longest: a guest still booting is nearer to
 * running than a cold build.  Members marked in `skip` (may be NULL) are
 * passed over.  Lock held. */
static struct drv_pool_member *pm_claim_find(struct drv_pool_mgr *m, const struct pm_class *c,
                                             const struct drv_pool_request *r, const bool *skip)
{
    struct drv_pool_member *found = NULL;
    for (int pass = 0; pass < 6 && !found; pass++) {
        const char *want = pass % 3 == 0 ? c->key : pass % 3 == 1 ? c->group : c->family;
        enum drv_member_state st = pass < 3 ? DRV_MEMBER_PAUSED : DRV_MEMBER_BOOTING;
        for (size_t i = 0; i < m->nmem; i++) {
            const struct drv_pool_member *x = &m->mem[i];
            if ((skip && skip[i]) || x->state != st || strcmp(x->pool, want) != 0 ||
                x->guest_agent != r->guest_agent)
                continue;
            if (pass % 3 == 2 &&
                (x->shape.vcpus_max < r->vcpus || x->shape.mem_max_mib < r->mem_mib))
                continue;
            int64_t age = st == DRV_MEMBER_PAUSED ? x->created_ms : x->started_ms;
            if (!found || age < (st == DRV_MEMBER_PAUSED ? found->created_ms : found->started_ms))
                found = &m->mem[i];
        }
    }
    return found;
}

int drv_pool_mgr_claim(struct drv_pool_mgr *m, const struct drv_pool_request *r, int64_t now_ms,
                       struct drv_pool_member *out)
{
    pthread_mutex_lock(&m->lock);
    struct pm_class *c = pm_class_get(m, r);
    if (now_ms > c->last_request_ms)
        c->last_request_ms = now_ms;
    drv_presculpt_record(m->ps, c->idx, now_ms / 1000, 1);
    pm_arrival_keep(m, (int32_t)(c - m->cls), now_ms / 1000, 1);
    if (!m->p.enabled) { /* learns the arrival, takes nothing, counts no miss */
        pthread_mutex_unlock(&m->lock);
        return 0;
    }
    struct drv_pool_member *found = NULL;
    bool *gone = NULL; /* members the engine gave up for a real guest */
    for (;;) {
        found = pm_claim_find(m, c, r, gone);
        autoerr struct err *e = NULL;
        /* claimed, a member is no longer reclaimable: from now on its room
         * is the request's */
        if (!found || drv_sculpt_set_reclaimable(m->engine, found->uuid, false, &e) == 0)
            break;
        if (!gone)
            gone = xcalloc(m->nmem, sizeof(*gone));
        gone[found - m->mem] = true;
    }
    free(gone);
    char pool[DRV_POOL_KEY_MAX];
    snprintf(pool, sizeof(pool), "%s", found ? found->pool : c->key);
    struct drv_pool_view *v = pm_pool_get(m, pool, found && strcmp(pool, c->key) != 0);
    if (found) {
        found->booting = found->state == DRV_MEMBER_BOOTING;
        found->state = DRV_MEMBER_CLAIMED;
        *out = *found;
        v->hits++;
        if (found->booting)
            v->booting_hits++;
    } else {
        v->misses++;
    }
    pthread_mutex_unlock(&m->lock);
    if (found && out->booting)
        log_info("request of `%s` takes member %s of pool `%s` while its guest still boots "
                 "(started %.1f s ago): none was paused",
                 c->key, out->uuid, pool, (double)(now_ms - out->started_ms) / 1000);
    else if (found)
        log_info("request of `%s` takes member %s of pool `%s`", c->key, out->uuid, pool);
    return found != NULL;
}

/* A claimed member that did not serve after all: its pool's hit becomes a
 * miss (lock held). */
static void pm_count_miss(struct drv_pool_mgr *m, const struct drv_pool_member *mb)
{
    struct drv_pool_view *v = pm_pool_get(m, mb->pool, false);
    v->hits--;
    v->misses++;
    if (mb->booting)
        v->booting_hits--;
}

int drv_pool_mgr_handover(struct drv_pool_mgr *m, const char *member_uuid,
                          const struct drv_hv_guest_spec *inst, struct err **err)
{
    pthread_mutex_lock(&m->lock);
    struct drv_pool_member *p = pm_member_find(m, member_uuid);
    if (!p || p->state != DRV_MEMBER_CLAIMED) {
        pthread_mutex_unlock(&m->lock);
        return err_set(err, ERR_CONFLICT, "member %s is not claimed", member_uuid);
    }
    struct drv_pool_member mb;
    pm_member_take(m, (size_t)(p - m->mem), &mb);
    pthread_mutex_unlock(&m->lock);

    if (drv_hv_handover(m->hv, mb.uuid, inst, err) < 0) {
        /* the request builds cold: what the claim counted a hit was not */
        pthread_mutex_lock(&m->lock);
        pm_count_miss(m, &mb);
        pthread_mutex_unlock(&m->lock);
        autofree char *why = xasprintf("hand-over failed: %s", err && *err ? (*err)->msg : "?");
        pm_destroy(m, &mb, why, clock_wall_ms());
        return -1;
    }
    autoerr struct err *e = NULL;
    if (drv_sculpt_remove(m->engine, mb.uuid, &e) < 0 && err_code_of(e) != ERR_NOT_FOUND)
        log_err(LOG_LEVEL_WARN, e, "member %s not forgotten by the engine", mb.uuid);
    mb.state = DRV_MEMBER_HANDED_OVER;
    snprintf(mb.instance_uuid, sizeof(mb.instance_uuid), "%s", inst->uuid);
    log_info("pool `%s`: member %s handed over to instance %s%s", mb.pool, mb.uuid, inst->uuid,
             mb.booting ? " still booting" : " booted");
    pm_hook_member(m, &mb);
    return 0;
}

static int pm_release(struct drv_pool_mgr *m, const char *member_uuid, const char *why,
                      bool miss, struct err **err)
{
    pthread_mutex_lock(&m->lock);
    struct drv_pool_member *p = pm_member_find(m, member_uuid);
    if (!p || p->state != DRV_MEMBER_CLAIMED) {
        pthread_mutex_unlock(&m->lock);
        return err_set(err, ERR_NOT_FOUND, "no claimed member %s", member_uuid);
    }
    struct drv_pool_member mb;
    pm_member_take(m, (size_t)(p - m->mem), &mb);
    if (miss)
        pm_count_miss(m, &mb);
    pthread_mutex_unlock(&m->lock);
    pm_destroy(m, &mb, why, clock_wall_ms());
    return 0;
}

int drv_pool_mgr_release(struct drv_pool_mgr *m, const char *member_uuid, const char *why,
                         struct err **err)
{
    return pm_release(m, member_uuid, why, false, err);
}

int drv_pool_mgr_release_miss(struct drv_pool_mgr *m, const char *member_uuid,
                              const char *why, struct err **err)
{
    return pm_release(m, member_uuid, why, true, err);
}

/* ---- rounds ---- */

/* What guests (not members) hold on the host, and its capacity. */
static void pm_engine_view(struct drv_pool_mgr *m, struct drv_res *in_use, struct drv_res *cap)
{
    *in_use = drv_res_zero();
    *cap = drv_res_zero();
    autoptr(drv_sculpt_snapshot) s = drv_sculpt_snapshot(m->engine);
    if (!s)
        return;
    *cap = s->capacity;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < s->nguests; i++)
        if (!pm_member_find(m, s->guests[i].uuid))
            *in_use = drv_res_add(*in_use, s->guests[i].shape.res);
    pthread_mutex_unlock(&m->lock);
}

/* The planner's slot of pool key `key` (class index, nclasses + group
 * index, or nclasses + ngroups + family index), or -1 when the planner
 * does not know it. */
static int pm_slot(struct drv_pool_mgr *m, const char *key)
{
    int64_t ix = strmap_get(m->cls_ix, key);
    if (ix >= 0)
        return m->cls[ix].idx;
    size_t nc = drv_presculpt_nclasses(m->ps), ng = drv_presculpt_ngroups(m->ps);
    for (size_t g = 0; g < ng; g++)
        if (strcmp(drv_presculpt_group_key(m->ps, (int)g), key) == 0)
            return (int)(nc + g);
    size_t nf = drv_presculpt_nfamilies(m->ps);
    for (size_t f = 0; f < nf; f++)
        if (strcmp(drv_presculpt_family_key(m->ps, (int)f), key) == 0)
            return (int)(nc + ng + f);
    return -1;
}

/* The template a member of pool `pl` is made from: its class's, for a
 * group the one of its classes with the most memory, for a family the one
 * of its classes of the base shape (else the one of fewest vCPUs). */
static const struct pm_class *pm_template_for(struct drv_pool_mgr *m,
                                              const struct drv_pool_plan *pl)
{
    if (pl->level == DRV_POOL_CLASS) {
        int64_t ix = strmap_get(m->cls_ix, pl->key);
        return ix >= 0 && m->cls[ix].has_tmpl ? &m->cls[ix] : NULL;
    }
    const struct pm_class *best = NULL;
    if (pl->level == DRV_POOL_FAMILY) {
        for (size_t i = 0; i < m->ncls; i++) {
            const struct pm_class *c = &m->cls[i];
            if (!c->has_tmpl || strcmp(c->family, pl->key) != 0)
                continue;
            bool base = c->size.v[DRV_RES_VCPU] == pl->member.v[DRV_RES_VCPU] &&
                        c->size.v[DRV_RES_MEM_MIB] == pl->member.v[DRV_RES_MEM_MIB];
            if (base)
                return c;
            if (!best || c->size.v[DRV_RES_VCPU] < best->size.v[DRV_RES_VCPU])
                best = c;
        }
        return best;
    }
    for (size_t i = 0; i < m->ncls; i++) {
        const struct pm_class *c = &m->cls[i];
        if (c->has_tmpl && strcmp(c->group, pl->key) == 0 &&
            (!best ||
             c->tmpl.guest.shape.mem_max_mib > best->tmpl.guest.shape.mem_max_mib))
            best = c;
    }
    return best;
}

int drv_pool_mgr_tick(struct drv_pool_mgr *m, int64_t now_ms, size_t max_make, struct err **err)
{
    struct drv_res in_use, cap;
    pm_engine_view(m, &in_use, &cap);
    struct drv_pool_member *gone = NULL, *expired_list = NULL;
    size_t ngone = 0, nexp = 0;
    struct pm_job *jobs = NULL;
    size_t njobs = 0;
    uint32_t *before = NULL;

    pthread_mutex_lock(&m->lock);
    gone = xcalloc(m->nmem + 1, sizeof(*gone));
    expired_list = xcalloc(m->nmem + 1, sizeof(*expired_list));
    /* members past their lifetime */
    for (size_t i = 0; i < m->nmem;) {
        struct drv_shape held;
        autoerr struct err *he = NULL;
        if (pm_idle(&m->mem[i]) &&
            drv_sculpt_shape(m->engine, m->mem[i].uuid, &held, &he) < 0) {
            /* given up for a real guest while it was pausing */
            pm_member_take(m, i, &expired_list[nexp]);
            pm_pool_get(m, expired_list[nexp].pool, false)->reclaims++;
            snprintf(expired_list[nexp].reason, sizeof(expired_list[nexp].reason), "%s",
                     "reclaimed for a real guest");
            nexp++;
        } else if (pm_idle(&m->mem[i]) && m->mem[i].expires_ms <= now_ms) {
            pm_member_take(m, i, &expired_list[nexp]);
            pm_pool_get(m, expired_list[nexp].pool, false)->expiries++;
            expired_list[nexp].reason[0] = '\0';
            nexp++;
        } else {
            i++;
        }
    }
    /* the plan */
    struct drv_presculpt_params p = m->p;
    p.host = cap;
    if (!p.enabled) /* off: no pool may hold anything, every member is surplus */
        p.max_share = 0;
    drv_presculpt_set_params(m->ps, &p, NULL);
    size_t nslots = drv_presculpt_nslots(m->ps);
    uint32_t *have = xcalloc(nslots + 1, sizeof(*have));
    uint32_t *want = xcalloc(nslots + 1, sizeof(*want));
    for (size_t i = 0; i < m->nmem; i++) {
        int s = pm_slot(m, m->mem[i].pool);
        if (s >= 0 && m->mem[i].state != DRV_MEMBER_CLAIMED)
            have[s]++;
    }
    int64_t now_s = now_ms / 1000;
    struct drv_presculpt_plan_out out;
    int rc = drv_presculpt_plan(m->ps, now_s, now_s, &in_use, have, true, &out, err);
    if (rc < 0) {
        pthread_mutex_unlock(&m->lock);
        goto cleanup;
    }
    m->last_ms = now_ms;
    m->factor = out.idle_price_factor;
    m->bound = out.budget_bound;
    size_t nc = drv_presculpt_nclasses(m->ps), ng = drv_presculpt_ngroups(m->ps);
    /* a pool the plan leaves out wants none; the log tells changes only */
    size_t nold = m->npools;
    before = xcalloc(nold + 1, sizeof(*before));
    for (size_t k = 0; k < m->npools; k++) {
        before[k] = m->pools[k].target;
        m->pools[k].target = 0;
    }
    jobs = xcalloc(out.npools * 4 + 1, sizeof(*jobs));
    size_t limit = max_make ? max_make : SIZE_MAX, job_cap = out.npools * 4;
    for (size_t i = 0; i < out.npools; i++) {
        const struct drv_pool_plan *pl = &out.pools[i];
        size_t s = pl->level == DRV_POOL_CLASS    ? (size_t)pl->index
                   : pl->level == DRV_POOL_GROUP ? nc + (size_t)pl->index
                                                 : nc + ng + (size_t)pl->index;
        want[s] = pl->target;
        int64_t ix = strmap_get(m->pool_ix, pl->key);
        bool changed = ix < 0 || (size_t)ix >= nold || before[ix] != pl->target;
        struct drv_pool_view *v = pm_pool_get(m, pl->key, pl->level != DRV_POOL_CLASS);
        if (changed)
            log_info("pool `%s`: %u member(s) wanted, %u ready: %.2f requests expected an "
                     "interval, quantile %.2f, confidence %.2f, expected cost %.4f a round "
                     "(idle priced x%.3g)",
                     pl->key, pl->target, have[s], pl->mean, pl->quantile, pl->confidence,
                     pl->exp_cost, out.idle_price_factor);
        v->target = pl->target;
        v->confidence = pl->confidence;
        v->mean = pl->mean;
        v->quantile = pl->quantile;
        v->exp_cost = pl->exp_cost;
        v->member = pl->member;
        v->expires_ms = now_ms + m->p.member_ttl_s * 1000;
        if (pl->target <= have[s])
            continue;
        const struct pm_class *c = pm_template_for(m, pl);
        if (!c) {
            if (changed)
                log_info("pool `%s`: no member made: no build of its class since the start "
                         "to take the guest from yet",
                         pl->key);
            continue;
        }
        for (uint32_t k = have[s]; k < pl->target && njobs < limit && njobs < job_cap &&
                                   m->nmem < PM_MAX_LIVE;
             k++) {
            struct pm_job *j = &jobs[njobs];
            autoerr struct err *e = NULL;
            if (uuid_generate(j->m.uuid, &e) < 0)
                break;
            snprintf(j->m.domain, sizeof(j->m.domain), DRV_POOL_DOMAIN_PREFIX "%.8s", j->m.uuid);
            snprintf(j->m.pool, sizeof(j->m.pool), "%s", pl->key);
            snprintf(j->m.class_key, sizeof(j->m.class_key), "%s", c->key);
            j->m.state = DRV_MEMBER_PREPARING;
            j->m.confidence = pl->confidence;
            j->m.guest_agent = c->tmpl.guest.guest_agent;
            j->m.created_ms = now_ms;
            j->m.expires_ms = now_ms + m->p.member_ttl_s * 1000;
            drv_hv_guest_spec_copy(&j->tmpl.guest, &c->tmpl.guest);
            j->tmpl.engine = c->tmpl.engine;
            j->size = pl->member;
            j->max = pl->member_max;
            j->wide = pl->level == DRV_POOL_FAMILY;
            pm_member_add(m, &j->m);
            njobs++;
        }
    }
    /* surplus: the youngest members of pools wanting fewer (not pools the
     * planner does not know since a restart: those keep to their expiry) */
    for (size_t i = m->nmem; i-- > 0;) {
        struct drv_pool_member *mb = &m->mem[i];
        int s = pm_slot(m, mb->pool);
        if (s < 0 || !pm_idle(mb) || have[s] <= want[s])
            continue;
        have[s]--;
        pm_member_take(m, i, &gone[ngone++]);
    }
    for (size_t k = 0; k < m->npools; k++) {
        struct drv_pool_view *v = &m->pools[k];
        v->ready = v->booting = 0;
        for (size_t i = 0; i < m->nmem; i++) {
            if (strcmp(m->mem[i].pool, v->key) != 0)
                continue;
            v->ready += m->mem[i].state == DRV_MEMBER_PAUSED;
            v->booting += m->mem[i].state == DRV_MEMBER_BOOTING ||
                          m->mem[i].state == DRV_MEMBER_PAUSING;
        }
        int64_t ix = strmap_get(m->cls_ix, v->key);
        v->boot_s = ix >= 0 ? m->cls[ix].boot_ms / 1000 : 0;
    }
    size_t nviews = m->npools;
    struct drv_pool_view *views = xcalloc(nviews + 1, sizeof(*views));
    if (nviews) /* m->pools is NULL until a first pool */
        memcpy(views, m->pools, nviews * sizeof(*views));
    /* counters go after the pool itself (a new pool has no row before) */
    struct drv_pool_view *delta = xcalloc(nviews + 1, sizeof(*delta));
    bool *moved = xcalloc(nviews + 1, sizeof(*moved));
    for (size_t k = 0; k < nviews; k++)
        moved[k] = pm_counts_take(m, k, &delta[k]);
    pthread_mutex_unlock(&m->lock);

    for (size_t i = 0; i < nexp; i++)
        pm_destroy(m, &expired_list[i],
                   expired_list[i].reason[0] ? expired_list[i].reason : "expired unclaimed",
                   now_ms);
    for (size_t i = 0; i < ngone; i++)
        pm_destroy(m, &gone[i], "surplus", now_ms);
    for (size_t i = 0; i < njobs; i++) {
        struct pm_job *j = &jobs[i];
        autoerr struct err *e = NULL;
        int64_t t0 = clock_mono_ms();
        int mrc = pm_make(m, j, &e);
        pthread_mutex_lock(&m->lock);
        struct drv_pool_member *mb = pm_member_find(m, j->m.uuid);
        if (mb && mrc == 0) {
            mb->state = DRV_MEMBER_BOOTING;
            pm_reclaimable(m, mb);
            mb->shape = j->m.shape;
            mb->started_ms = now_ms + (clock_mono_ms() - t0);
            j->m = *mb;
        } else if (mb) {
            pm_member_take(m, (size_t)(mb - m->mem), &j->m);
        }
        pthread_mutex_unlock(&m->lock);
        if (mrc == 0) {
            char res[128];
            log_info("pool `%s`: member %s (`%s`) started in %s, booting, confidence %.2f",
                     j->m.pool, j->m.uuid, j->m.domain,
                     drv_res_format(j->m.shape.res, res, sizeof(res)), j->m.confidence);
            pm_hook_member(m, &j->m);
        } else if (!j->placed) {
            /* the engine refused it (the host is full, mostly): said once,
             * again only after a member was made */
            if (!pm_refused(m, j->m.pool, true))
                log_err(err_code_of(e) == ERR_CAPACITY ? LOG_LEVEL_INFO : LOG_LEVEL_WARN, e,
                        "pool `%s`: no member made (told again once one is)", j->m.pool);
            continue;
        } else {
            log_err(LOG_LEVEL_WARN, e, "pool `%s`: member not made", j->m.pool);
            j->m.state = DRV_MEMBER_RELEASED;
            snprintf(j->m.reason, sizeof(j->m.reason), "not made: %.80s", e ? e->msg : "?");
            pm_hook_member(m, &j->m);
            continue;
        }
        pm_refused(m, j->m.pool, false);
    }
    for (size_t k = 0; k < nviews; k++) {
        if (m->hooks.pool)
            m->hooks.pool(&views[k], m->hooks.opaque);
        if (moved[k])
            pm_hook_count(m, &delta[k]);
    }
    /* from now on a reclaim may count at once (drv_pool_mgr_reclaim_members) */
    pthread_mutex_lock(&m->lock);
    for (size_t k = 0; k < nviews; k++) {
        int64_t ix = strmap_get(m->pool_ix, views[k].key);
        if (ix >= 0)
            m->priv[ix].recorded = true;
    }
    pthread_mutex_unlock(&m->lock);
    free(views);
    free(delta);
    free(moved);
cleanup:
    for (size_t i = 0; i < njobs; i++)
        pm_template_release(&jobs[i].tmpl);
    free(jobs);
    free(have);
    free(want);
    free(before);
    free(gone);
    free(expired_list);
    return rc;
}

/* How likely a member is to be claimed: its pool's confidence as last
 * planned, else its own (lock held). */
static double pm_keep_score(struct drv_pool_mgr *m, const struct drv_pool_member *mb)
{
    int64_t ix = strmap_get(m->pool_ix, mb->pool);
    return ix >= 0 && (size_t)ix < m->npools ? m->pools[ix].confidence : mb->confidence;
}

struct pm_ranked {
    double score;
    int64_t expires_ms;
    size_t i;
};

static int pm_by_keep(const void *a, const void *b)
{
    const struct pm_ranked *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? -1 : 1;
    return x->expires_ms < y->expires_ms ? -1 : x->expires_ms > y->expires_ms;
}

size_t drv_pool_mgr_reclaim_order(struct drv_pool_mgr *m, drv_pool_uuid **uuids)
{
    pthread_mutex_lock(&m->lock);
    struct pm_ranked *r = xcalloc(m->nmem + 1, sizeof(*r));
    size_t n = 0;
    for (size_t i = 0; i < m->nmem; i++)
        if (pm_idle(&m->mem[i]))
            r[n++] = (struct pm_ranked){pm_keep_score(m, &m->mem[i]), m->mem[i].expires_ms, i};
    qsort(r, n, sizeof(*r), pm_by_keep);
    drv_pool_uuid *v = xcalloc(n + 1, sizeof(*v));
    for (size_t k = 0; k < n; k++)
        memcpy(v[k], m->mem[r[k].i].uuid, sizeof(v[k]));
    pthread_mutex_unlock(&m->lock);
    free(r);
    *uuids = v;
    return n;
}

size_t drv_pool_mgr_reclaim_members(struct drv_pool_mgr *m, const drv_pool_uuid *uuids, size_t n,
                                    const char *why, struct drv_pool_member *out)
{
    struct drv_pool_member *gone = xcalloc(n + 1, sizeof(*gone));
    struct drv_pool_view *gained = xcalloc(n + 1, sizeof(*gained));
    size_t k = 0, ncounted = 0;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < n; i++) {
        struct drv_pool_member *p = pm_member_find(m, uuids[i]);
        if (!p || !pm_idle(p))
            continue;
        pm_member_take(m, (size_t)(p - m->mem), &gone[k]);
        pm_pool_get(m, gone[k].pool, false)->reclaims++;
        k++;
    }
    /* the reclaims count now, not a round later, in pools that have their
     * row (a pool not yet recorded counts with its first round) */
    for (size_t i = 0; i < k; i++) {
        int64_t ix = strmap_get(m->pool_ix, gone[i].pool);
        if (ix >= 0 && m->priv[ix].recorded && pm_counts_take(m, (size_t)ix, &gained[ncounted]))
            ncounted++;
    }
    pthread_mutex_unlock(&m->lock);
    int64_t now_ms = clock_wall_ms();
    for (size_t i = 0; i < k; i++) {
        pm_destroy(m, &gone[i], why ? why : "reclaimed for a guest", now_ms);
        if (out)
            out[i] = gone[i];
    }
    for (size_t i = 0; i < ncounted; i++)
        pm_hook_count(m, &gained[i]);
    free(gained);
    free(gone);
    return k;
}

/* Whether the guest was defined with the guest agent's channel (false when
 * its spec cannot be read: it then serves requests without one, to which
 * the channel does no harm). */
static bool pm_has_agent(struct drv_pool_mgr *m, const char *uuid)
{
    struct drv_hv_guest_spec spec;
    memset(&spec, 0, sizeof(spec));
    autoerr struct err *e = NULL;
    bool agent = false;
    if (drv_hv_get_spec(m->hv, uuid, &spec, &e) == 0)
        agent = spec.guest_agent;
    else
        log_err(LOG_LEVEL_WARN, e, "member %s: spec not read", uuid);
    drv_hv_guest_spec_release(&spec);
    return agent;
}

int drv_pool_mgr_restore(struct drv_pool_mgr *m, const struct drv_pool_member *members,
                         size_t n, int64_t now_ms, struct err **err)
{
    (void)err;
    for (size_t i = 0; i < n; i++) {
        struct drv_pool_member mb = members[i];
        if (mb.state == DRV_MEMBER_HANDED_OVER) {
            if (mb.instance_uuid[0])
                drv_hv_alias(m->hv, mb.instance_uuid, mb.uuid);
            continue;
        }
        if (mb.state == DRV_MEMBER_RELEASED)
            continue;
        struct drv_hv_info info;
        autoerr struct err *e = NULL;
        bool there = drv_hv_get_info(m->hv, mb.uuid, &info, &e) == 0;
        if (there) /* held in the shape it was asked to take */
            drv_hv_info_asked(&info, &info.shape);
        if (there) /* whether it has the agent's channel: its domain says */
            mb.guest_agent = pm_has_agent(m, mb.uuid);
        /* a booting member's guest runs, unless the crash came after its
         * pause and before the row said so */
        bool booting = mb.state == DRV_MEMBER_BOOTING || mb.state == DRV_MEMBER_PREPARING;
        bool fits = there && (info.state == DRV_POWER_PAUSED ||
                              (booting && info.state == DRV_POWER_RUNNING));
        const char *why = !there                    ? "its guest is gone"
                          : !fits && booting        ? "its guest is neither running nor paused"
                          : !fits                   ? "its guest is not paused"
                          : mb.expires_ms <= now_ms ? "expired unclaimed"
                                                    : NULL;
        if (!why) {
            struct drv_sculpt_guest_spec es = {.vcpus_max = mb.shape.vcpus_max,
                                               .mem_max_mib = mb.shape.mem_max_mib,
                                               .priority = PM_PRIORITY,
                                               .reclaimable = true};
            snprintf(es.uuid, sizeof(es.uuid), "%s", mb.uuid);
            es.ceiling = info.shape.res;
            autoptr(drv_blueprint) bp = pm_blueprint(m, info.shape.res, now_ms / 1000, &e);
            if (!bp || drv_sculpt_adopt(m->engine, &es, bp, &info.shape, now_ms / 1000, &e) < 0) {
                if (err_code_of(e) != ERR_CONFLICT)
                    why = "the engine would not hold it";
            }
        }
        if (why && there) {
            pm_destroy(m, &mb, why, now_ms);
            continue;
        }
        if (why) {
            mb.state = DRV_MEMBER_RELEASED;
            snprintf(mb.reason, sizeof(mb.reason), "%s", why);
            pm_hook_member(m, &mb);
            continue;
        }
        mb.state = info.state == DRV_POWER_PAUSED ? DRV_MEMBER_PAUSED : DRV_MEMBER_BOOTING;
        if (!mb.started_ms)
            mb.started_ms = mb.created_ms;
        if (mb.state == DRV_MEMBER_PAUSED && !mb.ready_ms)
            mb.ready_ms = now_ms;
        mb.shape = info.shape;
        pthread_mutex_lock(&m->lock);
        if (!pm_member_find(m, mb.uuid))
            pm_member_add(m, &mb);
        pm_pool_get(m, mb.pool, strncmp(mb.pool, "vcpu=", 5) == 0 ||
                                    strncmp(mb.pool, "disk=", 5) == 0);
        pthread_mutex_unlock(&m->lock);
        log_info("pool `%s`: member %s found %s after a restart: kept until %lld", mb.pool,
                 mb.uuid, drv_member_state_name(mb.state), (long long)mb.expires_ms);
        pm_hook_member(m, &mb);
    }
    return 0;
}

/* ---- boots ---- */

/* A booting member as the watch judges it (copied under the lock). */
struct pm_boot {
    char uuid[DRV_UUID_LEN + 1];
    char pool[DRV_POOL_KEY_MAX];
    int64_t started_ms;
    double floor_ms; /* with no sign: its class's learnt boot time, else cold_start_latency */
};

enum pm_boot_end {
    PM_BOOTING,      /* not yet */
    PM_BOOT_SEEN,    /* its console shows the boot marker */
    PM_BOOT_TIMED,   /* no sign to be had: its class's boot time has passed */
    PM_BOOT_WAITED,  /* boot_wait_max passed with no sign */
};

/* Has member b's guest booted at now_ms? */
static enum pm_boot_end pm_boot_end(struct drv_pool_mgr *m, const struct pm_boot *b,
                                    const char *marker, int64_t wait_max_ms, int64_t now_ms)
{
    int64_t up = now_ms - b->started_ms;
    bool sign = false;
    if (marker[0]) {
        autoerr struct err *e = NULL;
        autofree char *con = drv_hv_console_output(m->hv, b->uuid, DRV_HV_CONSOLE_MAX, &e);
        if (con && strstr(con, marker))
            return PM_BOOT_SEEN;
        /* a backend without a console log has no sign to give */
        sign = con != NULL || err_code_of(e) != ERR_UNSUPPORTED;
        if (!con && sign)
            log_err(LOG_LEVEL_DEBUG, e, "console of member %s not read", b->uuid);
    }
    if (!sign && up >= b->floor_ms)
        return PM_BOOT_TIMED;
    return up >= wait_max_ms ? PM_BOOT_WAITED : PM_BOOTING;
}

/* A boot seen in `ms` teaches its class how long its guests take. */
static void pm_boot_learn(struct drv_pool_mgr *m, const char *class_key, double ms)
{
    int64_t ix = strmap_get(m->cls_ix, class_key);
    if (ix < 0)
        return;
    double *b = &m->cls[ix].boot_ms;
    *b = *b > 0 ? *b + 0.25 * (ms - *b) : ms;
}

size_t drv_pool_mgr_watch(struct drv_pool_mgr *m, int64_t now_ms)
{
    pthread_mutex_lock(&m->lock);
    struct pm_boot *boots = xcalloc(m->nmem + 1, sizeof(*boots));
    size_t n = 0;
    char marker[sizeof(m->p.boot_marker)];
    snprintf(marker, sizeof(marker), "%s", m->p.boot_marker);
    int64_t wait_max_ms = m->p.boot_wait_max_s * 1000;
    for (size_t i = 0; i < m->nmem; i++) {
        const struct drv_pool_member *mb = &m->mem[i];
        if (mb->state != DRV_MEMBER_BOOTING)
            continue;
        struct pm_boot *b = &boots[n++];
        snprintf(b->uuid, sizeof(b->uuid), "%s", mb->uuid);
        snprintf(b->pool, sizeof(b->pool), "%s", mb->pool);
        b->started_ms = mb->started_ms;
        int64_t ix = strmap_get(m->cls_ix, mb->class_key);
        b->floor_ms = ix >= 0 && m->cls[ix].boot_ms > 0 ? m->cls[ix].boot_ms
                                                        : m->p.cold_start_s * 1000;
    }
    pthread_mutex_unlock(&m->lock);

    size_t paused = 0;
    for (size_t k = 0; k < n; k++) {
        const struct pm_boot *b = &boots[k];
        enum pm_boot_end end = pm_boot_end(m, b, marker, wait_max_ms, now_ms);
        if (end == PM_BOOTING)
            continue;
        /* claimed or destroyed meanwhile: not ours to pause any more */
        pthread_mutex_lock(&m->lock);
        struct drv_pool_member *mb = pm_member_find(m, b->uuid);
        bool go = mb && mb->state == DRV_MEMBER_BOOTING;
        if (go) {
            mb->state = DRV_MEMBER_PAUSING;
            pm_reclaimable(m, mb);
        }
        pthread_mutex_unlock(&m->lock);
        if (!go)
            continue;
        autoerr struct err *e = NULL;
        int rc = drv_hv_pause(m->hv, b->uuid, &e);
        struct drv_pool_member done;
        pthread_mutex_lock(&m->lock);
        mb = pm_member_find(m, b->uuid);
        if (!mb) { /* nothing takes a pausing member; kept for safety */
            pthread_mutex_unlock(&m->lock);
            continue;
        }
        double up_s = (double)(now_ms - b->started_ms) / 1000;
        if (rc < 0) {
            pm_member_take(m, (size_t)(mb - m->mem), &done);
            pthread_mutex_unlock(&m->lock);
            log_err(LOG_LEVEL_WARN, e, "pool `%s`: member %s not paused", b->pool, b->uuid);
            pm_destroy(m, &done, "not paused after its boot", now_ms);
            continue;
        }
        mb->state = DRV_MEMBER_PAUSED;
        pm_reclaimable(m, mb);
        mb->ready_ms = now_ms;
        mb->boot_ms = end == PM_BOOT_SEEN ? now_ms - b->started_ms : 0;
        if (end == PM_BOOT_SEEN)
            pm_boot_learn(m, mb->class_key, (double)mb->boot_ms);
        else if (end == PM_BOOT_WAITED)
            snprintf(mb->reason, sizeof(mb->reason), "paused unseen booted after %.0f s", up_s);
        done = *mb;
        pthread_mutex_unlock(&m->lock);
        paused++;
        if (end == PM_BOOT_SEEN)
            log_info("pool `%s`: member %s booted in %.1f s: paused, ready", b->pool, b->uuid,
                     up_s);
        else if (end == PM_BOOT_TIMED)
            log_info("pool `%s`: member %s paused, ready, after %.1f s, its class's boot time "
                     "(its guest gives no sign of its boot)",
                     b->pool, b->uuid, up_s);
        else
            log_warn("pool `%s`: member %s not seen booted (no `%s` on its console) after "
                     "%.1f s: paused anyway",
                     b->pool, b->uuid, marker, up_s);
        pm_hook_member(m, &done);
    }
    free(boots);
    return paused;
}

/* Does a member boot (the thread then watches it)?  Under the lock. */
static bool pm_any_booting(const struct drv_pool_mgr *m)
{
    for (size_t i = 0; i < m->nmem; i++)
        if (m->mem[i].state == DRV_MEMBER_BOOTING)
            return true;
    return false;
}

/* ---- the thread ---- */

bool drv_pool_mgr_has(struct drv_pool_mgr *m, const char *uuid)
{
    pthread_mutex_lock(&m->lock);
    bool found = pm_member_find(m, uuid) != NULL;
    pthread_mutex_unlock(&m->lock);
    return found;
}

static int64_t pm_mono_ms(const struct timespec *t)
{
    return (int64_t)t->tv_sec * 1000 + t->tv_nsec / 1000000;
}

static struct timespec pm_mono_ts(int64_t ms)
{
    return (struct timespec){.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
}

/* A round every interval (a new interval counts from the last round);
 * between rounds, while members boot, their watch. */
static void *pm_thread(void *arg)
{
    struct drv_pool_mgr *m = arg;
    log_info("pool manager running, a round every %lld s", (long long)m->p.interval_s);
    int64_t last = INT64_MIN; /* monotonic ms of the last round */
    for (;;) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        pthread_mutex_lock(&m->lock);
        bool due = last == INT64_MIN || m->round_now ||
                   pm_mono_ms(&now) >= last + m->p.interval_s * 1000;
        m->round_now = false;
        pthread_mutex_unlock(&m->lock);
        if (due) {
            last = pm_mono_ms(&now);
            autoerr struct err *e = NULL;
            if (drv_pool_mgr_tick(m, clock_wall_ms(), PM_MAKE_PER_ROUND, &e) < 0)
                log_err(LOG_LEVEL_WARN, e, "pool round failed");
        } else {
            drv_pool_mgr_watch(m, clock_wall_ms());
        }
        pthread_mutex_lock(&m->lock);
        int64_t next = last + m->p.interval_s * 1000;
        if (pm_any_booting(m)) {
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (pm_mono_ms(&now) + DRV_POOL_BOOT_POLL_MS < next)
                next = pm_mono_ms(&now) + DRV_POOL_BOOT_POLL_MS;
        }
        struct timespec until = pm_mono_ts(next);
        /* a change of settings (the interval) wakes it to look again */
        if (!m->stopping)
            pthread_cond_timedwait(&m->cond, &m->lock, &until);
        bool stop = m->stopping;
        pthread_mutex_unlock(&m->lock);
        if (stop)
            break;
    }
    return NULL;
}

int drv_pool_mgr_start(struct drv_pool_mgr *m, struct err **err)
{
    pthread_mutex_lock(&m->lock);
    if (m->running) {
        pthread_mutex_unlock(&m->lock);
        return err_set(err, ERR_CONFLICT, "the pool manager runs already");
    }
    m->stopping = false;
    int rc = pthread_create(&m->thread, NULL, pm_thread, m);
    if (rc == 0)
        m->running = true;
    pthread_mutex_unlock(&m->lock);
    return rc ? err_set_errno(err, rc, "start the pool manager's thread") : 0;
}

void drv_pool_mgr_stop(struct drv_pool_mgr *m)
{
    pthread_mutex_lock(&m->lock);
    bool running = m->running;
    m->stopping = true;
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
    if (running)
        pthread_join(m->thread, NULL);
    pthread_mutex_lock(&m->lock);
    m->running = false;
    pthread_mutex_unlock(&m->lock);
}

struct drv_pool_status *drv_pool_mgr_status(struct drv_pool_mgr *m)
{
    struct drv_pool_status *s = xzalloc(sizeof(*s));
    pthread_mutex_lock(&m->lock);
    s->t_ms = m->last_ms;
    s->idle_price_factor = m->factor;
    s->budget_bound = m->bound;
    s->npools = m->npools;
    s->pools = xcalloc(m->npools + 1, sizeof(*s->pools));
    if (m->npools)
        memcpy(s->pools, m->pools, m->npools * sizeof(*s->pools));
    s->nmembers = m->nmem;
    s->members = xcalloc(m->nmem + 1, sizeof(*s->members));
    if (m->nmem)
        memcpy(s->members, m->mem, m->nmem * sizeof(*s->members));
    pthread_mutex_unlock(&m->lock);
    return s;
}

void drv_pool_status_free(struct drv_pool_status *s)
{
    if (!s)
        return;
    free(s->pools);
    free(s->members);
    free(s);
}

/* Decision records: a bounded ring, newest overwriting oldest, so the API
 * can always explain recent decisions without the engine growing. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "driver/sculpt_priv.h"

static const char *const decision_names[DRV_SCULPT_DEC_LAST] = {
    [DRV_SCULPT_DEC_ADMIT] = "admit",   [DRV_SCULPT_DEC_REFUSE] = "refuse",
    [DRV_SCULPT_DEC_GROW] = "grow",     [DRV_SCULPT_DEC_SHRINK] = "shrink",
    [DRV_SCULPT_DEC_SKIP] = "skip",     [DRV_SCULPT_DEC_SQUEEZE] = "squeeze",
    [DRV_SCULPT_DEC_REPIN] = "repin",   [DRV_SCULPT_DEC_SHORTAGE] = "shortage",
    [DRV_SCULPT_DEC_REMOVE] = "remove",
};

const char *drv_sculpt_decision_name(enum drv_sculpt_decision d)
{
    return d >= 0 && d < DRV_SCULPT_DEC_LAST ? decision_names[d] : "?";
}

void sculpt_records_init(struct drv_sculpt *e, size_t cap)
{
    e->ring_cap = cap;
    e->ring = cap ? xcalloc(cap, sizeof(*e->ring)) : NULL;
    e->ring_head = e->ring_n = 0;
}

void sculpt_records_release(struct drv_sculpt *e)
{
    free(e->ring);
    e->ring = NULL;
    e->ring_cap = e->ring_n = 0;
}

void sculpt_record(struct drv_sculpt *e, const char *uuid, enum drv_sculpt_decision d, int res,
                   double quantile, const char *term, double from, double to, double cost,
                   const char *fmt, ...)
{
    if (e->ring_cap == 0)
        return; /* records off (sculpt-replay) */
    struct drv_sculpt_record *r = &e->ring[e->ring_head];
    e->ring_head = (e->ring_head + 1) % e->ring_cap;
    if (e->ring_n < e->ring_cap)
        e->ring_n++;
    r->seq = ++e->seq;
    r->t_s = e->now_s;
    snprintf(r->uuid, sizeof(r->uuid), "%s", uuid ? uuid : "");
    r->decision = d;
    r->res = res;
    r->quantile = quantile;
    snprintf(r->term, sizeof(r->term), "%s", term ? term : "");
    r->from = from;
    r->to = to;
    r->cost = cost;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->text, sizeof(r->text), fmt, ap);
    va_end(ap);
}

size_t drv_sculpt_records(struct drv_sculpt *e, const char *uuid, struct drv_sculpt_record *out,
                          size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&e->lock);
    for (size_t i = 0; e->ring_cap && i < e->ring_n && n < max; i++) {
        size_t at = (e->ring_head + e->ring_cap - 1 - i) % e->ring_cap;
        const struct drv_sculpt_record *r = &e->ring[at];
        if (uuid && strcmp(r->uuid, uuid) != 0)
            continue;
        out[n++] = *r;
    }
    pthread_mutex_unlock(&e->lock);
    return n;
}

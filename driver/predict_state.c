/* One guest's predictor state as bytes, so a restart of the service
 * continues where it stopped rather than starting the guest cold
 * (predict.h, drv_predictor_export/import).
 *
 * Layout: a 16-byte header -- "SCPS", the layout version, the body's
 * length, the CRC-32 of the body -- then the body: fixed-width
 * little-endian fields in the order pr_state_fields() visits them, the
 * predictor's own, then those of each dimension predicted.  One visitor
 * both writes and reads, so the two cannot drift apart; reading checks
 * every field (finite numbers, indices in range) as it goes.
 *
 * What is not kept: the fleet (it has its own records), the fleet-group
 * cache (found again), the request (given again: flavor, name, boot time
 * come from the instance) and the settings (the running ones apply, as
 * after drv_predictor_set_config(): the seasonal bin width stays the one
 * the profile was built with).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common/err.h"
#include "driver/predict_priv.h"

#define PS_MAGIC "SCPS"
#define PS_HEADER 16

/* Walks the fields: counts (buf NULL), writes, or reads with checks. */
struct pr_codec {
    unsigned char *buf; /* NULL: only count */
    size_t pos, len;
    bool reading;
    const char *bad; /* the first field that failed a check (reading) */
};

static unsigned char *pc_take(struct pr_codec *c, size_t n)
{
    if (!c->buf) {
        c->pos += n;
        return NULL;
    }
    if (c->pos + n > c->len) {
        if (!c->bad)
            c->bad = "length";
        return NULL;
    }
    unsigned char *at = c->buf + c->pos;
    c->pos += n;
    return at;
}

/* n values `width` bytes wide at v, as little-endian bytes: a copy on a
 * little-endian host, byte-swapped elsewhere. */
static void pc_raw(struct pr_codec *c, void *v, size_t n, size_t width)
{
    unsigned char *b = pc_take(c, n * width);
    if (!b)
        return;
    unsigned char *x = v;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (c->reading)
        memcpy(x, b, n * width);
    else
        memcpy(b, x, n * width);
#else
    for (size_t i = 0; i < n * width; i += width)
        for (size_t j = 0; j < width; j++) {
            if (c->reading)
                x[i + width - 1 - j] = b[i + j];
            else
                b[i + j] = x[i + width - 1 - j];
        }
#endif
}

/* A field failed a check: the state is refused. */
static void pc_fail(struct pr_codec *c, const char *field)
{
    if (!c->bad)
        c->bad = field;
}

static void pc_f64(struct pr_codec *c, const char *field, double *v, size_t n, bool nan_ok)
{
    pc_raw(c, v, n, sizeof(*v));
    for (size_t i = 0; c->reading && i < n; i++)
        if (!isfinite(v[i]) && !(nan_ok && isnan(v[i])))
            pc_fail(c, field);
}

static void pc_f32(struct pr_codec *c, const char *field, float *v, size_t n)
{
    pc_raw(c, v, n, sizeof(*v));
    for (size_t i = 0; c->reading && i < n; i++)
        if (!isfinite(v[i]))
            pc_fail(c, field);
}

static void pc_i64(struct pr_codec *c, int64_t *v)
{
    pc_raw(c, v, 1, sizeof(*v));
}

static void pc_u64(struct pr_codec *c, uint64_t *v)
{
    pc_raw(c, v, 1, sizeof(*v));
}

static void pc_u32(struct pr_codec *c, uint32_t *v)
{
    pc_raw(c, v, 1, sizeof(*v));
}

/* int32 fields in [lo, hi]. */
static void pc_i32(struct pr_codec *c, const char *field, int32_t *v, size_t n, int64_t lo,
                   int64_t hi)
{
    pc_raw(c, v, n, sizeof(*v));
    for (size_t i = 0; c->reading && i < n; i++)
        if (v[i] < lo || v[i] > hi)
            pc_fail(c, field);
}

/* int fields, kept as int32, in [lo, hi]. */
static void pc_int(struct pr_codec *c, const char *field, int *v, size_t n, int lo, int hi)
{
    for (size_t i = 0; i < n; i++) {
        int32_t x = (int32_t)v[i];
        pc_i32(c, field, &x, 1, lo, hi);
        v[i] = x;
    }
}

static void pc_u16(struct pr_codec *c, uint16_t *v, size_t n)
{
    pc_raw(c, v, n, sizeof(*v));
}

static void pc_bool(struct pr_codec *c, const char *field, bool *v)
{
    uint8_t x = *v ? 1 : 0;
    pc_raw(c, &x, 1, 1);
    if (c->reading && x > 1)
        pc_fail(c, field);
    *v = x == 1;
}

#define PC_N(a) (sizeof(a) / sizeof(*(a)))
#define PC_F32(c, a) pc_f32(c, #a, (float *)(a), sizeof(a) / sizeof(float))

static void pr_state_res(struct pr_codec *c, struct drv_pr_res *r)
{
    pc_f64(c, "last", &r->last, 1, false);
    pc_f64(c, "ring", r->ring, PC_N(r->ring), false);
    pc_f64(c, "slow", &r->slow, 1, false);
    pc_f64(c, "eps", &r->eps, 1, false);
    PC_F32(c, r->day);
    pc_u16(c, r->day_d, PC_N(r->day_d));
    PC_F32(c, r->hour);
    pc_i32(c, "hour_t", r->hour_t, PC_N(r->hour_t), INT32_MIN, INT32_MAX);
    PC_F32(c, r->resid);
    PC_F32(c, r->resid_w);
    PC_F32(c, r->horizon);
    PC_F32(c, r->horizon_w);
    PC_F32(c, r->life);
    pc_f32(c, "life_w", &r->life_w, 1);
    pc_f64(c, "cost", r->cost, PC_N(r->cost), false);
    pc_f64(c, "cost_n", r->cost_n, PC_N(r->cost_n), false);
    pc_f64(c, "model_alloc", r->model_alloc, PC_N(r->model_alloc), false);
    pc_int(c, "follow", &r->follow, 1, 0, PR_M_LAST - 1);
    pc_f64(c, "alloc", &r->alloc, 1, false);
    pc_f64(c, "applied", &r->applied, 1, false);
    pc_f64(c, "applied_prev", &r->applied_prev, 1, false);
    pc_bool(c, "squeezed", &r->squeezed);
    pc_bool(c, "squeezed_prev", &r->squeezed_prev);
    pc_f64(c, "fair", &r->fair, 1, false);
    pc_int(c, "streak", &r->streak, 1, 0, INT32_MAX);
    pc_f64(c, "cov90", &r->cov90, 1, false);
    pc_int(c, "pend_cond", r->pend_cond, PC_N(r->pend_cond), 0, DRV_PREDICT_CONDS - 1);
    /* NaN: nothing was said about the awaited sample (a cold start) */
    pc_f64(c, "pend_base", r->pend_base, PC_N(r->pend_base), true);
    pc_f64(c, "pend_alloc", r->pend_alloc, PC_N(r->pend_alloc), false);
    pc_f64(c, "pend_p90", &r->pend_p90, 1, false);
}

static void pr_state_cost_model(struct pr_codec *c, struct drv_cost_model *cm)
{
    pc_f64(c, "cm.price", cm->price, PC_N(cm->price), false);
    pc_f64(c, "cm.violation", cm->violation, PC_N(cm->violation), false);
    pc_f64(c, "cm.idle", cm->idle, PC_N(cm->idle), false);
    pc_f64(c, "cm.reshape", &cm->reshape, 1, false);
    pc_f64(c, "cm.overrun_units", cm->overrun_units, PC_N(cm->overrun_units), false);
    pc_f64(c, "cm.target_violation_rate", &cm->target_violation_rate, 1, false);
}

/* The body; *mask is written first so a reader knows which dimensions
 * follow (it must be the predictor's: checked by the caller). */
static void pr_state_fields(struct pr_codec *c, struct drv_predictor *p, uint32_t *mask)
{
    pc_u32(c, mask);
    if (c->reading && *mask != p->mask) {
        pc_fail(c, "mask");
        return;
    }
    pc_i32(c, "season_bin_s", &p->pc.season_bin_s, 1, 1, 86400);
    pc_i64(c, &p->t0);
    pc_i64(c, &p->last_t);
    pc_i64(c, &p->pend_t);
    pc_i64(c, &p->applied_t);
    pc_i64(c, &p->wref_t);
    pc_u64(c, &p->n);
    pc_f64(c, "dt", &p->dt, 1, false);
    pc_f64(c, "wscale", &p->wscale, 1, false);
    if (c->reading && (p->dt < 0 || p->wscale <= 0))
        pc_fail(c, p->dt < 0 ? "dt" : "wscale");
    pr_state_cost_model(c, &p->cm);
    for (int k = 0; k < DRV_RES_LAST; k++)
        if (p->r[k])
            pr_state_res(c, p->r[k]);
}

size_t drv_predictor_state_max(void)
{
    /* every dimension: the body of a predictor predicting all of them */
    struct drv_pr_res *dims = xcalloc(DRV_RES_LAST, sizeof(*dims));
    struct drv_predictor p;
    memset(&p, 0, sizeof(p));
    p.mask = (1u << DRV_RES_LAST) - 1;
    for (int k = 0; k < DRV_RES_LAST; k++)
        p.r[k] = &dims[k];
    struct pr_codec c = {0};
    pr_state_fields(&c, &p, &p.mask);
    free(dims);
    return PS_HEADER + c.pos;
}

static void ps_put_u32(unsigned char *b, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t ps_get_u32(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

size_t drv_predictor_export(const struct drv_predictor *p, unsigned char **out)
{
    /* the visitor takes a mutable predictor; writing changes nothing */
    struct drv_predictor *mp = (struct drv_predictor *)p;
    uint32_t mask = p->mask;
    struct pr_codec count = {0};
    pr_state_fields(&count, mp, &mask);
    size_t len = PS_HEADER + count.pos;
    unsigned char *buf = xmalloc(len);
    struct pr_codec c = {.buf = buf + PS_HEADER, .len = count.pos};
    pr_state_fields(&c, mp, &mask);
    memcpy(buf, PS_MAGIC, 4);
    ps_put_u32(buf + 4, DRV_PREDICTOR_STATE_VERSION);
    ps_put_u32(buf + 8, (uint32_t)count.pos);
    ps_put_u32(buf + 12, (uint32_t)crc32(0L, buf + PS_HEADER, (uInt)count.pos));
    *out = buf;
    return len;
}

uint32_t drv_predictor_state_crc(const void *data, size_t len)
{
    return data && len >= PS_HEADER ? ps_get_u32((const unsigned char *)data + 12) : 0;
}

/* The header's checks: magic, version, length, CRC. */
static int ps_check_header(const unsigned char *b, size_t len, struct err **err)
{
    if (len < PS_HEADER || !b || memcmp(b, PS_MAGIC, 4) != 0)
        return err_set(err, ERR_INVALID, "predictor state: not a state (%zu bytes, no `%s` header)",
                       len, PS_MAGIC);
    uint32_t version = ps_get_u32(b + 4);
    if (version != DRV_PREDICTOR_STATE_VERSION)
        return err_set(err, ERR_UNSUPPORTED,
                       "predictor state: layout version %u, this binary reads version %u",
                       version, DRV_PREDICTOR_STATE_VERSION);
    uint32_t body = ps_get_u32(b + 8);
    if ((size_t)body != len - PS_HEADER || len > drv_predictor_state_max())
        return err_set(err, ERR_INVALID,
                       "predictor state: truncated or damaged (%zu bytes, the header says %u + "
                       "%d, at most %zu)",
                       len, body, PS_HEADER, drv_predictor_state_max());
    uint32_t crc = (uint32_t)crc32(0L, b + PS_HEADER, (uInt)body);
    if (crc != ps_get_u32(b + 12))
        return err_set(err, ERR_INVALID, "predictor state: damaged (CRC-32 %08x, expected %08x)",
                       crc, ps_get_u32(b + 12));
    return 0;
}

struct drv_predictor *drv_predictor_import(struct drv_fleet *fleet,
                                           const struct drv_predict_request *req,
                                           const struct drv_predict_config *pc, const void *data,
                                           size_t len, struct err **err)
{
    if (!data)
        len = 0;
    if (ps_check_header(data, len, err) < 0)
        return NULL;
    /* the guest was counted among its groups' guests when it was admitted */
    struct drv_predict_request counted = *req;
    counted.counted = true;
    struct drv_predictor *p = drv_predictor_new(fleet, &counted, pc, err);
    if (!p)
        return NULL;
    uint32_t mask = 0;
    struct pr_codec c = {
        .buf = (unsigned char *)data + PS_HEADER, .len = len - PS_HEADER, .reading = true};
    pr_state_fields(&c, p, &mask);
    if (!c.bad && c.pos != c.len)
        c.bad = "length";
    if (!c.bad && p->n > 0 && p->last_t < p->t0)
        c.bad = "last_t";
    if (c.bad) {
        if (strcmp(c.bad, "mask") == 0)
            err_set(err, ERR_INVALID,
                    "predictor state: predicts dimensions 0x%x, the guest's are 0x%x", mask,
                    p->mask);
        else
            err_set(err, ERR_INVALID, "predictor state: field `%s` out of range", c.bad);
        drv_predictor_free(p);
        return NULL;
    }
    drv_predict_day_decay(p);
    return p;
}

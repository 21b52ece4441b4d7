/* Pre-sculpting: the count distribution against brute-force sums, the
 * forecaster on synthetic arrivals with known rates (Poisson, a daily
 * cycle, bursts, a timer, a trend), and pool sizing on hand-worked cost
 * cases, the budget, the host share and group pooling. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/config.h"
#include "common/err.h"
#include "driver/presculpt.h"
#include "driver/presculpt_priv.h"

/* ---- a deterministic random source (splitmix64) ---- */
static uint64_t rng_state;

static double rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

static uint32_t poisson(double lambda)
{
    if (lambda > 60) { /* normal approximation, rounded */
        double u1 = rnd(), u2 = rnd();
        double z = sqrt(-2 * log(u1 + 1e-300)) * cos(2 * M_PI * u2);
        double v = lambda + sqrt(lambda) * z;
        return v > 0 ? (uint32_t)(v + 0.5) : 0;
    }
    double l = exp(-lambda), p = 1;
    uint32_t k = 0;
    do {
        k++;
        p *= rnd();
    } while (p > l);
    return k - 1;
}

#define assert_near(a, b, tol)                                                         \
    do {                                                                               \
        double a_ = (a), b_ = (b);                                                     \
        if (!(fabs(a_ - b_) <= (tol)))                                                 \
            fail_msg("%s = %.9g, expected %.9g +- %g", #a, a_, b_, (double)(tol));    \
    } while (0)

/* ---- distribution ---- */

static void test_gamma_p(void **state)
{
    (void)state;
    assert_near(drv_gamma_p(1, 0.5), 1 - exp(-0.5), 1e-12);
    assert_near(drv_gamma_p(1, 3), 1 - exp(-3), 1e-12);
    assert_near(drv_gamma_p(0.5, 2), erf(sqrt(2.0)), 1e-12);
    assert_near(drv_gamma_p(3, 2), 1 - 5 * exp(-2), 1e-12);
    assert_near(drv_gamma_p(10, 10), 0.5420702855281478, 1e-10);
    assert_near(drv_gamma_p(5, 0), 0, 0);
}

/* NB pmf by lgamma, for comparison */
static double nb_pmf(double mu, double phi, int k)
{
    if (phi <= 0)
        return exp(-mu + k * log(mu) - lgamma(k + 1.0));
    double r = 1 / phi, p = r / (r + mu);
    return exp(lgamma(k + r) - lgamma(r) - lgamma(k + 1.0) + r * log(p) + k * log1p(-p));
}

static void check_nb(double mu, double phi, double tol_q, double tol_left)
{
    double F = 0, left_at[4096] = {0}, cdf_at[4096] = {0};
    int n = 0;
    for (int k = 0; k < 4096; k++) {
        left_at[k] = n ? left_at[k - 1] + cdf_at[k - 1] : 0;
        F += nb_pmf(mu, phi, k);
        cdf_at[k] = F;
        n++;
        if (F > 1 - 1e-13)
            break;
    }
    static const double qs[] = {0.01, 0.1, 0.5, 0.75, 0.9, 0.99};
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        int want = 0;
        while (want < n - 1 && cdf_at[want] < qs[i])
            want++;
        double left;
        uint32_t got = drv_nb_quantile(mu, phi, qs[i], 100000, &left);
        if (fabs((double)got - want) > tol_q)
            fail_msg("mu %g phi %g q %g: quantile %u, brute force %d", mu, phi, qs[i], got, want);
        if (mu <= DRV_NB_EXACT_MAX)
            assert_near(drv_nb_cdf(mu, phi, got), cdf_at[got], 1e-9);
        assert_near(left, left_at[got], tol_left * fmax(1, left_at[got]));
        assert_near(drv_nb_left(mu, phi, got), left, 1e-9 * fmax(1, left));
    }
    assert_near(drv_nb_p0(mu, phi), nb_pmf(mu, phi, 0), 1e-9);
}

static void test_nb_exact(void **state)
{
    (void)state;
    check_nb(2, 0, 0, 1e-9);
    check_nb(0.3, 0, 0, 1e-9);
    check_nb(17.5, 0, 0, 1e-9);
    check_nb(5, 0.5, 0, 1e-9);
    check_nb(150, 2, 0, 1e-9);
    /* a Poisson(2) by hand: P(0) = 0.1353, P(<=2) = 0.6767 */
    double left;
    assert_int_equal(drv_nb_quantile(2, 0, 0.6, 100, &left), 2);
    assert_near(left, 2 * exp(-2) + 1 * 2 * exp(-2), 1e-12);
    assert_int_equal(drv_nb_quantile(0, 0, 0.99, 100, &left), 0);
    assert_int_equal(drv_nb_quantile(2, 0, 0.999999, 3, NULL), 3); /* capped */
}

static void test_nb_large(void **state)
{
    (void)state;
    /* moment-matched gamma: within a member or two and 2% of E[unclaimed] */
    check_nb(1000, 0.01, 2, 0.03);
    check_nb(400, 0.1, 2, 0.03);
    check_nb(800, 0, 1, 0.03); /* Poisson, normal path */
}

static void test_nb_steadier_than_poisson(void **state)
{
    (void)state;
    /* a timer: 840 a minute, variance 4 */
    double mu = 840, phi = (4 - mu) / (mu * mu);
    uint32_t med = drv_nb_quantile(mu, phi, 0.5, 100000, NULL);
    assert_true(med >= 839 && med <= 841);
    uint32_t lo = drv_nb_quantile(mu, phi, 0.01, 100000, NULL);
    assert_true(lo >= 834 && lo <= 837);
    assert_near(drv_nb_left(mu, phi, 844), 4, 0.2);
    assert_true(drv_nb_p0(mu, phi) < 1e-12);
    /* sparse classes are never steadier than Poisson */
    assert_near(drv_nb_p0(0.5, -1.5), exp(-0.5), 1e-12);
}

static void test_ratio_hist(void **state)
{
    (void)state;
    struct drv_ratio_hist h = {0};
    for (int i = 0; i < 100; i++)
        drv_rh_add(&h, 1.0, i, 1000);
    assert_true(drv_rh_usable(&h, 100));
    assert_false(drv_rh_usable(&h, 1)); /* too few requests for ratios */
    double left;
    uint32_t s = drv_rh_quantile(&h, 100, 0.5, 100000, &left);
    assert_true(s >= 99 && s <= 102);
    assert_true(left <= 2.5);
    drv_rh_release(&h);

    /* a surge that ends half of the time: zero or the forecast */
    for (int i = 0; i < 200; i++)
        drv_rh_add(&h, i % 2 ? 1.0 : 0.0, i, 1000);
    assert_int_equal(drv_rh_quantile(&h, 100, 0.4, 100000, NULL), 0);
    s = drv_rh_quantile(&h, 100, 0.6, 100000, &left);
    assert_true(s >= 98 && s <= 102);
    assert_near(left, 0.5 * s, 2);
    assert_near(drv_rh_p0(&h, 100), 0.5, 0.01);
    /* decay: the old half fades behind ten half-lives of ones */
    for (int i = 200; i < 260; i++)
        drv_rh_add(&h, 1.0, i + 10000, 1000);
    assert_true(drv_rh_p0(&h, 100) < 0.01);
    drv_rh_release(&h);
}

/* ---- the forecaster, through the planner's forecast API ---- */

static struct drv_presculpt_params params(int64_t interval)
{
    struct cfg *cfg = cfg_new_defaults();
    struct drv_presculpt_params p;
    drv_presculpt_params_from_cfg(cfg, &p);
    cfg_unref(cfg);
    p.interval_s = interval;
    return p;
}

static const struct drv_res one_vcpu = {{[DRV_RES_VCPU] = 1, [DRV_RES_MEM_MIB] = 1024}};

struct coverage {
    int n, below10, below90;
    double mean_sum, y_sum;
};

/* Forecast interval b from everything before it, then record its count. */
static void step(struct drv_presculpt *ps, int cls, int64_t dt, int64_t b, uint32_t y,
                 struct coverage *cov)
{
    struct drv_forecast_step st;
    double conf;
    struct err *err = NULL;
    /* planning closes the intervals before b */
    struct drv_presculpt_plan_out out;
    assert_int_equal(drv_presculpt_plan(ps, b * dt, b * dt, NULL, NULL, false, &out, &err), 0);
    assert_int_equal(drv_presculpt_forecast(ps, cls, b * dt, &st, 1, &conf, &err), 0);
    if (cov) {
        cov->n++;
        cov->below10 += y <= st.p10;
        cov->below90 += y <= st.p90;
        cov->mean_sum += st.mean;
        cov->y_sum += y;
    }
    drv_presculpt_record(ps, cls, b * dt, y);
}

static void test_forecast_poisson(void **state)
{
    (void)state;
    rng_state = 1;
    struct drv_presculpt_params p = params(60);
    struct drv_presculpt *ps = drv_presculpt_new(&p);
    int c = drv_presculpt_class(ps, "m1.small:img:proj", "vcpu=1:img", &one_vcpu);
    struct coverage cov = {0};
    for (int64_t b = 0; b < 3000; b++)
        step(ps, c, 60, b, poisson(20), b >= 500 ? &cov : NULL);
    assert_near(cov.mean_sum / cov.n, 20, 1);
    /* a distribution, not a mean: its p10 and p90 hold what they say */
    assert_near((double)cov.below90 / cov.n, 0.9, 0.06);
    assert_near((double)cov.below10 / cov.n, 0.1, 0.08);
    drv_presculpt_free(ps);
}

static void test_forecast_daily_cycle(void **state)
{
    (void)state;
    rng_state = 2;
    int64_t dt = 3600;
    struct drv_presculpt_params p = params(dt);
    struct drv_presculpt *ps = drv_presculpt_new(&p);
    int c = drv_presculpt_class(ps, "day", "day", &one_vcpu);
    double err_day = 0, err_night = 0;
    int n_day = 0, n_night = 0;
    for (int64_t b = 0; b < 24 * 14; b++) {
        int hour = (int)(b % 24);
        double rate = hour >= 8 && hour < 20 ? 50 : 5;
        struct drv_forecast_step st;
        struct err *err = NULL;
        struct drv_presculpt_plan_out out;
        assert_int_equal(drv_presculpt_plan(ps, b * dt, b * dt, NULL, NULL, false, &out, &err), 0);
        assert_int_equal(drv_presculpt_forecast(ps, c, b * dt, &st, 1, NULL, &err), 0);
        if (b >= 24 * 4 && (hour == 10 || hour == 3)) {
            if (hour == 10) {
                err_day += fabs(st.mean - rate);
                n_day++;
            } else {
                err_night += fabs(st.mean - rate);
                n_night++;
            }
        }
        drv_presculpt_record(ps, c, b * dt, poisson(rate));
    }
    /* the day's shape is learned: mid-morning and night both right */
    assert_true(err_day / n_day < 8);
    assert_true(err_night / n_night < 3);
    drv_presculpt_free(ps);
}

static void test_forecast_bursts(void **state)
{
    (void)state;
    rng_state = 3;
    struct drv_presculpt_params p = params(300);
    struct drv_presculpt *ps = drv_presculpt_new(&p);
    int c = drv_presculpt_class(ps, "batchy", "batchy", &one_vcpu);
    struct coverage cov = {0};
    double p50_sum = 0;
    for (int64_t b = 0; b < 3000; b++) {
        /* tenants: a few VMs each interval, now and then a batch of 200 */
        uint32_t y = poisson(10) + (rnd() < 0.05 ? 200 : 0);
        struct drv_forecast_step st;
        struct err *err = NULL;
        if (b >= 1000) {
            struct drv_presculpt_plan_out out;
            assert_int_equal(drv_presculpt_plan(ps, b * 300, b * 300, NULL, NULL, false, &out, &err), 0);
            assert_int_equal(drv_presculpt_forecast(ps, c, b * 300, &st, 1, NULL, &err), 0);
            p50_sum += st.p50;
        }
        step(ps, c, 300, b, y, b >= 1000 ? &cov : NULL);
    }
    /* bursts widen the tail, not the body */
    assert_true(p50_sum / cov.n < 25);
    assert_near((double)cov.below90 / cov.n, 0.9, 0.06);
    assert_near(cov.mean_sum / cov.n, cov.y_sum / cov.n, 4);
    drv_presculpt_free(ps);
}

static void test_forecast_timer(void **state)
{
    (void)state;
    struct drv_presculpt_params p = params(60);
    struct drv_presculpt *ps = drv_presculpt_new(&p);
    int c = drv_presculpt_class(ps, "timer", "timer", &one_vcpu);
    for (int64_t b = 0; b < 120; b++)
        step(ps, c, 60, b, b % 5 == 0 ? 30 : 0, NULL);
    struct drv_forecast_step st[5];
    struct err *err = NULL;
    assert_int_equal(drv_presculpt_forecast(ps, c, 120 * 60, st, 5, NULL, &err), 0);
    /* a five-minute timer: 30 at its minute, nothing between */
    assert_near(st[0].mean, 30, 3);
    for (int i = 1; i < 5; i++)
        assert_true(st[i].mean < 1);
    drv_presculpt_free(ps);
}

static void test_forecast_trend(void **state)
{
    (void)state;
    rng_state = 5;
    struct drv_presculpt_params p = params(300);
    struct drv_presculpt *ps = drv_presculpt_new(&p);
    int c = drv_presculpt_class(ps, "growing", "growing", &one_vcpu);
    struct coverage cov = {0};
    for (int64_t b = 0; b < 1000; b++)
        step(ps, c, 300, b, poisson(10 + 0.1 * b), b >= 800 ? &cov : NULL);
    /* the forecast keeps up with growth (within 8% of the true rate) */
    assert_near(cov.mean_sum / cov.n, 10 + 0.1 * 899.5, 8);
    drv_presculpt_free(ps);
}

/* Two-stage combination, hand-worked: 300-s intervals, 600 intervals in
 * (so the seasons of 10 minutes to an hour and the day vote, the week not
 * yet; the 5-minute season is one interval: off). */
static void test_forecast_families(void **state)
{
    (void)state;
    struct drv_fc_model m;
    struct drv_fc f;
    double w[DRV_FC_NEXPERT], sum = 0;
    drv_fc_model_init(&m, 300);
    drv_fc_init(&f);
    drv_fc_observe(&m, &f, 0, 1);
    f.next_bin = 600;
    f.wsum = 1;
    for (int e = 0; e < DRV_FC_NEXPERT; e++)
        f.wraw[e] = 1;
    for (int F = 0; F < DRV_FC_NFAMILY; F++) {
        f.ferr[F] = 1;
        f.frecord[F] = true;
    }
    /* families as good as each other: a third each, shared in the family;
     * the day alone gets a third where a flat vote over the ten experts
     * would give it a tenth */
    drv_fc_weights(&m, &f, w);
    for (int e = 0; e <= DRV_FC_TREND; e++)
        assert_near(w[e], 1.0 / 15, 1e-9);
    assert_near(w[DRV_FC_SEASON0], 0, 0);
    for (int e = DRV_FC_SEASON0 + 1; e < DRV_FC_CALENDAR0; e++)
        assert_near(w[e], 1.0 / 12, 1e-9);
    assert_near(w[DRV_FC_CALENDAR0], 1.0 / 3, 1e-9);
    assert_near(w[DRV_FC_CALENDAR0 + 1], 0, 0);
    /* the recent family errs twice as far (8x the squared error): its
     * weight is 1/512 of the others' (inverse cube), about 0.001 */
    f.ferr[DRV_FC_FAMILY_RECENT] = 4;
    drv_fc_weights(&m, &f, w);
    for (int e = 0; e < DRV_FC_NEXPERT; e++)
        sum += w[e];
    assert_near(sum, 1, 1e-9);
    assert_near(w[0] * 5, 1.0 / 64 / (1.0 / 64 + 2), 2e-4);
    assert_near(w[DRV_FC_CALENDAR0], 1 / (1.0 / 64 + 2), 2e-4);
    /* a family without a record has no vote yet */
    f.frecord[DRV_FC_FAMILY_CALENDAR] = false;
    drv_fc_weights(&m, &f, w);
    assert_near(w[DRV_FC_CALENDAR0], 0, 0);
    drv_fc_release(&f);
}

/* A day's cycle seen through tenants' bursts: every recent expert misses
 * the same bursts, so the day's season, about as good as they are, gets
 * the vote of a family (a quarter here; as one of ten experts it had a
 * tenth); and the forecast follows the day. */
static void test_forecast_day_through_bursts(void **state)
{
    (void)state;
    rng_state = 7;
    int64_t per_day = 86400 / 300;
    struct drv_fc_model m;
    struct drv_fc f;
    double w[DRV_FC_NEXPERT], err = 0, day_w = 0;
    int n = 0;
    drv_fc_model_init(&m, 300);
    drv_fc_init(&f);
    for (int64_t b = 0; b < 10 * per_day; b++) {
        double rate = 30 + 25 * sin(2 * M_PI * (double)(b % per_day) / (double)per_day);
        uint32_t y = poisson(rate) + (rnd() < 0.1 ? 150 : 0);
        if (b >= 5 * per_day) {
            drv_fc_weights(&m, &f, w);
            day_w += w[DRV_FC_CALENDAR0];
            err += fabs(drv_fc_mean(&m, &f, b) - (rate + 15));
            n++;
        }
        drv_fc_observe(&m, &f, b, y);
    }
    assert_true(day_w / n > 0.2);
    assert_true(err / n < 10);
    drv_fc_release(&f);
}

/* ---- pool sizing: hand-worked cases ---- */

/* One vCPU idling one minute costs 0.01; a cold start 0.03; a member's
 * preparation is half an interval. */
static struct drv_presculpt_params hand_params(void)
{
    struct drv_presculpt_params p = {0};
    p.interval_s = 60;
    p.cold_start_s = 30;
    p.cold_start_price = 0.03;
    p.cost.idle[DRV_RES_VCPU] = 0.6; /* per hour: 0.01 a minute */
    p.idle_budget = 0.1;
    p.member_ttl_s = 1800;
    return p;
}

static void test_size_hand_worked(void **state)
{
    (void)state;
    struct drv_presculpt_params p = hand_params();
    struct drv_res v1 = {{[DRV_RES_VCPU] = 1}};
    struct drv_pool_sizing s;
    /* Poisson(2): q = 0.03 / (0.03 + 0.01) = 0.75; P(<=2) = 0.677 < q <= P(<=3) = 0.857 */
    drv_presculpt_size_nb(&p, 2, 0, &v1, 1, 0, &s);
    assert_near(s.q, 0.75, 1e-12);
    assert_int_equal(s.target, 3);
    assert_int_equal(s.destroyed, 0);
    double p0 = exp(-2), p1 = 2 * exp(-2), p2 = 2 * exp(-2);
    double left = 3 * p0 + 2 * p1 + p2;
    assert_near(s.left, left, 1e-9);
    /* cost: idle 0.01 x E[left] + cold 0.03 x E[requests beyond 3] */
    assert_near(s.cost, 0.01 * left + 0.03 * (2 - 3 + left), 1e-9);
    /* five made already: kept up to q = (0.03 + 0.01 x 0.5) / 0.04 = 0.875 (P(<=4) = 0.947) */
    drv_presculpt_size_nb(&p, 2, 0, &v1, 1, 5, &s);
    assert_int_equal(s.target, 4);
    assert_int_equal(s.destroyed, 1);
    /* the budget raises the idle price 4 times: q = 0.03 / 0.07 = 0.43 */
    drv_presculpt_size_nb(&p, 2, 0, &v1, 4, 0, &s);
    assert_int_equal(s.target, 2);
    /* a member twice the size costs twice: q = 0.03 / 0.05 = 0.6 -> 2 */
    struct drv_res v2 = {{[DRV_RES_VCPU] = 2}};
    drv_presculpt_size_nb(&p, 2, 0, &v2, 1, 0, &s);
    assert_int_equal(s.target, 2);
    /* cold starts free: no new member; of three made, those claimed more
     * likely than not (prep is half an interval) are not thrown away */
    p.cold_start_price = 0;
    drv_presculpt_size_nb(&p, 2, 0, &v1, 1, 0, &s);
    assert_int_equal(s.target, 0);
    drv_presculpt_size_nb(&p, 2, 0, &v1, 1, 3, &s);
    assert_int_equal(s.target, 2);
    assert_int_equal(s.destroyed, 1);
}

/* Two steady classes: 20 and 5 requests a minute. */
static struct drv_presculpt *two_classes(const struct drv_presculpt_params *p, int *a, int *b)
{
    rng_state = 9;
    struct drv_presculpt *ps = drv_presculpt_new(p);
    *a = drv_presculpt_class(ps, "a", "ga", &one_vcpu);
    *b = drv_presculpt_class(ps, "b", "gb", &one_vcpu);
    for (int64_t t = 0; t < 600; t++) {
        drv_presculpt_record(ps, *a, t * 60, poisson(20));
        drv_presculpt_record(ps, *b, t * 60, poisson(5));
    }
    return ps;
}

static uint32_t target_of(const struct drv_presculpt_plan_out *out, enum drv_pool_level level,
                          int index)
{
    for (size_t i = 0; i < out->npools; i++)
        if (out->pools[i].level == level && out->pools[i].index == index)
            return out->pools[i].target;
    return 0;
}

static void test_plan_budget(void **state)
{
    (void)state;
    struct drv_presculpt_params p = hand_params();
    int a, b;
    struct drv_presculpt *ps = two_classes(&p, &a, &b);
    struct drv_presculpt_plan_out out;
    struct err *err = NULL;
    /* no guest data: the cost model alone */
    assert_int_equal(drv_presculpt_plan(ps, 600 * 60, 600 * 60, NULL, NULL, true, &out, &err), 0);
    assert_false(out.budget_bound);
    assert_true(out.idle_price_factor == 1);
    uint32_t free_a = target_of(&out, DRV_POOL_CLASS, a);
    assert_true(free_a > 20);
    assert_true(target_of(&out, DRV_POOL_CLASS, b) > 5);
    for (size_t i = 0; i < out.npools; i++) {
        assert_true(out.pools[i].confidence > 0.999); /* they never stop */
        assert_true(out.pools[i].quantile > 0.7);
    }
    /* guests use 20 vCPUs: idle may be 2 vCPUs over the minute */
    struct drv_res used = {{[DRV_RES_VCPU] = 20}};
    assert_int_equal(drv_presculpt_plan(ps, 600 * 60, 600 * 60, &used, NULL, false, &out, &err), 0);
    assert_true(out.budget_bound);
    assert_true(out.idle_price_factor > 1);
    assert_true(out.exp_idle_vcpu_s <= out.allowed_idle_vcpu_s * (1 + 1e-9));
    assert_near(out.allowed_idle_vcpu_s, 0.1 * 20 * 60, 1e-9);
    assert_true(target_of(&out, DRV_POOL_CLASS, a) < free_a);
    assert_true(target_of(&out, DRV_POOL_CLASS, a) > 0);
    /* no guests at all: nothing may idle, no pool */
    struct drv_res none = {{0}};
    assert_int_equal(drv_presculpt_plan(ps, 600 * 60, 600 * 60, &none, NULL, false, &out, &err), 0);
    assert_int_equal(out.npools, 0);
    drv_presculpt_free(ps);
}

/* The idle calibration learnt from measured idle carries over to a new
 * planner (a restart): the same tightening factor, the same next plan. */
static void test_idle_calibration_kept(void **state)
{
    (void)state;
    struct drv_presculpt_params p = hand_params();
    int a, b;
    struct drv_presculpt *ps = two_classes(&p, &a, &b);
    struct drv_presculpt_calibration c0;
    drv_presculpt_calibration_get(ps, &c0);
    assert_int_equal(c0.interval_s, 60);
    assert_true(c0.weight == 0 && c0.log_factor == 0);
    struct drv_res used = {{[DRV_RES_VCPU] = 20}};
    struct drv_presculpt_plan_out out;
    struct err *err = NULL;
    /* six hours in which members idled three times what the budget allowed */
    for (int64_t t = 600; t < 600 + 360; t++) {
        assert_int_equal(drv_presculpt_plan(ps, t * 60, t * 60, &used, NULL, false, &out, &err),
                         0);
        drv_presculpt_report_idle(ps, 3 * out.allowed_idle_vcpu_s);
    }
    double factor = drv_presculpt_idle_calibration(ps);
    assert_true(factor > 1.5);
    struct drv_presculpt_calibration c1;
    drv_presculpt_calibration_get(ps, &c1);

    struct drv_presculpt *again = two_classes(&p, &a, &b);
    assert_true(drv_presculpt_idle_calibration(again) == 1);
    assert_int_equal(drv_presculpt_calibration_set(again, &c1, &err), 0);
    assert_true(drv_presculpt_idle_calibration(again) == factor);
    struct drv_presculpt_calibration c2;
    drv_presculpt_calibration_get(again, &c2);
    assert_memory_equal(&c1, &c2, sizeof(c1));
    struct drv_presculpt_plan_out out2;
    assert_int_equal(drv_presculpt_plan(ps, 960 * 60, 960 * 60, &used, NULL, false, &out, &err),
                     0);
    assert_int_equal(
        drv_presculpt_plan(again, 960 * 60, 960 * 60, &used, NULL, false, &out2, &err), 0);
    assert_true(out.idle_price_factor == out2.idle_price_factor);
    assert_true(out.idle_calibration == out2.idle_calibration);

    /* refused: values out of range, another interval */
    struct drv_presculpt_calibration bad = c1;
    bad.weight = 1.5;
    assert_int_equal(drv_presculpt_calibration_set(again, &bad, &err), -1);
    assert_int_equal(err->code, ERR_INVALID);
    err_clear(&err);
    bad = c1;
    bad.log_factor = NAN;
    assert_int_equal(drv_presculpt_calibration_set(again, &bad, &err), -1);
    err_clear(&err);
    bad = c1;
    bad.interval_s = 300;
    assert_int_equal(drv_presculpt_calibration_set(again, &bad, &err), -1);
    assert_int_equal(err->code, ERR_CONFLICT);
    err_clear(&err);
    assert_true(drv_presculpt_idle_calibration(again) == factor);
    drv_presculpt_free(again);
    drv_presculpt_free(ps);
}

/* Dropping a class keeps what the others learnt, under new indices; its
 * group (and family) go with it when left empty. */
static void test_drop_classes(void **state)
{
    (void)state;
    struct drv_presculpt_params p = hand_params();
    int a, b;
    struct drv_presculpt *ps = two_classes(&p, &a, &b);
    int c = drv_presculpt_class(ps, "c", "gb", &one_vcpu); /* beside b */
    struct err *err = NULL;
    struct drv_forecast_step before, after;
    double conf_before, conf_after;
    assert_int_equal(drv_presculpt_forecast(ps, b, 600 * 60, &before, 1, &conf_before, &err), 0);
    bool drop[3] = {false};
    drop[a] = true;
    drop[c] = true;
    int remap[3];
    assert_int_equal(drv_presculpt_drop_classes(ps, drop, remap), 2);
    assert_int_equal(remap[a], -1);
    assert_int_equal(remap[c], -1);
    assert_int_equal(remap[b], 0);
    assert_int_equal(drv_presculpt_nclasses(ps), 1);
    assert_int_equal(drv_presculpt_ngroups(ps), 1);
    assert_int_equal(drv_presculpt_nfamilies(ps), 1);
    assert_string_equal(drv_presculpt_class_key(ps, 0), "b");
    assert_string_equal(drv_presculpt_group_key(ps, 0), "gb");
    assert_int_equal(drv_presculpt_class_group(ps, 0), 0);
    assert_int_equal(drv_presculpt_group_family(ps, 0), 0);
    assert_int_equal(drv_presculpt_forecast(ps, 0, 600 * 60, &after, 1, &conf_after, &err), 0);
    assert_memory_equal(&before, &after, sizeof(before));
    assert_true(conf_before == conf_after);
    /* the same key again is a new class */
    assert_int_equal(drv_presculpt_class(ps, "a", "ga", &one_vcpu), 1);
    assert_int_equal(drv_presculpt_ngroups(ps), 2);
    struct drv_presculpt_plan_out out;
    struct drv_res used = {{[DRV_RES_VCPU] = 20}};
    assert_int_equal(drv_presculpt_plan(ps, 600 * 60, 600 * 60, &used, NULL, true, &out, &err), 0);
    bool none[2] = {false, false};
    assert_int_equal(drv_presculpt_drop_classes(ps, none, remap), 0);
    assert_true(remap[0] == 0 && remap[1] == 1);
    drv_presculpt_free(ps);
}

static void test_plan_host_share(void **state)
{
    (void)state;
    struct drv_presculpt_params p = hand_params();
    p.host.v[DRV_RES_VCPU] = 100;
    p.max_share = 0.1;
    int a, b;
    struct drv_presculpt *ps = two_classes(&p, &a, &b);
    struct drv_presculpt_plan_out out;
    struct err *err = NULL;
    assert_int_equal(drv_presculpt_plan(ps, 600 * 60, 600 * 60, NULL, NULL, false, &out, &err), 0);
    double reserved = 0;
    for (size_t i = 0; i < out.npools; i++)
        reserved += out.pools[i].target * out.pools[i].member.v[DRV_RES_VCPU];
    assert_true(out.budget_bound);
    assert_true(reserved <= 10);
    assert_true(reserved >= 6); /* and uses most of it */
    drv_presculpt_free(ps);
}

static void test_plan_group_pooling(void **state)
{
    (void)state;
    struct drv_presculpt_params p = hand_params();
    rng_state = 11;
    struct drv_presculpt *ps = drv_presculpt_new(&p);
    /* four thin classes that differ only in memory: one pool serves all */
    int c[4];
    for (int i = 0; i < 4; i++) {
        char key[32];
        snprintf(key, sizeof(key), "flavor%d", i);
        struct drv_res sz = one_vcpu;
        sz.v[DRV_RES_MEM_MIB] = 1024 + 256 * i;
        c[i] = drv_presculpt_class(ps, key, "vcpu=1", &sz);
    }
    for (int64_t t = 0; t < 600; t++)
        for (int i = 0; i < 4; i++)
            drv_presculpt_record(ps, c[i], t * 60, poisson(0.6));
    struct drv_presculpt_plan_out out;
    struct err *err = NULL;
    assert_int_equal(drv_presculpt_plan(ps, 600 * 60, 600 * 60, NULL, NULL, false, &out, &err), 0);
    assert_int_equal(out.npools, 1);
    assert_int_equal(out.pools[0].level, DRV_POOL_GROUP);
    assert_string_equal(out.pools[0].key, "vcpu=1");
    /* a group member reserves the largest memory of the group */
    assert_true(out.pools[0].member.v[DRV_RES_MEM_MIB] == 1024 + 3 * 256);
    assert_true(out.pools[0].target >= 3);
    drv_presculpt_free(ps);

    /* when group members cost far more than the classes' own, no pooling */
    p.cost.idle[DRV_RES_MEM_MIB] = 1.0; /* a MiB-hour of memory */
    ps = drv_presculpt_new(&p);
    struct drv_res small = one_vcpu, big = one_vcpu;
    big.v[DRV_RES_MEM_MIB] = 64 * 1024;
    int s = drv_presculpt_class(ps, "small", "vcpu=1", &small);
    int l = drv_presculpt_class(ps, "large", "vcpu=1", &big);
    for (int64_t t = 0; t < 600; t++) {
        drv_presculpt_record(ps, s, t * 60, poisson(30));
        drv_presculpt_record(ps, l, t * 60, poisson(0.01));
    }
    assert_int_equal(drv_presculpt_plan(ps, 600 * 60, 600 * 60, NULL, NULL, false, &out, &err), 0);
    assert_true(target_of(&out, DRV_POOL_CLASS, s) > 0);
    assert_int_equal(target_of(&out, DRV_POOL_GROUP, drv_presculpt_class_group(ps, s)), 0);
    drv_presculpt_free(ps);
}

/* Thin classes of 1, 2 and 4 vCPUs of one family (same image): each
 * `rate` requests a minute. */
static struct drv_presculpt *three_sizes(const struct drv_presculpt_params *p,
                                         const double rate[3], int c[3])
{
    rng_state = 17;
    struct drv_presculpt *ps = drv_presculpt_new(p);
    for (int i = 0; i < 3; i++) {
        char key[32], group[32];
        snprintf(key, sizeof(key), "m%d", 1 << i);
        snprintf(group, sizeof(group), "vcpu=%d", 1 << i);
        struct drv_res sz = {{[DRV_RES_VCPU] = 1 << i, [DRV_RES_MEM_MIB] = 1024 << i}};
        c[i] = drv_presculpt_class_in(ps, key, group, "img", &sz);
    }
    for (int64_t t = 0; t < 600; t++)
        for (int i = 0; i < 3; i++)
            drv_presculpt_record(ps, c[i], t * 60, poisson(rate[i]));
    return ps;
}

static void test_plan_family_pooling(void **state)
{
    (void)state;
    struct drv_presculpt_params p = hand_params();
    p.wide_pools = true;
    p.cost.reshape = 0.0001;
    const double thin[3] = {0.5, 0.5, 0.5};
    int c[3];
    struct drv_presculpt *ps = three_sizes(&p, thin, c);
    assert_int_equal(drv_presculpt_nfamilies(ps), 1);
    assert_int_equal(drv_presculpt_nslots(ps), 3 + 3 + 1);
    assert_int_equal(drv_presculpt_group_family(ps, drv_presculpt_class_group(ps, c[2])), 0);
    struct drv_presculpt_plan_out out;
    struct err *err = NULL;
    /* per class, a 4-vCPU member idles at 0.04 a minute (q = 0.03 / 0.07:
     * none is held), a 1-vCPU one at 0.01 (q = 0.75: one each); one pool
     * of members idling at 1 vCPU serves all three at q = 0.75 (0.0001 a
     * re-sculpt is nothing beside): one family pool, its base the
     * smallest class, defined with the largest */
    assert_int_equal(drv_presculpt_plan(ps, 600 * 60, 600 * 60, NULL, NULL, true, &out, &err), 0);
    assert_int_equal(out.npools, 1);
    const struct drv_pool_plan *pl = &out.pools[0];
    assert_int_equal(pl->level, DRV_POOL_FAMILY);
    assert_string_equal(pl->key, "img");
    assert_true(pl->member.v[DRV_RES_VCPU] == 1 && pl->member.v[DRV_RES_MEM_MIB] == 1024);
    assert_true(pl->member_max.v[DRV_RES_VCPU] == 4 && pl->member_max.v[DRV_RES_MEM_MIB] == 4096);
    /* two of three requests are for another size than the base */
    assert_near(pl->reshaped, 2.0 / 3, 0.1);
    assert_true(pl->target >= 2);
    assert_true(pl->confidence > 0.99);
    /* the expected cost counts the re-sculpts */
    double claims = pl->target - pl->exp_idle_members;
    assert_near(pl->exp_cost,
                0.01 * pl->exp_idle_members + 0.03 * pl->exp_cold + 0.0001 * pl->reshaped * claims,
                1e-9);
    /* idle capacity and reservations at the base shape: the budget holds
     * on what a member really reserves while it waits */
    struct drv_res used = {{[DRV_RES_VCPU] = 100}};
    assert_int_equal(drv_presculpt_plan(ps, 600 * 60, 600 * 60, &used, NULL, false, &out, &err), 0);
    assert_near(out.exp_idle_vcpu_s, out.pools[0].exp_idle_members * 60 * 1, 1e-6);
    drv_presculpt_free(ps);

    /* wide pools off: the classes' own pools, as before */
    p.wide_pools = false;
    ps = three_sizes(&p, thin, c);
    assert_int_equal(drv_presculpt_plan(ps, 600 * 60, 600 * 60, NULL, NULL, false, &out, &err), 0);
    for (size_t i = 0; i < out.npools; i++)
        assert_int_not_equal(out.pools[i].level, DRV_POOL_FAMILY);
    assert_true(target_of(&out, DRV_POOL_CLASS, c[0]) >= 1);
    drv_presculpt_free(ps);
}

static void test_plan_family_base(void **state)
{
    (void)state;
    struct drv_presculpt_params p = hand_params();
    p.wide_pools = true;
    /* re-sculpting priced at a sixth of a cold start, most requests for 2
     * vCPUs: a base of 1 vCPU re-sculpts 95% of its hand-overs (0.005 x ~5
     * a minute), a base of 2 saves that for 0.01 more a minute per idle
     * member: the base is the 2-vCPU class */
    p.cost.reshape = 0.005;
    const double rates[3] = {0.2, 5, 0.1};
    int c[3];
    struct drv_presculpt *ps = three_sizes(&p, rates, c);
    struct drv_presculpt_plan_out out;
    struct err *err = NULL;
    assert_int_equal(drv_presculpt_plan(ps, 600 * 60, 600 * 60, NULL, NULL, false, &out, &err), 0);
    assert_int_equal(out.npools, 1);
    assert_int_equal(out.pools[0].level, DRV_POOL_FAMILY);
    assert_true(out.pools[0].member.v[DRV_RES_VCPU] == 2);
    assert_true(out.pools[0].member_max.v[DRV_RES_VCPU] == 4);
    assert_true(out.pools[0].reshaped < 0.1);
    drv_presculpt_free(ps);

    /* re-sculpting dear (a cold start's price): classes keep their own pools */
    p.cost.reshape = 0.03;
    ps = three_sizes(&p, rates, c);
    assert_int_equal(drv_presculpt_plan(ps, 600 * 60, 600 * 60, NULL, NULL, false, &out, &err), 0);
    assert_true(target_of(&out, DRV_POOL_CLASS, c[1]) >= 5);
    for (size_t i = 0; i < out.npools; i++)
        assert_int_not_equal(out.pools[i].level, DRV_POOL_FAMILY);
    drv_presculpt_free(ps);
}

static void test_confidence(void **state)
{
    (void)state;
    struct drv_presculpt_params p = hand_params();
    struct drv_presculpt *ps = drv_presculpt_new(&p);
    int busy = drv_presculpt_class(ps, "busy", "g1", &one_vcpu);
    int gone = drv_presculpt_class(ps, "gone", "g2", &one_vcpu);
    rng_state = 13;
    for (int64_t t = 0; t < 100; t++) {
        drv_presculpt_record(ps, busy, t * 60, poisson(3));
        if (t < 5)
            drv_presculpt_record(ps, gone, t * 60, 2);
    }
    for (int64_t t = 100; t < 2000; t++)
        drv_presculpt_record(ps, busy, t * 60, poisson(3));
    struct drv_forecast_step st;
    double conf;
    struct err *err = NULL;
    assert_int_equal(drv_presculpt_forecast(ps, busy, 2000 * 60, &st, 1, &conf, &err), 0);
    assert_true(conf > 0.999);
    assert_int_equal(drv_presculpt_forecast(ps, gone, 2000 * 60, &st, 1, &conf, &err), 0);
    assert_true(conf < 0.5);
    assert_int_equal(drv_presculpt_forecast(ps, 7, 0, &st, 1, &conf, &err), -1);
    assert_int_equal(err_code_of(err), ERR_NOT_FOUND);
    err_clear(&err);
    drv_presculpt_free(ps);
}

static void test_params_and_errors(void **state)
{
    (void)state;
    struct drv_presculpt_params p = params(60);
    assert_true(p.idle_budget == 0.1 && p.max_share == 0.1);
    assert_true(p.cold_start_s == 30 && p.cold_start_price == 0.03);
    assert_true(p.member_ttl_s == 1800 && p.horizon_s == 1800);
    struct drv_presculpt *ps = drv_presculpt_new(&p);
    struct err *err = NULL;
    struct drv_presculpt_plan_out out;
    assert_int_equal(drv_presculpt_plan(ps, 600, 60, NULL, NULL, false, &out, &err), -1);
    assert_int_equal(err_code_of(err), ERR_INVALID);
    err_clear(&err);
    struct drv_presculpt_params q = p;
    q.interval_s = 300;
    assert_int_equal(drv_presculpt_set_params(ps, &q, &err), -1);
    err_clear(&err);
    q = p;
    q.idle_budget = 0.2;
    assert_int_equal(drv_presculpt_set_params(ps, &q, &err), 0);
    assert_true(drv_presculpt_params(ps)->idle_budget == 0.2);
    /* the same key is the same class */
    int a = drv_presculpt_class(ps, "x", "g", &one_vcpu);
    assert_int_equal(drv_presculpt_class(ps, "x", "other", &one_vcpu), a);
    assert_string_equal(drv_presculpt_group_key(ps, drv_presculpt_class_group(ps, a)), "g");
    assert_int_equal(drv_presculpt_nclasses(ps), 1);
    drv_presculpt_free(ps);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gamma_p),
        cmocka_unit_test(test_nb_exact),
        cmocka_unit_test(test_nb_large),
        cmocka_unit_test(test_nb_steadier_than_poisson),
        cmocka_unit_test(test_ratio_hist),
        cmocka_unit_test(test_forecast_poisson),
        cmocka_unit_test(test_forecast_daily_cycle),
        cmocka_unit_test(test_forecast_bursts),
        cmocka_unit_test(test_forecast_timer),
        cmocka_unit_test(test_forecast_trend),
        cmocka_unit_test(test_forecast_families),
        cmocka_unit_test(test_forecast_day_through_bursts),
        cmocka_unit_test(test_size_hand_worked),
        cmocka_unit_test(test_plan_budget),
        cmocka_unit_test(test_plan_host_share),
        cmocka_unit_test(test_plan_group_pooling),
        cmocka_unit_test(test_plan_family_pooling),
        cmocka_unit_test(test_plan_family_base),
        cmocka_unit_test(test_confidence),
        cmocka_unit_test(test_params_and_errors),
        cmocka_unit_test(test_idle_calibration_kept),
        cmocka_unit_test(test_drop_classes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

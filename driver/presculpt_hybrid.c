/* The hybrid histogram policy of "Serverless in the Wild" (Shahrad,
 * Fonseca, Goiri, Chaudhry, Batum, Cooke, Laureano, Tresness, Russinovich,
 * Bianchini; USENIX ATC 2020, section 4.2; arXiv:2003.03423), the
 * pre-warming baseline of `sculpt-replay --arrivals`.
 *
 * As the paper describes it, per application:
 *   - a range-limited histogram of idle times (IT: the time between one
 *     invocation and the next), 1-minute bins over 4 hours;
 *   - if the histogram is representative, pre-warm at its head (5th
 *     percentile, rounded down) less a 10% margin after an invocation, and
 *     keep alive until its tail (99th percentile, rounded up) plus 10%;
 *     a head of 0 means the application is not unloaded at all;
 *   - representative means the coefficient of variation of the bin counts
 *     is at least 2 (a peaked histogram); below, and until enough ITs are
 *     known, the standard keep-alive: no pre-warming, keep alive for the
 *     histogram's range (4 hours);
 *   - if most ITs fall out of the range, forecast the next IT with an ARIMA
 *     model and keep the application loaded from 15% before to 15% after it.
 * Where the paper gives no number we use those of independent
 * re-implementations (osukhoroslov/dslab's dslab-faas-extra, and the
 * constants other reproductions registered): at least 10 ITs before the
 * histogram is trusted, "most" = more than half, an ARIMA history of the
 * last 50 ITs.  The ARIMA model is ARIMA(0,1,1) (simple exponential
 * smoothing) with its one parameter fitted by least squares on a grid:
 * the paper fits orders automatically; out-of-range ITs are rare in these
 * traces.
 *
 * The paper's unit is an application loaded in memory, which serves all
 * its invocations.  A pre-sculpted guest serves one request, so here an
 * application's "loaded image" is a pool holding as many members as the
 * class's last active interval asked for; idle times are measured between
 * a class's active intervals, at the replay's interval.
 */
#include <math.h>
#include <string.h>

#include "common/alloc.h"
#include "driver/presculpt_replay_priv.h"

#define HY_RANGE_MIN 240        /* 4 hours of 1-minute bins */
#define HY_HEAD 0.05
#define HY_TAIL 0.99
#define HY_MARGIN 0.10
#define HY_CV_MIN 2.0
#define HY_MIN_ITS 10
#define HY_OOB_MAX 0.5
#define HY_ARIMA_MARGIN 0.15
#define HY_ARIMA_HIST 50

struct hy_class {
    uint32_t hist[HY_RANGE_MIN];
    uint32_t n_in, n_oob;
    int64_t last_bin;           /* -1: never active */
    uint32_t last_count;
    double win_lo_s, win_hi_s;  /* loaded while last + lo <= t <= last + hi */
    double its[HY_ARIMA_HIST];  /* recent ITs, a ring */
    uint32_t nits;
};

struct drv_hybrid {
    int64_t bin_s;
    size_t ncls;
    struct hy_class *cls;
};

struct drv_hybrid *drv_hybrid_new(size_t nclasses, int64_t bin_s)
{
    struct drv_hybrid *h = xzalloc(sizeof(*h));
    h->bin_s = bin_s;
    h->ncls = nclasses;
    h->cls = xcalloc(nclasses ? nclasses : 1, sizeof(*h->cls));
    for (size_t i = 0; i < nclasses; i++)
        h->cls[i].last_bin = -1;
    return h;
}

void drv_hybrid_free(struct drv_hybrid *h)
{
    if (!h)
        return;
    free(h->cls);
    free(h);
}

/* ARIMA(0,1,1) one-step forecast of the IT series: exponential smoothing
 * with the grid alpha of least one-step squared error. */
static double hy_arima(const struct hy_class *c)
{
    uint32_t n = c->nits < HY_ARIMA_HIST ? c->nits : HY_ARIMA_HIST;
    uint32_t start = c->nits - n;
    double best = INFINITY, best_fc = c->its[(c->nits - 1) % HY_ARIMA_HIST];
    for (int g = 1; g <= 9; g++) {
        double a = g / 10.0, lvl = c->its[start % HY_ARIMA_HIST], sse = 0;
        for (uint32_t i = start + 1; i < c->nits; i++) {
            double x = c->its[i % HY_ARIMA_HIST];
            sse += (x - lvl) * (x - lvl);
            lvl += a * (x - lvl);
        }
        if (sse < best) {
            best = sse;
            best_fc = lvl;
        }
    }
    return best_fc;
}

/* The window after an invocation, from the class's history. */
static void hy_window(const struct hy_class *c, double *lo_s, double *hi_s)
{
    uint32_t n = c->n_in + c->n_oob;
    *lo_s = 0;
    *hi_s = HY_RANGE_MIN * 60.0; /* standard keep-alive */
    if (n < HY_MIN_ITS)
        return;
    if (c->n_oob > HY_OOB_MAX * n) {
        double it = hy_arima(c);
        *lo_s = (1 - HY_ARIMA_MARGIN) * it;
        *hi_s = (1 + HY_ARIMA_MARGIN) * it;
        return;
    }
    double mean = (double)c->n_in / HY_RANGE_MIN, ss = 0;
    for (int i = 0; i < HY_RANGE_MIN; i++)
        ss += (c->hist[i] - mean) * (c->hist[i] - mean);
    double cv = mean > 0 ? sqrt(ss / (HY_RANGE_MIN - 1)) / mean : 0;
    if (cv < HY_CV_MIN)
        return;
    uint64_t cum = 0;
    int head = -1, tail = HY_RANGE_MIN - 1;
    for (int i = 0; i < HY_RANGE_MIN; i++) {
        cum += c->hist[i];
        if (head < 0 && (double)cum >= HY_HEAD * c->n_in)
            head = i;
        if ((double)cum >= HY_TAIL * c->n_in) {
            tail = i + 1;
            break;
        }
    }
    *lo_s = (1 - HY_MARGIN) * head * 60.0;
    *hi_s = (1 + HY_MARGIN) * tail * 60.0;
}

void drv_hybrid_observe(struct drv_hybrid *h, size_t cls, int64_t bin, uint32_t count)
{
    if (cls >= h->ncls || count == 0)
        return;
    struct hy_class *c = &h->cls[cls];
    if (c->last_bin >= 0 && bin > c->last_bin) {
        double it = (double)(bin - c->last_bin) * (double)h->bin_s;
        int m = (int)(it / 60);
        if (m >= HY_RANGE_MIN) {
            c->n_oob++;
        } else {
            c->hist[m]++;
            c->n_in++;
        }
        c->its[c->nits % HY_ARIMA_HIST] = it;
        c->nits++;
    }
    c->last_bin = bin;
    c->last_count = count;
    hy_window(c, &c->win_lo_s, &c->win_hi_s);
}

uint32_t drv_hybrid_target(const struct drv_hybrid *h, size_t cls, int64_t bin)
{
    if (cls >= h->ncls)
        return 0;
    const struct hy_class *c = &h->cls[cls];
    if (c->last_bin < 0 || bin <= c->last_bin)
        return 0;
    double since = (double)(bin - c->last_bin) * (double)h->bin_s;
    return since >= c->win_lo_s && since <= c->win_hi_s ? c->last_count : 0;
}

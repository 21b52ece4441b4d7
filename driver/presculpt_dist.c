/* The distribution of requests per interval: a negative binomial (a
 * Poisson whose rate is gamma-distributed, Var = mu + phi mu^2), summed
 * exactly for small means and approximated by a moment-matched gamma (or
 * normal) for large ones.  phi < 0 is a class steadier than Poisson (a
 * timer firing the same number of times every minute): a normal with that
 * variance, from a mean of one request up.  Pool sizing needs its
 * quantiles and E[(s-D)+], the members a pool of s leaves unclaimed. */
#include <math.h>

#include "driver/presculpt_priv.h"

#define GAMMA_EPS 1e-15
#define GAMMA_ITERS 100000
#define NORMAL_SHAPE 1e5 /* a gamma this peaked is a normal */
#define UNDER_MIN_MU 1.0 /* below, no steadier than Poisson */
#define VAR_FLOOR 0.01

double drv_gamma_p(double a, double x)
{
    if (!(x > 0))
        return 0;
    double lead = -x + a * log(x) - lgamma(a);
    if (x < a + 1) {
        /* series: gamma(a,x) = e^-x x^a sum x^n / (a (a+1) ... (a+n)) */
        double term = 1 / a, sum = term;
        for (int n = 1; n < GAMMA_ITERS; n++) {
            term *= x / (a + n);
            sum += term;
            if (term < sum * GAMMA_EPS)
                break;
        }
        double p = sum * exp(lead);
        return p < 1 ? p : 1;
    }
    /* continued fraction for Q(a, x) (modified Lentz) */
    const double tiny = 1e-300;
    double b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d;
    for (int i = 1; i < GAMMA_ITERS; i++) {
        double an = -i * (i - a);
        b += 2;
        d = an * d + b;
        if (fabs(d) < tiny)
            d = tiny;
        c = b + an / c;
        if (fabs(c) < tiny)
            c = tiny;
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < GAMMA_EPS)
            break;
    }
    double q = exp(lead) * h;
    return q > 0 ? 1 - q : 1;
}

/* Sparse classes are never steadier than Poisson. */
static double nb_phi(double mu, double phi)
{
    return phi < 0 && mu < UNDER_MIN_MU ? 0 : phi;
}

static double normal_cdf(double z);

double drv_nb_p0(double mu, double phi)
{
    if (!(mu > 0))
        return 1;
    phi = nb_phi(mu, phi);
    if (phi < 0) {
        double var = mu + phi * mu * mu;
        return normal_cdf((0.5 - mu) / sqrt(var > VAR_FLOOR ? var : VAR_FLOOR));
    }
    if (phi < 1e-9)
        return exp(-mu);
    return exp(-log1p(mu * phi) / phi);
}

static double normal_cdf(double z)
{
    return 0.5 * erfc(-z / M_SQRT2);
}

/* The large-mean approximation: continuous X with the NB's mean and
 * variance; P(D <= s) is P(X <= s + 0.5), E[(s - D)+] is E[(s - X)+]. */
struct nb_cont {
    double mu, var, k, theta;
    bool normal;
};

static struct nb_cont nb_cont(double mu, double phi)
{
    struct nb_cont c = {.mu = mu, .var = mu + phi * mu * mu};
    if (c.var < VAR_FLOOR)
        c.var = VAR_FLOOR;
    c.k = mu * mu / c.var;
    c.theta = c.var / mu;
    c.normal = phi < 0 || c.k > NORMAL_SHAPE;
    return c;
}

static double nb_cont_cdf(const struct nb_cont *c, double x)
{
    if (c->normal)
        return normal_cdf((x - c->mu) / sqrt(c->var));
    return drv_gamma_p(c->k, x / c->theta);
}

/* E[(x - X)+] */
static double nb_cont_left(const struct nb_cont *c, double x)
{
    if (x <= 0)
        return 0;
    if (c->normal) {
        double sd = sqrt(c->var), z = (x - c->mu) / sd;
        return sd * (z * normal_cdf(z) + exp(-0.5 * z * z) / sqrt(2 * M_PI));
    }
    double v = x * drv_gamma_p(c->k, x / c->theta) - c->mu * drv_gamma_p(c->k + 1, x / c->theta);
    return v > 0 ? v : 0;
}

/* Exact NB: walk the pmf from 0.  Stops at the first s with F(s) >= q (or
 * at stop_s); returns s and the CDF and E[(s-D)+] there. */
static uint32_t nb_walk(double mu, double phi, double q, uint32_t stop_s, double *cdf,
                        double *left)
{
    double p = drv_nb_p0(mu, phi), F = p, L = 0;
    double odds = phi < 1e-9 ? 0 : mu * phi / (1 + mu * phi), r = phi < 1e-9 ? 0 : 1 / phi;
    uint32_t s = 0;
    while (F < q && s < stop_s) {
        L += F; /* E[(s+1-D)+] = E[(s-D)+] + F(s) */
        s++;
        p *= phi < 1e-9 ? mu / s : (s - 1 + r) / s * odds;
        F += p;
        if (p == 0 && s > mu) /* underflow far in the tail */
            break;
    }
    if (cdf)
        *cdf = F < 1 ? F : 1;
    if (left)
        *left = L;
    return s;
}

static bool nb_exact(double mu, double phi)
{
    return phi >= 0 && mu <= DRV_NB_EXACT_MAX;
}

double drv_nb_cdf(double mu, double phi, uint32_t s)
{
    if (!(mu > 0))
        return 1;
    phi = nb_phi(mu, phi);
    if (nb_exact(mu, phi)) {
        double F;
        nb_walk(mu, phi, 2, s, &F, NULL);
        return F;
    }
    struct nb_cont c = nb_cont(mu, phi);
    return nb_cont_cdf(&c, s + 0.5);
}

double drv_nb_left(double mu, double phi, uint32_t s)
{
    if (!(mu > 0))
        return s;
    phi = nb_phi(mu, phi);
    if (nb_exact(mu, phi)) {
        double F, L;
        uint32_t at = nb_walk(mu, phi, 2, s, &F, &L);
        /* the walk may stop early in an underflowed tail: F is 1 there */
        return L + (double)(s - at) * F;
    }
    if (s == 0)
        return 0;
    struct nb_cont c = nb_cont(mu, phi);
    return nb_cont_left(&c, s);
}

uint32_t drv_nb_table(double mu, double phi, double q_top, double *F, double *L, uint32_t max)
{
    if (max == 0)
        return 0;
    if (!(mu > 0)) {
        F[0] = 1;
        L[0] = 0;
        return 1;
    }
    phi = nb_phi(mu, phi);
    if (!nb_exact(mu, phi))
        return 0;
    double p = drv_nb_p0(mu, phi);
    double odds = phi < 1e-9 ? 0 : mu * phi / (1 + mu * phi), r = phi < 1e-9 ? 0 : 1 / phi;
    uint32_t s = 0;
    F[0] = p;
    L[0] = 0;
    while (F[s] < q_top && s + 1 < max) {
        s++;
        p *= phi < 1e-9 ? mu / s : (s - 1 + r) / s * odds;
        L[s] = L[s - 1] + F[s - 1];
        F[s] = F[s - 1] + p;
        if (p == 0 && s > mu)
            break;
    }
    return s + 1;
}

uint32_t drv_nb_quantile(double mu, double phi, double q, uint32_t cap, double *left)
{
    if (!(mu > 0) || q <= 0) {
        if (left)
            *left = 0;
        return 0;
    }
    phi = nb_phi(mu, phi);
    if (nb_exact(mu, phi))
        return nb_walk(mu, phi, q, cap, NULL, left);
    struct nb_cont c = nb_cont(mu, phi);
    /* bracket, then bisect on integers for the smallest s with F(s) >= q */
    double sd = sqrt(c.var);
    double hi = ceil(mu + 4 * sd);
    while (nb_cont_cdf(&c, hi + 0.5) < q && hi < cap)
        hi = 2 * hi + 1;
    if (hi > cap)
        hi = cap;
    uint32_t lo_s = 0, hi_s = (uint32_t)hi;
    while (lo_s < hi_s) {
        uint32_t mid = lo_s + (hi_s - lo_s) / 2;
        if (nb_cont_cdf(&c, mid + 0.5) >= q)
            hi_s = mid;
        else
            lo_s = mid + 1;
    }
    if (left)
        *left = lo_s ? nb_cont_left(&c, lo_s) : 0;
    return lo_s;
}

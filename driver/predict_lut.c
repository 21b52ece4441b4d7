/* Bucket lookup without a search (predict_priv.h, drv_pr_lut): the hot
 * path files every sample into log-spaced buckets several times, and a
 * binary search over the edges was a tenth of a sample's work.  A table
 * over the value's binary exponent and top mantissa bits gives the bucket
 * of the cell's lowest value; the edges are at least as wide as a cell or
 * nearly so, so a step or two up finds the value's own bucket. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "driver/predict_priv.h"

/* x's binary exponent and its top PR_LUT_BITS mantissa bits, for a
 * positive normal double. */
static inline void pr_lut_split(double x, int *e, int *m)
{
    uint64_t bits;
    memcpy(&bits, &x, sizeof(bits));
    *e = (int)((bits >> 52) & 0x7ff) - 1023;
    *m = (int)((bits >> (52 - PR_LUT_BITS)) & ((1u << PR_LUT_BITS) - 1));
}

void drv_pr_lut_init(struct drv_pr_lut *l, const double *edge, int n)
{
    l->edge = edge;
    l->n = n;
    int e1, en, m;
    pr_lut_split(edge[1], &e1, &m);
    pr_lut_split(edge[n - 1], &en, &m);
    l->emin = e1;
    l->ncells = (en - e1 + 1) << PR_LUT_BITS;
    if (l->ncells > PR_LUT_CELLS)
        l->ncells = PR_LUT_CELLS; /* a wider range finds its way by steps */
    int j = 0;
    for (int c = 0; c < l->ncells; c++) {
        double lo = ldexp(1.0 + (double)(c & ((1 << PR_LUT_BITS) - 1)) / (1 << PR_LUT_BITS),
                          l->emin + (c >> PR_LUT_BITS));
        while (j + 1 < n && lo >= edge[j + 1])
            j++;
        l->cell[c] = (uint8_t)j;
    }
}

int drv_pr_lut_find(const struct drv_pr_lut *l, double x)
{
    const double *edge = l->edge;
    int n = l->n;
    if (!(x >= edge[1]))
        return 0;
    if (x >= edge[n - 1])
        return n - 1;
    int e, m;
    pr_lut_split(x, &e, &m);
    int c = ((e - l->emin) << PR_LUT_BITS) | m;
    int j = c < l->ncells ? l->cell[c] : l->cell[l->ncells - 1];
    while (x >= edge[j + 1])
        j++;
    return j;
}

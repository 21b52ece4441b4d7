/* Which reclaimable guests a real guest needs the room of.
 *
 * Reclaimable guests (idle pre-sculpted pool members) hold room for
 * requests that may never come; a request that does come must not be
 * refused for their sake.  The caller names them cheapest to lose first
 * (the pool planner's confidence); the engine finds the shortest head of
 * that list whose room makes the newcomer fit.  Leaving more guests out
 * only lowers the sums admission checks, so the head is found by
 * bisection, each trial one admission check with the head marked
 * excluded.
 */
#include <string.h>

#include "driver/sculpt_priv.h"

/* The held reclaimable guest `uuid`, or NULL. */
static struct sculpt_guest *reclaim_candidate(struct drv_sculpt *e, const char *uuid)
{
    struct sculpt_guest *g = uuid ? sculpt_find(e, uuid) : NULL;
    return g && g->spec.reclaimable ? g : NULL;
}

/* Mark the first k candidates excluded (or not); the sums are rebuilt. */
static void reclaim_mark(struct drv_sculpt *e, const char *const *order, size_t k, bool on)
{
    for (size_t i = 0; i < k; i++) {
        struct sculpt_guest *g = reclaim_candidate(e, order[i]);
        if (g)
            g->excluded = on;
    }
    e->version++;
}

/* Does cand fit with the first k candidates left out? */
static bool reclaim_fits(struct drv_sculpt *e, const struct sculpt_guest *cand, int64_t now_s,
                         const char *const *order, size_t k, struct drv_sculpt_refusal *why)
{
    reclaim_mark(e, order, k, true);
    bool fits = sculpt_admit_check(e, cand, now_s, why) == 0;
    reclaim_mark(e, order, k, false);
    return fits;
}

int sculpt_reclaim_plan(struct drv_sculpt *e, const struct sculpt_guest *cand, int64_t now_s,
                        const char *const *order, size_t n, size_t *k,
                        struct drv_sculpt_refusal *why)
{
    size_t held = 0;
    for (size_t i = 0; i < n; i++)
        held += reclaim_candidate(e, order[i]) != NULL;
    if (held == 0)
        return -1; /* *why is the refusal as the host stands */
    if (!reclaim_fits(e, cand, now_s, order, n, why))
        return -1;
    /* fits with all n out, not with none: the shortest head in (lo, hi] */
    size_t lo = 0, hi = n;
    struct drv_sculpt_refusal scratch;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (reclaim_fits(e, cand, now_s, order, mid, &scratch))
            hi = mid;
        else
            lo = mid;
    }
    *k = hi;
    return 0;
}

/* Memory hot-plug bookkeeping (vmem.h): pure, no libvirt call. */
#include <string.h>

#include "driver/libvirt/vmem.h"

void lv_vmem_defined(struct lv_vmem *v, uint64_t boot_kib, uint64_t size_kib)
{
    memset(v, 0, sizeof(*v));
    v->boot_kib = boot_kib;
    v->size_kib = size_kib;
}

void lv_vmem_request(struct lv_vmem *v, uint64_t requested_kib, int64_t now_ms)
{
    v->requested_kib = requested_kib;
    v->since_ms = now_ms;
    v->stalled = false;
}

static uint64_t gap(uint64_t a, uint64_t b)
{
    return a > b ? a - b : b - a;
}

enum lv_vmem_news lv_vmem_observe(struct lv_vmem *v, uint64_t current_kib, int64_t now_ms,
                                  int64_t timeout_ms)
{
    if (!v->size_kib)
        return LV_VMEM_NEWS_NONE;
    if (gap(current_kib, v->requested_kib) < gap(v->current_kib, v->requested_kib))
        v->since_ms = now_ms; /* it moves: give it the time */
    v->current_kib = current_kib;
    if (current_kib == v->requested_kib) {
        bool was = v->stalled;
        v->stalled = false;
        return was ? LV_VMEM_NEWS_CAUGHT_UP : LV_VMEM_NEWS_NONE;
    }
    if (!v->stalled && now_ms - v->since_ms >= timeout_ms) {
        v->stalled = true;
        v->stalls++;
        return LV_VMEM_NEWS_STALLED;
    }
    return LV_VMEM_NEWS_NONE;
}

bool lv_vmem_pending(const struct lv_vmem *v)
{
    return v->size_kib && v->current_kib != v->requested_kib;
}

uint64_t lv_vmem_held_kib(const struct lv_vmem *v, uint64_t balloon_kib)
{
    return balloon_kib + (v->size_kib ? v->current_kib : 0);
}

uint64_t lv_vmem_balloon_now_kib(const struct lv_vmem *v)
{
    return v->balloon_kib && v->balloon_kib < v->boot_kib ? v->balloon_kib : v->boot_kib;
}

uint64_t lv_vmem_balloon_kib(const struct lv_vmem *v, uint64_t split_balloon_kib,
                             uint64_t floor_kib)
{
    if (!v->size_kib || !v->stalled || v->current_kib <= v->requested_kib)
        return split_balloon_kib;
    uint64_t excess = v->current_kib - v->requested_kib;
    if (split_balloon_kib <= floor_kib)
        return split_balloon_kib;
    return split_balloon_kib - excess > floor_kib && excess < split_balloon_kib
               ? split_balloon_kib - excess
               : floor_kib;
}

const char *lv_vmem_news_name(enum lv_vmem_news n)
{
    static const char *const names[LV_VMEM_NEWS_LAST] = {"none", "stalled", "caught-up"};
    return (unsigned)n < LV_VMEM_NEWS_LAST ? names[n] : "?";
}

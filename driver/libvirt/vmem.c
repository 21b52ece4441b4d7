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

bool lv_vmem_due(struct lv_vmem *v, enum lv_vmem_guest g, int64_t now_ms, int64_t timeout_ms)
{
    if (!v->size_kib || !lv_vmem_pending(v) || v->stalled)
        return false;
    if (g == LV_VMEM_GUEST_PAUSED || g == LV_VMEM_GUEST_BOOTING) {
        v->since_ms = now_ms;
        v->held = true;
        return false;
    }
    if (g != LV_VMEM_GUEST_RUNNING)
        return false;
    if (v->held) { /* it can move from now on */
        v->since_ms = now_ms;
        v->held = false;
        return false;
    }
    return now_ms - v->since_ms >= timeout_ms;
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

/* Offline memory shows in whole memory blocks (128 MiB on x86-64): less
 * than half of one is the noise of the kernel's own allocations. */
#define LV_VMEM_OFFLINE_MIN_KIB (64ULL * 1024)

enum lv_vmem_news lv_vmem_observe_total(struct lv_vmem *v, uint64_t held_kib, uint64_t total_kib,
                                        int64_t stats_wall_s, int64_t now_wall_s, int64_t now_ms,
                                        int64_t timeout_ms)
{
    if (!v->size_kib || !total_kib || !held_kib)
        return LV_VMEM_NEWS_NONE;
    if (held_kib != v->held_seen_kib) {
        v->held_seen_kib = held_kib;
        v->held_wall_s = now_wall_s;
        return LV_VMEM_NEWS_NONE; /* its statistics have yet to follow */
    }
    if (stats_wall_s <= v->held_wall_s)
        return LV_VMEM_NEWS_NONE;
    uint64_t gap = held_kib > total_kib ? held_kib - total_kib : 0;
    /* the kernel's own share is learnt with nothing plugged nor asked: a
     * plug in flight or done before the first statistics (left offline,
     * perhaps) would pass for the kernel's and hide itself for good */
    bool unplugged = !v->current_kib && !v->requested_kib;
    if (unplugged && (!v->has_gap_base || gap < v->gap_base_kib)) {
        v->gap_base_kib = gap;
        v->has_gap_base = true;
    }
    if (!v->has_gap_base)
        return LV_VMEM_NEWS_NONE; /* nothing to judge by yet */
    /* the page structures of plugged memory come out of the boot memory:
     * 64 bytes a 4-KiB page, 1/64; allow twice that */
    uint64_t allowed = v->gap_base_kib + v->current_kib / 32;
    v->offline_kib = gap > allowed ? gap - allowed : 0;
    if (v->offline_kib >= LV_VMEM_OFFLINE_MIN_KIB) {
        if (!v->offline_since_ms)
            v->offline_since_ms = now_ms;
        if (!v->offline && now_ms - v->offline_since_ms >= timeout_ms) {
            v->offline = true;
            return LV_VMEM_NEWS_OFFLINE;
        }
        return LV_VMEM_NEWS_NONE;
    }
    v->offline_since_ms = 0;
    if (v->offline) {
        v->offline = false;
        return LV_VMEM_NEWS_ONLINED;
    }
    return LV_VMEM_NEWS_NONE;
}

void lv_vmem_restore_gap(struct lv_vmem *v, uint64_t gap_base_kib)
{
    if (!v->size_kib || (v->has_gap_base && v->gap_base_kib <= gap_base_kib))
        return;
    v->gap_base_kib = gap_base_kib;
    v->has_gap_base = true;
}

uint64_t lv_vmem_usable_kib(const struct lv_vmem *v, uint64_t balloon_kib)
{
    uint64_t held = lv_vmem_held_kib(v, balloon_kib);
    if (!v->offline)
        return held;
    return v->offline_kib < held ? held - v->offline_kib : 0;
}

const char *lv_vmem_news_name(enum lv_vmem_news n)
{
    static const char *const names[LV_VMEM_NEWS_LAST] = {"none", "stalled", "caught-up",
                                                         "offline", "onlined"};
    return (unsigned)n < LV_VMEM_NEWS_LAST ? names[n] : "?";
}

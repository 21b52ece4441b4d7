/* Memory hot-plug bookkeeping of one guest: how its domain splits memory
 * (boot memory and a virtio-mem device), what sculpt requested of the
 * device, what the guest plugged, and whether the guest keeps up.
 *
 * A guest plugs (or unplugs) on its own time, and a guest without the
 * virtio_mem driver never does: the request stands in QEMU while the guest
 * stays at its boot memory.  So the request is made once (a reshape calls
 * only when the requested size changes), what the guest holds is what it
 * plugged (libvirt's <current>, followed by its memory-device-size-change
 * event), and a guest that makes no move towards the request for a
 * timeout is declared stalled, once, until it catches up.  Pure: the
 * caller holds the lock, passes the time and reports the verdicts.
 */
#ifndef SC_DRIVER_LIBVIRT_VMEM_H
#define SC_DRIVER_LIBVIRT_VMEM_H

#include <stdbool.h>
#include <stdint.h>

struct lv_vmem {
    uint64_t boot_kib, size_kib; /* the definition (size 0: no device,
                                  * the balloon holds all) */
    uint64_t requested_kib;      /* the device's requested size as set */
    uint64_t current_kib;        /* what the guest plugged, as last seen */
    int64_t since_ms;            /* monotonic: the request, or the guest's
                                  * last move towards it */
    uint64_t balloon_kib;        /* the balloon target as set (0: unknown) */
    bool stalled;                /* no move for the timeout (reported) */
    uint32_t stalls;             /* times declared stalled (this boot) */
    bool held;                   /* the last tick found the guest paused or
                                  * booting: no time ran (lv_vmem_due) */
    /* Plugged but offline: the guest's MemTotal against what it holds
     * (lv_vmem_observe_total).  The gap between them is its kernel's own
     * reservation, plus the page structures of what it plugged, plus what
     * it left offline. */
    uint64_t held_seen_kib;  /* what it held at the last sample */
    int64_t held_wall_s;     /* when that was first seen (Unix s) */
    uint64_t gap_base_kib;   /* the smallest gap seen with nothing plugged nor asked:
                              * its kernel's own (none: nothing judged) */
    bool has_gap_base;
    uint64_t offline_kib;    /* plugged memory it does not show (estimate) */
    int64_t offline_since_ms; /* monotonic: since it shows short; 0: it does not */
    bool offline;            /* short for the timeout (reported) */
};

/* What a change of the record means for the operator. */
enum lv_vmem_news {
    LV_VMEM_NEWS_NONE,
    LV_VMEM_NEWS_STALLED,   /* the guest stopped short of the request */
    LV_VMEM_NEWS_CAUGHT_UP, /* a stalled guest reached the request after all */
    LV_VMEM_NEWS_OFFLINE,   /* the guest plugged memory it left offline */
    LV_VMEM_NEWS_ONLINED,   /* ... and onlined it after all */
    LV_VMEM_NEWS_LAST,
};

/* What a guest can do about a request at one tick. */
enum lv_vmem_guest {
    LV_VMEM_GUEST_RUNNING,  /* running, its memory figures known (or never to come) */
    LV_VMEM_GUEST_BOOTING,  /* running, its balloon driver yet to report: its
                             * virtio_mem driver may not have loaded either */
    LV_VMEM_GUEST_PAUSED,   /* it cannot move */
    LV_VMEM_GUEST_DOWN,     /* not running: nothing to wait for */
    LV_VMEM_GUEST_LAST,
};

/* A fresh record for a domain defined with boot_kib of boot memory and a
 * device of size_kib, nothing requested nor plugged. */
void lv_vmem_defined(struct lv_vmem *v, uint64_t boot_kib, uint64_t size_kib);

/* The device's requested size was set to requested_kib at now_ms: the
 * timeout runs from here (a stalled guest gets a new chance). */
void lv_vmem_request(struct lv_vmem *v, uint64_t requested_kib, int64_t now_ms);

/* The guest holds current_kib plugged at now_ms (an event, a read back,
 * or the same value again to let time pass).  A move towards the request
 * restarts the timeout.  Returns the news: STALLED when the guest made no
 * move for timeout_ms short of the request (once per request), CAUGHT_UP
 * when a stalled guest reaches it. */
enum lv_vmem_news lv_vmem_observe(struct lv_vmem *v, uint64_t current_kib, int64_t now_ms,
                                  int64_t timeout_ms);

/* One tick of the stall watch at now_ms: is a pending request due to be
 * declared stalled (timeout_ms without a move)?  Time runs only while the
 * guest runs with its memory figures known: a paused guest cannot move,
 * and a booting one has not loaded the driver that plugs, so a request
 * made while it boots (its first shape) waits from the first tick it runs
 * with them.  The caller then reads the device back, and
 * lv_vmem_observe() declares the stall. */
bool lv_vmem_due(struct lv_vmem *v, enum lv_vmem_guest g, int64_t now_ms, int64_t timeout_ms);

/* The guest's own statistics at one sample: held_kib what it holds as
 * the host sees it (the balloon plus what it plugged: libvirt's
 * balloon.current), total_kib its MemTotal, taken at stats_wall_s (the
 * balloon driver's last update), now_wall_s the sample's time.  Plugged
 * memory the guest leaves offline (a kernel that does not online what is
 * hot-added) is plugged as the host sees it but absent from its MemTotal.
 * A sample counts only when the guest's statistics are newer than the
 * last change of what it holds (they trail it by up to a stats period).
 * Returns OFFLINE when the guest has shown more than a memory block short
 * of what it plugged for timeout_ms (once), ONLINED when such a guest
 * shows it again. */
enum lv_vmem_news lv_vmem_observe_total(struct lv_vmem *v, uint64_t held_kib, uint64_t total_kib,
                                        int64_t stats_wall_s, int64_t now_wall_s, int64_t now_ms,
                                        int64_t timeout_ms);

/* The kernel's own share learnt earlier in this run of the guest (kept in
 * its run metadata: a restarted sculpt) is the base from here, unless a
 * smaller one was seen since: memory the guest already left offline is
 * then not taken for its kernel's. */
void lv_vmem_restore_gap(struct lv_vmem *v, uint64_t gap_base_kib);

/* What the guest can use: what it holds less what it left offline, once
 * declared (else what it holds). */
uint64_t lv_vmem_usable_kib(const struct lv_vmem *v, uint64_t balloon_kib);

/* Is the guest short of (or above) its request now? */
bool lv_vmem_pending(const struct lv_vmem *v);

/* Memory the guest holds: the balloon target within the boot memory
 * (balloon_kib) plus what it plugged.  Without a device: the balloon. */
uint64_t lv_vmem_held_kib(const struct lv_vmem *v, uint64_t balloon_kib);

/* The balloon as set, within the boot memory (the boot memory when not
 * known). */
uint64_t lv_vmem_balloon_now_kib(const struct lv_vmem *v);

/* The balloon target that keeps a guest at mem_kib when it holds more
 * plugged than requested (blocks it could not unplug: kernel memory):
 * the split's balloon lowered by the excess, never below floor_kib.  The
 * excess counts only once the unplug stalled (a guest still unplugging
 * is given the time).  Equals the split's balloon otherwise. */
uint64_t lv_vmem_balloon_kib(const struct lv_vmem *v, uint64_t split_balloon_kib,
                             uint64_t floor_kib);

/* "stalled", "caught-up"... */
const char *lv_vmem_news_name(enum lv_vmem_news n);

#endif

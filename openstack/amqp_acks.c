/* Ack batching for openstack/amqp.c (amqp_priv.h). */
#include <string.h>

#include "common/alloc.h"
#include "openstack/amqp_priv.h"

#define UNACKED_AT(u, i) (((u)->head + (i)) % (u)->cap)

void os_amqp_unacked_release(struct os_amqp_unacked *u)
{
    free(u->tag);
    free(u->state);
    memset(u, 0, sizeof(*u));
}

void os_amqp_unacked_reset(struct os_amqp_unacked *u)
{
    u->head = u->n = u->ndone = 0;
}

void os_amqp_unacked_push(struct os_amqp_unacked *u, uint64_t tag)
{
    if (u->n == u->cap) {
        size_t cap = u->cap ? 2 * u->cap : 64;
        uint64_t *t = xcalloc(cap, sizeof(*t));
        uint8_t *s = xcalloc(cap, sizeof(*s));
        for (size_t i = 0; i < u->n; i++) {
            t[i] = u->tag[UNACKED_AT(u, i)];
            s[i] = u->state[UNACKED_AT(u, i)];
        }
        free(u->tag);
        free(u->state);
        u->tag = t;
        u->state = s;
        u->cap = cap;
        u->head = 0;
    }
    size_t at = UNACKED_AT(u, u->n);
    u->tag[at] = tag;
    u->state[at] = OS_UNACKED_RUNNING;
    u->n++;
}

/* Position of tag among the waiting ones (tags grow), or n. */
static size_t unacked_find(const struct os_amqp_unacked *u, uint64_t tag)
{
    size_t lo = 0, hi = u->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t t = u->tag[UNACKED_AT(u, mid)];
        if (t == tag)
            return mid;
        if (t < tag)
            lo = mid + 1;
        else
            hi = mid;
    }
    return u->n;
}

bool os_amqp_unacked_done(struct os_amqp_unacked *u, uint64_t tag, int64_t now_ms)
{
    size_t i = unacked_find(u, tag);
    if (i == u->n)
        return false;
    uint8_t *st = &u->state[UNACKED_AT(u, i)];
    if (*st == OS_UNACKED_DONE)
        return true; /* a second ack of the same delivery: already counted */
    *st = OS_UNACKED_DONE;
    if (u->ndone++ == 0)
        u->held_since_ms = now_ms;
    return true;
}

/* Ack every finished delivery on its own and drop it, keeping the
 * unfinished ones in order.  Returns -1 when send fails (the rest stays). */
static int unacked_send_each(struct os_amqp_unacked *u,
                             int (*send)(void *opaque, uint64_t tag, bool multiple),
                             void *opaque)
{
    size_t w = 0, r = 0;
    int rc = 0;
    for (; r < u->n; r++) {
        size_t from = UNACKED_AT(u, r);
        if (rc == 0 && u->state[from] == OS_UNACKED_DONE) {
            if (send(opaque, u->tag[from], false) == 0) {
                u->ndone--;
                continue;
            }
            rc = -1;
        }
        size_t to = UNACKED_AT(u, w);
        u->tag[to] = u->tag[from];
        u->state[to] = u->state[from];
        w++;
    }
    u->n = w;
    return rc;
}

int os_amqp_unacked_emit(struct os_amqp_unacked *u, int64_t now_ms, int64_t hold_ms, bool force,
                         int (*send)(void *opaque, uint64_t tag, bool multiple), void *opaque)
{
    /* The finished run at the front, acked up to its last one.  Nothing
     * before it is unacked (acked entries leave the ring), so the range
     * is exactly this run. */
    uint64_t last = 0;
    bool any = false;
    while (u->n > 0 && u->state[u->head] == OS_UNACKED_DONE) {
        last = u->tag[u->head];
        any = true;
        u->head = (u->head + 1) % u->cap;
        u->n--;
        u->ndone--;
    }
    if (any && send(opaque, last, true) < 0)
        return -1;
    /* What is left finished behind an unfinished one.  held_since_ms is
     * when the oldest of them finished, or earlier (a bound: it may be
     * the time of one just acked). */
    if (u->ndone == 0 || (!force && now_ms - u->held_since_ms < hold_ms))
        return 0;
    return unacked_send_each(u, send, opaque);
}

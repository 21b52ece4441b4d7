/* Internals of openstack/amqp.c, exposed for the unit tests. */
#ifndef SC_OPENSTACK_AMQP_PRIV_H
#define SC_OPENSTACK_AMQP_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;
struct amqp_basic_properties_t_;

/* The properties oslo's rabbit driver publishes every message with
 * (content_type application/json, content_encoding utf-8, delivery_mode
 * 2, priority 0, empty headers) and, when `expiration` is not NULL, that
 * per-message TTL in ms (calls).  The strings are static or borrowed.
 * Also for the load generator of bench-rpc, which must send what oslo
 * sends. */
void os_amqp_oslo_props(struct amqp_basic_properties_t_ *p, const char *expiration);

struct os_amqp_server {
    char *host;
    int port;
    char *user;
    char *password;
};

struct os_amqp_url {
    struct os_amqp_server *servers; /* owned, at least one */
    size_t nservers;
    char *vhost;                    /* "/" when the URL gives none */
};

/* Parse oslo's transport_url: rabbit:// (or amqp://), one or more
 * comma-separated [user[:pass]@]host[:port] (IPv6 in brackets), an
 * optional /vhost and an ignored ?query.  Percent-escapes are decoded.
 * Defaults: guest/guest, port 5672, vhost "/".  Returns 0 or -1 with
 * *err (ERR_INVALID). */
int os_amqp_url_parse(const char *url, struct os_amqp_url *out, struct err **err);
void os_amqp_url_release(struct os_amqp_url *u);

/* Request deliveries of one connection waiting for their ack, in delivery
 * order (tags grow), so that a run of finished ones goes out as one
 * basic.ack with `multiple` -- fewer frames for us and for the broker.
 * A finished delivery behind an unfinished one (a long build ahead of a
 * quick call) is acked on its own once it has waited `hold_ms`, or when
 * the connection goes idle (emit with force): no ack waits on another
 * request.  Acked deliveries leave it, so it holds only the unacked ones
 * and an ack(multiple) never covers one that is not finished.  One thread
 * (the I/O thread) uses it. */
enum { OS_UNACKED_RUNNING, OS_UNACKED_DONE };

struct os_amqp_unacked {
    uint64_t *tag;         /* ring of cap entries from head */
    uint8_t *state;        /* OS_UNACKED_* */
    size_t head, n, cap;
    size_t ndone;          /* DONE entries */
    int64_t held_since_ms; /* when ndone last left 0 */
};

void os_amqp_unacked_release(struct os_amqp_unacked *u);
/* Forget everything (the connection is gone: the broker requeues). */
void os_amqp_unacked_reset(struct os_amqp_unacked *u);
/* A request delivery with this tag arrived (larger than any before). */
void os_amqp_unacked_push(struct os_amqp_unacked *u, uint64_t tag);
/* Its handling is done.  Returns false when the tag is not waiting (ack
 * it on its own). */
bool os_amqp_unacked_done(struct os_amqp_unacked *u, uint64_t tag, int64_t now_ms);
/* Send what is due: the run of finished deliveries at the front as one
 * ack(multiple), then -- with `force`, or once they waited hold_ms -- the
 * finished ones behind an unfinished one, one by one.  `send` returns 0 or
 * -1 (connection broken: stop and return -1). */
int os_amqp_unacked_emit(struct os_amqp_unacked *u, int64_t now_ms, int64_t hold_ms, bool force,
                         int (*send)(void *opaque, uint64_t tag, bool multiple), void *opaque);

#endif

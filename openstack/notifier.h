/* Nova's notifications on the message bus, as oslo.messaging's Notifier
 * sends them for nova-compute (nova/rpc.py's LEGACY_NOTIFIER with
 * publisher_id "compute.<host>"): [oslo_messaging_notifications] driver,
 * topics and transport_url.
 *
 * Each notification is the dict {message_id, publisher_id, event_type,
 * priority, payload, timestamp} with the sanitized request context, sent
 * to [DEFAULT] control_exchange with routing key TOPIC.PRIORITY
 * ("notifications.info") for every topic, after the queue of that name is
 * declared and bound (oslo's _publish_and_creates_default_queue).
 *
 * Delivery never blocks the caller: notifications wait in the transport's
 * outbox while RabbitMQ is away and go out in order once it is back (the
 * reconnection of openstack/amqp.c).  While OS_NOTIFY_BACKLOG_MAX
 * messages already wait, a new notification is dropped with a log line
 * and counted: oslo's default (retry = -1) would instead hold the RPC
 * worker until the broker returns, and a compute must go on serving.  A
 * crash loses what still waits, as it loses oslo's.
 *
 * Thread: os_notify() from any thread; the rest from the owner's.
 */
#ifndef SC_OPENSTACK_NOTIFIER_H
#define SC_OPENSTACK_NOTIFIER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/alloc.h"

struct cfg;
struct err;
struct os_amqp;

/* Messages (of any kind) waiting for the broker beyond which a new
 * notification is dropped rather than queued. */
#define OS_NOTIFY_BACKLOG_MAX 1000

enum os_notify_driver {
    OS_NOTIFY_DRIVER_NONE,        /* "" or noop: nothing is sent */
    OS_NOTIFY_DRIVER_MESSAGINGV2, /* the oslo 2.0 envelope */
    OS_NOTIFY_DRIVER_MESSAGING,   /* the bare message (format 1.0) */
    OS_NOTIFY_DRIVER_LOG,         /* a log line instead of a message */
    OS_NOTIFY_DRIVER_LAST,
};

struct os_notifier;

/* A notifier for `cfg`'s driver and topics publishing as `publisher_id`
 * ("compute.HOST") through `rpc_amqp` (borrowed; it must outlive the
 * notifier), or through a transport of its own when
 * [oslo_messaging_notifications] transport_url is set.  NULL with *err
 * (ERR_INVALID) for a bad topic list or URL.  Free with
 * os_notifier_free. */
struct os_notifier *os_notifier_new(const struct cfg *cfg, const char *publisher_id,
                                    struct os_amqp *rpc_amqp, struct err **err);
/* Start the notifier's own transport, if it has one (connects in the
 * background).  0 or -1. */
int os_notifier_start(struct os_notifier *n, struct err **err);
/* Give what still waits on its own transport a last chance, then close
 * it.  Safe to call twice. */
void os_notifier_stop(struct os_notifier *n);
/* Stops it first; accepts NULL. */
void os_notifier_free(struct os_notifier *n);
DEFINE_AUTOPTR(os_notifier)

/* Are notifications sent at all (a driver other than none/noop)?  Lets
 * callers skip building payloads.  NULL: false. */
bool os_notifier_enabled(const struct os_notifier *n);

/* Send `event_type` ("compute.instance.create.start") at `priority`
 * ("INFO", "ERROR") with `payload` (stolen) in the name of request
 * context `ctx` (borrowed; NULL: an admin context).  Never fails and never
 * waits for the broker: a notification that cannot be queued is logged
 * and counted as dropped.  Accepts a NULL notifier (drops the payload).
 * Any thread. */
void os_notify(struct os_notifier *n, const json_t *ctx, const char *event_type,
               const char *priority, json_t *payload);

struct os_notifier_stats {
    uint64_t queued;   /* handed to the transport (one per topic) */
    uint64_t dropped;  /* not queued: broker away too long, stopping, bad payload */
};
void os_notifier_get_stats(struct os_notifier *n, struct os_notifier_stats *out);

#endif

/* Internals of openstack/notifier.c, exposed for the unit tests. */
#ifndef SC_OPENSTACK_NOTIFIER_PRIV_H
#define SC_OPENSTACK_NOTIFIER_PRIV_H

#include <jansson.h>
#include <stdint.h>

/* The driver named by [oslo_messaging_notifications] driver ("", noop,
 * messagingv2, messaging, log); -1 for any other name. */
int os_notify_driver_parse(const char *name);

/* oslo's str(timeutils.utcnow()): "2026-11-27 13:05:01.123456", the
 * fraction left out when it is zero, as Python's str() of a naive
 * datetime does.  Returns buf (at least 32 bytes). */
char *os_notify_timestamp(int64_t wall_us, char *buf, int size);

/* The context a notification carries: oslo's _sanitize_context (only the
 * identity keys kept: no token, no service catalog, no remote address)
 * then nova's RequestContext.from_dict(...).to_dict() (every key, the
 * others at their defaults, a fresh timestamp `ts`).  `ctx` borrowed,
 * may be NULL.  A new object. */
json_t *os_notify_ctx_sanitize(const json_t *ctx, const char *ts);

/* The message dict of Notifier._notify, keys in its order.  `payload`
 * stolen.  A new object. */
json_t *os_notify_message(const char *message_id, const char *publisher_id,
                          const char *event_type, const char *priority, json_t *payload,
                          const char *timestamp);

#endif

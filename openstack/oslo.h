/* The oslo.messaging 2.0 wire format (oslo_messaging/_drivers/common.py
 * and amqpdriver.py): the envelope, RPC requests with their context,
 * replies, and remote failures.
 *
 * Body of every AMQP message: {"oslo.version": "2.0", "oslo.message":
 * "<the message dict as a JSON string>"}.  A request dict holds method,
 * args, version, optional namespace, _unique_id, the _context_* keys and,
 * for calls, _msg_id, _reply_q and _timeout.
 *
 * Thread: everything here is reentrant.
 */
#ifndef SC_OPENSTACK_OSLO_H
#define SC_OPENSTACK_OSLO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/alloc.h"

struct err;

/* Hex ids (uuid4().hex): _msg_id, _unique_id, reply queue suffixes. */
#define OS_HEX_ID_LEN 33
void os_hex_id(char out[OS_HEX_ID_LEN]);

/* Largest message body we accept (bigger is refused, not truncated).
 * Nova's largest are ~15 KB; user_data and network info can grow them to
 * hundreds of KB. */
#define OS_MAX_BODY (16u << 20)

/* A decoded RPC request (a cast when msg_id is NULL). */
struct os_msg {
    char *method;
    char *namespace;     /* NULL when absent */
    char *version;       /* "6.0" */
    int ver_major;
    int ver_minor;
    json_t *args;        /* owned; always an object */
    json_t *ctx;         /* owned; the _context_* keys without the prefix */
    char *msg_id;        /* calls only */
    char *reply_q;       /* calls only */
    int64_t timeout_s;   /* call-monitor timeout, 0 when none */
    char *unique_id;     /* NULL when the sender gave none */
};

/* Decode an AMQP body into a request.  Accepts the 2.x envelope and, like
 * oslo, a bare dict.  On failure returns NULL with *err (ERR_INVALID), and
 * *partial (when given) receives whatever could be read (method, msg_id,
 * reply_q) so the caller can still send a failure reply; caller frees it
 * with os_msg_free. */
struct os_msg *os_msg_decode(const void *body, size_t len, struct os_msg **partial,
                             struct err **err);
void os_msg_free(struct os_msg *m);
DEFINE_AUTOPTR(os_msg)

/* Is the request a call (expects a reply)? */
static inline bool os_msg_is_call(const struct os_msg *m)
{
    return m->msg_id && m->reply_q;
}

/* A string context value ("request_id", "project_id"...), or NULL. */
const char *os_ctx_str(const json_t *ctx, const char *key);

/* A fresh admin context for our own work (startup, heartbeat, periodic
 * tasks): the 25 keys of nova.context.RequestContext.to_dict() with
 * is_admin true and a new request id "req-<uuid>".  Caller owns it. */
json_t *os_ctx_new_admin(void);

/* The context timestamp nova's RequestContext.from_dict parses with
 * strptime: exactly "%Y-%m-%dT%H:%M:%S.%f" (UTC, 6 digits, no zone). */
char *os_ctx_timestamp(int64_t wall_us, char *buf, int size);

/* Encode a request body (envelope included).  `args` is borrowed; `ctx`
 * (borrowed, may be NULL) is spread as _context_* keys.  msg_id/reply_q
 * make it a call; timeout_s > 0 adds _timeout (else null for calls).
 * Returns the body (caller frees), or NULL when args cannot be encoded. */
char *os_request_encode(const char *method, const char *namespace, const char *version,
                        const json_t *args, const json_t *ctx, const char *msg_id,
                        const char *reply_q, int64_t timeout_s, size_t *len);

/* A notification body (amqpdriver's _send with notify=True): the message
 * dict `msg` (borrowed: message_id, publisher_id, event_type, priority,
 * payload, timestamp) with _unique_id and the _context_* keys of `ctx`
 * (borrowed, may be NULL) added; inside the 2.0 envelope when `envelope`
 * (messagingv2), bare otherwise (messaging, format 1.0).  Caller frees;
 * NULL when msg is not an object or not valid UTF-8. */
char *os_notification_encode(const json_t *msg, const json_t *ctx, bool envelope, size_t *len);

/* A reply (envelope included): `result` borrowed (NULL -> null),
 * `failure` a JSON string from os_failure_encode or NULL.  Caller frees. */
char *os_reply_encode(const json_t *result, const char *failure, bool ending,
                      const char *msg_id, size_t *len);

/* A decoded reply. */
struct os_reply {
    char *msg_id;
    json_t *result;    /* owned; json null when none */
    char *failure;     /* owned JSON text; NULL on success */
    bool ending;
};
int os_reply_decode(const void *body, size_t len, struct os_reply *out, struct err **err);
void os_reply_release(struct os_reply *r);

/* The failure text oslo's deserialize_remote_exception rebuilds into an
 * exception: {"class", "module", "message", "tb", "args": [message],
 * "kwargs"}.  `kwargs` is stolen (NULL -> {}); "code" is added when
 * code > 0.  Caller frees. */
char *os_failure_encode(const char *cls, const char *module, const char *message,
                        json_t *kwargs, int code);

/* Parts of a failure text; the strings are allocated (caller frees), any
 * out-pointer may be NULL.  Returns 0 or -1 when it is not a failure dict. */
int os_failure_decode(const char *failure, char **cls, char **module, char **message,
                      json_t **kwargs);

#endif

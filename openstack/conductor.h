/* The nova-conductor client: the database a compute may not touch itself
 * (since Ocata nova-compute has no DB access; every remotable method of a
 * Nova object is an RPC call to the conductor, protocol.md section 6).
 *
 * Calls go to exchange `nova`, topic `conductor`, version 3.0, with the
 * caller's context (so InstanceActionEvent finds the action by its
 * request_id) or a fresh admin context for our own work.
 *
 * Thread: any; calls block the calling thread for up to
 * [DEFAULT] rpc_response_timeout.
 */
#ifndef SC_OPENSTACK_CONDUCTOR_H
#define SC_OPENSTACK_CONDUCTOR_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/alloc.h"

struct err;
struct os_rpc_client;

struct os_conductor {
    struct os_rpc_client *rpc;   /* borrowed */
    int64_t timeout_ms;          /* per call */
    int retries;                 /* extra attempts when RabbitMQ dropped the call */
};

/* Baseapi ping ("1.21 GigaWatts", as nova-compute's wait_until_ready):
 * 0 when a conductor answered within timeout_ms. */
int os_conductor_ping(struct os_conductor *c, int64_t timeout_ms, struct err **err);

/* A remotable classmethod (object_class_action_versions): `args` and
 * `kwargs` are stolen (NULL: empty).  Returns the result (a new reference;
 * json null for None) or NULL with *err; the remote exception class goes to
 * *remote_class when given (caller frees). */
json_t *os_conductor_class_action(struct os_conductor *c, const json_t *ctx, const char *objname,
                                  const char *objmethod, json_t *args, json_t *kwargs,
                                  char **remote_class, struct err **err);

/* A remotable method on an object (object_action: save, create,
 * destroy...): sends `obj` (its `changes` say what to write), applies the
 * reply's updates onto it and clears its changes.  `args`/`kwargs` stolen.
 * Returns the method's return value (new reference, usually json null) or
 * NULL with *err. */
json_t *os_conductor_object_action(struct os_conductor *c, const json_t *ctx, json_t *obj,
                                   const char *objmethod, json_t *args, json_t *kwargs,
                                   char **remote_class, struct err **err);

#endif

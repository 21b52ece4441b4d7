/* RPC failures <-> our errors, through one table each way (style.md:
 * "openstack/ maps [the error enum] to RPC failures through one table").
 *
 * Outgoing: a handler's err becomes a failure oslo rebuilds into a Python
 * exception on the caller's side.  Classes come from nova.exception (which
 * Nova allows to be rebuilt) or builtins; the message travels as the first
 * argument, so the caller sees our text, not the class's template.
 *
 * Incoming: a failure from the conductor (or any callee) becomes an err
 * whose code tells the caller what kind of failure it was.
 */
#ifndef SC_OPENSTACK_RPC_FAILURE_H
#define SC_OPENSTACK_RPC_FAILURE_H

#include <jansson.h>

#include "common/err.h"

/* A specific Python exception to send instead of the table's choice (for
 * failures Nova acts on by type: InstanceNotFound, UnexpectedTaskStateError,
 * NoSuchMethod...).  All fields are static strings but kwargs (owned). */
struct os_fault {
    const char *cls;
    const char *module;   /* "nova.exception", "builtins", "oslo_messaging.rpc.dispatcher" */
    int code;             /* HTTP-like code for nova.exception classes, 0 for none */
    json_t *kwargs;       /* owned; NULL for {} */
};

void os_fault_release(struct os_fault *f);

/* Make *f the nova.exception class `cls` with HTTP-like `code`: releases
 * what f held first and leaves kwargs NULL ({}) for the caller to set
 * (f steals them).  `cls` is a static string. */
void os_fault_nova(struct os_fault *f, const char *cls, int code);

/* The failure text for an error: `fault` when its class is set, else the
 * table's class for e->code.  Caller frees. */
char *os_failure_from_err(const struct err *e, const struct os_fault *fault);

/* Turn a received failure text into *err, prefixed by `what` ("conductor
 * Instance.save").  The class is returned in *cls when given (caller
 * frees).  Always returns -1. */
int os_failure_to_err(const char *failure, const char *what, char **cls, struct err **err);

#endif

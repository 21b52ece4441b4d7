/* The event log's record of operator changes made through the API (source
 * "api"): run-time settings and custom blueprints, the changes that alter
 * what sculpt does from then on.
 *
 * The server starts a record for every route that makes such a change
 * (api_audit_begin, before the body is even parsed, so a refused change is
 * recorded too) and writes it once the handler returned (api_audit_finish):
 * the action, who asked (the authenticated identity), what changed (the
 * handler's notes: keys with old and new values), and the outcome.  The
 * write is queued (db_event_add): PostgreSQL slow or away never delays or
 * fails the request.
 */
#ifndef SC_API_AUDIT_H
#define SC_API_AUDIT_H

#include <stdbool.h>

#include "api/http.h"
#include "common/err.h"

struct api_route;

/* The action a route records ("config.set", "blueprint.delete"), NULL for
 * a route that changes nothing. */
const char *api_audit_action(const struct api_route *r);

/* Start req's record when its route is audited.  Server thread. */
void api_audit_begin(struct api_req *req);

/* Add to what the record says changed ("; " between notes); nothing when
 * the request is not audited. */
void api_audit_note(struct api_req *req, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The event's message: "PUT /v1/config/cost by admin-token: <notes>",
 * with "; failed: <why>" when `err` is set.  Caller frees. */
char *api_audit_message(const struct api_req *req, const struct err *err);

/* Record the event, with err's code (NULL: success), when req is audited
 * and there is a database.  A record that cannot be queued is logged, never
 * returned: the change itself is done. */
void api_audit_finish(const struct api_req *req, const struct err *err, double duration_ms);

void api_audit_release(struct api_audit *a);

/* A value as the record shows it: "***" for a secret, quoted when empty,
 * cut at 96 bytes.  Caller frees. */
char *api_audit_value(const char *text, bool secret);

#endif

/* GET /v1/events: its query checked into a database filter, apart from
 * the handler so the unit tests can drive it without a server. */
#ifndef SC_API_HANDLE_EVENTS_PRIV_H
#define SC_API_HANDLE_EVENTS_PRIV_H

#include <stdint.h>

#include "api/http.h"
#include "db/db.h"

/* Events returned when `limit` is not given, and at most. */
#define API_EVENTS_LIMIT_DEFAULT 100
#define API_EVENTS_LIMIT_MAX 1000

/* The query of GET /v1/events:
 *   instance    a UUID
 *   source      "rpc", "hypervisor", ... (lower-case letters, digits, _ and -)
 *   action      a prefix of the action ("memory." for the memory events)
 *   request_id  one request's events
 *   code        OK, FAILED (every error) or an error code (TIMEOUT, ...)
 *   from, to    api_query_time() forms; no bound when absent
 *   limit       1 to API_EVENTS_LIMIT_MAX, default API_EVENTS_LIMIT_DEFAULT
 * into `out` (its strings borrowed from `req`; out->limit is the limit
 * asked).  Returns 0, or -1 with an INVALID error naming the parameter. */
int api_events_query_parse(const struct api_req *req, int64_t now_s,
                           struct db_event_filter *out, struct err **err);

#endif

/* Nova's audit periods (nova.utils.last_completed_audit_period and
 * nova.compute.utils.audit_period_bounds), in seconds of UTC. */
#ifndef SC_OPENSTACK_AUDIT_PERIOD_H
#define SC_OPENSTACK_AUDIT_PERIOD_H

#include <stddef.h>
#include <stdint.h>

/* The last period of `unit` (hour, day, month, year) with `offset` (see
 * cfg_audit_period) that ended before `now`: [*begin, *end). */
void os_audit_period_last(const char *unit, int offset, int64_t now, int64_t *begin,
                          int64_t *end);

/* A time as Nova writes it in an exists payload: str() of a naive UTC
 * datetime, "2026-11-01 00:00:00". */
void os_audit_time_str(int64_t t, char *buf, size_t len);

#endif

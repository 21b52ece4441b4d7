/* The pure parts of compute_migrate.c, tested on their own. */
#ifndef SC_OPENSTACK_COMPUTE_MIGRATE_PRIV_H
#define SC_OPENSTACK_COMPUTE_MIGRATE_PRIV_H

#include <jansson.h>

struct err;

/* The conductor's migrate_server arguments (1.20) that hand a resize
 * refused here to the next of prep_resize's alternates
 * (_reschedule_resize_or_reraise), `why` recorded in the retry; NULL when
 * prep_resize's arguments `args` give no retry or no alternates (nothing
 * to reschedule to) or lack the instance or flavor.  Caller frees. */
json_t *os_migrate_reschedule_args(const json_t *args, const char *why);
/* INVALID unless the arguments of leg `method` (resize_instance,
 * finish_resize, finish_revert_resize) carry a Migration naming both
 * hosts (and finish_resize the source's disk_info). */
int os_migrate_check_leg(const char *method, const json_t *args, struct err **err);

#endif

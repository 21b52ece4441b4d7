/* The late server group check (compute_group_policy.c): a host refuses a
 * server whose group's affinity or anti-affinity it would break. */
#ifndef SC_OPENSTACK_COMPUTE_GROUP_POLICY_H
#define SC_OPENSTACK_COMPUTE_GROUP_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "common/err.h"

struct os_compute;

/* The `group` scheduler hint of a request's arguments (borrowed; NULL:
 * none): the request spec's, else the filter properties'. */
const char *os_group_hint(const json_t *args);
/* An InstanceGroup's max_server_per_host rule; 1 without one. */
long os_group_max_per_host(const json_t *group);
/* How many of `members` other than `uuid` are in `here` (lists of uuids). */
size_t os_group_members_here(const json_t *members, const json_t *here, const char *uuid);
/* Whether `host` keeps an affinity group together, given where its other
 * members are (`hosts`; none: anywhere does). */
bool os_group_affinity_ok(const json_t *hosts, const char *host);

/* Zed's _validate_instance_group_policy for instance `uuid` coming to this
 * host: its group from the request's `group` hint (`args`), or with
 * `by_instance` the group Nova lists it in.  0 when it may come (no group,
 * no such group, [workarounds] disable_group_policy_check_upcall), 1 when
 * it breaks its group's policy (*err: Nova's GroupAffinityViolation
 * message, ERR_CONFLICT), -1 when Nova could not be asked. */
int os_compute_group_policy_check(struct os_compute *c, const json_t *ctx, const char *uuid,
                                  const json_t *args, bool by_instance, struct err **err);

#endif

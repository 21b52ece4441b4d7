/* A Placement client for what a compute reports (nova/scheduler/client/
 * report.py, compute side): its resource provider (uuid = the ComputeNode's,
 * name = the node), the provider's inventories and traits, and releasing
 * an instance's allocations when it fails to build or is deleted.
 *
 * Generation conflicts (409 placement.concurrent_update) are retried after
 * re-reading the provider, as the report client does.
 *
 * Thread: every function is thread-safe.
 */
#ifndef SC_OPENSTACK_PLACEMENT_H
#define SC_OPENSTACK_PLACEMENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/alloc.h"

struct err;
struct os_keystone;

/* One inventory record (placement's fields). */
struct os_placement_inventory {
    const char *rc;            /* resource class: "VCPU", "MEMORY_MB", "DISK_GB" */
    int64_t total;
    int64_t reserved;
    int64_t min_unit;
    int64_t max_unit;
    int64_t step_size;
    double allocation_ratio;
};

struct os_placement;

/* A client authenticating through `ks` (borrowed, must outlive it), at
 * `endpoint_override` or the catalog's `placement` endpoint on
 * `interfaces`. */
struct os_placement *os_placement_new(struct os_keystone *ks, const char *endpoint_override,
                                      const char *interfaces);
void os_placement_free(struct os_placement *p);
DEFINE_AUTOPTR(os_placement)

/* Make sure provider `uuid` exists (creating it named `name`).  0 or -1. */
int os_placement_ensure_provider(struct os_placement *p, const char *uuid, const char *name,
                                 struct err **err);

/* Replace the provider's inventories with `inv` when they differ from what
 * Placement has.  ERR_CONFLICT when allocations prevent it (an inventory
 * cut below what is allocated): the caller retries later. */
int os_placement_set_inventories(struct os_placement *p, const char *uuid,
                                 const struct os_placement_inventory *inv, size_t n,
                                 struct err **err);

/* Replace the provider's traits with `traits` when they differ (creating
 * CUSTOM_* traits first). */
int os_placement_set_traits(struct os_placement *p, const char *uuid,
                            const char *const *traits, size_t n, struct err **err);

/* The allocations of a consumer (GET /allocations/{uuid}, 1.28): a new
 * reference to {"allocations": {rp: {"resources": {...}}}, ...}. */
json_t *os_placement_get_allocations(struct os_placement *p, const char *consumer,
                                     struct err **err);

/* Delete a consumer's allocations; none is fine. */
int os_placement_delete_allocations(struct os_placement *p, const char *consumer,
                                    struct err **err);

/* Release a consumer's allocations the way the report client does without
 * `force` (nova/scheduler/client/report.py delete_allocation_for_instance):
 * read them with the consumer generation, then write them empty with it.
 * 1 when released, 0 when there were none, -1 with *err otherwise
 * (ERR_CONFLICT when the consumer changed meanwhile: try again later). */
int os_placement_clear_allocations(struct os_placement *p, const char *consumer,
                                   struct err **err);

/* Drop provider `rp` from a consumer's allocations, keeping the others
 * (the report client's remove_provider_tree_from_instance_allocation for
 * a tree of one provider: an evacuated instance's source or failed
 * destination).  1 when dropped, 0 when the consumer held nothing there,
 * -1 with *err (ERR_CONFLICT when the consumer changed meanwhile). */
int os_placement_remove_provider(struct os_placement *p, const char *consumer, const char *rp,
                                 struct err **err);

/* Move a consumer's allocations to another (a reverted resize: the
 * migration's back to the instance), as the report client's
 * move_allocations does: one POST /allocations (1.28) empties `from` and
 * gives `to` what `from` held, replacing what `to` held, both guarded by
 * the consumer generations read.  1 when moved, 0 when `from` held none,
 * -1 with *err (ERR_CONFLICT: a consumer changed meanwhile). */
int os_placement_move_allocations(struct os_placement *p, const char *from, const char *to,
                                  struct err **err);

/* The provider's consumers with allocations (GET
 * /resource_providers/{uuid}/allocations): a new reference to the
 * "allocations" dict, keyed by consumer uuid. */
json_t *os_placement_provider_allocations(struct os_placement *p, const char *uuid,
                                          struct err **err);

#endif

/* Helpers the hypervisor backends share; not for callers of hypervisor.h. */
#ifndef SC_DRIVER_HYPERVISOR_PRIV_H
#define SC_DRIVER_HYPERVISOR_PRIV_H

#include "driver/hypervisor.h"

/* Deliver an event to the subscriber, if any.  Call without holding
 * backend locks the callback might need. */
void drv_hv_emit(struct drv_hv *hv, const struct drv_hv_event *ev);

/* Is the shape within the host's policy (maxima, host CPUs to pin to, NUMA
 * nodes)?  CAPACITY otherwise, naming the limit.  `nodes` is the host's NUMA
 * node count. */
int drv_hv_check_host_policy(const struct drv_hv_host *host, int nodes, const struct drv_shape *s,
                             struct err **err);

/* The domain name of a spec: its name, or "sculpt-<uuid>". */
void drv_hv_domain_name(const struct drv_hv_guest_spec *spec, char out[DRV_HV_NAME_MAX + 1]);

/* Tap name of interface i: the spec's, else "tap" + the first 11
 * characters of the port id (Nova's rule), else "sc" + 11 hex digits of
 * the instance uuid + the index. */
void drv_hv_tap_name(const struct drv_hv_guest_spec *spec, size_t i, char out[DRV_HV_TAP_MAX + 1]);

/* MAC of interface i: the spec's, else a stable one derived from the uuid
 * (locally administered 52:54:00 prefix, as QEMU's). */
void drv_hv_mac(const struct drv_hv_guest_spec *spec, size_t i, char out[18]);

/* ---- aliases of handed-over pool members (hypervisor_handover.c) ---- */

/* Replace a domain uuid by its instance's, in place, when it has one. */
void drv_hv_instance_uuid(struct drv_hv *hv, char uuid[DRV_UUID_LEN + 1]);
/* Forget an instance's alias (its guest was destroyed). */
void drv_hv_alias_drop(struct drv_hv *hv, const char *instance_uuid);
/* Free the table (drv_hv_close). */
void drv_hv_aliases_free(struct drv_hv *hv);

#endif

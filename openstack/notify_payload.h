/* The payload of Nova's legacy (unversioned) instance notifications:
 * nova/notifications/base.py info_from_instance, plus what
 * compute/utils.py notify_about_instance_usage adds (the fault's
 * exception, message and code, and the per-event extras).
 *
 * Thread: reentrant.
 */
#ifndef SC_OPENSTACK_NOTIFY_PAYLOAD_H
#define SC_OPENSTACK_NOTIFY_PAYLOAD_H

#include <jansson.h>
#include <stdint.h>

struct err;

/* info_from_instance(context, instance, network_info,
 * populate_image_ref_url=True) of Instance primitive `prim` (borrowed):
 * the owner, identity, flavor, capacity, location, dates, image, state
 * and access IP keys, fixed_ips when `fixed_ips` is given (stolen; what
 * os_notify_fixed_ips makes of the network_info; NULL: no key, as for
 * network_info=None), image_meta (system_metadata's image_* keys without
 * the prefix) and metadata, in Zed's order.  `image_ref_url` as
 * os_glance_image_url() makes it.  A new object. */
json_t *os_notify_instance_info(const json_t *prim, const char *image_ref_url, json_t *fixed_ips);

/* fixed_ips as info_from_instance lists them from network_info (a list
 * of VIF dicts, borrowed): each subnet's fixed IPs with their floating
 * IPs, label and vif_mac.  A new array (empty for anything malformed). */
json_t *os_notify_fixed_ips(const json_t *network_info);

/* exception_to_dict(fault) merged into `payload`: exception (the
 * exception as the JSON serializer writes it, `cls` -- NULL:
 * "NovaException" -- with the message), message (at most 255
 * characters) and code (os_fault_code_of). */
void os_notify_add_fault(json_t *payload, const char *cls, const struct err *fault);

/* Python's str() of a UTC datetime read from a primitive's field: "YYYY-MM-DD
 * HH:MM:SS+00:00"; "None" when null (created_at).  Returns buf (at least
 * 32 bytes). */
char *os_notify_str_datetime(const char *iso, char *buf, int size);

/* null_safe_isotime(): nova.utils.strtime ("%Y-%m-%dT%H:%M:%S.%f") of a
 * primitive's datetime, "" when null.  Returns buf (at least 32 bytes). */
char *os_notify_isotime(const char *iso, char *buf, int size);

#endif

/* The config drive of a build (nova/virt/configdrive.py and
 * nova/api/metadata/base.py InstanceMetadata.metadata_for_config_drive):
 * whether an instance gets one, and its files in Nova's layout --
 * openstack/<version>/{meta_data.json, user_data, vendor_data.json,
 * network_data.json, vendor_data2.json} for every OpenStack metadata
 * version Nova Zed writes and `latest`, and openstack/content/NNNN for
 * injected files.  The EC2-style ec2/ tree is not written.
 */
#ifndef SC_OPENSTACK_CONFIG_DRIVE_H
#define SC_OPENSTACK_CONFIG_DRIVE_H

#include <jansson.h>
#include <stdbool.h>

#include "driver/hypervisor.h"

struct err;

/* Nova's API limit on user_data: base64 text of at most this many
 * characters (MAX_USERDATA_SIZE). */
#define OS_USER_DATA_MAX 65535

/* What the drive depends on besides the request. */
struct os_config_drive_opts {
    bool force;              /* [DEFAULT] force_config_drive */
    const char *dhcp_domain; /* [api] dhcp_domain: hostname's domain; "" none */
};

/* Does the build of `inst` (an Instance primitive) with `image` (Nova's
 * image dict, may be NULL) need a config drive?  As Nova's required_by()
 * (the instance's config_drive, force_config_drive for an instance never
 * launched, the image's img_config_drive=mandatory), and also whenever the
 * instance has user data: sculpt serves no metadata service, so the drive
 * is the only way it reaches the guest. */
bool os_config_drive_required(const json_t *inst, const json_t *image,
                              const struct os_config_drive_opts *o);

/* The image dict of the image `inst` (an Instance primitive) is made of
 * now, as Nova's ImageMeta.from_instance reads it from the image_*
 * system_metadata the API keeps (a rebuild's: the new image's): its id
 * (image_ref), min_ram/min_disk/disk_format/container_format at the top,
 * the other image_* keys but the mappings under `properties` -- what
 * os_config_drive_required reads where a request carries no image dict.
 * A new reference. */
json_t *os_config_drive_image_of(const json_t *inst);

/* The drive's files for `inst`, with `injected_files` (the request's list
 * of [path, base64 contents], may be NULL) and `admin_password` (may be
 * NULL; meta_data.json's admin_pass as Nova writes it).  Returns a drive
 * the caller frees, or NULL with *err: INVALID for user data or a file
 * that is not base64, user data above OS_USER_DATA_MAX, a malformed
 * injected file. */
struct drv_hv_config_drive *os_config_drive_build(const json_t *inst, const json_t *injected_files,
                                                  const char *admin_password,
                                                  const struct os_config_drive_opts *o,
                                                  struct err **err);

#endif

/* The pure rules of a rebuild (compute_rebuild.h): which task states are
 * a rebuild's, when the blueprint starts again, what a restart does with
 * an interrupted rebuild, and how large an image's disk is. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/err.h"
#include "openstack/compute_rebuild.h"

bool os_rebuild_task(const char *task)
{
    return task &&
           (strcmp(task, "rebuilding") == 0 || strcmp(task, "rebuild_block_device_mapping") == 0 ||
            strcmp(task, "rebuild_spawning") == 0);
}

bool os_rebuild_new_blueprint(const char *orig_image, const char *new_image)
{
    if (!orig_image || !*orig_image || !new_image || !*new_image)
        return true;
    return strcmp(orig_image, new_image) != 0;
}

enum os_rebuild_recovery os_rebuild_recover_decide(const char *task, bool have_guest,
                                                   enum drv_power_state power,
                                                   const char *guest_image, const char *image_ref)
{
    /* rebuild_spawning is saved only once the old guest is destroyed, so
     * a guest then is the new one; its disk says so too */
    if (task && strcmp(task, "rebuild_spawning") == 0 && have_guest &&
        (power == DRV_POWER_RUNNING || power == DRV_POWER_PAUSED) && guest_image && image_ref &&
        *image_ref && strcmp(guest_image, image_ref) == 0)
        return OS_REBUILD_RECOVER_FINISH;
    return OS_REBUILD_RECOVER_ERROR;
}

const char *os_rebuild_image_of_base(const char *path)
{
    if (!path)
        return NULL;
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    return *name ? name : NULL;
}

static uint64_t be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int k = 0; k < 8; k++)
        v = v << 8 | p[k];
    return v;
}

int os_image_virtual_size(const char *path, const char *format, int64_t *out, struct err **err)
{
    bool qcow2 = format && strcmp(format, "qcow2") == 0;
    if (!format || (!qcow2 && strcmp(format, "raw") != 0))
        return err_set(err, ERR_UNSUPPORTED, "disk format `%s` (qcow2 or raw)",
                       format ? format : "");
    autoclose int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return err_set_errno(err, errno, "image `%s`", path);
    if (!qcow2) {
        *out = (int64_t)st.st_size;
        return 0;
    }
    /* QCOW2 header: magic "QFI\xfb", version (2 or 3), ..., size at 24 */
    unsigned char h[32];
    ssize_t n = pread(fd, h, sizeof(h), 0);
    if (n < 0)
        return err_set_errno(err, errno, "image `%s`", path);
    if (n < (ssize_t)sizeof(h) || memcmp(h, "QFI\xfb", 4) != 0)
        return err_set(err, ERR_INVALID, "image `%s` is not qcow2", path);
    uint64_t size = be64(h + 24);
    if (size > (uint64_t)INT64_MAX)
        return err_set(err, ERR_INVALID, "image `%s`: virtual size out of range", path);
    *out = (int64_t)size;
    return 0;
}

bool os_evacuation_from(const char *type, const char *source, const char *status,
                        const char *host)
{
    static const char *const open[] = {"accepted", "pre-migrating", "done"};
    if (!type || strcmp(type, "evacuation") != 0 || !source || !host || strcmp(source, host) != 0 ||
        !status)
        return false;
    for (size_t k = 0; k < sizeof(open) / sizeof(open[0]); k++)
        if (strcmp(status, open[k]) == 0)
            return true;
    return false;
}

struct os_evac_source_plan os_evac_source_plan(bool guest_here, bool inst_found)
{
    return (struct os_evac_source_plan){.destroy_guest = guest_here,
                                        .forget = true,
                                        .drop_allocations = inst_found,
                                        .complete = inst_found};
}

struct os_evac_failure os_evac_failure(enum os_evac_failure_kind kind)
{
    return (struct os_evac_failure){.mig_status = "failed",
                                    .drop_dest_allocations = kind != OS_EVAC_FAIL_DELETED,
                                    .keep_vm_state = kind == OS_EVAC_FAIL_REFUSED};
}

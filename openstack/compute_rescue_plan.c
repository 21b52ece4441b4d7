/* The pure rules of rescue and unrescue (compute_rescue.h): which image a
 * rescue boots and how it is attached, its generated password, what a
 * restart does with an interrupted one. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "common/err.h"
#include "driver/hypervisor.h"
#include "openstack/compute_rescue.h"

const char *os_rescue_image_ref(const char *requested, const char *base_image,
                                const char *image_ref)
{
    if (requested && *requested)
        return requested;
    if (base_image && *base_image)
        return base_image;
    return image_ref && *image_ref ? image_ref : NULL;
}

int os_rescue_password(char *buf, size_t len, struct err **err)
{
    /* nova.utils.generate_password's default symbol groups, joined */
    static const char symbols[] = "23456789"
                                  "ABCDEFGHJKLMNPQRSTUVWXYZ"
                                  "abcdefghijkmnopqrstuvwxyz";
    const size_t n = sizeof(symbols) - 1;
    if (len < 1 || len > 63)
        return err_set(err, ERR_INVALID, "password length %zu (1 to 63)", len);
    unsigned char raw[64];
    size_t got = 0;
    while (got < len) {
        ssize_t r = getrandom(raw + got, len - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return err_set_errno(err, errno ? errno : EIO, "getrandom");
        got += (size_t)r;
    }
    /* 256 % 57 leaves a bias of under 1 in 100 per character: a one-time
     * rescue password, as Nova's random.choice-made one */
    for (size_t k = 0; k < len; k++)
        buf[k] = symbols[raw[k] % n];
    buf[len] = '\0';
    return 0;
}

bool os_rescue_task(const char *task)
{
    return task && (strcmp(task, "rescuing") == 0 || strcmp(task, "unrescuing") == 0);
}

enum os_rescue_recovery os_rescue_recover_decide(const char *task, const char *vm, bool have_guest,
                                                 bool rescued)
{
    if (!have_guest)
        return OS_RESCUE_RECOVER_ERROR;
    bool rescuing = task && strcmp(task, "rescuing") == 0;
    if (rescuing && rescued)
        return OS_RESCUE_RECOVER_RESCUED;
    /* a stopped server's rescue that never took: off, as it was */
    if (rescuing && vm && strcmp(vm, "stopped") == 0)
        return OS_RESCUE_RECOVER_STOPPED;
    return OS_RESCUE_RECOVER_ACTIVE;
}

/* blockinfo.SUPPORTED_DEVICE_BUSES for qemu and kvm: 0 with *out, -1 when
 * `name` is not one of them */
static int rescue_bus_of(const char *name, enum drv_hv_bus *out)
{
    enum drv_hv_bus b;
    if (drv_hv_bus_parse(name, &b) < 0 || b == DRV_HV_BUS_DEFAULT)
        return -1;
    *out = b;
    return 0;
}

bool os_rescue_is_stable(const json_t *meta)
{
    return json_object_get(meta, "hw_rescue_device") || json_object_get(meta, "hw_rescue_bus");
}

int os_rescue_dev_of(const json_t *meta, struct drv_hv_rescue_dev *out, struct err **err)
{
    json_t *jdev = json_object_get(meta, "hw_rescue_device");
    json_t *jbus = json_object_get(meta, "hw_rescue_bus");
    struct drv_hv_rescue_dev r = {DRV_HV_RESCUE_LEGACY, DRV_HV_BUS_DEFAULT};
    if (!os_rescue_is_stable(meta)) {
        *out = r;
        return 0;
    }
    const char *device = jdev ? json_string_value(jdev) : "disk";
    if (device && strcmp(device, "lun") == 0)
        return err_set(err, ERR_UNSUPPORTED,
                       "Requested rescue device 'lun' is not supported: the rescue image is a "
                       "file, not a LUN");
    if (!device || drv_hv_rescue_device_parse(device, &r.device) < 0 ||
        r.device == DRV_HV_RESCUE_LEGACY)
        return err_set(err, ERR_INVALID, "Requested rescue device '%s' is not supported",
                       device ? device : "?");
    if (jbus) {
        const char *bus = json_string_value(jbus);
        if (!bus || rescue_bus_of(bus, &r.bus) < 0)
            return err_set(err, ERR_UNSUPPORTED,
                           "Requested rescue bus '%s' is not supported by the qemu virt driver",
                           bus ? bus : "?");
    } else {
        /* get_disk_bus_for_device_type: the image's bus for that device */
        char key[32];
        snprintf(key, sizeof(key), "hw_%s_bus", drv_hv_rescue_device_name(r.device));
        const char *bus = json_string_value(json_object_get(meta, key));
        if (bus && rescue_bus_of(bus, &r.bus) < 0)
            return err_set(err, ERR_UNSUPPORTED,
                           "Requested hardware '%s' is not supported by the 'qemu' virt driver",
                           bus);
    }
    *out = r;
    return 0;
}

/* The pure rules of rescue and unrescue (compute_rescue.h): which image a
 * rescue boots, its generated password, what a restart does with an
 * interrupted one. */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "common/err.h"
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

enum os_rescue_recovery os_rescue_recover_decide(const char *task, bool have_guest, bool rescued)
{
    if (!have_guest)
        return OS_RESCUE_RECOVER_ERROR;
    if (task && strcmp(task, "rescuing") == 0 && rescued)
        return OS_RESCUE_RECOVER_RESCUED;
    return OS_RESCUE_RECOVER_ACTIVE;
}

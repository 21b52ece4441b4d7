/* Config drives at the hypervisor boundary: the file set a backend writes
 * into an ISO9660 volume (hypervisor.h), and its checks.  Paths end up as
 * names in a directory the backend fills, so nothing may climb out of it. */
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "driver/hypervisor.h"

void drv_hv_config_drive_add(struct drv_hv_config_drive *cd, const char *path, const void *data,
                             size_t len)
{
    cd->files = xreallocarray(cd->files, cd->n + 1, sizeof(*cd->files));
    struct drv_hv_file *f = &cd->files[cd->n++];
    f->path = xstrdup(path);
    /* one byte more: text files read as C strings in tests and logs */
    f->data = xmalloc(len + 1);
    if (len)
        memcpy(f->data, data, len);
    f->data[len] = '\0';
    f->len = len;
}

const struct drv_hv_file *drv_hv_config_drive_get(const struct drv_hv_config_drive *cd,
                                                  const char *path)
{
    for (size_t i = 0; cd && i < cd->n; i++)
        if (strcmp(cd->files[i].path, path) == 0)
            return &cd->files[i];
    return NULL;
}

struct drv_hv_config_drive *drv_hv_config_drive_dup(const struct drv_hv_config_drive *cd)
{
    if (!cd)
        return NULL;
    struct drv_hv_config_drive *out = xzalloc(sizeof(*out));
    for (size_t i = 0; i < cd->n; i++)
        drv_hv_config_drive_add(out, cd->files[i].path, cd->files[i].data, cd->files[i].len);
    return out;
}

void drv_hv_config_drive_free(struct drv_hv_config_drive *cd)
{
    if (!cd)
        return;
    for (size_t i = 0; i < cd->n; i++) {
        free(cd->files[i].path);
        free(cd->files[i].data);
    }
    free(cd->files);
    free(cd);
}

/* Plain components only: no empty one, no "." or "..", no leading '/'. */
static bool path_ok(const char *p)
{
    if (!p || !*p || *p == '/' || strlen(p) > 1024)
        return false;
    const char *s = p;
    while (*s) {
        size_t n = strcspn(s, "/");
        if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
            return false;
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
                return false;
        s += n;
        if (*s == '/' && !*++s)
            return false;
    }
    return true;
}

int drv_hv_config_drive_validate(const struct drv_hv_config_drive *cd, struct err **err)
{
    if (cd->n == 0)
        return err_set(err, ERR_INVALID, "config drive without files");
    if (cd->n > DRV_HV_CONFIG_DRIVE_MAX_FILES)
        return err_set(err, ERR_INVALID, "config drive of %zu files (at most %d)", cd->n,
                       DRV_HV_CONFIG_DRIVE_MAX_FILES);
    size_t total = 0;
    for (size_t i = 0; i < cd->n; i++) {
        const struct drv_hv_file *f = &cd->files[i];
        if (!path_ok(f->path))
            return err_set(err, ERR_INVALID, "config drive path `%s`", f->path ? f->path : "");
        for (size_t j = 0; j < i; j++) {
            const char *a = cd->files[j].path, *b = f->path;
            size_t la = strlen(a), lb = strlen(b);
            /* the same file twice, or a file where a folder must be */
            if (strcmp(a, b) == 0 || (la < lb && strncmp(a, b, la) == 0 && b[la] == '/') ||
                (lb < la && strncmp(a, b, lb) == 0 && a[lb] == '/'))
                return err_set(err, ERR_INVALID, "config drive paths `%s` and `%s` collide", a,
                               b);
        }
        total += f->len;
        if (total > DRV_HV_CONFIG_DRIVE_MAX_BYTES)
            return err_set(err, ERR_INVALID, "config drive above %d bytes",
                           DRV_HV_CONFIG_DRIVE_MAX_BYTES);
    }
    return 0;
}

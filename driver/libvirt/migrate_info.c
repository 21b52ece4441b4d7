/* The disk_info record of a libvirt cold migration (migrate.h). */
#include "driver/libvirt/migrate.h"

#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/strbuf.h"
#include "common/uuid.h"

#define MIG_MAGIC "sculpt-libvirt-migration 1"
#define MIG_SUFFIX "_migrating"

void lv_mig_info_release(struct lv_mig_info *m)
{
    if (!m)
        return;
    free(m->dir);
    for (size_t i = 0; i < m->n; i++)
        free(m->files[i]);
    free(m->files);
    memset(m, 0, sizeof(*m));
}

bool lv_mig_name_ok(const char *name)
{
    return name && *name && !strpbrk(name, "/\n\r") && strcmp(name, ".") != 0 &&
           strcmp(name, "..") != 0 && strlen(name) <= 255;
}

char *lv_mig_staging_dir(const char *instances_path, const char *uuid)
{
    return xasprintf("%s/%s" MIG_SUFFIX, instances_path, uuid);
}

char *lv_mig_info_format(const struct lv_mig_info *m)
{
    struct strbuf b = STRBUF_INIT;
    strbuf_printf(&b, MIG_MAGIC "\ndir %s\n", m->dir);
    for (size_t i = 0; i < m->n; i++)
        strbuf_printf(&b, "file %s\n", m->files[i]);
    return strbuf_steal(&b);
}

/* An absolute path without . or .. components, ending in
 * /<uuid>_migrating. */
static bool staging_ok(const char *dir)
{
    if (dir[0] != '/' || strstr(dir, "/./") || strstr(dir, "/../") || strchr(dir, '\r'))
        return false;
    const char *base = strrchr(dir, '/') + 1;
    size_t n = strlen(base), sn = strlen(MIG_SUFFIX);
    if (n != UUID_STR_LEN - 1 + sn || strcmp(base + n - sn, MIG_SUFFIX) != 0)
        return false;
    char uuid[UUID_STR_LEN];
    memcpy(uuid, base, UUID_STR_LEN - 1);
    uuid[UUID_STR_LEN - 1] = '\0';
    return uuid_is_valid(uuid);
}

int lv_mig_info_parse(const char *text, struct lv_mig_info *out, struct err **err)
{
    memset(out, 0, sizeof(*out));
    size_t mn = strlen(MIG_MAGIC);
    if (!text || strncmp(text, MIG_MAGIC, mn) != 0 || text[mn] != '\n')
        return err_set(err, ERR_INVALID, "disk_info is not a libvirt migration's");
    autofree char *copy = xstrdup(text + mn + 1);
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "dir ", 4) == 0 && !out->dir) {
            if (!staging_ok(line + 4)) {
                err_set(err, ERR_INVALID, "disk_info: bad staging folder `%s`", line + 4);
                goto fail;
            }
            out->dir = xstrdup(line + 4);
        } else if (strncmp(line, "file ", 5) == 0) {
            const char *name = line + 5;
            if (!lv_mig_name_ok(name) || out->n == LV_MIG_MAX_FILES) {
                err_set(err, ERR_INVALID, "disk_info: bad or too many files at `%s`", name);
                goto fail;
            }
            for (size_t i = 0; i < out->n; i++)
                if (strcmp(out->files[i], name) == 0) {
                    err_set(err, ERR_INVALID, "disk_info: file `%s` twice", name);
                    goto fail;
                }
            out->files = xreallocarray(out->files, out->n + 1, sizeof(*out->files));
            out->files[out->n++] = xstrdup(name);
        } else {
            err_set(err, ERR_INVALID, "disk_info: unexpected line `%s`", line);
            goto fail;
        }
    }
    if (!out->dir) {
        err_set(err, ERR_INVALID, "disk_info names no staging folder");
        goto fail;
    }
    return 0;
fail:
    lv_mig_info_release(out);
    return -1;
}

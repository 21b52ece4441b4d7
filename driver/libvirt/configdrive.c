/* The config drive's ISO: files into a private folder, genisoimage over it
 * (as Nova's _make_iso9660 does), the folder removed. */
#include "driver/libvirt/configdrive.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "driver/libvirt/volume.h"

LOG_INIT("driver.libvirt.configdrive");

/* Make the folders of `rel` under `top`. */
static int make_parents(const char *top, const char *rel, struct err **err)
{
    autofree char *p = xasprintf("%s/%s", top, rel);
    char *s = p + strlen(top) + 1;
    for (; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
            return err_set_errno(err, errno, "mkdir `%s`", p);
        *s = '/';
    }
    return 0;
}

static int write_file(const char *top, const struct drv_hv_file *f, struct err **err)
{
    if (make_parents(top, f->path, err) < 0)
        return -1;
    autofree char *p = xasprintf("%s/%s", top, f->path);
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return err_set_errno(err, errno, "create `%s`", p);
    size_t done = 0;
    while (done < f->len) {
        ssize_t n = write(fd, f->data + done, f->len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            return err_set_errno(err, e, "write `%s`", p);
        }
        done += (size_t)n;
    }
    if (close(fd) < 0)
        return err_set_errno(err, errno, "close `%s`", p);
    return 0;
}

static int make_iso(const char *mkisofs, const char *tree, const char *out, struct err **err)
{
    char *argv[] = {(char *)mkisofs,
                    (char *)"-o",
                    (char *)out,
                    (char *)"-ldots",
                    (char *)"-allow-lowercase",
                    (char *)"-allow-multidot",
                    (char *)"-l",
                    (char *)"-publisher",
                    (char *)"OpenStack Compute (sculpt)",
                    (char *)"-quiet",
                    (char *)"-J",
                    (char *)"-r",
                    (char *)"-V",
                    (char *)DRV_HV_CONFIG_DRIVE_LABEL,
                    (char *)tree,
                    NULL};
    autostrbuf text = STRBUF_INIT;
    int rc = lv_volume_run(argv, &text, err);
    if (rc < 0)
        return err_wrap(err, "(genisoimage installed? [DEFAULT] mkisofs_cmd)");
    if (rc != 0)
        return err_set(err, ERR_INTERNAL, "%s failed (exit %d): %s", mkisofs, rc,
                       text.s ? text.s : "");
    return 0;
}

int lv_configdrive_write(const char *mkisofs, const struct drv_hv_config_drive *cd,
                         const char *iso, struct err **err)
{
    if (drv_hv_config_drive_validate(cd, err) < 0)
        return -1;
    autofree char *dir = xstrdup(iso);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return err_set(err, ERR_INVALID, "config drive path `%s` is not absolute", iso);
    *slash = '\0';
    /* private: the drive may hold keys and secrets in its user data */
    autofree char *tree = xasprintf("%s/.config-drive.XXXXXX", dir);
    if (!mkdtemp(tree))
        return err_set_errno(err, errno, "mkdtemp in `%s`", dir);
    autofree char *part = xasprintf("%s.part", iso);
    int rc = 0;
    for (size_t i = 0; i < cd->n && rc == 0; i++)
        rc = write_file(tree, &cd->files[i], err);
    if (rc == 0)
        rc = make_iso(mkisofs, tree, part, err);
    if (rc == 0 && rename(part, iso) < 0)
        rc = err_set_errno(err, errno, "rename `%s`", part);
    if (rc < 0)
        unlink(part);
    autoerr struct err *e = NULL;
    if (lv_volume_remove_dir(dir, tree, &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "config drive's folder `%s` left behind", tree);
    if (rc < 0)
        return err_wrap(err, "config drive `%s`", iso);
    log_debug("config drive %s: %zu files", iso, cd->n);
    return 0;
}

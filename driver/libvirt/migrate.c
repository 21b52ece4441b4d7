/* Cold migration, both legs (migrate.h): migrate_out on the source,
 * migrate_in on the destination, and migrate_cleanup there when a move
 * ends without migrate_in. */
#include "driver/libvirt/migrate.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "driver/hypervisor_priv.h"
#include "driver/libvirt/driver_priv.h"
#include "driver/libvirt/volume.h"

LOG_INIT("driver.libvirt.migrate");

static const char *base_name(const char *path)
{
    const char *s = path ? strrchr(path, '/') : NULL;
    return s ? s + 1 : path;
}

/* The files of folder `dir` the destination needs into out->files: every
 * regular file but `skip` (the console log: the destination starts its
 * own; the console socket is not a regular file). */
static int list_files(const char *dir, const char *skip, struct lv_mig_info *out, struct err **err)
{
    DIR *d = opendir(dir);
    if (!d)
        return err_set_errno(err, errno, "open `%s`", dir);
    int rc = 0;
    for (struct dirent *de = readdir(d); de && rc == 0; de = readdir(d)) {
        if (!lv_mig_name_ok(de->d_name) || (skip && strcmp(de->d_name, skip) == 0))
            continue;
        autofree char *p = xasprintf("%s/%s", dir, de->d_name);
        struct stat st;
        if (lstat(p, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        if (out->n == LV_MIG_MAX_FILES) {
            rc = err_set(err, ERR_CAPACITY, "`%s` holds more than %d files", dir,
                         LV_MIG_MAX_FILES);
            break;
        }
        out->files = xreallocarray(out->files, out->n + 1, sizeof(*out->files));
        out->files[out->n++] = xstrdup(de->d_name);
    }
    closedir(d);
    return rc;
}

/* Copy the files `info` names from src_dir into a fresh staging folder on
 * `dest`; on failure the staging folder is removed again. */
static int copy_out(struct lv *lv, const char *dest, const char *src_dir,
                    const struct lv_mig_info *info, struct err **err)
{
    autofree char *q = lv_ssh_quote(info->dir);
    /* a staging folder left by an earlier, failed try goes first */
    autofree char *prep = xasprintf("rm -rf -- %s && mkdir -p -m 0700 -- %s", q, q);
    if (lv_ssh_run(&lv->ssh, dest, prep, err) < 0)
        return err_wrap(err, "staging folder `%s`", info->dir);
    if (info->n == 0)
        return 0;
    char **paths = xcalloc(info->n + 1, sizeof(*paths));
    for (size_t i = 0; i < info->n; i++)
        paths[i] = xasprintf("%s/%s", src_dir, info->files[i]);
    int64_t t0 = clock_mono_ms();
    int rc = lv_ssh_copy(&lv->ssh, dest, paths, info->n, info->dir, err);
    lv_argv_free(paths);
    if (rc < 0) {
        autoerr struct err *e = NULL;
        autofree char *rm = xasprintf("rm -rf -- %s", q);
        if (lv_ssh_run(&lv->ssh, dest, rm, &e) < 0)
            log_err(LOG_LEVEL_WARN, e, "staging folder %s left on %s", info->dir, dest);
        return err_wrap(err, "copy to `%s`", dest);
    }
    log_info("%zu file(s) of %s copied to %s:%s in %lld ms", info->n, src_dir, dest, info->dir,
             (long long)(clock_mono_ms() - t0));
    return 0;
}

int lv_migrate_out(struct drv_hv *hv, const char *uuid, const char *inst_uuid, const char *dest,
                   int timeout_s, char **disk_info, struct err **err)
{
    struct lv *lv = lv_of(hv);
    if (!lv_ssh_host_ok(dest))
        return err_set(err, ERR_INVALID, "`%s` is not a host name or address", dest);
    virDomainPtr dom = lv_domain(lv, uuid, true, err);
    if (!dom)
        return -1;
    virDomainFree(dom);
    struct lv_meta m;
    if (!lv_entry_meta_get(lv, uuid, &m))
        return err_set(err, ERR_CONFLICT, "domain `%s` was not spawned by sculpt", uuid);
    struct lv_mig_info info = {.dir = lv_mig_staging_dir(lv->instances_path, inst_uuid)};
    const char *log = m.console_log && strncmp(m.console_log, m.instance_dir,
                                               strlen(m.instance_dir)) == 0
                          ? base_name(m.console_log)
                          : NULL;
    int rc = list_files(m.instance_dir, log, &info, err);
    /* Nova's migrate_disk_and_power_off: off first, so the disk is still */
    if (rc == 0)
        rc = hv->ops->power_off(hv, uuid, timeout_s, err);
    if (rc == 0)
        rc = copy_out(lv, dest, m.instance_dir, &info, err);
    if (rc == 0) {
        *disk_info = lv_mig_info_format(&info);
        log_info("guest %s off, its files on %s:%s; its own kept for a revert", uuid, dest,
                 info.dir);
    }
    lv_mig_info_release(&info);
    lv_meta_release(&m);
    return rc;
}

/* Move the files into the guest's folder and fit them to this host: the
 * overlay over this host's cached base, grown to the flavor's disk; the
 * config drive recorded in *meta. */
static int place_files(struct lv *lv, const struct lv_mig_info *info, struct lv_meta *meta,
                       struct err **err)
{
    const char *disk = meta->disk_path ? base_name(meta->disk_path) : NULL;
    bool have_disk = false;
    for (size_t i = 0; i < info->n; i++) {
        const char *f = info->files[i];
        autofree char *from = xasprintf("%s/%s", info->dir, f);
        autofree char *to = xasprintf("%s/%s", meta->instance_dir, f);
        if (lv_volume_move(from, to, err) < 0)
            return -1;
        if (disk && strcmp(f, disk) == 0)
            have_disk = true;
        if (strcmp(f, LV_CONFIG_DRIVE_FILE) == 0) {
            free(meta->config_drive);
            meta->config_drive = steal_pointer(&to);
        }
    }
    if (disk && !have_disk)
        return err_set(err, ERR_INVALID, "no `%s` came from the source", disk);
    for (size_t i = 0; !disk && i < info->n; i++)
        if (strcmp(info->files[i], "disk") == 0)
            return err_set(err, ERR_INVALID, "a disk came from the source, but no base image here");
    if (!disk)
        return 0;
    const struct drv_hv_image *im = &meta->spec.image;
    if (lv_volume_rebase(lv->qemu_img, meta->disk_path, im->disk_base, im->disk_format, err) < 0 ||
        lv_volume_grow(lv->qemu_img, meta->disk_path, im->root_gb, err) < 0)
        return -1;
    return 0;
}

/* What is left of the staging folder goes (its files were moved, or are
 * not wanted after a failure). */
static void drop_staging(const struct lv_mig_info *info)
{
    for (size_t i = 0; i < info->n; i++) {
        autofree char *p = xasprintf("%s/%s", info->dir, info->files[i]);
        if (unlink(p) < 0 && errno != ENOENT)
            log_warn("remove `%s`: %s", p, strerror(errno));
    }
    if (rmdir(info->dir) < 0 && errno != ENOENT)
        log_warn("remove `%s`: %s", info->dir, strerror(errno));
}

int lv_migrate_in(struct drv_hv *hv, const struct drv_hv_guest_spec *spec, const char *disk_info,
                  bool power_on, struct err **err)
{
    struct lv *lv = lv_of(hv);
    struct lv_mig_info info;
    if (lv_mig_info_parse(disk_info, &info, err) < 0)
        return -1;
    int rc = -1;
    bool placed = false;
    autofree char *name = NULL;
    struct lv_meta meta;
    memset(&meta, 0, sizeof(meta));
    if (drv_hv_check_host_policy(&lv->info, lv->nodes, &spec->shape, err) < 0 ||
        lv_spawn_check_new(lv, spec, err) < 0)
        goto cleanup;
    lv_design_meta(&lv->pol, spec, clock_wall_ms(), &meta);
    if (lv_volume_make_dir(meta.instance_dir, err) < 0)
        goto cleanup; /* CONFLICT: another guest's folder, left alone */
    placed = true;
    unlink(meta.console_log); /* an earlier guest's of this uuid would mislead */
    if (place_files(lv, &info, &meta, err) < 0)
        goto cleanup;
    name = xstrdup(meta.spec.name);
    placed = false; /* from here lv_spawn_install removes the folder on failure */
    if (lv_spawn_install(lv, &meta, power_on, err) < 0)
        goto cleanup;
    rc = 0;
    log_info("migrated in %s (%s) from %s, %s", spec->uuid, name, info.dir,
             power_on ? "started" : "left off");
cleanup:
    if (placed)
        lv_volume_remove_dir(lv->instances_path, meta.instance_dir, NULL);
    drop_staging(&info);
    lv_meta_release(&meta);
    lv_mig_info_release(&info);
    return rc;
}

int lv_migrate_cleanup(struct drv_hv *hv, const char *uuid, struct err **err)
{
    struct lv *lv = lv_of(hv);
    autofree char *dir = lv_mig_staging_dir(lv->instances_path, uuid);
    struct stat st;
    if (lstat(dir, &st) < 0) {
        if (errno == ENOENT)
            return 0;
        return err_set_errno(err, errno, "stat `%s`", dir);
    }
    if (!S_ISDIR(st.st_mode))
        return err_set(err, ERR_CONFLICT, "`%s` is not a staging folder", dir);
    if (lv_volume_remove_dir(lv->instances_path, dir, err) < 0)
        return -1;
    log_info("staging folder %s of an abandoned move removed", dir);
    return 0;
}

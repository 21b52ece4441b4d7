/* Guest folders and qcow2 overlays.  qemu-img runs as a child process with
 * an argument vector (no shell); its output is captured for the error. */
#include "driver/libvirt/volume.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "common/strbuf.h"

LOG_INIT("driver.libvirt.volume");

extern char **environ;

int lv_volume_make_dir(const char *dir, struct err **err)
{
    autofree char *p = xstrdup(dir);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
            return err_set_errno(err, errno, "mkdir `%s`", p);
        *s = '/';
    }
    if (mkdir(p, 0700) < 0 && errno != EEXIST)
        return err_set_errno(err, errno, "mkdir `%s`", p);
    autofree char *disk = xasprintf("%s/disk", dir);
    if (access(disk, F_OK) == 0)
        return err_set(err, ERR_CONFLICT, "`%s` already holds a disk", dir);
    return 0;
}

int lv_volume_run(char *const argv[], struct strbuf *out, struct err **err)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return err_set_errno(err, errno, "pipe");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDERR_FILENO);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        return err_set_errno(err, rc, "run `%s`", argv[0]);
    }
    char buf[4096];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof(buf))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        if (out->len < 65536)
            strbuf_append_len(out, buf, (size_t)n);
    }
    close(fds[0]);
    while (out->len && (out->s[out->len - 1] == '\n' || out->s[out->len - 1] == '\r'))
        out->s[--out->len] = '\0';
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return err_set_errno(err, errno, "wait for `%s`", argv[0]);
    if (!WIFEXITED(status))
        return err_set(err, ERR_INTERNAL, "`%s` died of signal %d", argv[0], WTERMSIG(status));
    return WEXITSTATUS(status);
}

/* Virtual size of an image in bytes, from `qemu-img info`. */
static int64_t image_size(const char *qemu_img, const char *path, const char *format,
                          struct err **err)
{
    char *argv[] = {(char *)qemu_img, (char *)"info", (char *)"-f",
                    (char *)format,   (char *)path,   NULL};
    autostrbuf out = STRBUF_INIT;
    int rc = lv_volume_run(argv, &out, err);
    if (rc < 0)
        return -1;
    if (rc != 0)
        return err_set(err, ERR_NOT_FOUND, "qemu-img info `%s`: %s", path,
                       out.s ? out.s : "failed");
    const char *p = out.s ? strstr(out.s, "virtual size:") : NULL;
    p = p ? strchr(p, '(') : NULL;
    if (!p)
        return err_set(err, ERR_INTERNAL, "qemu-img info `%s`: no virtual size", path);
    return strtoll(p + 1, NULL, 10);
}

int lv_volume_create_overlay(const char *qemu_img, const char *base, const char *base_format,
                             int64_t root_gb, const char *overlay, struct err **err)
{
    char size[32] = "";
    if (root_gb > 0) {
        int64_t have = image_size(qemu_img, base, base_format, err);
        if (have < 0)
            return -1;
        if (root_gb * (1LL << 30) > have)
            snprintf(size, sizeof(size), "%lldG", (long long)root_gb);
    }
    char *argv[] = {(char *)qemu_img, (char *)"create", (char *)"-q",          (char *)"-f",
                    (char *)"qcow2",  (char *)"-F",     (char *)base_format,   (char *)"-b",
                    (char *)base,     (char *)overlay,  size[0] ? size : NULL, NULL};
    autostrbuf out = STRBUF_INIT;
    int rc = lv_volume_run(argv, &out, err);
    if (rc < 0)
        return err_wrap(err, "overlay `%s`", overlay);
    if (rc != 0) {
        unlink(overlay);
        return err_set(err, access(base, R_OK) == 0 ? ERR_INTERNAL : ERR_NOT_FOUND,
                       "qemu-img create `%s` over `%s`: %s", overlay, base,
                       out.s ? out.s : "failed");
    }
    log_debug("overlay %s over %s (%s) %s", overlay, base, base_format, size);
    return 0;
}

/* Run a qemu-img (or cp) command for `path`; its output in the error. */
static int run_for(char *const argv[], const char *path, struct err **err)
{
    autostrbuf out = STRBUF_INIT;
    int rc = lv_volume_run(argv, &out, err);
    if (rc < 0)
        return err_wrap(err, "`%s`", path);
    if (rc != 0) {
        return err_set(err, ERR_INTERNAL, "%s %s `%s`: %s", argv[0], argv[1], path,
                       out.s ? out.s : "failed");
    }
    return 0;
}

int lv_volume_rebase(const char *qemu_img, const char *overlay, const char *base,
                     const char *base_format, struct err **err)
{
    if (access(base, R_OK) < 0)
        return err_set_errno(err, errno, "base image `%s`", base);
    char *argv[] = {(char *)qemu_img, (char *)"rebase", (char *)"-u",         (char *)"-f",
                    (char *)"qcow2",  (char *)"-b",     (char *)base,         (char *)"-F",
                    (char *)base_format, (char *)overlay, NULL};
    if (run_for(argv, overlay, err) < 0)
        return -1;
    log_debug("overlay %s now over %s (%s)", overlay, base, base_format);
    return 0;
}

/* The value of `key` in qemu-img info's human output (up to the line's
 * end), or NULL.  Caller frees. */
static char *info_field(const char *out, const char *key)
{
    size_t n = strlen(key);
    for (const char *l = out; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
        if (strncmp(l, key, n) == 0) {
            const char *v = l + n, *e = strchr(v, '\n');
            return xstrndup(v, e ? (size_t)(e - v) : strlen(v));
        }
    return NULL;
}

int lv_volume_create_delta(const char *qemu_img, const char *overlay, const char *delta,
                           struct err **err)
{
    /* -U: the guest's QEMU holds the overlay's write lock */
    char *info[] = {(char *)qemu_img, (char *)"info", (char *)"-U", (char *)"-f",
                    (char *)"qcow2",  (char *)overlay, NULL};
    autostrbuf out = STRBUF_INIT;
    int rc = lv_volume_run(info, &out, err);
    if (rc < 0)
        return err_wrap(err, "`%s`", overlay);
    if (rc != 0)
        return err_set(err, ERR_NOT_FOUND, "qemu-img info `%s`: %s", overlay,
                       out.s ? out.s : "failed");
    autofree char *vsize = info_field(out.s, "virtual size: ");
    autofree char *backing = info_field(out.s, "backing file: ");
    autofree char *format = info_field(out.s, "backing file format: ");
    const char *bytes = vsize ? strchr(vsize, '(') : NULL;
    if (!bytes || !backing || !format)
        return err_set(err, ERR_INVALID, "`%s` is not an overlay over a base image", overlay);
    /* a relative name is followed by what it resolves to */
    char *actual = strstr(backing, " (actual path: ");
    const char *base = backing;
    if (actual) {
        base = actual + strlen(" (actual path: ");
        char *close = strrchr(base, ')');
        if (close)
            *close = '\0';
    }
    char size[32];
    snprintf(size, sizeof(size), "%lld", strtoll(bytes + 1, NULL, 10));
    char *argv[] = {(char *)qemu_img, (char *)"create", (char *)"-q",   (char *)"-f",
                    (char *)"qcow2",  (char *)"-F",     format,         (char *)"-b",
                    (char *)base,     (char *)delta,    size,           NULL};
    if (run_for(argv, delta, err) < 0) {
        unlink(delta);
        return -1;
    }
    log_debug("delta %s over %s (%s), %s bytes, for %s", delta, base, format, size, overlay);
    return 0;
}

int lv_volume_grow(const char *qemu_img, const char *path, int64_t root_gb, struct err **err)
{
    if (root_gb <= 0)
        return 0;
    int64_t have = image_size(qemu_img, path, "qcow2", err);
    if (have < 0)
        return -1;
    if (root_gb * (1LL << 30) <= have)
        return 0;
    char size[32];
    snprintf(size, sizeof(size), "%lldG", (long long)root_gb);
    char *argv[] = {(char *)qemu_img, (char *)"resize", (char *)"-q", (char *)"-f",
                    (char *)"qcow2",  (char *)path,     size,         NULL};
    if (run_for(argv, path, err) < 0)
        return -1;
    log_debug("%s grown to %s", path, size);
    return 0;
}

int lv_volume_move(const char *from, const char *to, struct err **err)
{
    if (rename(from, to) == 0)
        return 0;
    if (errno != EXDEV)
        return err_set_errno(err, errno, "move `%s` to `%s`", from, to);
    char *argv[] = {(char *)"cp",   (char *)"--sparse=always", (char *)"--preserve=mode,timestamps",
                    (char *)"--",   (char *)from,              (char *)to,
                    NULL};
    if (run_for(argv, to, err) < 0) {
        unlink(to);
        return -1;
    }
    if (unlink(from) < 0)
        log_warn("copied, but `%s` not removed: %s", from, strerror(errno));
    return 0;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    int rc = flag == FTW_DP ? rmdir(path) : unlink(path);
    if (rc < 0 && errno != ENOENT)
        log_warn("remove `%s`: %s", path, strerror(errno));
    return 0;
}

int lv_volume_remove_dir(const char *root, const char *dir, struct err **err)
{
    char rroot[PATH_MAX], rdir[PATH_MAX];
    if (!realpath(dir, rdir))
        return errno == ENOENT ? 0 : err_set_errno(err, errno, "resolve `%s`", dir);
    if (!realpath(root, rroot))
        return err_set_errno(err, errno, "resolve `%s`", root);
    size_t n = strlen(rroot);
    if (strncmp(rdir, rroot, n) != 0 || rdir[n] != '/' || !rdir[n + 1])
        return err_set(err, ERR_INVALID, "refusing to remove `%s`: not inside `%s`", dir, root);
    if (nftw(rdir, remove_one, 16, FTW_DEPTH | FTW_PHYS) < 0)
        return err_set_errno(err, errno, "remove `%s`", rdir);
    return 0;
}

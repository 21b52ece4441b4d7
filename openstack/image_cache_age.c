/* The image cache manager's pass (Zed's nova/virt/libvirt/imagecache.py):
 * base images no guest on the host reads are removed once unused for the
 * minimum age, so a host's disk does not fill with every image it ever
 * ran.  An image's last use is its mtime: the pass sets it on the images
 * in use, a fetch on the image it hands out (so a build between its
 * download and its guest's start keeps its image).  The per-image lock
 * that orders downloads orders this too: an image is looked at, and
 * removed, only while no fetch holds it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "common/uuid.h"
#include "openstack/image_cache.h"

LOG_INIT("openstack.image_cache");

#define PART_SUFFIX ".part"
#define ID_LEN (UUID_STR_LEN - 1) /* an image id: a uuid, without the NUL */

/* Whether `path` (resolved) is one of the resolved paths in use. */
static bool age_in_use(const char *path, char *const *used, size_t n)
{
    char real[PATH_MAX];
    if (!realpath(path, real))
        return false;
    for (size_t i = 0; i < n; i++)
        if (used[i] && strcmp(used[i], real) == 0)
            return true;
    return false;
}

/* The lock fetches take on image `id`, held without waiting: -1 when a
 * fetch holds it (or it cannot be opened). */
static int age_lock(const char *dir, const char *id)
{
    autofree char *lock = xasprintf("%s/%s.lock", dir, id);
    int fd = open(lock, O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Image `id` (a file named by its uuid), under its lock. */
static void age_image(const char *dir, const char *id, char *const *used, size_t n,
                      int64_t min_age_s, bool remove, struct os_image_cache_pass *out)
{
    autofree char *path = xasprintf("%s/%s", dir, id);
    if (age_in_use(path, used, n)) {
        if (utimensat(AT_FDCWD, path, NULL, 0) < 0)
            log_warn("mark `%s` used: %s", path, strerror(errno));
        out->in_use++;
        return;
    }
    struct stat st;
    if (stat(path, &st) < 0)
        return;
    int64_t age = (int64_t)time(NULL) - (int64_t)st.st_mtim.tv_sec;
    if (age < min_age_s) {
        out->young++;
        return;
    }
    if (!remove) {
        log_info("image %s unused for %lld s: removable ([image_cache] "
                 "remove_unused_base_images is off)",
                 id, (long long)age);
        out->removable++;
        return;
    }
    if (unlink(path) < 0) {
        log_warn("remove unused image `%s`: %s", path, strerror(errno));
        return;
    }
    log_info("image %s unused for %lld s: removed (%lld bytes)", id, (long long)age,
             (long long)st.st_size);
    out->removed++;
    out->bytes_removed += st.st_size;
}

int os_image_cache_age(struct os_image_cache *c, char *const *in_use, size_t n_in_use,
                       int64_t min_age_s, bool remove, struct os_image_cache_pass *out,
                       struct err **err)
{
    memset(out, 0, sizeof(*out));
    const char *dir = os_image_cache_dir(c);
    DIR *d = opendir(dir);
    if (!d)
        return err_set_errno(err, errno, "read the image cache `%s`", dir);
    /* resolved once: a guest may name its image through another path */
    char **used = xcalloc(n_in_use ? n_in_use : 1, sizeof(*used));
    for (size_t i = 0; i < n_in_use; i++) {
        char real[PATH_MAX];
        used[i] = realpath(in_use[i], real) ? xstrdup(real) : NULL;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *name = de->d_name;
        size_t len = strlen(name);
        bool part =
            len == ID_LEN + strlen(PART_SUFFIX) && strcmp(name + ID_LEN, PART_SUFFIX) == 0;
        if (len != ID_LEN && !part)
            continue;
        char id[ID_LEN + 1];
        memcpy(id, name, ID_LEN);
        id[ID_LEN] = '\0';
        if (!uuid_is_valid(id))
            continue;
        int fd = age_lock(dir, id);
        if (fd < 0) {
            out->busy++;
            continue;
        }
        if (part) {
            /* no fetch holds the image: nobody is writing this */
            autofree char *p = xasprintf("%s/%s", dir, name);
            if (unlink(p) == 0) {
                log_warn("download `%s` left by an earlier run removed", p);
                out->leftovers++;
            }
        } else {
            age_image(dir, id, used, n_in_use, min_age_s, remove, out);
        }
        close(fd);
    }
    closedir(d);
    for (size_t i = 0; i < n_in_use; i++)
        free(used[i]);
    free(used);
    return 0;
}

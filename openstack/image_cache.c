#include "openstack/image_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/uuid.h"
#include "openstack/glance.h"

LOG_INIT("openstack.image_cache");

struct os_image_cache {
    char *dir;
    struct os_glance *glance;
    int retries;
};

struct os_image_cache *os_image_cache_new(const char *dir, struct os_glance *glance,
                                          int retries, struct err **err)
{
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        err_set_errno(err, errno, "create the image cache `%s`", dir);
        return NULL;
    }
    struct os_image_cache *c = xzalloc(sizeof(*c));
    c->dir = xstrdup(dir);
    c->glance = glance;
    c->retries = retries;
    return c;
}

const char *os_image_cache_dir(const struct os_image_cache *c)
{
    return c->dir;
}

void os_image_cache_free(struct os_image_cache *c)
{
    if (!c)
        return;
    free(c->dir);
    free(c);
}

int os_image_digest(const char *path, const char *algo, char *out, size_t size,
                    struct err **err)
{
    const EVP_MD *md = EVP_get_digestbyname(algo);
    if (!md)
        return err_set(err, ERR_UNSUPPORTED, "unknown hash algorithm `%s`", algo);
    FILE *f = fopen(path, "rb");
    if (!f)
        return err_set_errno(err, errno, "open `%s`", path);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, md, NULL) != 1) {
        fclose(f);
        EVP_MD_CTX_free(ctx);
        return err_set(err, ERR_INTERNAL, "cannot start a %s digest", algo);
    }
    unsigned char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        EVP_DigestUpdate(ctx, buf, n);
    bool bad = ferror(f);
    fclose(f);
    unsigned char dg[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx, dg, &len);
    EVP_MD_CTX_free(ctx);
    if (bad)
        return err_set(err, ERR_INTERNAL, "read error on `%s`", path);
    if (size < (size_t)len * 2 + 1)
        return err_set(err, ERR_INTERNAL, "digest buffer too small");
    for (unsigned int i = 0; i < len; i++)
        snprintf(out + 2 * i, 3, "%02x", dg[i]);
    return 0;
}

/* Does the file match what Glance says of the image?  Glance's multihash
 * first (sha512 by default), the md5 checksum otherwise; an image with
 * neither cannot be verified and is refused. */
static int cache_verify(const char *path, const json_t *meta, struct err **err)
{
    const char *algo = json_string_value(json_object_get(meta, "os_hash_algo"));
    const char *want = json_string_value(json_object_get(meta, "os_hash_value"));
    if (!algo || !want || !*algo || !*want) {
        algo = "md5";
        want = json_string_value(json_object_get(meta, "checksum"));
    }
    if (!want || !*want)
        return err_set(err, ERR_INVALID, "Glance gives no checksum for the image");
    char got[2 * EVP_MAX_MD_SIZE + 1];
    if (os_image_digest(path, algo, got, sizeof(got), err) < 0)
        return -1;
    if (strcasecmp(got, want) != 0)
        return err_set(err, ERR_INVALID, "%s of the downloaded data is %.16s..., Glance says %.16s...",
                       algo, got, want);
    return 0;
}

static int cache_download(struct os_image_cache *c, const char *id, const char *token,
                          const json_t *meta, const char *path, struct err **err)
{
    autofree char *part = xasprintf("%s.part", path);
    for (int attempt = 0;; attempt++) {
        autoerr struct err *e = NULL;
        int64_t t0 = clock_mono_ms();
        FILE *f = fopen(part, "w+b");
        if (!f)
            return err_set_errno(err, errno, "create `%s`", part);
        int rc = os_glance_image_download(c->glance, id, token, f, &e);
        if (fclose(f) != 0 && rc == 0)
            rc = err_set_errno(&e, errno, "write `%s`", part);
        if (rc == 0)
            rc = cache_verify(part, meta, &e);
        if (rc == 0) {
            if (rename(part, path) < 0)
                return err_set_errno(err, errno, "rename `%s`", part);
            struct stat st;
            stat(path, &st);
            log_info("image %s cached: %lld bytes in %lld ms, checksum verified", id,
                     (long long)st.st_size, (long long)(clock_mono_ms() - t0));
            return 0;
        }
        unlink(part);
        if (attempt >= c->retries || err_code_of(e) == ERR_NOT_FOUND) {
            *err = steal_pointer(&e);
            return err_wrap(err, "image %s", id);
        }
        log_err(LOG_LEVEL_WARN, e, "image %s: download attempt %d failed; retrying", id,
                attempt + 1);
        clock_sleep_ms(1000);
    }
}

bool os_image_cache_holds(struct os_image_cache *c, const char *id)
{
    if (!id || !uuid_is_valid(id))
        return false;
    autofree char *path = xasprintf("%s/%s", c->dir, id);
    return access(path, R_OK) == 0;
}

char *os_image_cache_fetch(struct os_image_cache *c, const char *id, const char *user_token,
                           json_t **meta_out, struct err **err)
{
    /* The id names a file: only a uuid is allowed in. */
    if (!id || !uuid_is_valid(id)) {
        err_set(err, ERR_INVALID, "image id `%s` is not a uuid", id ? id : "");
        return NULL;
    }
    json_auto_t *meta = os_glance_image_get(c->glance, id, user_token, err);
    if (!meta)
        return NULL;
    const char *status = json_string_value(json_object_get(meta, "status"));
    if (!status || strcmp(status, "active") != 0) {
        err_set(err, ERR_INVALID, "image %s is `%s`, not active", id, status ? status : "?");
        return NULL;
    }
    char *path = xasprintf("%s/%s", c->dir, id);
    autofree char *lock = xasprintf("%s/%s.lock", c->dir, id);
    autoclose int fd = open(lock, O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    if (fd < 0 || flock(fd, LOCK_EX) < 0) {
        err_set_errno(err, errno, "lock `%s`", lock);
        free(path);
        return NULL;
    }
    if (access(path, R_OK) == 0) {
        /* used now: the image cache manager ages images by their mtime */
        if (utimensat(AT_FDCWD, path, NULL, 0) < 0)
            log_warn("mark `%s` used: %s", path, strerror(errno));
    } else if (cache_download(c, id, user_token, meta, path, err) < 0) {
        free(path);
        return NULL;
    }
    if (meta_out)
        *meta_out = json_incref(meta);
    return path;
}

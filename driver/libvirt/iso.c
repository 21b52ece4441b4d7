/* ISO 9660 images with libarchive's iso9660 writer (BSD-licensed;
 * libisofs, GPL, would make every binary that loads this module a GPL
 * work): the files go from memory into the archive as entries, libarchive
 * lays out the image at the close and writes it to the output file.  No
 * folder of files, no child process. */
#include "driver/libvirt/iso.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"

LOG_INIT("driver.libvirt.iso");

#define ISO_NAME_MAX 255   /* bytes of a Rock Ridge name component */
#define ISO_BLOCK 2048     /* bytes of a logical block */
#define ISO_PVD_BLOCK 16   /* the primary volume descriptor's block */
#define ISO_PVD_VOLUME_ID 40 /* its volume identifier: 32 bytes, space-padded */

/* Nova's `genisoimage -J -r -l` in libarchive's terms (its iso9660
 * options are named after mkisofs's; 3.6 has no -allow-lowercase, so
 * the plain ISO 9660 names are upper case: readers use Rock Ridge's or
 * Joliet's, which keep the names as given). */
static const struct {
    const char *key, *value;
} iso_options[] = {
    /* -l: 31-character names */
    {"iso-level", "2"},
    /* -J, with names past Joliet's 64 characters kept (up to 103) */
    {"joliet", "long"},
    /* -r: Rock Ridge, owned by root, readable by all, nothing writable */
    {"rockridge", "useful"},
    /* genisoimage's default -pad: 150 zero blocks (300 KiB), the
     * traditional sacrifice to Linux's read-ahead */
    {"pad", "1"},
};

static int arc_fail(struct err **err, struct archive *a, const char *what, const char *name)
{
    const char *msg = archive_error_string(a);
    return err_set(err, ERR_INTERNAL, "libarchive: %s `%s`: %s", what, name, msg ? msg : "failed");
}

/* Refuse what libarchive would take silently or with a vaguer message:
 * an empty, "." or ".." component, a component over Rock Ridge's 255
 * bytes, the same path twice, a file that is also another's folder. */
static int check_path(const struct drv_hv_file *files, size_t i, struct err **err)
{
    const char *p = files[i].path;
    if (!*p || *p == '/')
        return err_set(err, ERR_INVALID, "`%s` is not a relative path", p);
    for (const char *c = p; *c;) {
        size_t len = strcspn(c, "/");
        if (len == 0 || (len == 1 && c[0] == '.') || (len == 2 && !strncmp(c, "..", 2)))
            return err_set(err, ERR_INVALID, "`%s`: an empty, `.` or `..` component", p);
        if (len > ISO_NAME_MAX)
            return err_set(err, ERR_INVALID, "`%s`: a name of %zu bytes (at most %d)", p, len,
                           ISO_NAME_MAX);
        c += len + (c[len] == '/');
    }
    size_t pl = strlen(p);
    for (size_t j = 0; j < i; j++) {
        const char *q = files[j].path;
        size_t ql = strlen(q);
        if (pl == ql && !memcmp(p, q, pl))
            return err_set(err, ERR_INVALID, "`%s` given twice", p);
        if (ql < pl && !strncmp(q, p, ql) && p[ql] == '/')
            return err_set(err, ERR_INVALID, "`%s`: `%s` is a file, not a folder", p, q);
        if (pl < ql && !strncmp(p, q, pl) && q[pl] == '/')
            return err_set(err, ERR_INVALID, "`%s` is a folder, not a file", p);
    }
    return 0;
}

static int set_options(struct archive *a, const struct lv_iso_label *label, struct err **err)
{
    if (archive_write_set_format_iso9660(a) != ARCHIVE_OK)
        return arc_fail(err, a, "format", "iso9660");
    /* the image is whole blocks: no tar-style padding after it */
    if (archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK)
        return arc_fail(err, a, "option", "bytes_in_last_block");
    for (size_t i = 0; i < sizeof(iso_options) / sizeof(iso_options[0]); i++)
        if (archive_write_set_format_option(a, "iso9660", iso_options[i].key,
                                            iso_options[i].value) != ARCHIVE_OK)
            return arc_fail(err, a, "option", iso_options[i].key);
    if (archive_write_set_format_option(a, "iso9660", "volume-id", label->volume_id) != ARCHIVE_OK)
        return arc_fail(err, a, "volume id", label->volume_id);
    if (label->publisher &&
        archive_write_set_format_option(a, "iso9660", "publisher", label->publisher) != ARCHIVE_OK)
        return arc_fail(err, a, "publisher", label->publisher);
    return 0;
}

static int add_file(struct archive *a, struct archive_entry *e, const struct drv_hv_file *f,
                    time_t now, struct err **err)
{
    archive_entry_clear(e);
    archive_entry_set_pathname_utf8(e, f->path);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0444);
    archive_entry_set_nlink(e, 1);
    archive_entry_set_size(e, (la_int64_t)f->len);
    archive_entry_set_mtime(e, now, 0);
    if (archive_write_header(a, e) != ARCHIVE_OK)
        return arc_fail(err, a, "add file", f->path);
    const char *p = f->data;
    for (size_t left = f->len; left;) {
        la_ssize_t w = archive_write_data(a, p, left);
        if (w <= 0)
            return arc_fail(err, a, "write file", f->path);
        p += w;
        left -= (size_t)w;
    }
    return 0;
}

/* libarchive writes the primary volume id in d-characters ("config-2"
 * becomes "CONFIG_2"); genisoimage -V writes it as given, and guests
 * look for `config-2` (cloud-init by blkid, which reads Joliet's copy,
 * kept as given; others read this one).  Put the label back as given. */
static int fix_volume_id(int fd, const char *volume_id, const char *path, struct err **err)
{
    char id[32];
    memset(id, ' ', sizeof(id));
    memcpy(id, volume_id, strlen(volume_id));
    off_t at = (off_t)ISO_PVD_BLOCK * ISO_BLOCK;
    unsigned char head[6];
    if (pread(fd, head, sizeof(head), at) != (ssize_t)sizeof(head))
        return err_set_errno(err, errno ? errno : EIO, "read `%s`'s volume descriptor", path);
    if (head[0] != 1 || memcmp(head + 1, "CD001", 5) != 0)
        return err_set(err, ERR_INTERNAL, "`%s`: no primary volume descriptor in block %d", path,
                       ISO_PVD_BLOCK);
    if (pwrite(fd, id, sizeof(id), at + ISO_PVD_VOLUME_ID) != (ssize_t)sizeof(id))
        return err_set_errno(err, errno ? errno : EIO, "write `%s`'s volume id", path);
    return 0;
}

int lv_iso_write(const struct lv_iso_label *label, const struct drv_hv_file *files, size_t n,
                 const char *path, struct err **err)
{
    if (!label->volume_id || !*label->volume_id || strlen(label->volume_id) > 32)
        return err_set(err, ERR_INVALID, "volume id `%s` is not 1 to 32 characters",
                       label->volume_id ? label->volume_id : "");
    for (size_t i = 0; i < n; i++)
        if (check_path(files, i, err) < 0)
            return -1;
    struct archive *a = archive_write_new();
    struct archive_entry *e = archive_entry_new();
    if (!a || !e) {
        archive_entry_free(e);
        archive_write_free(a);
        return err_set(err, ERR_INTERNAL, "libarchive: out of memory");
    }
    int fd = -1, rc = set_options(a, label, err);
    if (rc == 0) {
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0)
            rc = err_set_errno(err, errno, "create `%s`", path);
    }
    if (rc == 0 && archive_write_open_fd(a, fd) != ARCHIVE_OK)
        rc = arc_fail(err, a, "open", path);
    time_t now = time(NULL);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = add_file(a, e, &files[i], now, err);
    /* the image is laid out and written at the close */
    if (rc == 0 && archive_write_close(a) != ARCHIVE_OK)
        rc = arc_fail(err, a, "write image", path);
    if (rc < 0)
        archive_write_fail(a); /* so that the free below writes nothing more */
    archive_entry_free(e);
    archive_write_free(a); /* does not close the fd */
    if (rc == 0)
        rc = fix_volume_id(fd, label->volume_id, path, err);
    if (fd >= 0 && close(fd) < 0 && rc == 0)
        rc = err_set_errno(err, errno, "close `%s`", path);
    if (rc == 0)
        log_debug("%s: ISO 9660 image `%s` of %zu files", path, label->volume_id, n);
    return rc;
}

/* The dest_info record of a libvirt live migration, the domain XML's
 * paths rewritten to the destination's, and the URIs (live.h). */
#include "driver/libvirt/live.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/strbuf.h"
#include "driver/libvirt/config.h"
#include "driver/libvirt/transfer.h"

#define LIVE_MAGIC "sculpt-libvirt-live 1"

/* The record's lines, in order, and where each goes. */
static char **field(struct lv_live_info *i, size_t k)
{
    char **f[] = {&i->addr,   &i->dir,   &i->disk, &i->base,   &i->log,
                  &i->socket, &i->cdrom, &i->vnc,  &i->serial, &i->serial_port};
    return k < sizeof(f) / sizeof(f[0]) ? f[k] : NULL;
}
static const char *const names[] = {"addr",  "dir", "disk",   "base",       "log",
                                    "socket", "cdrom", "vnc", "serial", "serial_port"};
#define NFIELDS (sizeof(names) / sizeof(names[0]))

void lv_live_info_release(struct lv_live_info *i)
{
    if (!i)
        return;
    for (size_t k = 0; k < NFIELDS; k++)
        free(*field(i, k));
    memset(i, 0, sizeof(*i));
}

void lv_live_info_of(const struct lv_meta *meta, const char *addr, struct lv_live_info *out)
{
    *out = (struct lv_live_info){
        .addr = addr && *addr ? (char *)addr : NULL,
        .dir = meta->instance_dir,
        .disk = meta->disk_path,
        .base = meta->disk_path ? meta->spec.image.disk_base : NULL,
        .log = meta->console_log,
        .socket = meta->console_socket,
        .cdrom = meta->config_drive,
    };
}

char *lv_live_info_format(const struct lv_live_info *i)
{
    struct strbuf b = STRBUF_INIT;
    strbuf_append(&b, LIVE_MAGIC "\n");
    struct lv_live_info *m = (struct lv_live_info *)i; /* field() only reads here */
    for (size_t k = 0; k < NFIELDS; k++)
        if (*field(m, k))
            strbuf_printf(&b, "%s %s\n", names[k], *field(m, k));
    return strbuf_steal(&b);
}

/* A path that goes into XML as it is: absolute, no . or .. component, no
 * character XML escapes, no control character. */
static bool path_ok(const char *p)
{
    if (p[0] != '/' || strstr(p, "/./") || strstr(p, "/../") || strpbrk(p, "&<>\"'"))
        return false;
    for (const char *c = p; *c; c++)
        if ((unsigned char)*c < 0x20)
            return false;
    size_t n = strlen(p);
    return n < 4096 && !(n >= 3 && strcmp(p + n - 3, "/..") == 0) &&
           !(n >= 2 && strcmp(p + n - 2, "/.") == 0);
}

/* A TCP port, 1 to 65535, in decimal. */
static bool port_ok(const char *v)
{
    size_t n = strspn(v, "0123456789");
    if (n == 0 || n > 5 || v[n] || v[0] == '0')
        return false;
    return atoi(v) <= 65535;
}

int lv_live_info_parse(const char *text, struct lv_live_info *out, struct err **err)
{
    memset(out, 0, sizeof(*out));
    size_t mn = strlen(LIVE_MAGIC);
    if (!text || strncmp(text, LIVE_MAGIC, mn) != 0 || text[mn] != '\n')
        return err_set(err, ERR_INVALID, "dest_info is not a libvirt live migration's");
    autofree char *copy = xstrdup(text + mn + 1);
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *sp = strchr(line, ' ');
        size_t k = NFIELDS;
        if (sp) {
            *sp = '\0';
            for (k = 0; k < NFIELDS && strcmp(names[k], line) != 0; k++)
                ;
        }
        if (k == NFIELDS) {
            err_set(err, ERR_INVALID, "dest_info: unexpected line `%s`", line);
            goto fail;
        }
        const char *v = sp + 1;
        bool ok = k == 0 || k == 7 || k == 8 ? lv_ssh_host_ok(v)
                  : k == 9                   ? port_ok(v)
                                             : path_ok(v);
        if (!ok || *field(out, k)) {
            err_set(err, ERR_INVALID, "dest_info: bad or repeated %s `%s`", names[k], v);
            goto fail;
        }
        *field(out, k) = xstrdup(v);
    }
    if (!out->dir) {
        err_set(err, ERR_INVALID, "dest_info names no folder");
        goto fail;
    }
    if (!out->serial != !out->serial_port) {
        err_set(err, ERR_INVALID, "dest_info: a serial address without its port, or a port "
                                  "without its address");
        goto fail;
    }
    if (!out->disk != !out->base) {
        err_set(err, ERR_INVALID, "dest_info: a disk without its base, or a base without a disk");
        goto fail;
    }
    return 0;
fail:
    lv_live_info_release(out);
    return -1;
}

struct pair {
    const char *from, *to;
};

static int by_length_desc(const void *a, const void *b)
{
    size_t la = strlen(((const struct pair *)a)->from), lb = strlen(((const struct pair *)b)->from);
    return la < lb ? 1 : la > lb ? -1 : 0;
}

char *lv_live_rewrite_xml(const char *xml, const struct lv_meta *src,
                          const struct lv_live_info *dst, struct err **err)
{
    const char *from[] = {src->instance_dir, src->disk_path,
                          src->disk_path ? src->spec.image.disk_base : NULL,
                          src->console_log, src->console_socket, src->config_drive};
    const char *to[] = {dst->dir, dst->disk, dst->base, dst->log, dst->socket, dst->cdrom};
    const char *what[] = {"folder", "disk", "base image", "console log", "console socket",
                          "config drive"};
    struct pair p[6];
    size_t n = 0;
    for (size_t k = 0; k < 6; k++) {
        if (!from[k])
            continue;
        if (!to[k]) {
            err_set(err, ERR_INVALID, "the destination has no %s for the guest's `%s`", what[k],
                    from[k]);
            return NULL;
        }
        if (!path_ok(from[k])) {
            err_set(err, ERR_INVALID, "the guest's %s `%s` cannot be moved", what[k], from[k]);
            return NULL;
        }
        if (strcmp(from[k], to[k]) != 0)
            p[n++] = (struct pair){from[k], to[k]};
    }
    qsort(p, n, sizeof(p[0]), by_length_desc);
    struct strbuf b = STRBUF_INIT;
    for (const char *s = xml; *s;) {
        size_t k = 0;
        while (k < n && strncmp(s, p[k].from, strlen(p[k].from)) != 0)
            k++;
        if (k < n) {
            strbuf_append(&b, p[k].to);
            s += strlen(p[k].from);
        } else {
            strbuf_append_len(&b, s, 1);
            s++;
        }
    }
    return strbuf_steal(&b);
}

static char *host_part(const char *host)
{
    return strchr(host, ':') ? xasprintf("[%s]", host) : xstrdup(host);
}

char *lv_live_dest_uri(const char *tmpl, const char *host, struct err **err)
{
    autofree char *h = host_part(host);
    struct strbuf b = STRBUF_INIT;
    for (const char *s = tmpl; *s; s++) {
        if (*s != '%') {
            strbuf_append_len(&b, s, 1);
        } else if (s[1] == 's') {
            strbuf_append(&b, h);
            s++;
        } else {
            strbuf_release(&b);
            err_set(err, ERR_INVALID, "live_migration_uri `%s`: only %%s may follow %%", tmpl);
            return NULL;
        }
    }
    return strbuf_steal(&b);
}

char *lv_live_migrate_uri(const char *host)
{
    autofree char *h = host_part(host);
    return xasprintf("tcp://%s", h);
}

int64_t lv_live_deadline_ms(int64_t timeout_s, uint64_t total_bytes)
{
    if (timeout_s <= 0)
        return 0;
    const uint64_t gib = 1ull << 30;
    uint64_t g = (total_bytes + gib - 1) / gib;
    if (g < 2)
        g = 2;
    return timeout_s * 1000 * (int64_t)g;
}

bool lv_live_past_deadline(int64_t limit_ms, int64_t elapsed_ms, bool in_postcopy)
{
    return limit_ms > 0 && !in_postcopy && elapsed_ms > limit_ms;
}

enum lv_live_force lv_live_force_how(bool postcopy_permitted, bool in_postcopy, bool running)
{
    if (in_postcopy || !running)
        return LV_LIVE_FORCE_DONE;
    return postcopy_permitted ? LV_LIVE_FORCE_POSTCOPY : LV_LIVE_FORCE_PAUSE;
}

/* ssh, rsync and scp argument vectors, run without a shell
 * (lv_volume_run); only the remote command goes through a shell, the
 * remote one, and every word of it is quoted by the caller. */
#include "driver/libvirt/transfer.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "driver/libvirt/volume.h"

LOG_INIT("driver.libvirt.transfer");

static char *opt_str(const char *v)
{
    return v && *v ? xstrdup(v) : NULL;
}

void lv_ssh_init(struct lv_ssh *s, const struct cfg *cfg)
{
    memset(s, 0, sizeof(*s));
    s->rsync = strcmp(cfg->libvirt_migration_transport, "rsync") == 0;
    s->user = opt_str(cfg->libvirt_migration_ssh_user);
    s->port = (int)cfg->libvirt_migration_ssh_port;
    s->identity = opt_str(cfg->libvirt_migration_ssh_identity);
    s->known_hosts = opt_str(cfg->libvirt_migration_ssh_known_hosts);
    s->connect_timeout_s = (int)cfg->libvirt_migration_ssh_timeout_s;
}

void lv_ssh_release(struct lv_ssh *s)
{
    if (!s)
        return;
    free(s->user);
    free(s->identity);
    free(s->known_hosts);
    memset(s, 0, sizeof(*s));
}

char *lv_ssh_quote(const char *s)
{
    struct strbuf b = STRBUF_INIT;
    strbuf_append(&b, "'");
    for (const char *p = s; *p; p++) {
        if (*p == '\'')
            strbuf_append(&b, "'\\''");
        else
            strbuf_append_len(&b, p, 1);
    }
    strbuf_append(&b, "'");
    return strbuf_steal(&b);
}

bool lv_ssh_host_ok(const char *host)
{
    size_t n = host ? strlen(host) : 0;
    if (n == 0 || n > 255 || host[0] == '-')
        return false;
    return strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:") == n;
}

/* A growing NULL-terminated vector of owned strings. */
struct argv {
    char **v;
    size_t n, cap;
};

static void argv_add(struct argv *a, const char *s)
{
    if (a->n + 2 > a->cap) {
        a->cap = a->cap ? a->cap * 2 : 16;
        a->v = xrealloc(a->v, a->cap * sizeof(*a->v));
    }
    a->v[a->n++] = xstrdup(s);
    a->v[a->n] = NULL;
}

static void argv_addf(struct argv *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void argv_addf(struct argv *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    autofree char *s = xvasprintf(fmt, ap);
    va_end(ap);
    argv_add(a, s);
}

void lv_argv_free(char **argv)
{
    if (!argv)
        return;
    for (char **p = argv; *p; p++)
        free(*p);
    free(argv);
}

/* The options ssh, scp and rsync's ssh share: never prompt, check the
 * host key, give up on a dead link. */
static void ssh_common(struct argv *a, const struct lv_ssh *s)
{
    argv_add(a, "-o");
    argv_add(a, "BatchMode=yes");
    argv_add(a, "-o");
    argv_add(a, "StrictHostKeyChecking=yes");
    argv_add(a, "-o");
    argv_addf(a, "ConnectTimeout=%d", s->connect_timeout_s);
    argv_add(a, "-o");
    argv_add(a, "ServerAliveInterval=15");
    argv_add(a, "-o");
    argv_add(a, "ServerAliveCountMax=4");
    if (s->known_hosts) {
        argv_add(a, "-o");
        argv_addf(a, "UserKnownHostsFile=%s", s->known_hosts);
    }
    if (s->identity) {
        argv_add(a, "-i");
        argv_add(a, s->identity);
        argv_add(a, "-o");
        argv_add(a, "IdentitiesOnly=yes");
    }
}

char **lv_ssh_argv_command(const struct lv_ssh *s, const char *host, const char *command)
{
    struct argv a = {0};
    argv_add(&a, "ssh");
    ssh_common(&a, s);
    argv_add(&a, "-p");
    argv_addf(&a, "%d", s->port);
    if (s->user) {
        argv_add(&a, "-l");
        argv_add(&a, s->user);
    }
    argv_add(&a, "--");
    argv_add(&a, host);
    argv_add(&a, command);
    return a.v;
}

/* One word of rsync's -e: rsync splits it at spaces and honours single
 * and double quotes, not backslashes. */
static int rsync_word(struct strbuf *b, const char *w, struct err **err)
{
    if (b->len)
        strbuf_append(b, " ");
    if (!strpbrk(w, " \t'\"")) {
        strbuf_append(b, w);
        return 0;
    }
    if (strchr(w, '\'') && strchr(w, '"'))
        return err_set(err, ERR_INVALID, "`%s` cannot be passed to rsync's ssh", w);
    const char *q = strchr(w, '\'') ? "\"" : "'";
    strbuf_printf(b, "%s%s%s", q, w, q);
    return 0;
}

char **lv_ssh_argv_copy(const struct lv_ssh *s, const char *host, char *const *files, size_t n,
                        const char *remote_dir, struct err **err)
{
    struct argv a = {0};
    if (s->rsync) {
        struct argv e = {0};
        argv_add(&e, "ssh");
        ssh_common(&e, s);
        argv_add(&e, "-p");
        argv_addf(&e, "%d", s->port);
        autostrbuf cmd = STRBUF_INIT;
        int rc = 0;
        for (size_t i = 0; i < e.n && rc == 0; i++)
            rc = rsync_word(&cmd, e.v[i], err);
        lv_argv_free(e.v);
        if (rc < 0)
            return NULL;
        argv_add(&a, "rsync");
        /* --protect-args: the remote path reaches rsync unsplit, unexpanded */
        argv_add(&a, "--archive");
        argv_add(&a, "--sparse");
        argv_add(&a, "--protect-args");
        argv_add(&a, "-e");
        argv_add(&a, cmd.s);
    } else {
        argv_add(&a, "scp");
        argv_add(&a, "-q");
        argv_add(&a, "-p");
        ssh_common(&a, s);
        argv_add(&a, "-P");
        argv_addf(&a, "%d", s->port);
    }
    argv_add(&a, "--");
    for (size_t i = 0; i < n; i++)
        argv_add(&a, files[i]);
    /* an IPv6 address goes in brackets before the path's colon */
    bool v6 = strchr(host, ':') != NULL;
    argv_addf(&a, "%s%s%s%s%s:%s/", s->user ? s->user : "", s->user ? "@" : "", v6 ? "[" : "",
              host, v6 ? "]" : "", remote_dir);
    return a.v;
}

/* Run argv; UNAVAILABLE with its output when it fails. */
static int run(char **argv, const char *host, struct err **err)
{
    autostrbuf out = STRBUF_INIT;
    int rc = lv_volume_run(argv, &out, err);
    if (rc < 0)
        return -1;
    if (rc != 0)
        return err_set(err, ERR_UNAVAILABLE, "`%s` to `%s` exited %d: %s", argv[0], host, rc,
                       out.len ? out.s : "no output");
    return 0;
}

int lv_ssh_run(const struct lv_ssh *s, const char *host, const char *command, struct err **err)
{
    if (!lv_ssh_host_ok(host))
        return err_set(err, ERR_INVALID, "`%s` is not a host name or address", host ? host : "");
    char **argv = lv_ssh_argv_command(s, host, command);
    log_debug("ssh %s: %s", host, command);
    int rc = run(argv, host, err);
    lv_argv_free(argv);
    return rc;
}

int lv_ssh_copy(const struct lv_ssh *s, const char *host, char *const *files, size_t n,
                const char *remote_dir, struct err **err)
{
    if (!lv_ssh_host_ok(host))
        return err_set(err, ERR_INVALID, "`%s` is not a host name or address", host ? host : "");
    char **argv = lv_ssh_argv_copy(s, host, files, n, remote_dir, err);
    if (!argv)
        return -1;
    log_debug("%s %zu file(s) to %s:%s", argv[0], n, host, remote_dir);
    int rc = run(argv, host, err);
    lv_argv_free(argv);
    return rc;
}

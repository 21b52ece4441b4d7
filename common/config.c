#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "err.h"
#include "log.h"

LOG_INIT("common.config");

enum cfg_type {
    CFG_T_STR,
    CFG_T_URL,
    CFG_T_SECRET,
    CFG_T_INT,
    CFG_T_FLOAT,
    CFG_T_BOOL,
    CFG_T_ENUM,
};

struct cfg_opt {
    const char *section;
    const char *name;
    enum cfg_type type;
    const char *def_s;   /* STR, URL, ENUM */
    long long def_i;
    double def_f;
    bool def_b;
    double min, max;     /* INT and FLOAT bounds, inclusive */
    const char *choices; /* ENUM: "a|b|c" */
    const char *help;
    size_t offset;       /* of the field in struct cfg */
};

static const struct cfg_opt cfg_opts[] = {
#define CFG_STR(f, s, n, d, h) {s, n, CFG_T_STR, d, 0, 0, false, 0, 0, NULL, h, offsetof(struct cfg, f)},
#define CFG_URL(f, s, n, d, h) {s, n, CFG_T_URL, d, 0, 0, false, 0, 0, NULL, h, offsetof(struct cfg, f)},
#define CFG_SECRET(f, s, n, h) {s, n, CFG_T_SECRET, "", 0, 0, false, 0, 0, NULL, h, offsetof(struct cfg, f)},
#define CFG_INT(f, s, n, d, lo, hi, h) {s, n, CFG_T_INT, NULL, d, 0, false, lo, hi, NULL, h, offsetof(struct cfg, f)},
#define CFG_FLOAT(f, s, n, d, lo, hi, h) {s, n, CFG_T_FLOAT, NULL, 0, d, false, lo, hi, NULL, h, offsetof(struct cfg, f)},
#define CFG_BOOL(f, s, n, d, h) {s, n, CFG_T_BOOL, NULL, 0, 0, d, 0, 0, NULL, h, offsetof(struct cfg, f)},
#define CFG_ENUM(f, s, n, d, c, h) {s, n, CFG_T_ENUM, d, 0, 0, false, 0, 0, c, h, offsetof(struct cfg, f)},
#include "config_options.def"
#undef CFG_STR
#undef CFG_URL
#undef CFG_SECRET
#undef CFG_INT
#undef CFG_FLOAT
#undef CFG_BOOL
#undef CFG_ENUM
};

static bool cfg_type_is_string(enum cfg_type t)
{
    return t == CFG_T_STR || t == CFG_T_URL || t == CFG_T_SECRET || t == CFG_T_ENUM;
}

static char **cfg_str_field(struct cfg *cfg, const struct cfg_opt *o)
{
    return (char **)((char *)cfg + o->offset);
}

static bool cfg_section_known(const char *section)
{
    for (size_t i = 0; i < ARRAY_SIZE(cfg_opts); i++)
        if (strcmp(cfg_opts[i].section, section) == 0)
            return true;
    return false;
}

static const struct cfg_opt *cfg_opt_find(const char *section, const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(cfg_opts); i++)
        if (strcmp(cfg_opts[i].section, section) == 0 &&
            strcmp(cfg_opts[i].name, name) == 0)
            return &cfg_opts[i];
    return NULL;
}

static bool cfg_choice_ok(const char *choices, const char *v)
{
    size_t len = strlen(v);
    const char *p = choices;
    while (*p) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == len && strncmp(p, v, n) == 0)
            return true;
        if (!bar)
            break;
        p = bar + 1;
    }
    return false;
}

static int cfg_parse_bool(const char *v, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

/* Set one option; messages do not carry a location, the caller adds it. */
static int cfg_opt_assign(struct cfg *cfg, const struct cfg_opt *o,
                          const char *v, struct err **err)
{
    char *end;

    switch (o->type) {
    case CFG_T_STR:
    case CFG_T_URL:
    case CFG_T_SECRET: {
        char **f = cfg_str_field(cfg, o);
        free(*f);
        *f = xstrdup(v);
        return 0;
    }
    case CFG_T_ENUM: {
        if (!cfg_choice_ok(o->choices, v))
            return err_set(err, ERR_INVALID,
                           "option `[%s] %s`: `%s` is not one of %s",
                           o->section, o->name, v, o->choices);
        char **f = cfg_str_field(cfg, o);
        free(*f);
        *f = xstrdup(v);
        return 0;
    }
    case CFG_T_INT: {
        errno = 0;
        long long x = strtoll(v, &end, 10);
        if (!*v || *end || errno == ERANGE)
            return err_set(err, ERR_INVALID,
                           "option `[%s] %s`: `%s` is not an integer",
                           o->section, o->name, v);
        if ((double)x < o->min || (double)x > o->max)
            return err_set(err, ERR_INVALID,
                           "option `[%s] %s`: %lld is outside [%.17g, %.17g]",
                           o->section, o->name, x, o->min, o->max);
        *(long long *)((char *)cfg + o->offset) = x;
        return 0;
    }
    case CFG_T_FLOAT: {
        errno = 0;
        double x = strtod(v, &end);
        if (!*v || *end || errno == ERANGE || !isfinite(x))
            return err_set(err, ERR_INVALID,
                           "option `[%s] %s`: `%s` is not a finite number",
                           o->section, o->name, v);
        if (x < o->min || x > o->max)
            return err_set(err, ERR_INVALID,
                           "option `[%s] %s`: %g is outside [%g, %g]",
                           o->section, o->name, x, o->min, o->max);
        *(double *)((char *)cfg + o->offset) = x;
        return 0;
    }
    case CFG_T_BOOL: {
        bool b;
        if (cfg_parse_bool(v, &b) < 0)
            return err_set(err, ERR_INVALID,
                           "option `[%s] %s`: `%s` is not a boolean (true/false)",
                           o->section, o->name, v);
        *(bool *)((char *)cfg + o->offset) = b;
        return 0;
    }
    }
    return err_set(err, ERR_INTERNAL, "option `[%s] %s`: unknown type", o->section, o->name);
}

static void cfg_fill_defaults(struct cfg *cfg)
{
    for (size_t i = 0; i < ARRAY_SIZE(cfg_opts); i++) {
        const struct cfg_opt *o = &cfg_opts[i];
        char *base = (char *)cfg + o->offset;
        switch (o->type) {
        case CFG_T_STR:
        case CFG_T_URL:
        case CFG_T_SECRET:
        case CFG_T_ENUM:
            *(char **)base = xstrdup(o->def_s);
            break;
        case CFG_T_INT:
            *(long long *)base = o->def_i;
            break;
        case CFG_T_FLOAT:
            *(double *)base = o->def_f;
            break;
        case CFG_T_BOOL:
            *(bool *)base = o->def_b;
            break;
        }
    }
}

/* `flavor` or a number in [0, 1]; -1 when neither. */
static double cfg_share_parse(const char *v)
{
    if (strcmp(v, "flavor") == 0)
        return 1.0;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (!*v || *end || errno || !(x >= 0 && x <= 1))
        return -1;
    return x;
}

double cfg_engine_boot_burst_share(const struct cfg *cfg)
{
    double x = cfg_share_parse(cfg->engine_boot_burst_vcpus);
    return x < 0 ? 0 : x;
}

int cfg_audit_period(const struct cfg *cfg, char unit[8], int *offset)
{
    static const struct {
        const char *unit;
        int lo, hi, def;
    } units[] = {{"hour", 0, 59, 0}, {"day", 0, 23, 0}, {"month", 1, 28, 1}, {"year", 1, 12, 1}};
    const char *spec = cfg->instance_usage_audit_period;
    const char *at = strchr(spec, '@');
    size_t n = at ? (size_t)(at - spec) : strlen(spec);
    for (size_t k = 0; k < sizeof(units) / sizeof(units[0]); k++) {
        if (strlen(units[k].unit) != n || strncmp(spec, units[k].unit, n) != 0)
            continue;
        long v = units[k].def;
        if (at) {
            char *end = NULL;
            v = strtol(at + 1, &end, 10);
            if (end == at + 1 || *end || v < units[k].lo || v > units[k].hi)
                return -1;
            /* Nova: an offset of 0 is the default one */
            if (v == 0)
                v = units[k].def;
        }
        snprintf(unit, 8, "%s", units[k].unit);
        *offset = (int)v;
        return 0;
    }
    return -1;
}

int cfg_serial_port_range(const struct cfg *cfg, int *start, int *stop)
{
    /* Nova's regex ^\d+:\d+$, then ports that exist, the first below the
     * last (Zed falls back to its default range with a warning: a bad
     * range is refused here instead) */
    const char *s = cfg->serial_console_port_range;
    long v[2];
    for (int k = 0; k < 2; k++) {
        if (!isdigit((unsigned char)*s))
            return -1;
        v[k] = 0;
        while (isdigit((unsigned char)*s)) {
            v[k] = v[k] * 10 + (*s++ - '0');
            if (v[k] > 65535)
                return -1;
        }
        if (*s++ != (k == 0 ? ':' : '\0'))
            return -1;
    }
    if (v[0] >= v[1])
        return -1;
    *start = (int)v[0];
    *stop = (int)v[1];
    return 0;
}

/* An IPv4/IPv6 address or a DNS name (RFC 1123 labels), at most 253
 * bytes. */
static bool cfg_host_address_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 253)
        return false;
    unsigned char buf[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1)
        return true;
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '.') {
            if (label == 0 || s[i - 1] == '-')
                return false;
            label = 0;
        } else if (isalnum((unsigned char)ch) || (ch == '-' && label > 0)) {
            if (++label > 63)
                return false;
        } else {
            return false;
        }
    }
    return label > 0 && s[n - 1] != '-';
}

/* Cross-option checks and values derived from others. */
static int cfg_validate_and_derive(struct cfg *cfg, struct err **err)
{
    if (cfg_share_parse(cfg->engine_boot_burst_vcpus) < 0)
        return err_set(err, ERR_INVALID,
                       "option `[engine] boot_burst_vcpus`: `%s` is neither `flavor` nor a "
                       "share of the flavor's vCPUs in [0, 1]",
                       cfg->engine_boot_burst_vcpus);
    if (cfg->blueprint_step_s > cfg->blueprint_horizon_s)
        return err_set(err, ERR_INVALID,
                       "option `[sculpt] blueprint_step` (%lld s) is longer than "
                       "`[sculpt] blueprint_horizon` (%lld s)",
                       cfg->blueprint_step_s, cfg->blueprint_horizon_s);
    /* Versioned payloads are not built: an operator who asked for them
     * would otherwise get the legacy ones, or nothing, without a word. */
    if (cfg->notify_driver[0] && strcmp(cfg->notify_driver, "noop") != 0 &&
        strcmp(cfg->notification_format, "unversioned") != 0)
        return err_set(err, ERR_INVALID,
                       "option `[notifications] notification_format`: `%s` is not supported "
                       "(sculpt emits the unversioned notifications only); set `unversioned` "
                       "or `[oslo_messaging_notifications] driver = noop`",
                       cfg->notification_format);
    char unit[8];
    int offset;
    if (cfg_audit_period(cfg, unit, &offset) < 0)
        return err_set(err, ERR_INVALID,
                       "option `[DEFAULT] instance_usage_audit_period`: `%s` is not hour, day, "
                       "month or year with an optional @offset (0-59, 0-23, 1-28, 1-12)",
                       cfg->instance_usage_audit_period);
    /* oslo's HostAddressOpt: an IP address or a host name */
    const struct {
        const char *name, *value;
    } hosts[] = {
        {"[vnc] server_listen", cfg->vnc_server_listen},
        {"[vnc] server_proxyclient_address", cfg->vnc_server_proxyclient_address},
        {"[serial_console] proxyclient_address", cfg->serial_console_proxyclient_address},
    };
    for (size_t i = 0; i < ARRAY_SIZE(hosts); i++)
        if (!cfg_host_address_ok(hosts[i].value))
            return err_set(err, ERR_INVALID,
                           "option `%s`: `%s` is not an IP address or a host name",
                           hosts[i].name, hosts[i].value);
    int start, stop;
    if (cfg_serial_port_range(cfg, &start, &stop) < 0)
        return err_set(err, ERR_INVALID,
                       "option `[serial_console] port_range`: `%s` is not START:STOP with "
                       "0 <= START < STOP <= 65535",
                       cfg->serial_console_port_range);
    if (!cfg->host[0]) {
        char name[256] = "";
        if (gethostname(name, sizeof(name) - 1) < 0 || !name[0])
            snprintf(name, sizeof(name), "localhost");
        free(cfg->host);
        cfg->host = xstrdup(name);
    }
    return 0;
}

static struct cfg *cfg_alloc(const char *source)
{
    struct cfg *cfg = xzalloc(sizeof(*cfg));
    cfg_fill_defaults(cfg);
    cfg->source = xstrdup(source);
    cfg->refs = 1;
    return cfg;
}

struct cfg *cfg_new_defaults(void)
{
    struct cfg *cfg = cfg_alloc("(defaults)");
    if (cfg_validate_and_derive(cfg, NULL) < 0)
        abort(); /* the defaults themselves are inconsistent: a bug */
    return cfg;
}

static char *cfg_trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

/* Read INI text into cfg.  oslo.config's dialect: [section], key = value
 * (or key: value), comments on their own line starting with # or ;. */
static int cfg_parse_text(struct cfg *cfg, const char *text, const char *name,
                          struct err **err)
{
    autofree char *copy = xstrdup(text);
    autofree char *section = NULL;
    int lineno = 0;
    char *p = copy;

    while (p) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        char *line = p;
        p = nl ? nl + 1 : NULL;
        lineno++;

        line = cfg_trim(line);
        if (!*line || *line == '#' || *line == ';')
            continue;
        if (*line == '[') {
            char *close = strchr(line, ']');
            if (!close || close[1] != '\0' || close == line + 1)
                return err_set(err, ERR_INVALID, "%s:%d: malformed section header `%s`",
                               name, lineno, line);
            *close = '\0';
            free(section);
            section = xstrdup(cfg_trim(line + 1));
            if (!cfg_section_known(section))
                return err_set(err, ERR_INVALID, "%s:%d: unknown section `[%s]`",
                               name, lineno, section);
            continue;
        }
        char *eq = strpbrk(line, "=:");
        if (!eq)
            return err_set(err, ERR_INVALID, "%s:%d: expected `name = value`, got `%s`",
                           name, lineno, line);
        *eq = '\0';
        char *key = cfg_trim(line);
        char *value = cfg_trim(eq + 1);
        if (!section)
            return err_set(err, ERR_INVALID, "%s:%d: option `%s` before any [section]",
                           name, lineno, key);
        const struct cfg_opt *o = cfg_opt_find(section, key);
        if (!o)
            return err_set(err, ERR_INVALID, "%s:%d: unknown option `[%s] %s`",
                           name, lineno, section, key);
        if (cfg_opt_assign(cfg, o, value, err) < 0)
            return err_wrap(err, "%s:%d", name, lineno);
    }
    return 0;
}

struct cfg *cfg_load_string(const char *text, const char *name, struct err **err)
{
    struct cfg *cfg = cfg_alloc(name);
    if (cfg_parse_text(cfg, text, name, err) < 0 ||
        cfg_validate_and_derive(cfg, err) < 0) {
        if (err && *err && !strstr((*err)->msg, name))
            err_wrap(err, "%s", name);
        cfg_unref(cfg);
        return NULL;
    }
    return cfg;
}

struct cfg *cfg_load(const char *path, struct err **err)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        err_set_errno(err, errno, "open config `%s`", path);
        return NULL;
    }
    size_t cap = 4096, len = 0;
    autofree char *text = xmalloc(cap);
    size_t n;
    while ((n = fread(text + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (len + 1 == cap) {
            if (cap > (16u << 20)) {
                fclose(f);
                err_set(err, ERR_INVALID, "config `%s` is larger than 16 MiB", path);
                return NULL;
            }
            cap *= 2;
            text = xrealloc(text, cap);
        }
    }
    bool failed = ferror(f);
    fclose(f);
    if (failed) {
        err_set(err, ERR_INVALID, "read config `%s` failed", path);
        return NULL;
    }
    text[len] = '\0';
    if (memchr(text, '\0', len)) {
        err_set(err, ERR_INVALID, "config `%s` holds a NUL byte", path);
        return NULL;
    }
    return cfg_load_string(text, path, err);
}

int cfg_set(struct cfg *cfg, const char *section, const char *name,
            const char *value, struct err **err)
{
    const struct cfg_opt *o = cfg_opt_find(section, name);
    if (!o)
        return err_set(err, ERR_INVALID, "unknown option `[%s] %s`", section, name);
    if (cfg_opt_assign(cfg, o, value, err) < 0)
        return -1;
    return cfg_validate_and_derive(cfg, err);
}

struct cfg *cfg_ref(struct cfg *cfg)
{
    if (cfg)
        __atomic_add_fetch(&cfg->refs, 1, __ATOMIC_RELAXED);
    return cfg;
}

void cfg_unref(struct cfg *cfg)
{
    if (!cfg || __atomic_sub_fetch(&cfg->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    for (size_t i = 0; i < ARRAY_SIZE(cfg_opts); i++)
        if (cfg_type_is_string(cfg_opts[i].type))
            free(*cfg_str_field(cfg, &cfg_opts[i]));
    free(cfg->source);
    free(cfg);
}

struct cfg *cfg_dup(const struct cfg *cfg)
{
    struct cfg *copy = xmalloc(sizeof(*copy));
    memcpy(copy, cfg, sizeof(*copy));
    for (size_t i = 0; i < ARRAY_SIZE(cfg_opts); i++) {
        if (!cfg_type_is_string(cfg_opts[i].type))
            continue;
        char **f = cfg_str_field(copy, &cfg_opts[i]);
        *f = xstrdup(*f);
    }
    copy->source = xstrdup(cfg->source);
    copy->refs = 1;
    return copy;
}

bool cfg_option_describe(size_t i, struct cfg_option_info *out)
{
    static const enum cfg_kind kinds[] = {
        [CFG_T_STR] = CFG_KIND_STRING,     [CFG_T_URL] = CFG_KIND_URL,
        [CFG_T_SECRET] = CFG_KIND_SECRET,  [CFG_T_INT] = CFG_KIND_INTEGER,
        [CFG_T_FLOAT] = CFG_KIND_NUMBER,   [CFG_T_BOOL] = CFG_KIND_BOOLEAN,
        [CFG_T_ENUM] = CFG_KIND_ENUM,
    };
    if (i >= ARRAY_SIZE(cfg_opts))
        return false;
    const struct cfg_opt *o = &cfg_opts[i];
    *out = (struct cfg_option_info){
        .section = o->section, .name = o->name, .help = o->help, .kind = kinds[o->type],
        .min = o->min, .max = o->max, .choices = o->choices,
    };
    return true;
}

char *cfg_get_text(const struct cfg *cfg, const char *section, const char *name,
                   struct err **err)
{
    const struct cfg_opt *o = cfg_opt_find(section, name);
    if (!o) {
        err_set(err, ERR_NOT_FOUND, "unknown option `[%s] %s`", section, name);
        return NULL;
    }
    const char *base = (const char *)cfg + o->offset;
    switch (o->type) {
    case CFG_T_INT:
        return xasprintf("%lld", *(const long long *)base);
    case CFG_T_FLOAT: {
        /* the shortest text that reads back as the same double */
        double v = *(const double *)base;
        char *text = xasprintf("%.15g", v);
        if (strtod(text, NULL) != v) {
            free(text);
            text = xasprintf("%.17g", v);
        }
        return text;
    }
    case CFG_T_BOOL:
        return xstrdup(*(const bool *)base ? "true" : "false");
    default:
        return xstrdup(*(char *const *)base);
    }
}

static pthread_mutex_t cfg_current_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cfg *cfg_current;

void cfg_publish(struct cfg *cfg)
{
    cfg_ref(cfg);
    pthread_mutex_lock(&cfg_current_lock);
    struct cfg *old = cfg_current;
    cfg_current = cfg;
    pthread_mutex_unlock(&cfg_current_lock);
    cfg_unref(old);
}

struct cfg *cfg_acquire(void)
{
    pthread_mutex_lock(&cfg_current_lock);
    struct cfg *cfg = cfg_ref(cfg_current);
    pthread_mutex_unlock(&cfg_current_lock);
    return cfg;
}

static void cfg_write_wrapped(FILE *out, const char *text)
{
    const int width = 76;
    const char *p = text;
    while (*p) {
        int n = (int)strlen(p);
        if (n > width) {
            n = width;
            while (n > 0 && p[n] != ' ')
                n--;
            if (n == 0)
                n = width;
        }
        fprintf(out, "# %.*s\n", n, p);
        p += n;
        while (*p == ' ')
            p++;
    }
}

static void cfg_write_option(FILE *out, const struct cfg_opt *q)
{
    fputc('\n', out);
    cfg_write_wrapped(out, q->help);
    switch (q->type) {
    case CFG_T_STR:
        fprintf(out, "# Type: string\n#%s = %s\n", q->name, q->def_s);
        break;
    case CFG_T_URL:
        fprintf(out, "# Type: URL (password hidden in logs)\n#%s = %s\n", q->name, q->def_s);
        break;
    case CFG_T_SECRET:
        fprintf(out, "# Type: secret (never logged)\n#%s =\n", q->name);
        break;
    case CFG_T_INT:
        fprintf(out, "# Type: integer, %.0f to %.0f\n#%s = %lld\n", q->min, q->max,
                q->name, q->def_i);
        break;
    case CFG_T_FLOAT:
        fprintf(out, "# Type: number, %g to %g\n#%s = %g\n", q->min, q->max, q->name,
                q->def_f);
        break;
    case CFG_T_BOOL:
        fprintf(out, "# Type: boolean\n#%s = %s\n", q->name, q->def_b ? "true" : "false");
        break;
    case CFG_T_ENUM:
        fprintf(out, "# Type: one of %s\n#%s = %s\n", q->choices, q->name, q->def_s);
        break;
    }
}

void cfg_write_sample(FILE *out)
{
    fputs("# sculpt.conf -- configuration of sculpt-compute, sculptctl and sculpt-replay.\n"
          "# nova.conf style: [section] headers, `name = value`, comments on their own\n"
          "# line.  Every option is listed with its type, bounds and default; unknown\n"
          "# options are an error.  Generated by `sculpt-compute --sample-config`.\n",
          out);
    /* Sections in the order they first appear in the table, each with all
     * of its options. */
    for (size_t i = 0; i < ARRAY_SIZE(cfg_opts); i++) {
        const char *section = cfg_opts[i].section;
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(cfg_opts[j].section, section) == 0;
        if (seen)
            continue;
        fprintf(out, "\n[%s]\n", section);
        for (size_t j = i; j < ARRAY_SIZE(cfg_opts); j++)
            if (strcmp(cfg_opts[j].section, section) == 0)
                cfg_write_option(out, &cfg_opts[j]);
    }
}

void cfg_log(const struct cfg *cfg)
{
    char buf[1024];

    log_info("configuration from %s", cfg->source);
    for (size_t i = 0; i < ARRAY_SIZE(cfg_opts); i++) {
        const struct cfg_opt *o = &cfg_opts[i];
        const char *base = (const char *)cfg + o->offset;
        switch (o->type) {
        case CFG_T_STR:
        case CFG_T_ENUM:
            log_info("  [%s] %s = %s", o->section, o->name, *(char *const *)base);
            break;
        case CFG_T_URL:
            log_info("  [%s] %s = %s", o->section, o->name,
                     log_redact_url(*(char *const *)base, buf, sizeof(buf)));
            break;
        case CFG_T_SECRET:
            log_info("  [%s] %s = %s", o->section, o->name,
                     (*(char *const *)base)[0] ? "***" : "");
            break;
        case CFG_T_INT:
            log_info("  [%s] %s = %lld", o->section, o->name, *(const long long *)base);
            break;
        case CFG_T_FLOAT:
            log_info("  [%s] %s = %g", o->section, o->name, *(const double *)base);
            break;
        case CFG_T_BOOL:
            log_info("  [%s] %s = %s", o->section, o->name,
                     *(const bool *)base ? "true" : "false");
            break;
        }
    }
}

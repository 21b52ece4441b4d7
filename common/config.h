/* sculpt.conf: a nova.conf-style INI file read through one option table
 * (config_options.def).
 *
 * Loading happens in four steps (libvirt's virQEMUDriverConfig): defaults,
 * the file, validation, derived values.  A bad value fails with the file and
 * line.  A loaded config is read-only; to reload, load a new one and swap it
 * with cfg_publish().  Objects are reference-counted so a thread can keep
 * using the config it started with.
 */
#ifndef SC_COMMON_CONFIG_H
#define SC_COMMON_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

struct err;

struct cfg {
#define CFG_STR(f, s, n, d, h) char *f;
#define CFG_URL(f, s, n, d, h) char *f;
#define CFG_SECRET(f, s, n, h) char *f;
#define CFG_INT(f, s, n, d, lo, hi, h) long long f;
#define CFG_FLOAT(f, s, n, d, lo, hi, h) double f;
#define CFG_BOOL(f, s, n, d, h) bool f;
#define CFG_ENUM(f, s, n, d, c, h) char *f;
#include "config_options.def"
#undef CFG_STR
#undef CFG_URL
#undef CFG_SECRET
#undef CFG_INT
#undef CFG_FLOAT
#undef CFG_BOOL
#undef CFG_ENUM
    char *source;   /* path it was loaded from, or "(defaults)" */
    int refs;       /* owned by cfg_ref/cfg_unref */
};

/* A config holding only the defaults (plus derived values).  Caller drops it
 * with cfg_unref().  Never fails. */
struct cfg *cfg_new_defaults(void);

/* Load `path` over the defaults, validate and derive.  Returns a new config
 * (refs = 1) or NULL with *err naming "path:line".  A missing file is an
 * error. */
struct cfg *cfg_load(const char *path, struct err **err);

/* The same from a string; `name` stands for the path in messages (tests). */
struct cfg *cfg_load_string(const char *text, const char *name, struct err **err);

/* Set one option from its text form, as if read from a file.  For tests and
 * command-line overrides on a config not yet published.  Returns 0 or -1. */
int cfg_set(struct cfg *cfg, const char *section, const char *name,
            const char *value, struct err **err);

struct cfg *cfg_ref(struct cfg *cfg);
void cfg_unref(struct cfg *cfg);
static inline void cfg_unrefp(struct cfg **p)
{
    if (p && *p)
        cfg_unref(*p);
}
#define autocfg __attribute__((cleanup(cfg_unrefp))) struct cfg *

/* Process-wide current config.  cfg_publish() takes a reference on `cfg`
 * and drops the one on the previous config; cfg_acquire() returns a new
 * reference the caller must drop (NULL before the first publish).  Both are
 * thread-safe. */
void cfg_publish(struct cfg *cfg);
struct cfg *cfg_acquire(void);

/* A copy of `cfg` (refs = 1, not published) to change with cfg_set()
 * before publishing it: how run-time changes are made.  Never fails. */
struct cfg *cfg_dup(const struct cfg *cfg);

/* What an option is, for tools that show or change options by name (the
 * API's /v1/config routes). */
enum cfg_kind {
    CFG_KIND_STRING,
    CFG_KIND_URL,
    CFG_KIND_SECRET,
    CFG_KIND_INTEGER,
    CFG_KIND_NUMBER,
    CFG_KIND_BOOLEAN,
    CFG_KIND_ENUM,
};

struct cfg_option_info {
    const char *section;
    const char *name;
    const char *help;
    enum cfg_kind kind;
    double min, max;        /* INTEGER and NUMBER bounds, inclusive */
    const char *choices;    /* ENUM: "a|b|c" */
};

/* Describe the i-th option of the table (0-based, in table order).  Returns
 * false past the last one.  The strings are static. */
bool cfg_option_describe(size_t i, struct cfg_option_info *out);

/* An option's value in the text form cfg_set() accepts ("0.04", "true",
 * "info").  Caller frees.  Secrets are returned as they are: callers must
 * not show them.  NULL with ERR_NOT_FOUND for an unknown option. */
char *cfg_get_text(const struct cfg *cfg, const char *section, const char *name,
                   struct err **err);

/* Write a sample sculpt.conf documenting every option with its type, bounds
 * and default, all commented out. */
void cfg_write_sample(FILE *out);

/* Log every option at INFO (secrets as "***", URLs redacted). */
void cfg_log(const struct cfg *cfg);

/* `[engine] boot_burst_vcpus` as a share of a flavor's vCPUs (validated
 * at load: `flavor` is 1). */
double cfg_engine_boot_burst_share(const struct cfg *cfg);
/* [DEFAULT] instance_usage_audit_period split into its unit (hour, day,
 * month, year) and offset (Nova's default when none: 1 for month and
 * year, 0 otherwise).  -1 when the value is none of Nova's. */
int cfg_audit_period(const struct cfg *cfg, char unit[8], int *offset);
/* [serial_console] port_range as the ports [*start, *stop): -1 when it is
 * not START:STOP with 0 <= START < STOP <= 65535 (the load refuses it). */
int cfg_serial_port_range(const struct cfg *cfg, int *start, int *stop);

#endif

/* Logging with levels, a category per file, and the request id and instance
 * uuid of the current thread's work on every line.
 *
 * Each .c file that logs starts with LOG_INIT("driver.sculpt").  The level
 * macros skip evaluating their arguments when the level is off (libvirt's
 * VIR_DEBUG).  Never pass a token, password or transport_url with
 * credentials: log_redact_url() strips them.
 */
#ifndef SC_COMMON_LOG_H
#define SC_COMMON_LOG_H

#include <stdbool.h>
#include <stddef.h>

struct err;

enum log_level {
    LOG_LEVEL_DEBUG,
    LOG_LEVEL_INFO,
    LOG_LEVEL_WARN,
    LOG_LEVEL_ERROR,
    LOG_LEVEL_LAST,
};

/* Lines below this level are dropped.  Set by log_setup(); read without a
 * lock because a torn read only changes whether one line is printed. */
extern enum log_level log_min_level;

#define LOG_INIT(category) static const char *const log_category_ = (category)

#define LOG_AT(lvl, ...)                                                     \
    do {                                                                     \
        if ((lvl) >= log_min_level)                                          \
            log_emit((lvl), log_category_, __FILE__, __LINE__, __func__,     \
                     __VA_ARGS__);                                           \
    } while (0)

#define log_debug(...) LOG_AT(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...) LOG_AT(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...) LOG_AT(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) LOG_AT(LOG_LEVEL_ERROR, __VA_ARGS__)

/* Log an error's message at `lvl` with a leading text, then free nothing:
 * the caller still owns e. */
#define log_err(lvl, e, ...)                                                 \
    do {                                                                     \
        if ((lvl) >= log_min_level)                                          \
            log_emit_err((lvl), log_category_, __FILE__, __LINE__, __func__, \
                         (e), __VA_ARGS__);                                  \
    } while (0)

/* Configure output.  `target` is "stderr", "syslog" or a file path; `json`
 * writes one JSON object per line.  Returns 0, or -1 with *err set when the
 * file cannot be opened.  Call from the main thread before other threads. */
int log_setup(enum log_level level, const char *target, bool json,
              struct err **err);

/* Parse "debug", "info", "warning"/"warn", "error".  Returns -1 when unknown. */
int log_level_parse(const char *s, enum log_level *out);
const char *log_level_name(enum log_level level);

/* The current thread's request id and instance uuid (either may be NULL to
 * clear it).  Values are copied; they are truncated to 63 characters. */
void log_ctx_set(const char *request_id, const char *instance_uuid);
void log_ctx_set_instance(const char *instance_uuid);
void log_ctx_clear(void);
const char *log_ctx_request_id(void);
const char *log_ctx_instance(void);

void log_emit(enum log_level level, const char *category, const char *file,
              int line, const char *func, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
void log_emit_err(enum log_level level, const char *category, const char *file,
                  int line, const char *func, const struct err *e,
                  const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

/* Copy `url` into buf with any password replaced by "***"
 * ("amqp://nova:secret@h:5672/" -> "amqp://nova:***@h:5672/").  Always
 * NUL-terminates; returns buf. */
char *log_redact_url(const char *url, char *buf, size_t size);

/* Close the log file or syslog.  Safe to call more than once. */
void log_shutdown(void);

#endif

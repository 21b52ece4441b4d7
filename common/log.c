#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "err.h"

enum log_level log_min_level = LOG_LEVEL_INFO;

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *log_file;     /* NULL means stderr */
static bool log_use_syslog;
static bool log_json;

#define LOG_CTX_MAX 64
static _Thread_local char log_req_id[LOG_CTX_MAX];
static _Thread_local char log_instance[LOG_CTX_MAX];

static const char *const log_level_names[LOG_LEVEL_LAST] = {
    [LOG_LEVEL_DEBUG] = "DEBUG",
    [LOG_LEVEL_INFO] = "INFO",
    [LOG_LEVEL_WARN] = "WARNING",
    [LOG_LEVEL_ERROR] = "ERROR",
};

const char *log_level_name(enum log_level level)
{
    if (level < 0 || level >= LOG_LEVEL_LAST)
        return "?";
    return log_level_names[level];
}

int log_level_parse(const char *s, enum log_level *out)
{
    static const struct {
        const char *name;
        enum log_level level;
    } names[] = {
        {"debug", LOG_LEVEL_DEBUG}, {"info", LOG_LEVEL_INFO},
        {"warning", LOG_LEVEL_WARN}, {"warn", LOG_LEVEL_WARN},
        {"error", LOG_LEVEL_ERROR},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(s, names[i].name) == 0) {
            *out = names[i].level;
            return 0;
        }
    }
    return -1;
}

int log_setup(enum log_level level, const char *target, bool json,
              struct err **err)
{
    FILE *f = NULL;
    bool use_syslog = false;

    if (target && strcmp(target, "syslog") == 0) {
        use_syslog = true;
    } else if (target && *target && strcmp(target, "stderr") != 0) {
        f = fopen(target, "ae");
        if (!f)
            return err_set_errno(err, errno, "open log file `%s`", target);
        setvbuf(f, NULL, _IOLBF, 0);
    }
    pthread_mutex_lock(&log_lock);
    if (log_file)
        fclose(log_file);
    if (log_use_syslog && !use_syslog)
        closelog();
    log_file = f;
    log_use_syslog = use_syslog;
    log_json = json;
    log_min_level = level;
    pthread_mutex_unlock(&log_lock);
    if (use_syslog)
        openlog("sculpt", LOG_PID, LOG_DAEMON);
    return 0;
}

void log_shutdown(void)
{
    pthread_mutex_lock(&log_lock);
    if (log_file)
        fclose(log_file);
    log_file = NULL;
    if (log_use_syslog)
        closelog();
    log_use_syslog = false;
    pthread_mutex_unlock(&log_lock);
}

static void log_ctx_copy(char *dst, const char *src)
{
    if (!src) {
        dst[0] = '\0';
        return;
    }
    snprintf(dst, LOG_CTX_MAX, "%s", src);
}

void log_ctx_set(const char *request_id, const char *instance_uuid)
{
    log_ctx_copy(log_req_id, request_id);
    log_ctx_copy(log_instance, instance_uuid);
}

void log_ctx_set_instance(const char *instance_uuid)
{
    log_ctx_copy(log_instance, instance_uuid);
}

void log_ctx_clear(void)
{
    log_req_id[0] = '\0';
    log_instance[0] = '\0';
}

const char *log_ctx_request_id(void)
{
    return log_req_id[0] ? log_req_id : NULL;
}

const char *log_ctx_instance(void)
{
    return log_instance[0] ? log_instance : NULL;
}

/* Append s to buf as JSON string contents (no quotes). */
static size_t json_escape(char *buf, size_t size, size_t pos, const char *s)
{
    for (; *s && pos + 7 < size; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[pos++] = '\\';
            buf[pos++] = (char)c;
        } else if (c < 0x20) {
            pos += (size_t)snprintf(buf + pos, size - pos, "\\u%04x", c);
        } else {
            buf[pos++] = (char)c;
        }
    }
    buf[pos] = '\0';
    return pos;
}

static void log_write(enum log_level level, const char *category,
                      const char *file, int line, const char *func,
                      const char *msg)
{
    char ts[40];
    char out[8192];
    struct timespec now;
    struct tm tm;
    size_t n;

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);

    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;

    if (log_use_syslog) {
        static const int prio[LOG_LEVEL_LAST] = {LOG_DEBUG, LOG_INFO,
                                                 LOG_WARNING, LOG_ERR};
        syslog(prio[level], "%s [%s] [instance: %s] %s: %s",
               log_level_names[level], log_req_id[0] ? log_req_id : "-",
               log_instance[0] ? log_instance : "-", category, msg);
        return;
    }
    if (log_json) {
        n = (size_t)snprintf(out, sizeof(out),
                             "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"pid\":%d,"
                             "\"category\":\"%s\",\"src\":\"%s:%d\",\"func\":\"%s\","
                             "\"request_id\":\"",
                             ts, now.tv_nsec / 1000000L, log_level_names[level],
                             (int)getpid(), category, base, line, func);
        n = json_escape(out, sizeof(out), n, log_req_id);
        n += (size_t)snprintf(out + n, sizeof(out) - n, "\",\"instance\":\"");
        n = json_escape(out, sizeof(out), n, log_instance);
        n += (size_t)snprintf(out + n, sizeof(out) - n, "\",\"msg\":\"");
        n = json_escape(out, sizeof(out), n, msg);
        snprintf(out + n, sizeof(out) - n, "\"}\n");
    } else {
        snprintf(out, sizeof(out), "%s.%03ldZ %d %s %s [%s] [instance: %s] %s:%d %s\n",
                 ts, now.tv_nsec / 1000000L, (int)getpid(), log_level_names[level],
                 category, log_req_id[0] ? log_req_id : "-",
                 log_instance[0] ? log_instance : "-", base, line, msg);
    }
    (void)func;
    pthread_mutex_lock(&log_lock);
    FILE *f = log_file ? log_file : stderr;
    fputs(out, f);
    fflush(f);
    pthread_mutex_unlock(&log_lock);
}

void log_emit(enum log_level level, const char *category, const char *file,
              int line, const char *func, const char *fmt, ...)
{
    char msg[4096];
    va_list ap;
    int saved = errno;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_write(level, category, file, line, func, msg);
    errno = saved;
}

void log_emit_err(enum log_level level, const char *category, const char *file,
                  int line, const char *func, const struct err *e,
                  const char *fmt, ...)
{
    char msg[4096];
    va_list ap;
    int saved = errno;

    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof(msg))
        snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s (%s)",
                 e ? e->msg : "unknown error", err_code_name(e ? e->code : 0));
    log_write(level, category, file, line, func, msg);
    errno = saved;
}

char *log_redact_url(const char *url, char *buf, size_t size)
{
    size_t o = 0;

    if (!size)
        return buf;
    if (!url)
        url = "";
    /* The authority runs from "://" to the next '/'; oslo allows several
     * comma-separated user:password@host entries in it. */
    const char *auth = strstr(url, "://");
    auth = auth ? auth + 3 : url;
    const char *end = strchr(auth, '/');
    if (!end)
        end = auth + strlen(auth);

#define PUT(c)                                                               \
    do {                                                                     \
        if (o + 1 < size)                                                    \
            buf[o++] = (c);                                                  \
    } while (0)
    for (const char *p = url; p < auth; p++)
        PUT(*p);
    const char *entry = auth;
    while (entry < end) {
        const char *stop = memchr(entry, ',', (size_t)(end - entry));
        if (!stop)
            stop = end;
        const char *at = NULL;
        for (const char *p = entry; p < stop; p++)
            if (*p == '@')
                at = p;
        const char *colon = at ? memchr(entry, ':', (size_t)(at - entry)) : NULL;
        for (const char *p = entry; p < stop; p++) {
            if (colon && p == colon + 1) {
                PUT('*');
                PUT('*');
                PUT('*');
                p = at - 1;
                continue;
            }
            PUT(*p);
        }
        if (stop < end)
            PUT(',');
        entry = stop + 1;
    }
    for (const char *p = end; *p; p++)
        PUT(*p);
#undef PUT
    buf[o] = '\0';
    return buf;
}

/* A test guest's serial console log, as the benchmarks read it: the
 * guest prints tagged lines (GUEST-INIT-READY, GUEST-STAT ...) that say
 * where it is. */
#ifndef SCULPT_BENCH_CONSOLE_LOG_H
#define SCULPT_BENCH_CONSOLE_LOG_H

#include <stdint.h>

/* Lines of the log at `path` holding `tag` (0 when it cannot be read). */
int console_log_count(const char *path, const char *tag);

/* Wait until `tag` is in the log `count` times; the milliseconds it
 * took.  A benchmark cannot go on without it: past timeout_s, it says
 * so on stderr, naming `who`, and exits 1. */
int64_t console_log_wait(const char *who, const char *path, const char *tag, int count,
                         int timeout_s);

#endif

/* Time helpers.  Monotonic time for durations and deadlines, wall time for
 * what is stored or shown. */
#ifndef SC_COMMON_CLOCK_H
#define SC_COMMON_CLOCK_H

#include <stdint.h>

/* Milliseconds / nanoseconds on CLOCK_MONOTONIC. */
int64_t clock_mono_ms(void);
int64_t clock_mono_ns(void);

/* Milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t clock_wall_ms(void);

/* Sleep `ms` milliseconds, resuming after signals. */
void clock_sleep_ms(int64_t ms);

/* Format a Unix time in ms as ISO 8601 UTC ("2026-11-25T19:41:46.123Z")
 * into buf (at least 32 bytes).  Returns buf. */
char *clock_format_iso(int64_t wall_ms, char *buf, int size);

#endif

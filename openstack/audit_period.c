/* last_completed_audit_period, step by step as Zed writes it: the end is
 * the latest period boundary at or before now (a boundary equal to now
 * does not count as passed), the beginning one period earlier. */
#include "openstack/audit_period.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* The month `back` months before year/mon (tm_mon numbering), at day. */
static int64_t month_start(int year, int mon, int back, int day)
{
    int m = year * 12 + mon - back;
    struct tm tm = {.tm_year = m / 12, .tm_mon = m % 12, .tm_mday = day};
    return (int64_t)timegm(&tm);
}

void os_audit_period_last(const char *unit, int offset, int64_t now, int64_t *begin,
                          int64_t *end)
{
    time_t t = (time_t)now;
    struct tm tm;
    gmtime_r(&t, &tm);
    if (strcmp(unit, "month") == 0) {
        int back = month_start(tm.tm_year, tm.tm_mon, 0, offset) >= now ? 1 : 0;
        *end = month_start(tm.tm_year, tm.tm_mon, back, offset);
        *begin = month_start(tm.tm_year, tm.tm_mon, back + 1, offset);
    } else if (strcmp(unit, "year") == 0) {
        struct tm e = {.tm_year = tm.tm_year, .tm_mon = offset - 1, .tm_mday = 1};
        int64_t this_year = (int64_t)timegm(&e);
        int back = this_year >= now ? 1 : 0;
        e.tm_year = tm.tm_year - back;
        *end = (int64_t)timegm(&e);
        e.tm_year = tm.tm_year - back - 1;
        *begin = (int64_t)timegm(&e);
    } else if (strcmp(unit, "day") == 0) {
        struct tm e = {.tm_year = tm.tm_year, .tm_mon = tm.tm_mon, .tm_mday = tm.tm_mday,
                       .tm_hour = offset};
        *end = (int64_t)timegm(&e);
        if (*end >= now)
            *end -= 86400;
        *begin = *end - 86400;
    } else { /* hour */
        *end = now - tm.tm_min * 60 - tm.tm_sec + offset * 60;
        if (*end >= now)
            *end -= 3600;
        *begin = *end - 3600;
    }
}

void os_audit_time_str(int64_t t, char *buf, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

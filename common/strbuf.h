/* A growable NUL-terminated string (Redis's sds, much reduced). */
#ifndef SC_COMMON_STRBUF_H
#define SC_COMMON_STRBUF_H

#include <stddef.h>

struct strbuf {
    char *s;       /* always NUL-terminated once anything was added */
    size_t len;
    size_t cap;
};

#define STRBUF_INIT {NULL, 0, 0}

void strbuf_append(struct strbuf *b, const char *s);
void strbuf_append_len(struct strbuf *b, const char *s, size_t n);
void strbuf_printf(struct strbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Returns the string ("" when empty) and leaves b empty; caller frees. */
char *strbuf_steal(struct strbuf *b);
void strbuf_reset(struct strbuf *b);
void strbuf_release(struct strbuf *b);

#define autostrbuf __attribute__((cleanup(strbuf_release))) struct strbuf

#endif

/* json-parse-cost: what parsing one captured oslo request costs, through
 * the fast path (openstack/oslo_json.c) and through jansson alone -- the
 * evidence for keeping the fast path (README, "Where sculpt's CPU per call
 * goes").  Both parsers build the same jansson tree, freed each time.
 *
 *   json-parse-cost fast|jansson|decode|none N FILE
 *
 * FILE is an oslo 2.0 envelope (one of tests/data/openstack/).  `decode`
 * is the whole os_msg_decode (envelope, message, checks); `none` the
 * loop alone.  Prints the least wall time of N parses; for numbers that a
 * busy machine does not move, run it under
 * `valgrind --tool=callgrind` with N and N+100 and divide the difference
 * in instructions by 100. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/strbuf.h"
#include "openstack/oslo.h"
#include "openstack/oslo_priv.h"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return NULL;
    }
    struct strbuf b = STRBUF_INIT;
    char chunk[8192];
    size_t got;
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
        strbuf_append_len(&b, chunk, got);
    bool bad = ferror(f);
    fclose(f);
    if (bad || !b.s) {
        fprintf(stderr, "json-parse-cost: cannot read `%s`\n", path);
        strbuf_release(&b);
        return NULL;
    }
    *len = b.len;
    return strbuf_steal(&b);
}

/* One parse in `mode`; 0 or -1 (the input did not parse). */
static int parse_once(const char *mode, const char *body, size_t len, const char *inner,
                      size_t ilen)
{
    if (strcmp(mode, "none") == 0)
        return 0;
    if (strcmp(mode, "decode") == 0) {
        struct err *err = NULL;
        struct os_msg *m = os_msg_decode(body, len, NULL, &err);
        if (!m) {
            fprintf(stderr, "json-parse-cost: %s\n", err->msg);
            err_free(err);
            return -1;
        }
        os_msg_free(m);
        return 0;
    }
    json_t *v = strcmp(mode, "fast") == 0 ? os_json_load_fast(inner, ilen)
                                          : json_loadb(inner, ilen, 0, NULL);
    if (!v) {
        fprintf(stderr, "json-parse-cost: the %s parser did not take the message\n", mode);
        return -1;
    }
    json_decref(v);
    return 0;
}

int main(int argc, char **argv)
{
    static const char *const modes[] = {"fast", "jansson", "decode", "none"};
    bool known = false;
    for (size_t i = 0; argc == 4 && i < ARRAY_SIZE(modes); i++)
        known |= strcmp(argv[1], modes[i]) == 0;
    char *end;
    long n = argc == 4 ? strtol(argv[2], &end, 10) : 0;
    if (!known || n < 1 || *end) {
        fprintf(stderr, "usage: json-parse-cost fast|jansson|decode|none N FILE\n");
        return 2;
    }
    size_t len, ilen;
    autofree char *body = slurp(argv[3], &len);
    if (!body)
        return 1;
    autofree char *inner = os_envelope_inner(body, len, &ilen);
    if (!inner) {
        fprintf(stderr, "json-parse-cost: %s is not an oslo 2.0 envelope\n", argv[3]);
        return 1;
    }
    int64_t best = INT64_MAX;
    for (long i = 0; i < n; i++) {
        int64_t t0 = clock_mono_ns();
        if (parse_once(argv[1], body, len, inner, ilen) < 0)
            return 1;
        int64_t d = clock_mono_ns() - t0;
        best = d < best ? d : best;
    }
    printf("%s: %zu-byte message, least of %ld parses %.2f us\n", argv[1], ilen, n,
           (double)best / 1e3);
    return 0;
}

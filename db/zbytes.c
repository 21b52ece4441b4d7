/* Compressed byte columns: a record the driver wrote (fleet history,
 * predictor states) stored zlib-compressed in a bytea column. */
#include <stdlib.h>
#include <zlib.h>

#include "common/alloc.h"
#include "common/err.h"
#include "db/db_priv.h"

char *db_zbytes_pack(const void *p, size_t n)
{
    uLongf cap = compressBound((uLong)n);
    unsigned char *z = xmalloc(cap);
    if (compress2(z, &cap, p, (uLong)n, Z_BEST_SPEED) != Z_OK)
        abort(); /* only on a bad buffer size or out of memory */
    static const char hex[] = "0123456789abcdef";
    char *out = xmalloc(2 * (size_t)cap + 3);
    out[0] = '\\';
    out[1] = 'x';
    for (uLongf i = 0; i < cap; i++) {
        out[2 + 2 * i] = hex[z[i] >> 4];
        out[3 + 2 * i] = hex[z[i] & 15];
    }
    out[2 + 2 * cap] = '\0';
    free(z);
    return out;
}

int db_col_zbytes(const PGresult *r, int row, int col, void *out, size_t max, size_t *n,
                  const char *what, struct err **err)
{
    size_t zn = 0;
    unsigned char *z = PQunescapeBytea((const unsigned char *)PQgetvalue(r, row, col), &zn);
    if (!z)
        return err_set(err, ERR_INTERNAL, "%s: bytes not readable", what);
    uLongf got = (uLongf)max;
    int zrc = uncompress(out, &got, z, (uLong)zn);
    PQfreemem(z);
    if (zrc != Z_OK)
        return err_set(err, ERR_INVALID, "%s: damaged record (zlib %d, %zu compressed bytes)",
                       what, zrc, zn);
    *n = (size_t)got;
    return 0;
}

/* A guest's predictor state as the text of an image property, so the
 * shelved image carries it to whichever host unshelves the guest (each
 * host keeps its own database).  "z1:" then the state zlib-compressed, in
 * base64.  Pure. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common/alloc.h"
#include "common/err.h"
#include "openstack/base64.h"
#include "openstack/compute_shelve.h"

#define STATE_TAG "z1:"

char *os_shelve_state_encode(const unsigned char *state, size_t len, struct err **err)
{
    uLongf cap = compressBound((uLong)len);
    autofree unsigned char *z = xmalloc(cap);
    if (compress2(z, &cap, state, (uLong)len, Z_BEST_COMPRESSION) != Z_OK) {
        err_set(err, ERR_INTERNAL, "predictor state not compressed (%zu bytes)", len);
        return NULL;
    }
    autofree char *b64 = os_base64_encode(z, cap, err);
    if (!b64)
        return NULL;
    return xasprintf(STATE_TAG "%s", b64);
}

unsigned char *os_shelve_state_decode(const char *text, size_t max, size_t *len, struct err **err)
{
    *len = 0;
    if (!text || strncmp(text, STATE_TAG, strlen(STATE_TAG)) != 0) {
        err_set(err, ERR_INVALID, "carried predictor state: not `%s...`", STATE_TAG);
        return NULL;
    }
    const char *b64 = text + strlen(STATE_TAG);
    size_t zn = 0;
    autofree char *z = os_base64_decode(b64, strlen(b64), &zn, err);
    if (!z) {
        err_wrap(err, "carried predictor state");
        return NULL;
    }
    unsigned char *out = xmalloc(max ? max : 1);
    uLongf got = (uLongf)max;
    int zrc = uncompress(out, &got, (const unsigned char *)z, (uLong)zn);
    if (zrc != Z_OK) {
        free(out);
        err_set(err, ERR_INVALID, "carried predictor state: damaged (zlib %d, %zu bytes)", zrc, zn);
        return NULL;
    }
    *len = (size_t)got;
    return out;
}

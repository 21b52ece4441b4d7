/* libFuzzer target for the base64 Nova sends (user data, injected files):
 * any input gets a clean error or bytes, never a crash or a leak, and
 * decoded bytes encode back to text that decodes to the same bytes.
 * Seeds: tests/fuzz/corpus/fuzz_base64/. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "openstack/base64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct err *err = NULL;
    size_t n = 0;
    autofree char *bytes = os_base64_decode((const char *)data, size, &n, &err);
    if (!bytes) {
        if (!err || err_code_of(err) != ERR_INVALID || !strstr(err->msg, "base64"))
            abort();
        err_free(err);
        return 0;
    }
    /* at most 3 bytes for every 4 characters */
    if (n > size / 4 * 3 || bytes[n] != '\0')
        abort();
    autofree char *again = os_base64_encode(bytes, n, &err);
    if (!again)
        abort();
    size_t m = 0;
    autofree char *back = os_base64_decode(again, strlen(again), &m, &err);
    if (!back || m != n || memcmp(back, bytes, n) != 0)
        abort();
    return 0;
}

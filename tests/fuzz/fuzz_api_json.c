/* libFuzzer target: the REST API's request parsers (api/json_in.h) on
 * arbitrary bytes.  The first byte picks the parser, the rest is the body
 * as the server would receive it.  Any crash, leak or sanitizer report is
 * a bug; a clean refusal is the expected outcome for nearly every input. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "api/json_in.h"
#include "common/alloc.h"
#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "db/db.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_json(uint8_t which, json_t *j)
{
    struct err *err = NULL;
    struct api_bp_parse ctx = {.now_s = 1700000000, .step_s = 60, .horizon_s = 1800};
    switch (which % 6) {
    case 0: {
        static const char *const extra[] = {"blueprint", "blueprint_id", NULL};
        struct drv_instance *inst = NULL;
        if (api_parse_instance_request(j, extra, 1700000000000, &inst, &err) == 0)
            drv_instance_free(inst);
        break;
    }
    case 1: {
        struct drv_blueprint *bp = NULL;
        if (api_parse_blueprint(j, "", &ctx, &bp, &err) == 0)
            drv_blueprint_free(bp);
        break;
    }
    case 2: {
        struct db_custom_blueprint *cb = NULL;
        if (api_parse_custom_blueprint(j, &ctx, &cb, &err) == 0)
            db_custom_blueprint_free(cb);
        break;
    }
    case 3: {
        struct cfg *scratch = cfg_new_defaults();
        api_parse_settings(j, (which / 6) % 2 ? "sculpt" : "cost", scratch, &err);
        cfg_unref(scratch);
        break;
    }
    case 4: {
        struct drv_res r;
        api_parse_res(j, "need", &r, &err);
        break;
    }
    case 5: {
        struct drv_kv *kv = NULL;
        size_t n = 0;
        if (api_parse_kv(j, "metadata", &kv, &n, &err) == 0)
            drv_kv_release(kv, n);
        break;
    }
    }
    err_free(err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    if (!quiet) {
        log_setup(LOG_LEVEL_ERROR, "stderr", false, NULL);
        quiet = 1;
    }
    if (size < 1)
        return 0;
    uint8_t which = data[0];
    if (which == 0xff) {
        /* the query-string form of metadata */
        char *text = xstrndup((const char *)data + 1, size - 1);
        struct drv_kv *kv = NULL;
        size_t n = 0;
        struct err *err = NULL;
        if (api_parse_kv_text(text, "metadata", &kv, &n, &err) == 0)
            drv_kv_release(kv, n);
        err_free(err);
        free(text);
        return 0;
    }
    json_error_t jerr;
    json_t *j = json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES, &jerr);
    if (!j)
        return 0;
    fuzz_json(which, j);
    json_decref(j);
    return 0;
}

/* A guest request and the blueprint it would get: what the preview,
 * placement and cost routes reason about.
 *
 * The blueprint is, in order: the one the request carries ("blueprint"),
 * the custom blueprint it names ("blueprint_id"), the most specific custom
 * blueprint whose class (flavor, image, project) matches the request
 * (db_custom_blueprint_match: the rule real builds follow), or the
 * predictor's answer from the fleet's history.
 */
#ifndef SC_API_REQUEST_BP_H
#define SC_API_REQUEST_BP_H

#include <jansson.h>

#include "api/http.h"
#include "api/json_in.h"
#include "driver/blueprint.h"
#include "driver/instance.h"

struct api_request_bp {
    struct drv_instance *inst;  /* owned: the request as an instance never spawned */
    struct drv_blueprint *bp;   /* owned, starting now */
    char source[96];            /* "request", "custom:NAME" or "predictor" */
};

void api_request_bp_release(struct api_request_bp *r);

/* Resolve `body` (api_parse_instance_request() members plus "blueprint",
 * "blueprint_id" and any of `extra`, NULL-terminated); blueprints start at
 * ctx->now_s and, when predicted, span ctx->horizon_s at ctx->step_s.
 * Returns 0 or -1 with *err. */
int api_request_resolve(const struct api_req *req, json_t *body, const char *const *extra,
                        const struct api_bp_parse *ctx, struct api_request_bp *out,
                        struct err **err);

#endif

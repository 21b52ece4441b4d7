/* Request bodies and query strings into plain structs, every value
 * checked: types, ranges, sizes, UUID formats, unknown members refused.
 * Messages name the member by its path ("`flavor.vcpus`").  The fuzz
 * target (tests/fuzz/fuzz_api_json.c) drives these parsers.
 */
#ifndef SC_API_JSON_IN_H
#define SC_API_JSON_IN_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "driver/blueprint.h"
#include "driver/instance.h"
#include "driver/resource.h"

struct cfg;
struct cfg_option_info;
struct err;
struct db_custom_blueprint;

/* Longest string member accepted (names, ids, metadata values). */
#define API_STR_MAX 255
/* Most metadata or extra-spec entries in one request. */
#define API_KV_MAX 128

/* ---- typed members of an object ----
 * Each returns 0 and sets *out, or -1 with an INVALID error naming `path`.
 * When the member is absent: 0 with *out untouched if !required. */
int api_json_number(json_t *obj, const char *key, const char *path, double min, double max,
                    bool required, double *out, struct err **err);
int api_json_int(json_t *obj, const char *key, const char *path, int64_t min, int64_t max,
                 bool required, int64_t *out, struct err **err);
/* *out borrows the string from obj.  At most API_STR_MAX bytes, no control
 * characters. */
int api_json_string(json_t *obj, const char *key, const char *path, bool required,
                    const char **out, struct err **err);
/* Refuse members of obj that are not in `allowed` (NULL-terminated), and a
 * non-object. */
int api_json_only(json_t *obj, const char *path, const char *const *allowed,
                  struct err **err);

/* {"vcpu": 0.5, "mem_mib": 1024, ...}: unnamed dimensions are 0; every
 * value finite, >= 0 and <= DRV_RES_MAX. */
int api_parse_res(json_t *obj, const char *path, struct drv_res *out, struct err **err);

/* {"k": "v", ...} into a kv array (caller releases with drv_kv_release). */
int api_parse_kv(json_t *obj, const char *path, struct drv_kv **out, size_t *n,
                 struct err **err);

/* A guest request, as Nova would send it, into an instance that was never
 * spawned (uuid random unless given, created now):
 *   {"flavor": {"name", "vcpus", "memory_mb", "root_gb", "ephemeral_gb",
 *               "swap_mb", "extra_specs": {}},
 *    "image": "...", "project_id": "...", "user_id": "...", "name": "...",
 *    "metadata": {}, "uuid": "..."}
 * `extra` lists further members the caller handles itself (e.g.
 * "blueprint"); anything else is refused.  Caller frees *out. */
int api_parse_instance_request(json_t *obj, const char *const *extra, int64_t now_ms,
                               struct drv_instance **out, struct err **err);

/* Defaults and context for api_parse_blueprint(). */
struct api_bp_parse {
    int64_t now_s;        /* start when "start" is absent */
    int32_t step_s;       /* step when "step_s" is absent ([sculpt] blueprint_step) */
    int32_t horizon_s;    /* horizon when neither "nsteps" nor "horizon_s" is given */
    bool is_template;     /* a custom blueprint: no "start", it starts when applied */
};

/* A blueprint:
 *   {"step_s": 60, "nsteps": 30 | "horizon_s": 1800, "start": Unix s (default now_s),
 *    "confidence": 0.8, "model": "...",
 *    "resources": {"vcpu": {"p50": 0.4 | [..nsteps..], "p90": .., "p99": ..,
 *                           "confidence": 0.9}, ...}}
 * A band given as one number is flat over the horizon; a missing p90/p99
 * equals the band below it.  Validated with drv_blueprint_validate().
 * Caller frees *out. */
int api_parse_blueprint(json_t *obj, const char *path, const struct api_bp_parse *ctx,
                        struct drv_blueprint **out, struct err **err);

/* A custom blueprint: {"name", "description", "match": {"flavor", "image",
 * "project_id"}, "blueprint": {...as above...}}.  Caller frees *out with
 * db_custom_blueprint_free(). */
int api_parse_custom_blueprint(json_t *obj, const struct api_bp_parse *ctx,
                               struct db_custom_blueprint **out, struct err **err);

/* The description of option `name` of [section]; false when there is none. */
bool api_option_find(const char *section, const char *name, struct cfg_option_info *out);

/* {"name": value, ...} for options of [section]: each name must be an
 * option of that section (secrets are refused: they are not changed
 * through the API), each value of the option's type; applied with
 * cfg_set() to `scratch` (a cfg_dup() not yet published), which checks the
 * bounds.  Returns the number of options set, or -1. */
int api_parse_settings(json_t *obj, const char *section, struct cfg *scratch, struct err **err);

/* "k=v,k2=v2" (query strings) into a kv array. */
int api_parse_kv_text(const char *text, const char *path, struct drv_kv **out, size_t *n,
                      struct err **err);

#endif

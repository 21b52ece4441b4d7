#include "api/json_in.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/config.h"
#include "common/err.h"
#include "common/uuid.h"
#include "db/db.h"

/* "path.key", or "key" at the top. */
static char *api_member_path(const char *path, const char *key)
{
    return path && *path ? xasprintf("%s.%s", path, key) : xstrdup(key);
}

static const char *api_json_type_name(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "something else";
}

/* The member, or NULL (absent) with 0; -1 when required and absent. */
static int api_json_member(json_t *obj, const char *key, const char *path, bool required,
                           json_t **out, struct err **err)
{
    *out = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    if (*out || !required)
        return 0;
    autofree char *p = api_member_path(path, key);
    return err_set(err, ERR_INVALID, "`%s` is required", p);
}

static int api_check_number(json_t *v, const char *p, double min, double max, double *out,
                            struct err **err)
{
    if (!json_is_number(v))
        return err_set(err, ERR_INVALID, "`%s`: expected a number, got %s", p,
                       api_json_type_name(v));
    double x = json_number_value(v);
    if (!isfinite(x) || x < min || x > max)
        return err_set(err, ERR_INVALID, "`%s` is %g (must be %g to %g)", p, x, min, max);
    *out = x;
    return 0;
}

int api_json_number(json_t *obj, const char *key, const char *path, double min, double max,
                    bool required, double *out, struct err **err)
{
    json_t *v;
    if (api_json_member(obj, key, path, required, &v, err) < 0)
        return -1;
    if (!v)
        return 0;
    autofree char *p = api_member_path(path, key);
    return api_check_number(v, p, min, max, out, err);
}

int api_json_int(json_t *obj, const char *key, const char *path, int64_t min, int64_t max,
                 bool required, int64_t *out, struct err **err)
{
    json_t *v;
    if (api_json_member(obj, key, path, required, &v, err) < 0)
        return -1;
    if (!v)
        return 0;
    autofree char *p = api_member_path(path, key);
    if (!json_is_integer(v))
        return err_set(err, ERR_INVALID, "`%s`: expected an integer, got %s", p,
                       api_json_type_name(v));
    json_int_t x = json_integer_value(v);
    if (x < min || x > max)
        return err_set(err, ERR_INVALID, "`%s` is %lld (must be %lld to %lld)", p,
                       (long long)x, (long long)min, (long long)max);
    *out = x;
    return 0;
}

static int api_check_string(json_t *v, const char *p, const char **out, struct err **err)
{
    if (!json_is_string(v))
        return err_set(err, ERR_INVALID, "`%s`: expected a string, got %s", p,
                       api_json_type_name(v));
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n > API_STR_MAX)
        return err_set(err, ERR_INVALID, "`%s` is longer than %d bytes", p, API_STR_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return err_set(err, ERR_INVALID, "`%s` holds a control character", p);
    *out = s;
    return 0;
}

int api_json_string(json_t *obj, const char *key, const char *path, bool required,
                    const char **out, struct err **err)
{
    json_t *v;
    if (api_json_member(obj, key, path, required, &v, err) < 0)
        return -1;
    if (!v)
        return 0;
    autofree char *p = api_member_path(path, key);
    return api_check_string(v, p, out, err);
}

int api_json_only(json_t *obj, const char *path, const char *const *allowed, struct err **err)
{
    if (!json_is_object(obj))
        return err_set(err, ERR_INVALID, "`%s`: expected an object, got %s",
                       path && *path ? path : "body", api_json_type_name(obj));
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        bool ok = false;
        for (const char *const *a = allowed; a && *a && !ok; a++)
            ok = strcmp(*a, key) == 0;
        if (!ok) {
            autofree char *p = api_member_path(path, key);
            return err_set(err, ERR_INVALID, "unknown member `%.128s`", p);
        }
    }
    return 0;
}

int api_parse_res(json_t *obj, const char *path, struct drv_res *out, struct err **err)
{
    if (!json_is_object(obj))
        return err_set(err, ERR_INVALID, "`%s`: expected an object of resources, got %s", path,
                       api_json_type_name(obj));
    struct drv_res r = drv_res_zero();
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        int k = drv_res_kind_parse(key);
        autofree char *p = api_member_path(path, key);
        if (k < 0)
            return err_set(err, ERR_INVALID, "`%.128s` is not a resource", p);
        if (api_check_number(v, p, 0, DRV_RES_MAX, &r.v[k], err) < 0)
            return -1;
    }
    *out = r;
    return 0;
}

int api_parse_kv(json_t *obj, const char *path, struct drv_kv **out, size_t *n,
                 struct err **err)
{
    if (!json_is_object(obj))
        return err_set(err, ERR_INVALID, "`%s`: expected an object of strings, got %s", path,
                       api_json_type_name(obj));
    if (json_object_size(obj) > API_KV_MAX)
        return err_set(err, ERR_INVALID, "`%s` has more than %d entries", path, API_KV_MAX);
    struct drv_kv *kv = xcalloc(json_object_size(obj) + 1, sizeof(*kv));
    size_t i = 0;
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        autofree char *p = api_member_path(path, key);
        const char *s;
        if (strlen(key) > API_STR_MAX || !*key) {
            drv_kv_release(kv, i);
            return err_set(err, ERR_INVALID, "`%s` has an empty or over-long key", path);
        }
        if (api_check_string(v, p, &s, err) < 0) {
            drv_kv_release(kv, i);
            return -1;
        }
        kv[i].key = xstrdup(key);
        kv[i].value = xstrdup(s);
        i++;
    }
    *out = kv;
    *n = i;
    return 0;
}

int api_parse_kv_text(const char *text, const char *path, struct drv_kv **out, size_t *n,
                      struct err **err)
{
    struct drv_kv *kv = NULL;
    size_t count = 0;
    autofree char *copy = xstrdup(text);
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq || eq == tok || count == API_KV_MAX || strlen(tok) > 2 * API_STR_MAX) {
            drv_kv_release(kv, count);
            return err_set(err, ERR_INVALID, "`%s`: expected key=value,..., got `%.64s`", path,
                           tok);
        }
        *eq = '\0';
        kv = xreallocarray(kv, count + 1, sizeof(*kv));
        kv[count].key = xstrdup(tok);
        kv[count].value = xstrdup(eq + 1);
        count++;
    }
    *out = kv;
    *n = count;
    return 0;
}

static int api_parse_flavor(json_t *f, struct drv_flavor *out, struct err **err)
{
    static const char *const keys[] = {"name", "vcpus", "memory_mb", "root_gb",
                                       "ephemeral_gb", "swap_mb", "extra_specs", NULL};
    const char *name = "custom";
    int64_t vcpus = 0, mem = 0, root = 0, eph = 0, swap = 0;
    if (api_json_only(f, "flavor", keys, err) < 0 ||
        api_json_string(f, "name", "flavor", false, &name, err) < 0 ||
        api_json_int(f, "vcpus", "flavor", 1, DRV_CPUSET_MAX, true, &vcpus, err) < 0 ||
        api_json_int(f, "memory_mb", "flavor", 1, 1LL << 30, true, &mem, err) < 0 ||
        api_json_int(f, "root_gb", "flavor", 0, 1LL << 30, false, &root, err) < 0 ||
        api_json_int(f, "ephemeral_gb", "flavor", 0, 1LL << 30, false, &eph, err) < 0 ||
        api_json_int(f, "swap_mb", "flavor", 0, 1LL << 30, false, &swap, err) < 0)
        return -1;
    json_t *specs = json_object_get(f, "extra_specs");
    if (specs && api_parse_kv(specs, "flavor.extra_specs", &out->extra_specs,
                              &out->nextra_specs, err) < 0)
        return -1;
    out->name = xstrdup(name);
    out->vcpus = (int32_t)vcpus;
    out->memory_mb = mem;
    out->root_gb = root;
    out->ephemeral_gb = eph;
    out->swap_mb = swap;
    return 0;
}

int api_parse_instance_request(json_t *obj, const char *const *extra, int64_t now_ms,
                               struct drv_instance **out, struct err **err)
{
    static const char *const base[] = {"flavor", "image", "project_id", "user_id",
                                       "name", "metadata", "uuid"};
    const char *allowed[ARRAY_SIZE(base) + 8 + 1];
    size_t n = 0;
    for (size_t i = 0; i < ARRAY_SIZE(base); i++)
        allowed[n++] = base[i];
    for (const char *const *e = extra; e && *e && n < ARRAY_SIZE(allowed) - 1; e++)
        allowed[n++] = *e;
    allowed[n] = NULL;
    if (api_json_only(obj, "", allowed, err) < 0)
        return -1;

    const char *image = NULL, *project = NULL, *user = NULL, *name = NULL, *uuid = NULL;
    if (api_json_string(obj, "image", "", false, &image, err) < 0 ||
        api_json_string(obj, "project_id", "", false, &project, err) < 0 ||
        api_json_string(obj, "user_id", "", false, &user, err) < 0 ||
        api_json_string(obj, "name", "", false, &name, err) < 0 ||
        api_json_string(obj, "uuid", "", false, &uuid, err) < 0)
        return -1;
    if (uuid && !uuid_is_valid(uuid))
        return err_set(err, ERR_INVALID, "`uuid`: `%s` is not a UUID", uuid);
    json_t *flavor;
    if (api_json_member(obj, "flavor", "", true, &flavor, err) < 0)
        return -1;

    autoptr(drv_instance) inst = xzalloc(sizeof(*inst));
    if (api_parse_flavor(flavor, &inst->flavor, err) < 0)
        return -1;
    json_t *md = json_object_get(obj, "metadata");
    if (md && api_parse_kv(md, "metadata", &inst->metadata, &inst->nmetadata, err) < 0)
        return -1;
    if (uuid)
        snprintf(inst->uuid, sizeof(inst->uuid), "%s", uuid);
    else if (uuid_generate(inst->uuid, err) < 0)
        return -1;
    inst->name = xstrdup(name ? name : "preview");
    inst->project_id = project ? xstrdup(project) : NULL;
    inst->user_id = user ? xstrdup(user) : NULL;
    inst->image_ref = image ? xstrdup(image) : NULL;
    inst->vm_state = xstrdup("building");
    inst->created_ms = now_ms;
    inst->shape.numa_node = -1;
    *out = steal_pointer(&inst);
    return 0;
}

/* One band of one resource: a number (flat) or an array of nsteps. */
static int api_parse_band(json_t *v, const char *p, struct drv_blueprint *bp,
                          enum drv_res_kind k, enum drv_quantile q, struct err **err)
{
    if (json_is_array(v)) {
        if (json_array_size(v) != (size_t)bp->nsteps)
            return err_set(err, ERR_INVALID, "`%s` has %zu values, the horizon %d steps", p,
                           json_array_size(v), bp->nsteps);
        for (int32_t s = 0; s < bp->nsteps; s++) {
            double x;
            autofree char *ps = xasprintf("%s[%d]", p, s);
            if (api_check_number(json_array_get(v, (size_t)s), ps, 0, DRV_RES_MAX, &x, err) < 0)
                return -1;
            drv_blueprint_set(bp, s, k, q, x);
        }
        return 0;
    }
    double x;
    if (api_check_number(v, p, 0, DRV_RES_MAX, &x, err) < 0)
        return err_wrap(err, "a band is a number or an array of one per step");
    for (int32_t s = 0; s < bp->nsteps; s++)
        drv_blueprint_set(bp, s, k, q, x);
    return 0;
}

static int api_parse_bp_resource(json_t *r, const char *p, struct drv_blueprint *bp,
                                 enum drv_res_kind k, struct err **err)
{
    static const char *const keys[] = {"p50", "p90", "p99", "confidence", NULL};
    if (api_json_only(r, p, keys, err) < 0)
        return -1;
    for (int q = 0; q < DRV_Q_LAST; q++) {
        json_t *v = json_object_get(r, drv_quantile_name((enum drv_quantile)q));
        autofree char *pq = api_member_path(p, drv_quantile_name((enum drv_quantile)q));
        if (v) {
            if (api_parse_band(v, pq, bp, k, (enum drv_quantile)q, err) < 0)
                return -1;
        } else if (q == DRV_Q_P50) {
            return err_set(err, ERR_INVALID, "`%s` is required", pq);
        } else {
            /* a missing upper band equals the one below it */
            for (int32_t s = 0; s < bp->nsteps; s++)
                drv_blueprint_set(bp, s, k, (enum drv_quantile)q,
                                  drv_blueprint_get(bp, s, k, (enum drv_quantile)(q - 1)));
        }
    }
    bp->res_confidence[k] = bp->confidence;
    return api_json_number(r, "confidence", p, 0, 1, false, &bp->res_confidence[k], err);
}

int api_parse_blueprint(json_t *obj, const char *path, const struct api_bp_parse *ctx,
                        struct drv_blueprint **out, struct err **err)
{
    static const char *const keys[] = {"step_s", "nsteps", "horizon_s", "start",
                                       "confidence", "model", "resources", NULL};
    static const char *const template_keys[] = {"step_s", "nsteps", "horizon_s",
                                                "confidence", "model", "resources", NULL};
    if (api_json_only(obj, path, ctx->is_template ? template_keys : keys, err) < 0)
        return -1;
    int64_t step = ctx->step_s, nsteps = 0, horizon = 0, start = ctx->now_s;
    double confidence = 1;
    const char *model = "custom";
    if (api_json_int(obj, "step_s", path, 1, DRV_BLUEPRINT_MAX_STEP_S, false, &step, err) < 0 ||
        api_json_int(obj, "nsteps", path, 1, DRV_BLUEPRINT_MAX_STEPS, false, &nsteps, err) < 0 ||
        api_json_int(obj, "horizon_s", path, 1,
                     (int64_t)DRV_BLUEPRINT_MAX_STEPS * DRV_BLUEPRINT_MAX_STEP_S, false,
                     &horizon, err) < 0 ||
        api_json_int(obj, "start", path, 0, 1LL << 40, false, &start, err) < 0 ||
        api_json_number(obj, "confidence", path, 0, 1, false, &confidence, err) < 0 ||
        api_json_string(obj, "model", path, false, &model, err) < 0)
        return -1;
    autofree char *pn = api_member_path(path, "nsteps");
    if (nsteps && horizon)
        return err_set(err, ERR_INVALID, "give `%s` or the horizon, not both", pn);
    if (!nsteps) {
        if (!horizon)
            horizon = ctx->horizon_s;
        if (horizon % step != 0)
            return err_set(err, ERR_INVALID, "the horizon (%lld s) is not a whole number of "
                           "steps of %lld s", (long long)horizon, (long long)step);
        nsteps = horizon / step;
        if (nsteps < 1 || nsteps > DRV_BLUEPRINT_MAX_STEPS)
            return err_set(err, ERR_INVALID, "the horizon is %lld steps (must be 1 to %d)",
                           (long long)nsteps, DRV_BLUEPRINT_MAX_STEPS);
    }
    json_t *res;
    autofree char *pr = api_member_path(path, "resources");
    if (api_json_member(obj, "resources", path, true, &res, err) < 0)
        return -1;
    if (!json_is_object(res) || json_object_size(res) == 0)
        return err_set(err, ERR_INVALID, "`%s`: expected an object with at least one resource",
                       pr);

    autoptr(drv_blueprint) bp = drv_blueprint_new((int32_t)nsteps, (int32_t)step,
                                                  ctx->is_template ? 0 : start, err);
    if (!bp)
        return -1;
    bp->confidence = confidence;
    snprintf(bp->model, sizeof(bp->model), "%s", model);
    const char *key;
    json_t *v;
    json_object_foreach(res, key, v) {
        int k = drv_res_kind_parse(key);
        autofree char *pk = api_member_path(pr, key);
        if (k < 0)
            return err_set(err, ERR_INVALID, "`%.128s` is not a resource", pk);
        if (api_parse_bp_resource(v, pk, bp, (enum drv_res_kind)k, err) < 0)
            return -1;
    }
    /* resources not given: nothing predicted, full confidence in that */
    for (int k = 0; k < DRV_RES_LAST; k++)
        if (!json_object_get(res, drv_res_kind_name((enum drv_res_kind)k)))
            bp->res_confidence[k] = confidence;
    if (drv_blueprint_validate(bp, err) < 0)
        return -1;
    *out = steal_pointer(&bp);
    return 0;
}

static bool api_name_ok(const char *s)
{
    if (!*s || strlen(s) > 64)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
            return false;
    return true;
}

int api_parse_custom_blueprint(json_t *obj, const struct api_bp_parse *ctx,
                               struct db_custom_blueprint **out, struct err **err)
{
    static const char *const keys[] = {"name", "description", "match", "blueprint", NULL};
    static const char *const match_keys[] = {"flavor", "image", "project_id", NULL};
    const char *name, *desc = NULL, *flavor = NULL, *image = NULL, *project = NULL;
    if (api_json_only(obj, "", keys, err) < 0 ||
        api_json_string(obj, "name", "", true, &name, err) < 0 ||
        api_json_string(obj, "description", "", false, &desc, err) < 0)
        return -1;
    if (!api_name_ok(name))
        return err_set(err, ERR_INVALID, "`name`: `%s` is not 1 to 64 letters, digits, "
                       "`-`, `_` or `.`", name);
    json_t *match = json_object_get(obj, "match");
    if (match && (api_json_only(match, "match", match_keys, err) < 0 ||
                  api_json_string(match, "flavor", "match", false, &flavor, err) < 0 ||
                  api_json_string(match, "image", "match", false, &image, err) < 0 ||
                  api_json_string(match, "project_id", "match", false, &project, err) < 0))
        return -1;
    json_t *bpj;
    if (api_json_member(obj, "blueprint", "", true, &bpj, err) < 0)
        return -1;
    struct api_bp_parse tctx = *ctx;
    tctx.is_template = true;
    struct drv_blueprint *bp;
    if (api_parse_blueprint(bpj, "blueprint", &tctx, &bp, err) < 0)
        return -1;
    struct db_custom_blueprint *cb = xzalloc(sizeof(*cb));
    cb->name = xstrdup(name);
    cb->description = desc ? xstrdup(desc) : NULL;
    cb->flavor_name = flavor ? xstrdup(flavor) : NULL;
    cb->image_ref = image ? xstrdup(image) : NULL;
    cb->project_id = project ? xstrdup(project) : NULL;
    cb->bp = bp;
    *out = cb;
    return 0;
}

bool api_option_find(const char *section, const char *name, struct cfg_option_info *out)
{
    for (size_t i = 0; cfg_option_describe(i, out); i++)
        if (strcmp(out->section, section) == 0 && strcmp(out->name, name) == 0)
            return true;
    return false;
}

int api_parse_settings(json_t *obj, const char *section, struct cfg *scratch, struct err **err)
{
    if (!json_is_object(obj) || json_object_size(obj) == 0)
        return err_set(err, ERR_INVALID, "expected an object of `[%s]` options and values",
                       section);
    int n = 0;
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        struct cfg_option_info info;
        if (!api_option_find(section, key, &info))
            return err_set(err, ERR_INVALID, "`%.64s` is not an option of [%s]", key, section);
        char buf[64];
        const char *text = NULL;
        bool ok;
        switch (info.kind) {
        case CFG_KIND_SECRET:
            return err_set(err, ERR_INVALID, "`%s` is a secret: change it in sculpt.conf", key);
        case CFG_KIND_INTEGER:
            ok = json_is_integer(v);
            if (ok)
                snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
            text = buf;
            break;
        case CFG_KIND_NUMBER:
            ok = json_is_number(v);
            if (ok)
                snprintf(buf, sizeof(buf), "%.17g", json_number_value(v));
            text = buf;
            break;
        case CFG_KIND_BOOLEAN:
            ok = json_is_boolean(v);
            text = json_is_true(v) ? "true" : "false";
            break;
        default:
            ok = api_check_string(v, key, &text, err) == 0;
            if (!ok)
                return -1;
            break;
        }
        if (!ok)
            return err_set(err, ERR_INVALID, "`%s`: expected %s, got %s", key,
                           info.kind == CFG_KIND_INTEGER   ? "an integer"
                           : info.kind == CFG_KIND_NUMBER  ? "a number"
                                                           : "a boolean",
                           api_json_type_name(v));
        if (cfg_set(scratch, section, key, text, err) < 0)
            return -1;
        n++;
    }
    return n;
}

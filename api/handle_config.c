/* GET/PUT/DELETE /v1/config/{predictor,cost,presculpt}: sculpt.conf
 * sections read and changed at run time.  A change is validated on a copy
 * of the published config, persisted (db_settings_put: it survives a
 * restart), published, and handed to the daemon (api_deps.config_changed).
 * DELETE is the way back: the sections' stored changes are removed and
 * their options take sculpt.conf's values again (the file read anew, as
 * SIGHUP reads it).
 *
 * A route serves the sections named in its `arg` ("predict,sculpt"): the
 * first one's options by bare name ("price_vcpu_hour"), the others' as
 * "section.name" ("sculpt.target_violation_rate").
 */
#include <pthread.h>
#include <string.h>

#include "api/audit.h"
#include "api/handlers.h"
#include "api/json_in.h"
#include "api/json_out.h"
#include "api/route.h"
#include "common/alloc.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/log.h"
#include "db/db.h"

LOG_INIT("api.config");

/* One change at a time: each starts from the config the last one
 * published, so none is lost. */
static pthread_mutex_t api_config_lock = PTHREAD_MUTEX_INITIALIZER;

#define API_CONFIG_MAX_SECTIONS 4

struct api_sections {
    char buf[128];
    const char *v[API_CONFIG_MAX_SECTIONS];
    size_t n;
};

static void api_sections_of(const struct api_route *r, struct api_sections *s)
{
    snprintf(s->buf, sizeof(s->buf), "%s", r->arg ? r->arg : "");
    s->n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(s->buf, ",", &save); tok && s->n < API_CONFIG_MAX_SECTIONS;
         tok = strtok_r(NULL, ",", &save))
        s->v[s->n++] = tok;
}

static const char *api_kind_name(enum cfg_kind k)
{
    static const char *const names[] = {
        [CFG_KIND_STRING] = "string", [CFG_KIND_URL] = "url",
        [CFG_KIND_SECRET] = "secret", [CFG_KIND_INTEGER] = "integer",
        [CFG_KIND_NUMBER] = "number", [CFG_KIND_BOOLEAN] = "boolean",
        [CFG_KIND_ENUM] = "enum",
    };
    return names[k];
}

/* The option's value as JSON of its type. */
static json_t *api_option_value(const struct cfg *cfg, const struct cfg_option_info *o)
{
    autofree char *text = cfg_get_text(cfg, o->section, o->name, NULL);
    if (!text)
        return json_null();
    switch (o->kind) {
    case CFG_KIND_INTEGER:
        return json_integer(strtoll(text, NULL, 10));
    case CFG_KIND_NUMBER:
        return api_num(strtod(text, NULL));
    case CFG_KIND_BOOLEAN:
        return json_boolean(strcmp(text, "true") == 0);
    case CFG_KIND_SECRET:
        return json_string(text[0] ? "***" : "");
    default:
        return json_string(text);
    }
}

static char *api_option_key(const struct api_sections *s, const struct cfg_option_info *o)
{
    return strcmp(o->section, s->v[0]) == 0 ? xstrdup(o->name)
                                            : xasprintf("%s.%s", o->section, o->name);
}

static json_t *api_config_doc(const struct api_req *req, const struct api_sections *s,
                              const struct cfg *cfg, bool persisted)
{
    json_t *values = json_object(), *options = json_object(), *overrides = json_object();
    struct cfg_option_info o;
    for (size_t i = 0; cfg_option_describe(i, &o); i++) {
        bool ours = false;
        for (size_t k = 0; k < s->n && !ours; k++)
            ours = strcmp(o.section, s->v[k]) == 0;
        if (!ours)
            continue;
        autofree char *key = api_option_key(s, &o);
        json_object_set_new(values, key, api_option_value(cfg, &o));
        json_t *d = json_pack("{s:s, s:s, s:s}", "section", o.section, "type",
                              api_kind_name(o.kind), "help", o.help);
        if (o.kind == CFG_KIND_INTEGER || o.kind == CFG_KIND_NUMBER) {
            json_object_set_new(d, "min", api_num(o.min));
            json_object_set_new(d, "max", api_num(o.max));
        }
        if (o.kind == CFG_KIND_ENUM)
            json_object_set_new(d, "choices", json_string(o.choices));
        json_object_set_new(options, key, d);
    }
    /* What was changed at run time (and so overrides sculpt.conf). */
    for (size_t k = 0; req->deps->db && k < s->n; k++) {
        autoerr struct err *e = NULL;
        autoptr(db_setting_list) l = db_settings_list(req->deps->db, s->v[k], &e);
        if (!l) {
            log_err(LOG_LEVEL_WARN, e, "listing run-time settings of [%s]", s->v[k]);
            continue;
        }
        for (size_t i = 0; i < l->n; i++) {
            struct cfg_option_info info = {.section = l->v[i].section, .name = l->v[i].name};
            autofree char *key = api_option_key(s, &info);
            json_object_set_new(overrides, key,
                                json_pack("{s:s, s:s?, s:o}", "value", l->v[i].value, "by",
                                          l->v[i].updated_by, "updated",
                                          api_time_json(l->v[i].updated_ms)));
        }
    }
    return json_pack("{s:[], s:o, s:o, s:o, s:b}", "sections", "values", values, "options",
                     options, "overrides", overrides, "persisted", persisted);
}

static void api_config_sections_json(json_t *doc, const struct api_sections *s)
{
    json_t *a = json_object_get(doc, "sections");
    for (size_t k = 0; k < s->n; k++)
        json_array_append_new(a, json_string(s->v[k]));
}

int api_handle_config_get(struct api_req *req, struct api_resp *resp, struct err **err)
{
    (void)err;
    struct api_sections s;
    api_sections_of(req->route, &s);
    json_t *doc = api_config_doc(req, &s, req->cfg, req->deps->db != NULL);
    api_config_sections_json(doc, &s);
    return api_reply(resp, 0, doc);
}

/* A new configuration published: the daemon's components get it, and the
 * answer is the sections as they are now. */
static void api_config_done(struct api_req *req, struct api_resp *resp,
                            const struct api_sections *s, struct cfg *next)
{
    if (req->deps->config_changed)
        req->deps->config_changed(req->deps->ctx, next);
    json_t *doc = api_config_doc(req, s, next, req->deps->db != NULL);
    api_config_sections_json(doc, s);
    api_reply(resp, 0, doc);
}

/* The event log's note of one option changed: "[cost] price_reshape
 * 0.0001 -> 0.0003". */
static void api_config_note_change(struct api_req *req, const char *section, const char *name,
                                   const char *was, const char *now)
{
    struct cfg_option_info o;
    bool secret = api_option_find(section, name, &o) && o.kind == CFG_KIND_SECRET;
    autofree char *a = api_audit_value(was, secret);
    autofree char *b = api_audit_value(now, secret);
    api_audit_note(req, "[%s] %s %s -> %s", section, name, a, b);
}

/* A refused change: what was asked, as sent. */
static void api_config_note_asked(struct api_req *req, const struct api_sections *s,
                                  json_t *body)
{
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v) {
        const char *dot = strchr(key, '.');
        autofree char *section = dot ? xstrndup(key, (size_t)(dot - key)) : xstrdup(s->v[0]);
        struct cfg_option_info o;
        bool secret = api_option_find(section, dot ? dot + 1 : key, &o) &&
                      o.kind == CFG_KIND_SECRET;
        autofree char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        autofree char *shown = api_audit_value(text, secret);
        api_audit_note(req, "asked %.64s=%s", key, shown);
    }
}

/* Split the body by section: bare names go to the first section,
 * "section.name" to the one named (which must be one of the route's). */
static int api_config_split(json_t *body, const struct api_sections *s, json_t *per[],
                            struct err **err)
{
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v) {
        const char *dot = strchr(key, '.');
        size_t k = 0;
        const char *name = key;
        if (dot) {
            for (k = 0; k < s->n; k++)
                if (strlen(s->v[k]) == (size_t)(dot - key) &&
                    strncmp(s->v[k], key, (size_t)(dot - key)) == 0)
                    break;
            if (k == s->n)
                return err_set(err, ERR_INVALID, "`%.64s` is not an option here", key);
            name = dot + 1;
        }
        json_object_set(per[k], name, v);
    }
    return 0;
}

int api_handle_config_put(struct api_req *req, struct api_resp *resp, struct err **err)
{
    json_t *body;
    if (api_req_body_object(req, &body, err) < 0)
        return -1;
    if (json_object_size(body) == 0)
        return err_set(err, ERR_INVALID, "no option to change");
    struct api_sections s;
    api_sections_of(req->route, &s);
    json_t *per[API_CONFIG_MAX_SECTIONS] = {NULL};
    for (size_t k = 0; k < s.n; k++)
        per[k] = json_object();

    int rc = -1;
    struct db_setting *settings = NULL;
    size_t nsettings = 0;
    pthread_mutex_lock(&api_config_lock);
    struct cfg *was = cfg_acquire();
    if (!was)
        was = cfg_ref(req->cfg);
    struct cfg *next = cfg_dup(was);
    if (api_config_split(body, &s, per, err) < 0)
        goto out;
    for (size_t k = 0; k < s.n; k++) {
        if (json_object_size(per[k]) == 0)
            continue;
        if (api_parse_settings(per[k], s.v[k], next, err) < 0)
            goto out;
        const char *name;
        json_t *v;
        json_object_foreach(per[k], name, v) {
            settings = xreallocarray(settings, nsettings + 1, sizeof(*settings));
            settings[nsettings++] = (struct db_setting){
                .section = (char *)s.v[k],
                .name = (char *)name,
                .value = cfg_get_text(next, s.v[k], name, NULL),
                .updated_by = (char *)req->user,
            };
            autofree char *old = cfg_get_text(was, s.v[k], name, NULL);
            api_config_note_change(req, s.v[k], name, old, settings[nsettings - 1].value);
        }
    }
    /* Persist first: a change the next start would not see is refused
     * rather than applied for now only. */
    if (req->deps->db && db_settings_put(req->deps->db, settings, nsettings, err) < 0) {
        err_wrap(err, "the change could not be saved");
        goto out;
    }
    cfg_publish(next);
    log_info("%s changed %zu option(s) of [%s]%s", req->user, nsettings, s.v[0],
             req->deps->db ? "" : " (not persisted: no database)");
    api_config_done(req, resp, &s, next);
    rc = 0;
 out:
    pthread_mutex_unlock(&api_config_lock);
    if (rc < 0) {
        strbuf_reset(&req->audit.notes);
        api_config_note_asked(req, &s, body);
    }
    for (size_t i = 0; i < nsettings; i++)
        free(settings[i].value);
    free(settings);
    cfg_unref(was);
    cfg_unref(next);
    for (size_t k = 0; k < s.n; k++)
        json_decref(per[k]);
    return rc;
}

/* The configuration `source` was loaded from, read again: the values the
 * daemon would start with without run-time changes. */
static struct cfg *api_config_file(const char *source, struct err **err)
{
    if (!source || strcmp(source, "(defaults)") == 0)
        return cfg_new_defaults();
    struct cfg *file = cfg_load(source, err);
    if (!file)
        err_wrap(err, "sculpt.conf not read again");
    return file;
}

int api_handle_config_delete(struct api_req *req, struct api_resp *resp, struct err **err)
{
    struct api_sections s;
    api_sections_of(req->route, &s);
    int rc = -1;
    size_t reset = 0;
    pthread_mutex_lock(&api_config_lock);
    struct cfg *cur = cfg_acquire();
    struct cfg *next = cfg_dup(cur ? cur : req->cfg);
    cfg_unref(cur);
    struct cfg *file = api_config_file(next->source, err);
    if (!file) {
        if (err && *err)
            (*err)->code = ERR_UNAVAILABLE;
        goto out;
    }
    struct cfg_option_info o;
    for (size_t i = 0; cfg_option_describe(i, &o); i++) {
        bool ours = false;
        for (size_t k = 0; k < s.n && !ours; k++)
            ours = strcmp(o.section, s.v[k]) == 0;
        if (!ours)
            continue;
        autofree char *was = cfg_get_text(next, o.section, o.name, NULL);
        autofree char *text = cfg_get_text(file, o.section, o.name, err);
        if (!text || cfg_set(next, o.section, o.name, text, err) < 0) {
            err_wrap(err, "`[%s] %s` not reset", o.section, o.name);
            goto out;
        }
        if (was && strcmp(was, text) != 0) {
            reset++;
            api_config_note_change(req, o.section, o.name, was, text);
        }
    }
    if (!reset)
        api_audit_note(req, "no option changed back: all as in %s", next->source);
    /* the stored changes go first: a reset the next start would undo is
     * refused rather than applied for now only */
    for (size_t k = 0; req->deps->db && k < s.n; k++) {
        if (db_settings_clear(req->deps->db, s.v[k], NULL, err) < 0) {
            err_wrap(err, "the reset could not be saved");
            goto out;
        }
    }
    cfg_publish(next);
    log_info("%s reset [%s] to %s: %zu option(s) changed back", req->user, s.v[0],
             next->source, reset);
    api_config_done(req, resp, &s, next);
    rc = 0;
 out:
    pthread_mutex_unlock(&api_config_lock);
    cfg_unref(file);
    cfg_unref(next);
    return rc;
}

/* Runtime settings: sculpt.conf options changed through the API, kept
 * across restarts and applied over the file's values at start-up. */
#include <stdlib.h>

#include "common/alloc.h"
#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "db/db_priv.h"

LOG_INIT("db.setting");

static const struct db_stmt st_put = {
    "INSERT INTO settings (section, name, value, updated_by) VALUES ($1, $2, $3, $4)"
    " ON CONFLICT (section, name) DO UPDATE SET value = excluded.value,"
    " updated_by = excluded.updated_by, updated_at = now()",
    4};
static const struct db_stmt st_clear = {
    "DELETE FROM settings WHERE ($1::text IS NULL OR section = $1)"
    " AND ($2::text IS NULL OR name = $2)",
    2};
static const struct db_stmt st_list = {
    "SELECT section, name, value, updated_by, sculpt_ms(updated_at) FROM settings"
    " WHERE ($1::text IS NULL OR section = $1) ORDER BY section, name",
    1};

int db_settings_put(struct db *db, const struct db_setting *s, size_t n, struct err **err)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!s[i].section || !*s[i].section || !s[i].name || !*s[i].name || !s[i].value)
            return err_set(err, ERR_INVALID, "setting %zu: section, name and value are required",
                           i);
    struct db_write *w = db_write_new("settings_put", n);
    for (size_t i = 0; i < n; i++) {
        struct db_params *p = db_write_add(w, &st_put, NULL);
        db_param_str(p, s[i].section);
        db_param_str(p, s[i].name);
        db_param_str(p, s[i].value);
        db_param_str(p, s[i].updated_by);
    }
    return db_enqueue(db, db_write_item(w), err);
}

int db_settings_clear(struct db *db, const char *section, const char *name, struct err **err)
{
    if (!section && name)
        return err_set(err, ERR_INVALID, "settings: a name `%s` without a section", name);
    struct db_write *w = db_write_new("settings_clear", 1);
    struct db_params *p = db_write_add(w, &st_clear, NULL);
    db_param_str(p, section);
    db_param_str(p, name);
    return db_enqueue(db, db_write_item(w), err);
}

void db_setting_list_free(struct db_setting_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].section);
        free(l->v[i].name);
        free(l->v[i].value);
        free(l->v[i].updated_by);
    }
    free(l->v);
    free(l);
}

struct db_setting_list *db_settings_list(struct db *db, const char *section, struct err **err)
{
    autoparams p = DB_PARAMS_INIT;
    db_param_str(&p, section);
    PGresult *r = db_session_read(db, &st_list, &p, err);
    if (!r)
        return NULL;
    struct db_setting_list *l = xzalloc(sizeof(*l));
    int rows = PQntuples(r);
    l->v = xcalloc((size_t)rows + 1, sizeof(*l->v));
    for (int i = 0; i < rows; i++) {
        l->v[i].section = db_col_str(r, i, 0);
        l->v[i].name = db_col_str(r, i, 1);
        l->v[i].value = db_col_str(r, i, 2);
        l->v[i].updated_by = db_col_str(r, i, 3);
        l->v[i].updated_ms = db_col_int(r, i, 4);
    }
    l->n = (size_t)rows;
    PQclear(r);
    return l;
}

int db_settings_apply(struct db *db, struct cfg *cfg, struct err **err)
{
    autoptr(db_setting_list) l = db_settings_list(db, NULL, err);
    if (!l)
        return -1;
    int applied = 0;
    for (size_t i = 0; i < l->n; i++) {
        autoerr struct err *e = NULL;
        const struct db_setting *s = &l->v[i];
        if (cfg_set(cfg, s->section, s->name, s->value, &e) < 0) {
            log_err(LOG_LEVEL_WARN, e, "stored setting `[%s] %s` ignored", s->section, s->name);
            continue;
        }
        log_info("setting `[%s] %s` from the database (changed by %s)", s->section, s->name,
                 s->updated_by ? s->updated_by : "?");
        applied++;
    }
    return applied;
}

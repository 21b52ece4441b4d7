/* The prediction module's fleet history across restarts: drv_fleet_export()
 * records saved as compressed bytes with their layout version, loaded back
 * with drv_fleet_import().
 *
 * A save writes only the records whose bytes changed since the last save
 * or load through the same marks (a CRC per group), so saving every few
 * minutes costs what the fleet learnt meanwhile, not its whole size.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "common/strmap.h"
#include "db/db_priv.h"
#include "driver/predict.h"

LOG_INIT("db.fleet");

struct db_fleet_marks {
    struct strmap *groups; /* key -> CRC-32 of the record saved or loaded */
    int64_t calib;         /* CRC-32 of the calibration, -1: none */
};

struct db_fleet_marks *db_fleet_marks_new(void)
{
    struct db_fleet_marks *m = xzalloc(sizeof(*m));
    m->groups = strmap_new();
    m->calib = -1;
    return m;
}

void db_fleet_marks_free(struct db_fleet_marks *m)
{
    if (!m)
        return;
    strmap_free(m->groups);
    free(m);
}

static const struct db_stmt st_group_put = {
    "INSERT INTO fleet_groups (key, version, size, guests, updated_s, record)"
    " VALUES ($1, $2, $3, $4, $5, $6::bytea)"
    " ON CONFLICT (key) DO UPDATE SET version = excluded.version, size = excluded.size,"
    " guests = excluded.guests, updated_s = excluded.updated_s, record = excluded.record,"
    " saved_at = now()",
    6};
static const struct db_stmt st_calib_put = {
    "INSERT INTO fleet_calibration (id, version, size, updated_s, record)"
    " VALUES (1, $1, $2, $3, $4::bytea)"
    " ON CONFLICT (id) DO UPDATE SET version = excluded.version, size = excluded.size,"
    " updated_s = excluded.updated_s, record = excluded.record, saved_at = now()",
    4};
static const struct db_stmt st_group_list = {
    "SELECT key, version, size, record FROM fleet_groups"
    " ORDER BY updated_s DESC, key LIMIT $1",
    1};
static const struct db_stmt st_calib_get = {
    "SELECT version, size, record FROM fleet_calibration WHERE id = 1", 0};

static uint32_t db_fleet_crc(const void *p, size_t n)
{
    return (uint32_t)crc32(0L, p, (uInt)n);
}

/* A record column back into `n` bytes at out: the version and size it was
 * written with must be this binary's. */
static int db_fleet_unpack(const PGresult *r, int row, int vcol, uint32_t version, void *out,
                           size_t n, const char *what, struct err **err)
{
    long long v = db_col_int(r, row, vcol), size = db_col_int(r, row, vcol + 1);
    if (v != (long long)version || size != (long long)n)
        return err_set(err, ERR_CONFLICT,
                       "%s written with layout version %lld (%lld bytes), this binary has "
                       "version %u (%zu bytes)",
                       what, v, size, version, n);
    size_t got = 0;
    if (db_col_zbytes(r, row, vcol + 2, out, n, &got, what, err) < 0)
        return -1;
    if (got != n)
        return err_set(err, ERR_INVALID, "%s: damaged record (%zu of %zu bytes)", what, got, n);
    return 0;
}

int db_fleet_save(struct db *db, struct drv_fleet *fleet, struct db_fleet_marks *marks,
                  size_t *written, struct err **err)
{
    struct drv_fleet_record *recs = NULL;
    size_t n = 0;
    struct drv_fleet_calibration *calib = xzalloc(sizeof(*calib));
    drv_fleet_export(fleet, &recs, &n, calib);
    uint32_t calib_crc = db_fleet_crc(calib, sizeof(*calib));
    bool calib_changed = !marks || marks->calib != (int64_t)calib_crc;
    uint32_t *crcs = xcalloc(n + 1, sizeof(*crcs));
    size_t changed = 0;
    for (size_t i = 0; i < n; i++) {
        crcs[i] = db_fleet_crc(&recs[i], sizeof(recs[i]));
        if (!marks || strmap_get(marks->groups, recs[i].key) != (int64_t)crcs[i])
            changed++;
    }
    int rc = 0;
    if (changed || calib_changed) {
        struct db_write *w = db_write_new("fleet_save", changed + 1);
        for (size_t i = 0; i < n; i++) {
            if (marks && strmap_get(marks->groups, recs[i].key) == (int64_t)crcs[i])
                continue;
            autofree char *bytes = db_zbytes_pack(&recs[i], sizeof(recs[i]));
            struct db_params *p = db_write_add(w, &st_group_put, NULL);
            db_param_str(p, recs[i].key);
            db_param_int(p, recs[i].version);
            db_param_int(p, (long long)sizeof(recs[i]));
            db_param_double(p, recs[i].guests);
            db_param_int(p, recs[i].updated_s);
            db_param_str(p, bytes);
        }
        if (calib_changed) {
            autofree char *bytes = db_zbytes_pack(calib, sizeof(*calib));
            struct db_params *p = db_write_add(w, &st_calib_put, NULL);
            db_param_int(p, calib->version);
            db_param_int(p, (long long)sizeof(*calib));
            db_param_int(p, calib->updated_s);
            db_param_str(p, bytes);
        }
        rc = db_enqueue(db, db_write_item(w), err);
    }
    if (rc == 0 && marks) {
        for (size_t i = 0; i < n; i++)
            strmap_put(marks->groups, recs[i].key, crcs[i]);
        marks->calib = calib_crc;
    }
    if (rc == 0 && written)
        *written = changed;
    free(crcs);
    free(recs);
    free(calib);
    return rc;
}

int db_fleet_load(struct db *db, struct drv_fleet *fleet, size_t max_groups,
                  struct db_fleet_marks *marks, struct err **err)
{
    autoparams p = DB_PARAMS_INIT;
    db_param_int(&p, (long long)max_groups);
    PGresult *r = db_session_read(db, &st_group_list, &p, err);
    if (!r)
        return err_wrap(err, "fleet history");
    int rows = PQntuples(r);
    struct drv_fleet_record *recs = xcalloc((size_t)rows + 1, sizeof(*recs));
    size_t n = 0, skipped = 0;
    for (int i = 0; i < rows; i++) {
        autoerr struct err *e = NULL;
        autofree char *key = db_col_str(r, i, 0);
        autofree char *what = xasprintf("fleet group `%s`", key);
        if (db_fleet_unpack(r, i, 1, DRV_FLEET_RECORD_VERSION, &recs[n], sizeof(recs[n]), what,
                            &e) < 0 ||
            strncmp(recs[n].key, key, sizeof(recs[n].key)) != 0) {
            if (!e)
                err_set(&e, ERR_INVALID, "%s holds the record of another group", what);
            log_err(LOG_LEVEL_WARN, e, "fleet group skipped: it starts over");
            skipped++;
            continue;
        }
        n++;
    }
    PQclear(r);

    static const struct db_params none = DB_PARAMS_INIT;
    struct drv_fleet_calibration *calib = xzalloc(sizeof(*calib));
    bool have_calib = false;
    r = db_session_read(db, &st_calib_get, &none, err);
    if (!r) {
        free(recs);
        free(calib);
        return err_wrap(err, "fleet calibration");
    }
    if (PQntuples(r) == 1) {
        autoerr struct err *e = NULL;
        if (db_fleet_unpack(r, 0, 0, DRV_FLEET_RECORD_VERSION, calib, sizeof(*calib),
                            "fleet calibration", &e) == 0)
            have_calib = true;
        else
            log_err(LOG_LEVEL_WARN, e, "fleet calibration skipped: it starts over");
    }
    PQclear(r);

    autoerr struct err *ce = NULL;
    int rc = drv_fleet_import(fleet, recs, n, have_calib ? calib : NULL, have_calib ? &ce : err);
    if (rc < 0 && have_calib) {
        /* a calibration refused does not cost the groups (nor they it) */
        log_err(LOG_LEVEL_WARN, ce, "fleet history refused with its calibration, tried without");
        have_calib = false;
        rc = drv_fleet_import(fleet, recs, n, NULL, err);
    }
    if (rc == 0 && marks) {
        for (size_t i = 0; i < n; i++)
            strmap_put(marks->groups, recs[i].key, db_fleet_crc(&recs[i], sizeof(recs[i])));
        marks->calib = have_calib ? (int64_t)db_fleet_crc(calib, sizeof(*calib)) : -1;
    }
    free(recs);
    free(calib);
    if (rc < 0)
        return err_wrap(err, "fleet history");
    if (n || skipped || have_calib)
        log_info("fleet history: %zu group(s) loaded%s%s", n,
                 skipped ? ", some skipped (another layout)" : "",
                 have_calib ? ", calibration loaded" : "");
    return (int)n;
}

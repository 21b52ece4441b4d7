/* Each guest's predictor state across restarts: drv_control_states()
 * bytes saved compressed with their layout version, read back at
 * start-up for drv_control_adopt_state().  The driver checks the bytes
 * (header, version, CRC, fields); here they are only kept. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "db/db_priv.h"
#include "driver/control.h"
#include "driver/predict.h"

/* Only for a live instance: a save racing the instance's deletion does
 * not bring its state back (the row would refer to nothing to continue). */
static const struct db_stmt st_put = {
    "INSERT INTO predictor_states (instance_uuid, version, size, samples, state)"
    " SELECT $1, $2, $3, $4, $5::bytea"
    " WHERE EXISTS (SELECT 1 FROM instances WHERE uuid = $1 AND deleted_at IS NULL)"
    " ON CONFLICT (instance_uuid) DO UPDATE SET version = excluded.version,"
    " size = excluded.size, samples = excluded.samples, state = excluded.state,"
    " saved_at = now()",
    5};
static const struct db_stmt st_get = {
    "SELECT version, size, state FROM predictor_states WHERE instance_uuid = $1", 1};

int db_predictor_states_save(struct db *db, const struct drv_control_state *v, size_t n,
                             size_t *stored, struct err **err)
{
    size_t bytes = 0;
    int rc = 0;
    if (n) {
        struct db_write *w = db_write_new("predictor_states_save", n);
        for (size_t i = 0; i < n; i++) {
            autofree char *hex = db_zbytes_pack(v[i].state, v[i].len);
            bytes += (strlen(hex) - 2) / 2;
            struct db_params *p = db_write_add(w, &st_put, NULL);
            db_param_uuid(p, v[i].uuid);
            db_param_int(p, DRV_PREDICTOR_STATE_VERSION);
            db_param_int(p, (long long)v[i].len);
            db_param_int(p, (long long)v[i].samples);
            db_param_str(p, hex);
        }
        rc = db_enqueue(db, db_write_item(w), err);
    }
    if (rc == 0 && stored)
        *stored = bytes;
    return rc;
}

unsigned char *db_predictor_state_get(struct db *db, const char *uuid, size_t *len,
                                      struct err **err)
{
    if (db_check_uuid("instance", uuid, err) < 0)
        return NULL;
    autoparams p = DB_PARAMS_INIT;
    db_param_str(&p, uuid);
    PGresult *r = db_session_read(db, &st_get, &p, err);
    if (!r) {
        err_wrap(err, "predictor state of %s", uuid);
        return NULL;
    }
    unsigned char *out = NULL;
    if (PQntuples(r) != 1) {
        err_set(err, ERR_NOT_FOUND, "no predictor state saved for %s", uuid);
    } else {
        long long size = db_col_int(r, 0, 1);
        size_t max = drv_predictor_state_max(), got = 0;
        autofree char *what = xasprintf("predictor state of %s", uuid);
        /* the driver refuses the bytes of another version with its reason */
        if (size < 0 || (size_t)size > max) {
            err_set(err, ERR_INVALID, "%s: %lld bytes, more than any state (%zu)", what,
                    size, max);
        } else {
            out = xmalloc(max);
            if (db_col_zbytes(r, 0, 2, out, max, &got, what, err) < 0) {
                free(out);
                out = NULL;
            } else {
                *len = got;
            }
        }
    }
    PQclear(r);
    return out;
}

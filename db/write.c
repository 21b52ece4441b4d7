/* The common queued write: a few statements with their parameters, run in
 * order within the writer's transaction. */
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/log.h"
#include "db/db_priv.h"

LOG_INIT("db.write");

struct db_write_stmt {
    const struct db_stmt *st;
    struct db_params p;
    const char *none_warning;
};

struct db_write {
    struct db_item base;
    size_t n;
    struct db_write_stmt *s;   /* owned array of n */
};

static int db_write_exec(struct db_conn *c, struct db_item *it, struct db_batch *b,
                         struct err **err)
{
    (void)b;
    struct db_write *w = (struct db_write *)it;
    for (size_t i = 0; i < w->n; i++) {
        long long rows = db_conn_run(c, w->s[i].st, &w->s[i].p, err);
        if (rows < 0)
            return -1;
        if (rows == 0 && w->s[i].none_warning)
            log_warn("%s `%s`: %s; skipped", it->what,
                     w->s[i].p.n ? (w->s[i].p.v[0] ? w->s[i].p.v[0] : "NULL") : "",
                     w->s[i].none_warning);
    }
    return 0;
}

static void db_write_free(struct db_item *it)
{
    struct db_write *w = (struct db_write *)it;
    for (size_t i = 0; i < w->n; i++)
        db_params_release(&w->s[i].p);
    free(w->s);
    free(w);
}

static const struct db_item_ops db_write_ops = {db_write_exec, db_write_free};

struct db_write *db_write_new(const char *what, size_t weight)
{
    struct db_write *w = xzalloc(sizeof(*w));
    w->base.ops = &db_write_ops;
    w->base.what = what;
    w->base.weight = weight;
    return w;
}

struct db_params *db_write_add(struct db_write *w, const struct db_stmt *st,
                               const char *none_warning)
{
    w->s = xreallocarray(w->s, w->n + 1, sizeof(*w->s));
    memset(&w->s[w->n], 0, sizeof(w->s[w->n]));
    w->s[w->n].st = st;
    w->s[w->n].none_warning = none_warning;
    w->s[w->n].p.own = true;
    return &w->s[w->n++].p;
}

struct db_item *db_write_item(struct db_write *w)
{
    return &w->base;
}

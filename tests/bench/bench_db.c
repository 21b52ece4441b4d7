/* bench-db: usage-sample write throughput through db/ (a control step's
 * samples per call, the writer batching them into COPY), against one
 * INSERT per sample in autocommit -- the naive way -- measured in the same
 * run on the same server; the latency of the predictor's history
 * queries against a bare round trip; and what saving every guest's
 * predictor state costs (bytes per guest, ms per save of the host's
 * guests) against the fleet history's per-group record and save.
 *   SCULPT_BENCH_DB_URL=postgresql://... bench_db
 */
#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "db/db.h"
#include "driver/control.h"
#include "driver/predict.h"

enum {
    GUESTS = 300,         /* a busy host */
    STEPS = 200,          /* control steps written */
    FLAVORS = 10,         /* 30 guests per flavor */
    BASELINE = 3000,      /* samples inserted one by one */
    QUERIES = 50,
};
static const int64_t T0 = 1764000000000;

static void die(const char *what, struct err *err)
{
    fprintf(stderr, "bench_db: %s: %s\n", what, err ? err->msg : "failed");
    exit(1);
}

static void guest_uuid(int g, char out[37])
{
    snprintf(out, 37, "00000000-0000-4000-8000-%012d", g);
}

static struct db_usage_sample sample(int g, int step)
{
    struct db_usage_sample s = {.t_ms = T0 + (int64_t)step * 60000, .step_s = 60};
    guest_uuid(g, s.instance_uuid);
    s.use.v[DRV_RES_VCPU] = 0.1 + (g % 17) * 0.05 + (step % 13) * 0.01;
    s.use.v[DRV_RES_MEM_MIB] = 512 + g + step;
    s.use.v[DRV_RES_NET_IN_MBPS] = 12.5 + step % 7;
    s.use.v[DRV_RES_NET_OUT_MBPS] = 3.25;
    s.use.v[DRV_RES_DISK_READ_IOPS] = 120 + g % 11;
    s.use.v[DRV_RES_DISK_WRITE_IOPS] = 80;
    s.use.v[DRV_RES_DISK_READ_MBPS] = 1.5;
    s.use.v[DRV_RES_DISK_WRITE_MBPS] = 0.75;
    return s;
}

/* The naive writer: a prepared INSERT per sample, each its own commit. */
static double baseline_per_s(const char *url)
{
    PGconn *pg = PQconnectdb(url);
    if (PQstatus(pg) != CONNECTION_OK)
        die("connect", NULL);
    PGresult *r = PQprepare(pg, "ins",
                            "INSERT INTO usage_samples VALUES ($1, sculpt_ts($2), $3, $4, $5, "
                            "$6, $7, $8, $9, $10, $11)", 11, NULL);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        die(PQerrorMessage(pg), NULL);
    PQclear(r);
    int64_t t0 = clock_mono_ns();
    for (int i = 0; i < BASELINE; i++) {
        struct db_usage_sample s = sample(GUESTS + i % 50, STEPS + i / 50);
        char v[11][40];
        snprintf(v[0], sizeof(v[0]), "%s", s.instance_uuid);
        snprintf(v[1], sizeof(v[1]), "%lld", (long long)s.t_ms);
        snprintf(v[2], sizeof(v[2]), "%d", s.step_s);
        for (int k = 0; k < DRV_RES_LAST; k++)
            snprintf(v[3 + k], sizeof(v[3 + k]), "%.17g", s.use.v[k]);
        const char *p[11];
        for (int k = 0; k < 11; k++)
            p[k] = v[k];
        r = PQexecPrepared(pg, "ins", 11, p, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            die(PQerrorMessage(pg), NULL);
        PQclear(r);
    }
    double s = (double)(clock_mono_ns() - t0) / 1e9;
    PQfinish(pg);
    return BASELINE / s;
}

static double roundtrip_ms(const char *url)
{
    PGconn *pg = PQconnectdb(url);
    if (PQstatus(pg) != CONNECTION_OK)
        die("connect", NULL);
    double best = 1e9;
    for (int i = 0; i < QUERIES; i++) {
        int64_t t0 = clock_mono_ns();
        PGresult *r = PQexec(pg, "SELECT 1");
        PQclear(r);
        double ms = (double)(clock_mono_ns() - t0) / 1e6;
        best = ms < best ? ms : best;
    }
    PQfinish(pg);
    return best;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* p50 and p99 of QUERIES runs of q; *rows gets the rows of the last. */
static void query_ms(struct db *db, const struct db_usage_query *q, double *p50, double *p99,
                     size_t *rows)
{
    double ms[QUERIES];
    struct err *err = NULL;
    for (int i = 0; i < QUERIES; i++) {
        int64_t t0 = clock_mono_ns();
        struct db_usage_list *l = db_usage_query(db, q, &err);
        if (!l)
            die("usage query", err);
        ms[i] = (double)(clock_mono_ns() - t0) / 1e6;
        *rows = l->n;
        db_usage_list_free(l);
    }
    qsort(ms, QUERIES, sizeof(double), cmp_double);
    *p50 = ms[QUERIES / 2];
    *p99 = ms[QUERIES * 99 / 100];
}

/* Every guest's predictor after a day of 5-minute samples (a daily
 * sine, a different level per guest), saved as sculpt-compute saves
 * them; the fleet they fed, saved the same way, is the baseline. */
static void bench_predictor_states(struct db *db)
{
    struct err *err = NULL;
    struct drv_predict_config pc;
    drv_predict_config_default(&pc);
    struct drv_fleet *fleet = drv_fleet_new(&pc);
    struct drv_predictor **p = xcalloc(GUESTS, sizeof(*p));
    const int64_t t0 = T0 / 1000;
    for (int g = 0; g < GUESTS; g++) {
        char flavor[16];
        snprintf(flavor, sizeof(flavor), "m1.f%d", g % FLAVORS);
        struct drv_predict_request req = {.flavor_name = flavor, .project_id = "bench",
                                          .boot_s = t0,
                                          .resources = (1u << DRV_RES_VCPU) |
                                                       (1u << DRV_RES_MEM_MIB)};
        req.ceiling.v[DRV_RES_VCPU] = 2;
        req.ceiling.v[DRV_RES_MEM_MIB] = 4096;
        p[g] = drv_predictor_new(fleet, &req, &pc, &err);
        if (!p[g])
            die("predictor", err);
        for (int i = 1; i <= 288; i++) {
            struct drv_res use = drv_res_zero();
            use.v[DRV_RES_VCPU] = 0.2 + 0.02 * (g % 17) + 0.15 * sin(i * 2 * M_PI / 288) +
                                  0.01 * (i * 7919 % 13);
            use.v[DRV_RES_MEM_MIB] = 900 + 3 * g + (i % 50);
            drv_predictor_observe(p[g], t0 + i * 300, &use);
        }
    }
    struct drv_control_state *v = xcalloc(GUESTS, sizeof(*v));
    int64_t a = clock_mono_ns();
    size_t raw = 0, stored = 0;
    for (int g = 0; g < GUESTS; g++) {
        guest_uuid(g, v[g].uuid);
        v[g].samples = drv_predictor_samples(p[g]);
        v[g].len = drv_predictor_export(p[g], &v[g].state);
        raw += v[g].len;
    }
    double export_ms = (double)(clock_mono_ns() - a) / 1e6;
    if (db_predictor_states_save(db, v, GUESTS, &stored, &err) < 0 || db_sync(db, 60000, &err) < 0)
        die("predictor states", err);
    double save_ms = (double)(clock_mono_ns() - a) / 1e6;

    /* A period in which only a few guests learnt something: every state
     * is exported (what the control loop does under its lock), only
     * those whose CRC differs from the saved one are written. */
    enum { FEW = 10 };
    for (int g = 0; g < FEW; g++) {
        struct drv_res use = drv_res_zero();
        use.v[DRV_RES_VCPU] = 0.3;
        use.v[DRV_RES_MEM_MIB] = 1000;
        drv_predictor_observe(p[g * (GUESTS / FEW)], t0 + 289 * 300, &use);
    }
    struct drv_control_state *d = xcalloc(GUESTS, sizeof(*d));
    size_t nd = 0, few_stored = 0;
    a = clock_mono_ns();
    for (int g = 0; g < GUESTS; g++) {
        struct drv_control_state *s = &d[nd];
        s->len = drv_predictor_export(p[g], &s->state);
        s->crc = drv_predictor_state_crc(s->state, s->len);
        if (s->crc == drv_predictor_state_crc(v[g].state, v[g].len) && s->len == v[g].len) {
            free(s->state);
            s->state = NULL;
            continue;
        }
        guest_uuid(g, s->uuid);
        s->samples = drv_predictor_samples(p[g]);
        nd++;
    }
    if (nd != FEW)
        die("few dirty", NULL);
    if (db_predictor_states_save(db, d, nd, &few_stored, &err) < 0 ||
        db_sync(db, 60000, &err) < 0)
        die("changed predictor states", err);
    double few_ms = (double)(clock_mono_ns() - a) / 1e6;
    drv_control_states_free(d, nd);

    size_t ngroups = drv_fleet_groups(fleet);
    a = clock_mono_ns();
    if (db_fleet_save(db, fleet, NULL, NULL, &err) < 0 || db_sync(db, 60000, &err) < 0)
        die("fleet", err);
    double fleet_ms = (double)(clock_mono_ns() - a) / 1e6;
    PGconn *pg = PQconnectdb(getenv("SCULPT_BENCH_DB_URL"));
    PGresult *r = PQexec(pg, "SELECT sum(octet_length(record))::float8 / count(*) FROM fleet_groups");
    double group_bytes = PQresultStatus(r) == PGRES_TUPLES_OK ? atof(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    PQfinish(pg);

    printf("predictor states: %d guests (2 dimensions, a day of samples each), %zu bytes raw, "
           "%zu stored, exported in %.2f ms (what the control loop waits); fleet: %zu groups\n",
           GUESTS, raw / GUESTS, stored / GUESTS, export_ms, ngroups);
    printf("BENCH predict_state_bytes_per_guest %.0f\n", (double)stored / GUESTS);
    printf("BENCH predict_state_fleet_group_bytes_baseline %.0f\n", group_bytes);
    printf("predictor states: a period in which %d of %d guests changed saved in %.1f ms "
           "(every state exported, the changed ones written), all %d in %.1f ms\n",
           FEW, GUESTS, few_ms, GUESTS, save_ms);
    printf("BENCH predict_state_save_ms %.1f\n", save_ms);
    printf("BENCH predict_state_save_ms_per_guest %.3f\n", few_ms / GUESTS);
    printf("BENCH predict_state_save_ms_per_guest_all_dirty_baseline %.3f\n", save_ms / GUESTS);
    printf("BENCH predict_state_fleet_save_ms_baseline %.1f\n", fleet_ms);
    drv_control_states_free(v, GUESTS);
    for (int g = 0; g < GUESTS; g++)
        drv_predictor_free(p[g]);
    free(p);
    drv_fleet_free(fleet);
}

int main(void)
{
    const char *url = getenv("SCULPT_BENCH_DB_URL");
    struct err *err = NULL;
    if (!url || !*url) {
        fprintf(stderr, "bench_db: set SCULPT_BENCH_DB_URL\n");
        return 2;
    }
    log_setup(LOG_LEVEL_WARN, "stderr", false, NULL);
    struct db_options o = {.url = url, .migrate = true};
    struct db *db = db_open(&o, &err);
    if (!db)
        die("open", err);

    /* Instances, so the class queries have something to join. */
    for (int g = 0; g < GUESTS; g++) {
        struct drv_instance in = {.vm_state = (char *)"active"};
        guest_uuid(g, in.uuid);
        char flavor[16];
        snprintf(flavor, sizeof(flavor), "m1.f%d", g % FLAVORS);
        in.flavor.name = flavor;
        in.project_id = (char *)"bench";
        if (db_instance_put(db, &in, &err) < 0)
            die("instance_put", err);
    }
    if (db_sync(db, 60000, &err) < 0)
        die("sync", err);

    /* Batched: one call per control step with every guest's sample. */
    struct db_usage_sample *step = xcalloc(GUESTS, sizeof(*step));
    struct db_status before, after;
    db_status_get(db, &before);
    int64_t t0 = clock_mono_ns();
    for (int s = 0; s < STEPS; s++) {
        for (int g = 0; g < GUESTS; g++)
            step[g] = sample(g, s);
        if (db_usage_add(db, step, GUESTS, &err) < 0)
            die("usage_add", err);
    }
    if (db_sync(db, 120000, &err) < 0)
        die("sync", err);
    double batched_s = (double)(clock_mono_ns() - t0) / 1e9;
    db_status_get(db, &after);
    free(step);

    double baseline = baseline_per_s(url);
    double rt = roundtrip_ms(url);

    double g50, g99, f50, f99;
    size_t grows, frows;
    char g7[37];
    guest_uuid(7, g7);
    struct db_usage_query by_guest = {.instance_uuid = g7, .from_ms = T0,
                                      .to_ms = T0 + (int64_t)STEPS * 60000};
    query_ms(db, &by_guest, &g50, &g99, &grows);
    struct db_usage_query by_flavor = {.flavor_name = "m1.f3", .from_ms = T0,
                                       .to_ms = T0 + (int64_t)STEPS * 60000, .bucket_s = 600};
    query_ms(db, &by_flavor, &f50, &f99, &frows);
    bench_predictor_states(db);
    db_close(db);

    long long n = (long long)GUESTS * STEPS;
    printf("batched: %lld samples (%d guests x %d steps, %d per call) in %.3f s, %lld "
           "transactions\n",
           n, GUESTS, STEPS, GUESTS, batched_s, after.transactions - before.transactions);
    printf("BENCH db_samples_per_s %.0f\n", (double)n / batched_s);
    printf("BENCH db_samples_per_s_insert_baseline %.0f\n", baseline);
    printf("speed-up over one INSERT per sample: %.1fx\n", (double)n / batched_s / baseline);
    printf("history by guest: %zu samples; by flavor: %zu buckets (30 guests, 10 min)\n", grows,
           frows);
    printf("BENCH db_history_guest_p50_ms %.3f\n", g50);
    printf("BENCH db_history_guest_p99_ms %.3f\n", g99);
    printf("BENCH db_history_flavor_p50_ms %.3f\n", f50);
    printf("BENCH db_history_flavor_p99_ms %.3f\n", f99);
    printf("BENCH db_roundtrip_baseline_ms %.3f\n", rt);
    return 0;
}

/* bench-rpc's load generator: compute RPC calls as nova-api sends them
 * (get_console_output of a real instance, oslo 2.0 envelope, version 6.0,
 * `_timeout` null, a 60 s expiration), from several threads with one call
 * in flight each, over sculpt's own AMQP client.
 *
 * The generator must not be what limits the figure, and it must cost the
 * same whatever answers: the request is encoded once (the Instance comes
 * from nova-conductor, as the API has it) and each call only writes its
 * own _msg_id and _unique_id into a copy; replies are matched to their
 * caller by _msg_id as oslo's ReplyWaiter does.  Both computes under test
 * get byte-identical requests but for those two ids.
 *
 *   bench_rpc --url URL --host HOST --instance UUID [--seconds 10]
 *             [--threads 8] [--method get_console_output]
 *
 * Prints one line: calls=N errors=N seconds=S calls_per_s=X p50_ms=X
 * p99_ms=X gen_cpu_ms_per_call=X (the generator's own CPU).
 */
#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "openstack/amqp.h"
#include "openstack/conductor.h"
#include "openstack/oslo.h"
#include "openstack/rpc_client.h"

#define BENCH_MAX_CALLS 4000000
#define BENCH_MAX_THREADS 256
#define BENCH_TIMEOUT_MS 60000

/* One caller's call in flight. */
struct bench_slot {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    char msg_id[OS_HEX_ID_LEN];
    bool waiting;
    bool done;
    bool failed;
};

struct bench {
    struct os_amqp *amqp;
    struct os_rpc_client *client; /* the set-up call to the conductor only */
    char *routing_key;
    char *tmpl;                   /* the request, ids to be filled in */
    size_t tmpl_len;
    size_t msg_id_at, unique_id_at; /* offsets of the 32 hex digits */
    int nthreads;
    struct bench_slot slots[BENCH_MAX_THREADS];
    int64_t end_ms;
    pthread_mutex_t lock;
    double *lat_ms;
    size_t ncalls;
    size_t errors;
};

/* ---- replies ---- */

static void bench_on_reply(struct bench *b, struct os_delivery *d)
{
    struct os_reply r;
    struct err *e = NULL;
    if (os_reply_decode(d->body, d->len, &r, &e) < 0) {
        err_free(e);
        return;
    }
    if (!r.ending) { /* a keep-alive */
        os_reply_release(&r);
        return;
    }
    for (int i = 0; i < b->nthreads; i++) {
        struct bench_slot *s = &b->slots[i];
        pthread_mutex_lock(&s->lock);
        bool mine = s->waiting && strcmp(s->msg_id, r.msg_id) == 0;
        if (mine) {
            s->done = true;
            s->failed = r.failure != NULL;
            pthread_cond_signal(&s->cond);
        }
        pthread_mutex_unlock(&s->lock);
        if (mine)
            break;
    }
    os_reply_release(&r);
}

static void bench_deliver(void *opaque, struct os_delivery *d)
{
    struct bench *b = opaque;
    if (d->kind == OS_DELIVERY_REPLY && !b->tmpl)
        os_rpc_client_on_reply(b->client, d); /* still setting up */
    else {
        if (d->kind == OS_DELIVERY_REPLY)
            bench_on_reply(b, d);
        os_delivery_free(d);
    }
}

static void bench_state(void *opaque, bool up, uint64_t gen)
{
    struct bench *b = opaque;
    (void)gen;
    if (up || !b->client)
        return;
    os_rpc_client_on_down(b->client);
    for (int i = 0; i < b->nthreads; i++) {
        struct bench_slot *s = &b->slots[i];
        pthread_mutex_lock(&s->lock);
        if (s->waiting) {
            s->done = s->failed = true;
            pthread_cond_signal(&s->cond);
        }
        pthread_mutex_unlock(&s->lock);
    }
}

/* ---- calls ---- */

/* One call from slot s: 0 on a result, -1 on a failure or timeout. */
static int bench_call(struct bench *b, struct bench_slot *s)
{
    char *body = xmalloc(b->tmpl_len + 1);
    memcpy(body, b->tmpl, b->tmpl_len + 1);
    char uid[OS_HEX_ID_LEN];
    os_hex_id(uid);
    memcpy(body + b->unique_id_at, uid, 32);
    pthread_mutex_lock(&s->lock);
    os_hex_id(s->msg_id);
    memcpy(body + b->msg_id_at, s->msg_id, 32);
    s->waiting = true;
    s->done = s->failed = false;
    pthread_mutex_unlock(&s->lock);

    struct err *e = NULL;
    int rc = os_amqp_publish(b->amqp, "nova", b->routing_key, body, b->tmpl_len,
                             BENCH_TIMEOUT_MS, false, &e);
    if (rc < 0)
        err_free(e);
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += BENCH_TIMEOUT_MS / 1000;
    pthread_mutex_lock(&s->lock);
    while (rc == 0 && !s->done)
        if (pthread_cond_timedwait(&s->cond, &s->lock, &dl) != 0)
            break;
    if (rc == 0 && (!s->done || s->failed))
        rc = -1;
    s->waiting = false;
    pthread_mutex_unlock(&s->lock);
    return rc;
}

struct bench_arg {
    struct bench *b;
    int slot;
};

static void *bench_thread(void *arg)
{
    struct bench_arg *a = arg;
    struct bench *b = a->b;
    struct bench_slot *s = &b->slots[a->slot];
    while (clock_mono_ms() < b->end_ms) {
        int64_t t0 = clock_mono_ns();
        int rc = bench_call(b, s);
        double ms = (double)(clock_mono_ns() - t0) / 1e6;
        pthread_mutex_lock(&b->lock);
        if (rc == 0 && b->ncalls < BENCH_MAX_CALLS)
            b->lat_ms[b->ncalls++] = ms;
        else if (rc < 0)
            b->errors++;
        size_t errors = b->errors;
        pthread_mutex_unlock(&b->lock);
        if (rc < 0 && errors <= 3)
            fprintf(stderr, "bench_rpc: a call failed or timed out\n");
    }
    return NULL;
}

static void bench_run(struct bench *b, int threads, int64_t ms)
{
    pthread_t tids[BENCH_MAX_THREADS];
    struct bench_arg args[BENCH_MAX_THREADS];
    b->end_ms = clock_mono_ms() + ms;
    for (int i = 0; i < threads; i++) {
        args[i] = (struct bench_arg){b, i};
        pthread_create(&tids[i], NULL, bench_thread, &args[i]);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(tids[i], NULL);
}

/* ---- set-up ---- */

/* Offset of the 32 hex digits following `key` in the encoded request (the
 * inner document is a JSON string there, its quotes escaped). */
static size_t bench_find_id(const char *body, const char *key)
{
    autofree char *pat = xasprintf("\\\"%s\\\":\\\"", key);
    const char *p = strstr(body, pat);
    if (!p) {
        fprintf(stderr, "bench_rpc: `%s` not found in the request\n", key);
        exit(1);
    }
    return (size_t)(p - body) + strlen(pat);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"url", required_argument, NULL, 'u'},     {"host", required_argument, NULL, 'H'},
        {"instance", required_argument, NULL, 'i'}, {"seconds", required_argument, NULL, 's'},
        {"threads", required_argument, NULL, 't'}, {"method", required_argument, NULL, 'm'},
        {NULL, 0, NULL, 0},
    };
    const char *url = NULL, *host = NULL, *uuid = NULL, *method = "get_console_output";
    double seconds = 10;
    int threads = 8;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'u': url = optarg; break;
        case 'H': host = optarg; break;
        case 'i': uuid = optarg; break;
        case 's': seconds = atof(optarg); break;
        case 't': threads = atoi(optarg); break;
        case 'm': method = optarg; break;
        default:
            fprintf(stderr, "usage: bench_rpc --url URL --host HOST --instance UUID "
                            "[--seconds S] [--threads N] [--method M]\n");
            return 2;
        }
    }
    if (!url || !host || !uuid || threads < 1 || threads > BENCH_MAX_THREADS || seconds <= 0) {
        fprintf(stderr, "bench_rpc: --url, --host and --instance are needed\n");
        return 2;
    }
    log_min_level = LOG_LEVEL_WARN;
    static struct bench b;
    autoerr struct err *err = NULL;
    struct os_amqp_opts ao = {.transport_url = url, .exchange = "nova", .heartbeat_s = 60,
                              .name = "bench_rpc"};
    struct os_amqp_handler h = {bench_deliver, bench_state, &b};
    b.amqp = os_amqp_new(&ao, &h, &err);
    if (!b.amqp || os_amqp_start(b.amqp, &err) < 0) {
        fprintf(stderr, "bench_rpc: %s\n", err->msg);
        return 1;
    }
    b.client = os_rpc_client_new(b.amqp, "nova");
    json_t *ctx = os_ctx_new_admin();

    /* The instance as the API would send it, from the conductor. */
    struct os_conductor cond = {.rpc = b.client, .timeout_ms = 30000};
    json_t *inst = os_conductor_class_action(&cond, ctx, "Instance", "get_by_uuid",
                                             json_pack("[s]", uuid),
                                             json_pack("{s:[s]}", "expected_attrs", "flavor"),
                                             NULL, &err);
    if (!inst) {
        fprintf(stderr, "bench_rpc: %s\n", err->msg);
        return 1;
    }
    json_t *args = json_pack("{s:o, s:i}", "instance", inst, "tail_length", 10);
    size_t len = 0;
    char *tmpl = os_request_encode(method, NULL, "6.0", args, ctx,
                                   "00000000000000000000000000000000",
                                   os_amqp_reply_queue(b.amqp), 0, &len);
    json_decref(args);
    json_decref(ctx);
    if (!tmpl) {
        fprintf(stderr, "bench_rpc: cannot encode the request\n");
        return 1;
    }
    b.tmpl_len = len;
    b.msg_id_at = bench_find_id(tmpl, "_msg_id");
    b.unique_id_at = bench_find_id(tmpl, "_unique_id");
    b.routing_key = xasprintf("compute.%s", host);
    b.nthreads = threads;
    for (int i = 0; i < threads; i++) {
        pthread_mutex_init(&b.slots[i].lock, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&b.slots[i].cond, &ca);
        pthread_condattr_destroy(&ca);
    }
    pthread_mutex_init(&b.lock, NULL);
    b.lat_ms = xcalloc(BENCH_MAX_CALLS, sizeof(double));
    __atomic_store_n(&b.tmpl, tmpl, __ATOMIC_RELEASE);

    /* Warm up (connections, caches) for a second, then measure. */
    bench_run(&b, threads, 1000);
    b.ncalls = b.errors = 0;

    double c0 = cpu_s();
    int64_t t0 = clock_mono_ns();
    bench_run(&b, threads, (int64_t)(seconds * 1000));
    double took = (double)(clock_mono_ns() - t0) / 1e9;
    double cpu = cpu_s() - c0;

    qsort(b.lat_ms, b.ncalls, sizeof(double), cmp_double);
    double p50 = b.ncalls ? b.lat_ms[b.ncalls / 2] : 0;
    double p99 = b.ncalls ? b.lat_ms[(size_t)((double)b.ncalls * 0.99)] : 0;
    printf("calls=%zu errors=%zu seconds=%.2f calls_per_s=%.1f p50_ms=%.3f p99_ms=%.3f "
           "gen_cpu_ms_per_call=%.4f\n",
           b.ncalls, b.errors, took, (double)b.ncalls / took, p50, p99,
           b.ncalls ? cpu * 1000 / (double)b.ncalls : 0);

    os_amqp_stop(b.amqp);
    os_rpc_client_free(b.client);
    os_amqp_free(b.amqp);
    free(b.tmpl);
    free(b.routing_key);
    free(b.lat_ms);
    return b.ncalls > 0 && b.errors * 100 <= b.ncalls ? 0 : 1;
}

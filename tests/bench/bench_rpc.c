/* bench-rpc's load generator: compute RPC calls as nova-api sends them
 * (get_console_output of a real instance, oslo 2.0 envelope, version 6.0),
 * from several threads with one call in flight each, over sculpt's own
 * AMQP client.  Being C, it is not the bottleneck the Python client is.
 *
 *   bench_rpc --url URL --host HOST --instance UUID [--seconds 10]
 *             [--threads 8] [--method get_console_output]
 *
 * Prints one line: calls=N errors=N seconds=S calls_per_s=X p50_ms=X
 * p99_ms=X.
 */
#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "openstack/amqp.h"
#include "openstack/conductor.h"
#include "openstack/oslo.h"
#include "openstack/rpc_client.h"

#define BENCH_MAX_CALLS 2000000

struct bench {
    struct os_rpc_client *client;
    struct os_rpc_target target;
    const char *method;
    json_t *args;
    json_t *ctx;
    int64_t end_ms;
    pthread_mutex_t lock;
    double *lat_ms;
    size_t ncalls;
    size_t errors;
};

static void *bench_thread(void *arg)
{
    struct bench *b = arg;
    while (clock_mono_ms() < b->end_ms) {
        int64_t t0 = clock_mono_ns();
        struct err *e = NULL;
        json_t *r = os_rpc_call(b->client, &b->target, b->method, b->args, b->ctx, 30000, NULL,
                                &e);
        double ms = (double)(clock_mono_ns() - t0) / 1e6;
        pthread_mutex_lock(&b->lock);
        if (r && b->ncalls < BENCH_MAX_CALLS)
            b->lat_ms[b->ncalls++] = ms;
        else if (!r)
            b->errors++;
        size_t errors = b->errors;
        pthread_mutex_unlock(&b->lock);
        if (!r && errors <= 3)
            fprintf(stderr, "bench_rpc: %s\n", e ? e->msg : "?");
        json_decref(r);
        err_free(e);
    }
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void bench_deliver(void *opaque, struct os_delivery *d)
{
    struct bench *b = opaque;
    if (d->kind == OS_DELIVERY_REPLY)
        os_rpc_client_on_reply(b->client, d);
    else
        os_delivery_free(d);
}

static void bench_state(void *opaque, bool up, uint64_t gen)
{
    struct bench *b = opaque;
    (void)gen;
    if (!up && b->client)
        os_rpc_client_on_down(b->client);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"url", required_argument, NULL, 'u'},     {"host", required_argument, NULL, 'H'},
        {"instance", required_argument, NULL, 'i'}, {"seconds", required_argument, NULL, 's'},
        {"threads", required_argument, NULL, 't'}, {"method", required_argument, NULL, 'm'},
        {NULL, 0, NULL, 0},
    };
    const char *url = NULL, *host = NULL, *uuid = NULL;
    double seconds = 10;
    int threads = 8;
    struct bench b = {.method = "get_console_output"};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'u': url = optarg; break;
        case 'H': host = optarg; break;
        case 'i': uuid = optarg; break;
        case 's': seconds = atof(optarg); break;
        case 't': threads = atoi(optarg); break;
        case 'm': b.method = optarg; break;
        default:
            fprintf(stderr, "usage: bench_rpc --url URL --host HOST --instance UUID "
                            "[--seconds S] [--threads N] [--method M]\n");
            return 2;
        }
    }
    if (!url || !host || !uuid || threads < 1 || threads > 256 || seconds <= 0) {
        fprintf(stderr, "bench_rpc: --url, --host and --instance are needed\n");
        return 2;
    }
    log_min_level = LOG_LEVEL_WARN;
    autoerr struct err *err = NULL;
    struct os_amqp_opts ao = {.transport_url = url, .exchange = "nova", .heartbeat_s = 60,
                              .name = "bench_rpc"};
    struct os_amqp_handler h = {bench_deliver, bench_state, &b};
    struct os_amqp *amqp = os_amqp_new(&ao, &h, &err);
    if (!amqp || os_amqp_start(amqp, &err) < 0) {
        fprintf(stderr, "bench_rpc: %s\n", err->msg);
        return 1;
    }
    b.client = os_rpc_client_new(amqp, "nova");
    b.ctx = os_ctx_new_admin();

    /* The instance as the API would send it, from the conductor. */
    struct os_conductor cond = {.rpc = b.client, .timeout_ms = 30000};
    json_t *inst = os_conductor_class_action(&cond, b.ctx, "Instance", "get_by_uuid",
                                             json_pack("[s]", uuid),
                                             json_pack("{s:[s]}", "expected_attrs", "flavor"),
                                             NULL, &err);
    if (!inst) {
        fprintf(stderr, "bench_rpc: %s\n", err->msg);
        return 1;
    }
    b.args = json_pack("{s:o, s:i}", "instance", inst, "tail_length", 10);
    b.target = (struct os_rpc_target){.topic = "compute", .server = host, .version = "6.0"};
    b.lat_ms = xcalloc(BENCH_MAX_CALLS, sizeof(double));
    pthread_mutex_init(&b.lock, NULL);

    /* Warm up (connections, caches) for a second, then measure. */
    b.end_ms = clock_mono_ms() + 1000;
    bench_thread(&b);
    b.ncalls = b.errors = 0;

    pthread_t *tids = xcalloc((size_t)threads, sizeof(pthread_t));
    int64_t t0 = clock_mono_ns();
    b.end_ms = clock_mono_ms() + (int64_t)(seconds * 1000);
    for (int i = 0; i < threads; i++)
        pthread_create(&tids[i], NULL, bench_thread, &b);
    for (int i = 0; i < threads; i++)
        pthread_join(tids[i], NULL);
    double took = (double)(clock_mono_ns() - t0) / 1e9;

    qsort(b.lat_ms, b.ncalls, sizeof(double), cmp_double);
    double p50 = b.ncalls ? b.lat_ms[b.ncalls / 2] : 0;
    double p99 = b.ncalls ? b.lat_ms[(size_t)((double)b.ncalls * 0.99)] : 0;
    printf("calls=%zu errors=%zu seconds=%.2f calls_per_s=%.1f p50_ms=%.3f p99_ms=%.3f\n",
           b.ncalls, b.errors, took, (double)b.ncalls / took, p50, p99);

    os_amqp_stop(amqp);
    os_rpc_client_free(b.client);
    os_amqp_free(amqp);
    json_decref(b.args);
    json_decref(b.ctx);
    free(b.lat_ms);
    free(tids);
    return b.ncalls > 0 && b.errors * 100 <= b.ncalls ? 0 : 1;
}

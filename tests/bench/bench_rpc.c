/* bench-rpc's load generator: compute RPC calls as nova-api sends them
 * (get_console_output of a real instance, oslo 2.0 envelope, version 6.0,
 * `_timeout` null, a 60 s expiration, oslo's AMQP properties), pipelined:
 * --conns connections, each with its own thread and reply queue and
 * --inflight calls outstanding on it.
 *
 * The generator must not be what limits the figure, and it must cost the
 * same whatever answers.  What the compute sees is what oslo sends: the
 * same envelope and properties, one message per call.  What only the
 * generator and the broker see is as cheap as it can be: the request is
 * encoded once (the Instance comes from nova-conductor, as the API has
 * it) and each call only writes its own _msg_id and _unique_id into it;
 * replies are consumed without acks (no_ack), read in batches from the
 * socket, and matched to their call by _msg_id as oslo's ReplyWaiter
 * does; the calls a batch of replies frees go out together in one TCP
 * write.  No thread hand-offs: each connection is driven by one thread.
 *
 *   bench_rpc --url URL --host HOST --instance UUID [--seconds 10]
 *             [--conns 2] [--inflight 32] [--method get_console_output]
 *
 * Prints one line: calls=N errors=N seconds=S calls_per_s=X p50_ms=X
 * p99_ms=X gen_cpu_ms_per_call=X (the generator's own CPU).
 */
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <getopt.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "openstack/amqp.h"
#include "openstack/amqp_priv.h"
#include "openstack/conductor.h"
#include "openstack/oslo.h"
#include "openstack/rpc_client.h"

#define BENCH_MAX_CONNS 64
#define BENCH_MAX_INFLIGHT 1024
#define BENCH_MAX_LAT 4000000
#define BENCH_CHANNEL 1
#define BENCH_EXPIRATION "60000" /* oslo: the call's timeout, in ms */
/* oslo's rabbit_transient_queues_ttl on reply queues */
#define BENCH_REPLY_TTL_MS 1800000

/* What the connections share (read-only once they run). */
struct bench {
    struct os_amqp_url url;
    char *routing_key;
    json_t *args, *ctx;
    const char *method;
    int inflight;
    int64_t start_ns, end_ns; /* measured window (after a warm-up) */
};

/* One call outstanding. */
struct bench_slot {
    char msg_id[OS_HEX_ID_LEN];
    int64_t sent_ns;
    bool busy;
    bool resend; /* its reply came: send the next call */
};

struct bench_conn {
    struct bench *b;
    pthread_t thread;
    amqp_connection_state_t conn;
    char reply_q[OS_HEX_ID_LEN + 8];
    char *tmpl; /* the request for this reply queue, ids to fill in */
    size_t tmpl_len, msg_id_at, unique_id_at;
    struct bench_slot *slots;
    double *lat_ms; /* completions in the measured window */
    size_t ncalls, cap, errors;
    const char *failure; /* why the connection stopped early, or NULL */
};

/* ---- AMQP plumbing ---- */

static bool bench_ok(amqp_rpc_reply_t r)
{
    return r.reply_type == AMQP_RESPONSE_NORMAL;
}

static int bench_connect(struct bench_conn *c)
{
    const struct os_amqp_server *s = &c->b->url.servers[0];
    c->conn = amqp_new_connection();
    amqp_socket_t *sock = c->conn ? amqp_tcp_socket_new(c->conn) : NULL;
    if (!sock || amqp_socket_open(sock, s->host, s->port) != AMQP_STATUS_OK)
        return -1;
    if (!bench_ok(amqp_login(c->conn, c->b->url.vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN,
                             s->user, s->password)))
        return -1;
    amqp_channel_open(c->conn, BENCH_CHANNEL);
    if (!bench_ok(amqp_get_rpc_reply(c->conn)))
        return -1;
    /* The reply queue as oslo declares it (non-durable, x-expires). */
    amqp_table_entry_t e = {.key = amqp_cstring_bytes("x-expires"),
                            .value = {.kind = AMQP_FIELD_KIND_I32,
                                      .value.i32 = BENCH_REPLY_TTL_MS}};
    amqp_table_t args = {1, &e};
    amqp_queue_declare(c->conn, BENCH_CHANNEL, amqp_cstring_bytes(c->reply_q), 0, 0, 0, 0, args);
    if (!bench_ok(amqp_get_rpc_reply(c->conn)))
        return -1;
    amqp_basic_consume(c->conn, BENCH_CHANNEL, amqp_cstring_bytes(c->reply_q), amqp_empty_bytes,
                       0, 1 /* no_ack */, 0, amqp_empty_table);
    return bench_ok(amqp_get_rpc_reply(c->conn)) ? 0 : -1;
}

static void bench_cork(struct bench_conn *c, int on)
{
    int fd = amqp_get_sockfd(c->conn);
    setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof(on));
}

/* Send the next call from slot s. */
static int bench_send(struct bench_conn *c, struct bench_slot *s)
{
    char uid[OS_HEX_ID_LEN];
    os_hex_id(uid);
    os_hex_id(s->msg_id);
    memcpy(c->tmpl + c->unique_id_at, uid, 32);
    memcpy(c->tmpl + c->msg_id_at, s->msg_id, 32);
    amqp_basic_properties_t props;
    os_amqp_oslo_props(&props, BENCH_EXPIRATION);
    s->busy = true;
    s->resend = false;
    s->sent_ns = clock_mono_ns();
    amqp_bytes_t body = {c->tmpl_len, c->tmpl};
    return amqp_basic_publish(c->conn, BENCH_CHANNEL, amqp_cstring_bytes("nova"),
                              amqp_cstring_bytes(c->b->routing_key), 0, 0, &props, body) ==
                   AMQP_STATUS_OK
               ? 0
               : -1;
}

/* A reply arrived: finish its call. */
static void bench_on_reply(struct bench_conn *c, const void *body, size_t len, int64_t now)
{
    struct os_reply r;
    struct err *e = NULL;
    if (os_reply_decode(body, len, &r, &e) < 0) {
        err_free(e);
        return;
    }
    if (r.ending) { /* else a keep-alive */
        for (int i = 0; i < c->b->inflight; i++) {
            struct bench_slot *s = &c->slots[i];
            if (!s->busy || strcmp(s->msg_id, r.msg_id) != 0)
                continue;
            s->busy = false;
            s->resend = true;
            if (r.failure)
                c->errors++;
            else if (now >= c->b->start_ns && now < c->b->end_ns && c->ncalls < c->cap)
                c->lat_ms[c->ncalls++] = (double)(now - s->sent_ns) / 1e6;
            break;
        }
    }
    os_reply_release(&r);
}

/* Read every frame already received (blocking for the first, up to
 * wait_ms).  Returns 0, or -1 when the connection failed. */
static int bench_read(struct bench_conn *c, int wait_ms)
{
    struct timeval tv = {wait_ms / 1000, (wait_ms % 1000) * 1000};
    bool first = true;
    while (first || amqp_frames_enqueued(c->conn) || amqp_data_in_buffer(c->conn)) {
        amqp_frame_t f;
        int rc = amqp_simple_wait_frame_noblock(c->conn, &f, first ? &tv : NULL);
        first = false;
        if (rc == AMQP_STATUS_TIMEOUT)
            return 0;
        if (rc != AMQP_STATUS_OK)
            return -1;
        if (f.frame_type != AMQP_FRAME_METHOD || f.payload.method.id != AMQP_BASIC_DELIVER_METHOD)
            continue;
        amqp_message_t msg;
        if (!bench_ok(amqp_read_message(c->conn, f.channel, &msg, 0)))
            return -1;
        bench_on_reply(c, msg.body.bytes, msg.body.len, clock_mono_ns());
        amqp_destroy_message(&msg);
    }
    return 0;
}

static void *bench_conn_run(void *arg)
{
    struct bench_conn *c = arg;
    const struct bench *b = c->b;
    int rc = 0;
    while (rc == 0 && clock_mono_ns() < b->end_ns) {
        /* What the replies freed goes out in one write. */
        int n = 0;
        for (int i = 0; i < b->inflight; i++)
            n += !c->slots[i].busy;
        if (n > 1)
            bench_cork(c, 1);
        for (int i = 0; i < b->inflight && rc == 0; i++)
            if (!c->slots[i].busy)
                rc = bench_send(c, &c->slots[i]);
        if (n > 1)
            bench_cork(c, 0);
        if (rc == 0)
            rc = bench_read(c, 1000);
        amqp_maybe_release_buffers(c->conn);
    }
    if (rc < 0)
        c->failure = "connection to RabbitMQ failed";
    return NULL;
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

static int bench_conn_init(struct bench *b, struct bench_conn *c)
{
    c->b = b;
    char hex[OS_HEX_ID_LEN];
    os_hex_id(hex);
    snprintf(c->reply_q, sizeof(c->reply_q), "reply_%s", hex);
    c->tmpl = os_request_encode(b->method, NULL, "6.0", b->args, b->ctx,
                                "00000000000000000000000000000000", c->reply_q, 0, &c->tmpl_len);
    if (!c->tmpl)
        return -1;
    c->msg_id_at = bench_find_id(c->tmpl, "_msg_id");
    c->unique_id_at = bench_find_id(c->tmpl, "_unique_id");
    c->slots = xcalloc((size_t)b->inflight, sizeof(*c->slots));
    return bench_connect(c);
}

/* The Instance as nova-api has it (from the conductor), through sculpt's
 * own RPC client.  Returns a new reference or NULL. */
static void bench_setup_deliver(void *opaque, struct os_delivery *d)
{
    struct os_rpc_client *client = __atomic_load_n((struct os_rpc_client **)opaque,
                                                   __ATOMIC_ACQUIRE);
    if (d->kind == OS_DELIVERY_REPLY && client)
        os_rpc_client_on_reply(client, d);
    else
        os_delivery_free(d);
}

static json_t *bench_get_instance(const char *url, const char *uuid, json_t *ctx)
{
    static struct os_rpc_client *client;
    autoerr struct err *err = NULL;
    struct os_amqp_opts ao = {.transport_url = url, .exchange = "nova", .heartbeat_s = 60,
                              .name = "bench_rpc"};
    struct os_amqp_handler h = {bench_setup_deliver, NULL, &client};
    autoptr(os_amqp) amqp = os_amqp_new(&ao, &h, &err);
    if (!amqp || os_amqp_start(amqp, &err) < 0) {
        fprintf(stderr, "bench_rpc: %s\n", err->msg);
        return NULL;
    }
    struct os_rpc_client *cl = os_rpc_client_new(amqp, "nova");
    __atomic_store_n(&client, cl, __ATOMIC_RELEASE);
    struct os_conductor cond = {.rpc = cl, .timeout_ms = 30000};
    json_t *inst = os_conductor_class_action(&cond, ctx, "Instance", "get_by_uuid",
                                             json_pack("[s]", uuid),
                                             json_pack("{s:[s]}", "expected_attrs", "flavor"),
                                             NULL, &err);
    if (!inst)
        fprintf(stderr, "bench_rpc: %s\n", err->msg);
    os_amqp_stop(amqp);
    __atomic_store_n(&client, NULL, __ATOMIC_RELEASE);
    os_rpc_client_free(cl);
    return inst;
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
        {"conns", required_argument, NULL, 'c'},   {"inflight", required_argument, NULL, 'n'},
        {"method", required_argument, NULL, 'm'},  {NULL, 0, NULL, 0},
    };
    const char *url = NULL, *host = NULL, *uuid = NULL;
    static struct bench b = {.method = "get_console_output", .inflight = 32};
    double seconds = 10;
    int nconns = 2;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'u': url = optarg; break;
        case 'H': host = optarg; break;
        case 'i': uuid = optarg; break;
        case 's': seconds = atof(optarg); break;
        case 'c': nconns = atoi(optarg); break;
        case 'n': b.inflight = atoi(optarg); break;
        case 'm': b.method = optarg; break;
        default:
            fprintf(stderr, "usage: bench_rpc --url URL --host HOST --instance UUID "
                            "[--seconds S] [--conns N] [--inflight N] [--method M]\n");
            return 2;
        }
    }
    if (!url || !host || !uuid) {
        fprintf(stderr, "bench_rpc: --url, --host and --instance are needed\n");
        return 2;
    }
    if (nconns < 1 || nconns > BENCH_MAX_CONNS || b.inflight < 1 ||
        b.inflight > BENCH_MAX_INFLIGHT || !(seconds > 0 && seconds < 3600)) {
        fprintf(stderr, "bench_rpc: --conns 1..%d, --inflight 1..%d, --seconds 0..3600\n",
                BENCH_MAX_CONNS, BENCH_MAX_INFLIGHT);
        return 2;
    }
    log_min_level = LOG_LEVEL_WARN;
    autoerr struct err *err = NULL;
    if (os_amqp_url_parse(url, &b.url, &err) < 0) {
        fprintf(stderr, "bench_rpc: %s\n", err->msg);
        return 2;
    }
    b.ctx = os_ctx_new_admin();
    json_t *inst = bench_get_instance(url, uuid, b.ctx);
    if (!inst)
        return 1;
    b.args = json_pack("{s:o, s:i}", "instance", inst, "tail_length", 10);
    b.routing_key = xasprintf("compute.%s", host);

    static struct bench_conn conns[BENCH_MAX_CONNS];
    /* A second of warm-up (connections, caches), then the window. */
    b.start_ns = clock_mono_ns() + 1000000000LL;
    b.end_ns = b.start_ns + (int64_t)(seconds * 1e9);
    for (int i = 0; i < nconns; i++) {
        conns[i].cap = BENCH_MAX_LAT / (size_t)nconns;
        conns[i].lat_ms = xcalloc(conns[i].cap, sizeof(double));
        if (bench_conn_init(&b, &conns[i]) < 0) {
            fprintf(stderr, "bench_rpc: cannot set up connection %d to RabbitMQ\n", i);
            return 1;
        }
    }
    for (int i = 0; i < nconns; i++)
        pthread_create(&conns[i].thread, NULL, bench_conn_run, &conns[i]);
    double c0 = 0;
    while (clock_mono_ns() < b.start_ns)
        clock_sleep_ms(10);
    c0 = cpu_s();
    for (int i = 0; i < nconns; i++)
        pthread_join(conns[i].thread, NULL);
    double cpu = cpu_s() - c0;
    double took = (double)(b.end_ns - b.start_ns) / 1e9;

    size_t n = 0, errors = 0;
    const char *failure = NULL;
    for (int i = 0; i < nconns; i++) {
        n += conns[i].ncalls;
        errors += conns[i].errors;
        failure = failure ? failure : conns[i].failure;
    }
    double *lat = xcalloc(n ? n : 1, sizeof(double));
    for (int i = 0, k = 0; i < nconns; k += (int)conns[i].ncalls, i++)
        memcpy(lat + k, conns[i].lat_ms, conns[i].ncalls * sizeof(double));
    qsort(lat, n, sizeof(double), cmp_double);
    double p50 = n ? lat[n / 2] : 0;
    double p99 = n ? lat[(size_t)((double)n * 0.99)] : 0;
    printf("calls=%zu errors=%zu seconds=%.2f calls_per_s=%.1f p50_ms=%.3f p99_ms=%.3f "
           "gen_cpu_ms_per_call=%.4f\n",
           n, errors, took, (double)n / took, p50, p99, n ? cpu * 1000 / (double)n : 0);
    if (failure)
        fprintf(stderr, "bench_rpc: %s\n", failure);

    for (int i = 0; i < nconns; i++) {
        amqp_connection_close(conns[i].conn, AMQP_REPLY_SUCCESS);
        amqp_destroy_connection(conns[i].conn);
        free(conns[i].tmpl);
        free(conns[i].slots);
        free(conns[i].lat_ms);
    }
    free(lat);
    json_decref(b.args);
    json_decref(b.ctx);
    free(b.routing_key);
    os_amqp_url_release(&b.url);
    return !failure && n > 0 && errors * 100 <= n ? 0 : 1;
}

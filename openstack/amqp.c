#include "openstack/amqp.h"

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "openstack/amqp_priv.h"
#include "openstack/oslo.h"

LOG_INIT("openstack.amqp");

#define AMQP_CHANNEL 1
#define AMQP_FRAME_MAX 131072
/* oslo's rabbit_transient_queues_ttl: reply and fanout queues vanish 30 min
 * after their consumer does. */
#define AMQP_TRANSIENT_TTL_MS 1800000
/* How many messages may wait for the broker to come back; beyond that
 * publishing fails rather than eating memory. */
#define AMQP_OUTBOX_MAX 20000
#define AMQP_SOCKET_TIMEOUT_S 10
/* A finished request waits at most this long for the ones delivered
 * before it, to be acked with them in one frame (amqp_priv.h). */
#define AMQP_ACK_HOLD_MS 20

enum amqp_consumer {
    CONSUMER_REPLY,
    CONSUMER_TOPIC,
    CONSUMER_HOST,
    CONSUMER_FANOUT,
};
static const char *const amqp_consumer_tag[] = {"reply", "rpc-topic", "rpc-host", "rpc-fanout"};

struct amqp_out {
    struct amqp_out *next;
    char *exchange;
    char *routing_key;
    char *body;
    size_t len;
    int64_t expires_ms;  /* monotonic deadline, 0 = none */
    bool mandatory;
    bool declare_queue;  /* a notification: its default queue first (os_amqp_notify) */
};

struct amqp_ack {
    struct amqp_ack *next;
    uint64_t gen;
    uint64_t tag;
};

struct os_amqp {
    struct os_amqp_url url;
    char *exchange;
    bool durable;
    bool auto_delete;
    int heartbeat_s;
    int prefetch_count;
    int retry_interval_ms, retry_backoff_ms, interval_max_ms;
    char *name;
    char reply_queue[OS_HEX_ID_LEN + 8];
    struct os_amqp_handler h;

    pthread_t thread;
    bool started;
    int wake_fd;                 /* eventfd: work queued, stop requested */
    bool sleeping;               /* the I/O thread is (about to be) in poll():
                                  * only then is a wake-up worth a syscall */

    pthread_mutex_t lock;        /* protects everything below */
    pthread_cond_t cond;         /* signalled on connection changes */
    bool stopping;
    bool connected;
    bool broken;                 /* os_amqp_break() asked for a failure */
    uint64_t gen;                /* generation of the current connection */
    struct amqp_out *out_head, *out_tail;
    size_t out_len;
    struct amqp_ack *acks;
    char *listen_topic;
    char *listen_host;
    struct os_amqp_stats stats;

    /* I/O thread only */
    amqp_connection_state_t conn;
    struct os_amqp_unacked unacked; /* request deliveries of this connection */
    size_t server_idx;
    bool listening;              /* server queues consumed on this connection */
    int64_t last_send_ms;
    char **declared;             /* notification queues declared on this connection */
    size_t ndeclared;
    char **refused;              /* notification queues the broker would not declare */
    size_t nrefused;
};

void os_delivery_free(struct os_delivery *d)
{
    if (!d)
        return;
    free(d->body);
    free(d);
}

/* ---- URL ---------------------------------------------------------------- */

static int amqp_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode s[0..n) into a new string; NULL when an escape is bad. */
static char *amqp_unescape(const char *s, size_t n)
{
    char *out = xmalloc(n + 1);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int hi = i + 2 < n ? amqp_hexval(s[i + 1]) : -1;
            int lo = i + 2 < n ? amqp_hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                free(out);
                return NULL;
            }
            out[j++] = (char)(hi * 16 + lo);
            i += 2;
            continue;
        }
        out[j++] = s[i];
    }
    out[j] = '\0';
    return out;
}

void os_amqp_url_release(struct os_amqp_url *u)
{
    if (!u)
        return;
    for (size_t i = 0; i < u->nservers; i++) {
        free(u->servers[i].host);
        free(u->servers[i].user);
        free(u->servers[i].password);
    }
    free(u->servers);
    free(u->vhost);
    memset(u, 0, sizeof(*u));
}

static int amqp_parse_server(const char *s, size_t n, struct os_amqp_server *out,
                             struct err **err)
{
    const char *at = memrchr(s, '@', n);
    const char *hp = s;
    size_t hn = n;
    memset(out, 0, sizeof(*out));
    if (at) {
        const char *colon = memchr(s, ':', (size_t)(at - s));
        size_t un = colon ? (size_t)(colon - s) : (size_t)(at - s);
        out->user = amqp_unescape(s, un);
        out->password = colon ? amqp_unescape(colon + 1, (size_t)(at - colon - 1))
                              : xstrdup("");
        if (!out->user || !out->password)
            return err_set(err, ERR_INVALID, "transport_url: bad %%-escape in credentials");
        hp = at + 1;
        hn = n - (size_t)(hp - s);
    } else {
        out->user = xstrdup("guest");
        out->password = xstrdup("guest");
    }
    const char *port = NULL;
    if (hn > 0 && hp[0] == '[') {
        const char *close = memchr(hp, ']', hn);
        if (!close)
            return err_set(err, ERR_INVALID, "transport_url: unclosed `[` in host");
        out->host = xstrndup(hp + 1, (size_t)(close - hp - 1));
        if (close + 1 < hp + hn) {
            if (close[1] != ':')
                return err_set(err, ERR_INVALID, "transport_url: junk after `]`");
            port = close + 2;
        }
    } else {
        const char *colon = memchr(hp, ':', hn);
        out->host = xstrndup(hp, colon ? (size_t)(colon - hp) : hn);
        if (colon)
            port = colon + 1;
    }
    if (!out->host[0])
        return err_set(err, ERR_INVALID, "transport_url: empty host");
    out->port = 5672;
    if (port) {
        long p = 0;
        const char *end = hp + hn;
        if (port == end)
            return err_set(err, ERR_INVALID, "transport_url: empty port");
        for (const char *c = port; c < end; c++) {
            if (!isdigit((unsigned char)*c) || p > 65535)
                return err_set(err, ERR_INVALID, "transport_url: bad port");
            p = p * 10 + (*c - '0');
        }
        if (p < 1 || p > 65535)
            return err_set(err, ERR_INVALID, "transport_url: port %ld out of range", p);
        out->port = (int)p;
    }
    return 0;
}

int os_amqp_url_parse(const char *url, struct os_amqp_url *out, struct err **err)
{
    memset(out, 0, sizeof(*out));
    if (!url || !*url)
        return err_set(err, ERR_INVALID, "transport_url is empty");
    const char *rest;
    if (strncmp(url, "rabbit://", 9) == 0)
        rest = url + 9;
    else if (strncmp(url, "amqp://", 7) == 0)
        rest = url + 7;
    else
        return err_set(err, ERR_INVALID, "transport_url: only rabbit:// and amqp:// are supported");
    size_t len = strcspn(rest, "?");
    const char *slash = memchr(rest, '/', len);
    size_t hosts_len = slash ? (size_t)(slash - rest) : len;
    if (slash) {
        size_t vn = len - (size_t)(slash + 1 - rest);
        out->vhost = vn ? amqp_unescape(slash + 1, vn) : xstrdup("/");
        if (!out->vhost) {
            os_amqp_url_release(out);
            return err_set(err, ERR_INVALID, "transport_url: bad %%-escape in vhost");
        }
    } else {
        out->vhost = xstrdup("/");
    }
    const char *p = rest;
    const char *end = rest + hosts_len;
    while (p <= end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *e = comma ? comma : end;
        out->servers = xreallocarray(out->servers, out->nservers + 1, sizeof(*out->servers));
        if (amqp_parse_server(p, (size_t)(e - p), &out->servers[out->nservers], err) < 0) {
            out->nservers++;
            os_amqp_url_release(out);
            return -1;
        }
        out->nservers++;
        if (!comma)
            break;
        p = comma + 1;
    }
    return 0;
}

/* ---- errors ------------------------------------------------------------- */

/* Convert a rabbitmq-c RPC reply to *err; returns -1 on failure, 0 on a
 * normal reply (examples/utils.c's die_on_amqp_error, as an err). */
static int amqp_reply_check(amqp_rpc_reply_t r, const char *what, struct err **err)
{
    switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
        return 0;
    case AMQP_RESPONSE_NONE:
        return err_set(err, ERR_UNAVAILABLE, "%s: missing RPC reply", what);
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
        return err_set(err, ERR_UNAVAILABLE, "%s: %s", what,
                       amqp_error_string2(r.library_error));
    case AMQP_RESPONSE_SERVER_EXCEPTION:
        if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
            amqp_connection_close_t *m = r.reply.decoded;
            return err_set(err, ERR_UNAVAILABLE, "%s: broker closed the connection: %u %.*s",
                           what, m->reply_code, (int)m->reply_text.len,
                           (char *)m->reply_text.bytes);
        }
        if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
            amqp_channel_close_t *m = r.reply.decoded;
            return err_set(err, ERR_UNAVAILABLE, "%s: broker closed the channel: %u %.*s", what,
                           m->reply_code, (int)m->reply_text.len, (char *)m->reply_text.bytes);
        }
        return err_set(err, ERR_UNAVAILABLE, "%s: unexpected broker method 0x%08x", what,
                       r.reply.id);
    }
    return err_set(err, ERR_INTERNAL, "%s: unknown rabbitmq-c reply type", what);
}

/* ---- setup -------------------------------------------------------------- */

struct os_amqp *os_amqp_new(const struct os_amqp_opts *o, const struct os_amqp_handler *h,
                            struct err **err)
{
    struct os_amqp *a = xzalloc(sizeof(*a));
    if (os_amqp_url_parse(o->transport_url, &a->url, err) < 0) {
        free(a);
        return NULL;
    }
    a->exchange = xstrdup(o->exchange && *o->exchange ? o->exchange : "nova");
    a->durable = o->durable;
    a->auto_delete = o->auto_delete;
    a->heartbeat_s = o->heartbeat_s;
    a->prefetch_count = o->prefetch_count > 0 ? o->prefetch_count : 0;
    a->retry_interval_ms = o->retry_interval_ms > 0 ? o->retry_interval_ms : 1000;
    a->retry_backoff_ms = o->retry_backoff_ms >= 0 ? o->retry_backoff_ms : 2000;
    a->interval_max_ms = o->interval_max_ms > 0 ? o->interval_max_ms : 30000;
    a->name = xstrdup(o->name ? o->name : "sculpt");
    char hex[OS_HEX_ID_LEN];
    os_hex_id(hex);
    snprintf(a->reply_queue, sizeof(a->reply_queue), "reply_%s", hex);
    a->h = *h;
    a->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (a->wake_fd < 0) {
        err_set_errno(err, errno, "eventfd");
        os_amqp_url_release(&a->url);
        free(a->exchange);
        free(a->name);
        free(a);
        return NULL;
    }
    pthread_mutex_init(&a->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->cond, &ca);
    pthread_condattr_destroy(&ca);
    return a;
}

static void amqp_wake(struct os_amqp *a)
{
    if (!__atomic_load_n(&a->sleeping, __ATOMIC_SEQ_CST))
        return;
    uint64_t one = 1;
    ssize_t n = write(a->wake_fd, &one, sizeof(one));
    (void)n; /* EAGAIN means a wake-up is already pending */
}

static void amqp_out_free(struct amqp_out *o)
{
    if (!o)
        return;
    free(o->exchange);
    free(o->routing_key);
    free(o->body);
    free(o);
}

void os_amqp_free(struct os_amqp *a)
{
    if (!a)
        return;
    os_amqp_stop(a);
    while (a->out_head) {
        struct amqp_out *o = a->out_head;
        a->out_head = o->next;
        amqp_out_free(o);
    }
    while (a->acks) {
        struct amqp_ack *k = a->acks;
        a->acks = k->next;
        free(k);
    }
    os_amqp_unacked_release(&a->unacked);
    for (size_t i = 0; i < a->nrefused; i++)
        free(a->refused[i]);
    free(a->refused);
    os_amqp_url_release(&a->url);
    free(a->exchange);
    free(a->name);
    free(a->listen_topic);
    free(a->listen_host);
    close(a->wake_fd);
    pthread_mutex_destroy(&a->lock);
    pthread_cond_destroy(&a->cond);
    free(a);
}

const char *os_amqp_reply_queue(const struct os_amqp *a)
{
    return a->reply_queue;
}

void os_amqp_listen(struct os_amqp *a, const char *topic, const char *host)
{
    pthread_mutex_lock(&a->lock);
    free(a->listen_topic);
    free(a->listen_host);
    a->listen_topic = xstrdup(topic);
    a->listen_host = xstrdup(host);
    pthread_mutex_unlock(&a->lock);
    amqp_wake(a);
}

/* Queue o unless stopping or `limit` messages already wait.  Steals o. */
static int amqp_enqueue(struct os_amqp *a, struct amqp_out *o, size_t limit, struct err **err)
{
    pthread_mutex_lock(&a->lock);
    if (a->stopping || a->out_len >= limit) {
        bool stopping = a->stopping;
        pthread_mutex_unlock(&a->lock);
        amqp_out_free(o);
        return err_set(err, ERR_UNAVAILABLE, stopping ? "messaging is stopping"
                                                      : "RabbitMQ unreachable and %zu messages "
                                                        "already wait for it",
                       limit);
    }
    if (a->out_tail)
        a->out_tail->next = o;
    else
        a->out_head = o;
    a->out_tail = o;
    a->out_len++;
    pthread_mutex_unlock(&a->lock);
    amqp_wake(a);
    return 0;
}

static struct amqp_out *amqp_out_new(const char *exchange, const char *routing_key, char *body,
                                     size_t len)
{
    struct amqp_out *o = xzalloc(sizeof(*o));
    o->exchange = xstrdup(exchange);
    o->routing_key = xstrdup(routing_key);
    o->body = body;
    o->len = len;
    return o;
}

int os_amqp_publish(struct os_amqp *a, const char *exchange, const char *routing_key,
                    char *body, size_t len, int64_t expiration_ms, bool mandatory,
                    struct err **err)
{
    struct amqp_out *o = amqp_out_new(exchange, routing_key, body, len);
    o->expires_ms = expiration_ms > 0 ? clock_mono_ms() + expiration_ms : 0;
    o->mandatory = mandatory;
    return amqp_enqueue(a, o, AMQP_OUTBOX_MAX, err);
}

int os_amqp_notify(struct os_amqp *a, const char *exchange, const char *routing_key, char *body,
                   size_t len, size_t backlog_max, struct err **err)
{
    struct amqp_out *o = amqp_out_new(exchange, routing_key, body, len);
    o->declare_queue = true;
    return amqp_enqueue(a, o, backlog_max < AMQP_OUTBOX_MAX ? backlog_max : AMQP_OUTBOX_MAX,
                        err);
}

void os_amqp_ack(struct os_amqp *a, uint64_t conn_gen, uint64_t tag)
{
    struct amqp_ack *k = xzalloc(sizeof(*k));
    k->gen = conn_gen;
    k->tag = tag;
    pthread_mutex_lock(&a->lock);
    k->next = a->acks;
    a->acks = k;
    pthread_mutex_unlock(&a->lock);
    amqp_wake(a);
}

bool os_amqp_connected(struct os_amqp *a)
{
    pthread_mutex_lock(&a->lock);
    bool up = a->connected;
    pthread_mutex_unlock(&a->lock);
    return up;
}

bool os_amqp_wait_connected(struct os_amqp *a, int64_t timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t deadline_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + timeout_ms * 1000000;
    pthread_mutex_lock(&a->lock);
    while (!a->connected && !a->stopping) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&a->cond, &a->lock);
            continue;
        }
        struct timespec dl = {deadline_ns / 1000000000, deadline_ns % 1000000000};
        if (pthread_cond_timedwait(&a->cond, &a->lock, &dl) == ETIMEDOUT)
            break;
    }
    bool up = a->connected;
    pthread_mutex_unlock(&a->lock);
    return up;
}

void os_amqp_get_stats(struct os_amqp *a, struct os_amqp_stats *out)
{
    out->published = __atomic_load_n(&a->stats.published, __ATOMIC_RELAXED);
    out->delivered = __atomic_load_n(&a->stats.delivered, __ATOMIC_RELAXED);
    out->reconnects = __atomic_load_n(&a->stats.reconnects, __ATOMIC_RELAXED);
    out->dropped = __atomic_load_n(&a->stats.dropped, __ATOMIC_RELAXED);
}

#define AMQP_COUNT(a, field) __atomic_fetch_add(&(a)->stats.field, 1, __ATOMIC_RELAXED)

void os_amqp_break(struct os_amqp *a)
{
    pthread_mutex_lock(&a->lock);
    a->broken = true;
    pthread_mutex_unlock(&a->lock);
    amqp_wake(a);
}

/* ---- the I/O thread: connection ----------------------------------------- */

static void amqp_set_connected(struct os_amqp *a, bool up)
{
    uint64_t gen;
    pthread_mutex_lock(&a->lock);
    if (up)
        a->gen++;
    a->connected = up;
    gen = a->gen;
    pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->lock);
    if (a->h.state)
        a->h.state(a->h.opaque, up, gen);
}

static void amqp_declared_reset(struct os_amqp *a)
{
    for (size_t i = 0; i < a->ndeclared; i++)
        free(a->declared[i]);
    free(a->declared);
    a->declared = NULL;
    a->ndeclared = 0;
}

static void amqp_teardown(struct os_amqp *a, bool graceful)
{
    if (!a->conn)
        return;
    if (graceful) {
        amqp_channel_close(a->conn, AMQP_CHANNEL, AMQP_REPLY_SUCCESS);
        amqp_connection_close(a->conn, AMQP_REPLY_SUCCESS);
    }
    amqp_destroy_connection(a->conn);
    a->conn = NULL;
    a->listening = false;
    amqp_declared_reset(a);
    os_amqp_unacked_reset(&a->unacked); /* the broker requeues them */
}

static int amqp_declare_queue(struct os_amqp *a, const char *queue, bool durable,
                              bool auto_delete, bool transient, struct err **err)
{
    amqp_table_entry_t entry;
    amqp_table_t args = {0, NULL};
    if (transient) {
        entry.key = amqp_cstring_bytes("x-expires");
        entry.value.kind = AMQP_FIELD_KIND_I32;
        entry.value.value.i32 = AMQP_TRANSIENT_TTL_MS;
        args.num_entries = 1;
        args.entries = &entry;
    }
    amqp_queue_declare(a->conn, AMQP_CHANNEL, amqp_cstring_bytes(queue), 0, durable, 0,
                       auto_delete, args);
    return amqp_reply_check(amqp_get_rpc_reply(a->conn), queue, err);
}

static int amqp_consume(struct os_amqp *a, const char *queue, enum amqp_consumer c,
                        bool no_ack, struct err **err)
{
    amqp_basic_consume(a->conn, AMQP_CHANNEL, amqp_cstring_bytes(queue),
                       amqp_cstring_bytes(amqp_consumer_tag[c]), 0, no_ack, 0, amqp_empty_table);
    return amqp_reply_check(amqp_get_rpc_reply(a->conn), "basic.consume", err);
}

static int amqp_bind(struct os_amqp *a, const char *queue, const char *exchange,
                     const char *key, struct err **err)
{
    amqp_queue_bind(a->conn, AMQP_CHANNEL, amqp_cstring_bytes(queue),
                    amqp_cstring_bytes(exchange), amqp_cstring_bytes(key), amqp_empty_table);
    return amqp_reply_check(amqp_get_rpc_reply(a->conn), "queue.bind", err);
}

/* Declare and consume the RPC server queues (oslo's RabbitDriver.listen). */
static int amqp_declare_server(struct os_amqp *a, const char *topic, const char *host,
                               struct err **err)
{
    autofree char *host_q = xasprintf("%s.%s", topic, host);
    autofree char *fanout_x = xasprintf("%s_fanout", topic);
    char hex[OS_HEX_ID_LEN];
    os_hex_id(hex);
    autofree char *fanout_q = xasprintf("%s_fanout_%s", topic, hex);

    if (amqp_declare_queue(a, topic, a->durable, a->auto_delete, false, err) < 0 ||
        amqp_bind(a, topic, a->exchange, topic, err) < 0 ||
        amqp_declare_queue(a, host_q, a->durable, a->auto_delete, false, err) < 0 ||
        amqp_bind(a, host_q, a->exchange, host_q, err) < 0)
        return -1;
    amqp_exchange_declare(a->conn, AMQP_CHANNEL, amqp_cstring_bytes(fanout_x),
                          amqp_cstring_bytes("fanout"), 0, 0, 1, 0, amqp_empty_table);
    if (amqp_reply_check(amqp_get_rpc_reply(a->conn), fanout_x, err) < 0)
        return -1;
    if (amqp_declare_queue(a, fanout_q, false, false, true, err) < 0 ||
        amqp_bind(a, fanout_q, fanout_x, topic, err) < 0)
        return -1;
    if (amqp_consume(a, topic, CONSUMER_TOPIC, false, err) < 0 ||
        amqp_consume(a, host_q, CONSUMER_HOST, false, err) < 0 ||
        amqp_consume(a, fanout_q, CONSUMER_FANOUT, false, err) < 0)
        return -1;
    a->listening = true;
    log_info("consuming RPC queues `%s`, `%s` and `%s`", topic, host_q, fanout_q);
    return 0;
}

static int amqp_connect_one(struct os_amqp *a, const struct os_amqp_server *s, struct err **err)
{
    struct timeval tv = {AMQP_SOCKET_TIMEOUT_S, 0};
    a->conn = amqp_new_connection();
    if (!a->conn)
        return err_set(err, ERR_INTERNAL, "amqp_new_connection failed");
    amqp_socket_t *sock = amqp_tcp_socket_new(a->conn);
    if (!sock)
        return err_set(err, ERR_INTERNAL, "amqp_tcp_socket_new failed");
    amqp_set_handshake_timeout(a->conn, &tv);
    amqp_set_rpc_timeout(a->conn, &tv);
    int rc = amqp_socket_open_noblock(sock, s->host, s->port, &tv);
    if (rc != AMQP_STATUS_OK)
        return err_set(err, ERR_UNAVAILABLE, "connect to %s:%d: %s", s->host, s->port,
                       amqp_error_string2(rc));

    /* Client properties as py-amqp sends them: the capabilities ask the
     * broker to tell us when a consumer is cancelled (queue deleted) and
     * why authentication failed. */
    char pid[96];
    snprintf(pid, sizeof(pid), "%s:%d:%s", a->name, (int)getpid(), a->reply_queue + 6);
    amqp_table_entry_t caps[2] = {
        {.key = amqp_cstring_bytes("consumer_cancel_notify"),
         .value = {.kind = AMQP_FIELD_KIND_BOOLEAN, .value.boolean = 1}},
        {.key = amqp_cstring_bytes("authentication_failure_close"),
         .value = {.kind = AMQP_FIELD_KIND_BOOLEAN, .value.boolean = 1}},
    };
    amqp_table_entry_t props[3] = {
        {.key = amqp_cstring_bytes("product"),
         .value = {.kind = AMQP_FIELD_KIND_UTF8, .value.bytes = amqp_cstring_bytes("sculpt")}},
        {.key = amqp_cstring_bytes("connection_name"),
         .value = {.kind = AMQP_FIELD_KIND_UTF8, .value.bytes = amqp_cstring_bytes(pid)}},
        {.key = amqp_cstring_bytes("capabilities"),
         .value = {.kind = AMQP_FIELD_KIND_TABLE, .value.table = {2, caps}}},
    };
    amqp_table_t ptable = {3, props};
    amqp_rpc_reply_t r =
        amqp_login_with_properties(a->conn, a->url.vhost, 0, AMQP_FRAME_MAX, a->heartbeat_s,
                                   &ptable, AMQP_SASL_METHOD_PLAIN, s->user, s->password);
    if (amqp_reply_check(r, "login", err) < 0)
        return err_wrap(err, "RabbitMQ %s:%d as `%s`", s->host, s->port, s->user);
    amqp_channel_open(a->conn, AMQP_CHANNEL);
    if (amqp_reply_check(amqp_get_rpc_reply(a->conn), "channel.open", err) < 0)
        return -1;
    /* Before any consumer: RabbitMQ applies a per-consumer (global=false,
     * as oslo sends it) prefetch to the consumers created after it.  The
     * reply consumer is no-ack, so only the server queues are limited. */
    if (a->prefetch_count > 0) {
        amqp_basic_qos(a->conn, AMQP_CHANNEL, 0, (uint16_t)a->prefetch_count, 0);
        if (amqp_reply_check(amqp_get_rpc_reply(a->conn), "basic.qos", err) < 0)
            return -1;
    }

    amqp_exchange_declare(a->conn, AMQP_CHANNEL, amqp_cstring_bytes(a->exchange),
                          amqp_cstring_bytes("topic"), 0, a->durable, a->auto_delete, 0,
                          amqp_empty_table);
    if (amqp_reply_check(amqp_get_rpc_reply(a->conn), a->exchange, err) < 0)
        return err_wrap(err, "declare exchange (check amqp_durable_queues/amqp_auto_delete)");
    if (amqp_declare_queue(a, a->reply_queue, false, false, true, err) < 0 ||
        amqp_consume(a, a->reply_queue, CONSUMER_REPLY, true, err) < 0)
        return -1;
    return 0;
}

/* Try each server once, starting from the one that worked last. */
static int amqp_connect(struct os_amqp *a, struct err **err)
{
    for (size_t i = 0; i < a->url.nservers; i++) {
        size_t idx = (a->server_idx + i) % a->url.nservers;
        err_clear(err);
        if (amqp_connect_one(a, &a->url.servers[idx], err) == 0) {
            a->server_idx = idx;
            a->last_send_ms = clock_mono_ms();
            log_info("connected to RabbitMQ %s:%d (vhost `%s`, reply queue `%s`)",
                     a->url.servers[idx].host, a->url.servers[idx].port, a->url.vhost,
                     a->reply_queue);
            return 0;
        }
        amqp_teardown(a, false);
    }
    return -1;
}

/* ---- the I/O thread: traffic -------------------------------------------- */

void os_amqp_oslo_props(amqp_basic_properties_t *p, const char *expiration)
{
    memset(p, 0, sizeof(*p));
    p->_flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_CONTENT_ENCODING_FLAG |
                AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_PRIORITY_FLAG |
                AMQP_BASIC_HEADERS_FLAG;
    p->content_type = amqp_cstring_bytes("application/json");
    p->content_encoding = amqp_cstring_bytes("utf-8");
    p->delivery_mode = AMQP_DELIVERY_PERSISTENT;
    p->priority = 0;
    p->headers = amqp_empty_table;
    if (expiration) {
        p->_flags |= AMQP_BASIC_EXPIRATION_FLAG;
        p->expiration = amqp_cstring_bytes(expiration);
    }
}

static bool amqp_listed(char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0)
            return true;
    return false;
}

/* oslo's _publish_and_creates_default_queue: a notification's queue,
 * named as its routing key and bound to it, declared once per connection
 * so that notifications sent before any consumer came are kept.  A queue
 * the broker refuses to declare (a consumer made it with other
 * arguments, or the user may not declare) is not declared again while the
 * process lives: the refusal closed the channel, so the message stays
 * queued (-1), and after the reconnect it is published to the queue as it
 * is -- one reconnection, not one per notification. */
static int amqp_declare_notify_queue(struct os_amqp *a, const struct amqp_out *o)
{
    if (amqp_listed(a->declared, a->ndeclared, o->routing_key) ||
        amqp_listed(a->refused, a->nrefused, o->routing_key))
        return 0;
    autoerr struct err *e = NULL;
    if (amqp_declare_queue(a, o->routing_key, a->durable, a->auto_delete, false, &e) < 0 ||
        amqp_bind(a, o->routing_key, o->exchange, o->routing_key, &e) < 0) {
        log_err(LOG_LEVEL_WARN, e, "notification queue `%s` not declared: published to as it is "
                                   "from now on", o->routing_key);
        a->refused = xreallocarray(a->refused, a->nrefused + 1, sizeof(char *));
        a->refused[a->nrefused++] = xstrdup(o->routing_key);
        return -1;
    }
    a->declared = xreallocarray(a->declared, a->ndeclared + 1, sizeof(char *));
    a->declared[a->ndeclared++] = xstrdup(o->routing_key);
    return 0;
}

static int amqp_send_out(struct os_amqp *a, struct amqp_out *o)
{
    amqp_basic_properties_t props;
    if (o->declare_queue) {
        int rc = amqp_declare_notify_queue(a, o);
        if (rc < 0)
            return rc;
    }
    char exp[24];
    if (o->expires_ms) {
        int64_t left = o->expires_ms - clock_mono_ms();
        snprintf(exp, sizeof(exp), "%lld", (long long)(left > 1 ? left : 1));
    }
    os_amqp_oslo_props(&props, o->expires_ms ? exp : NULL);
    amqp_bytes_t body = {o->len, o->body};
    int rc = amqp_basic_publish(a->conn, AMQP_CHANNEL, amqp_cstring_bytes(o->exchange),
                                amqp_cstring_bytes(o->routing_key), o->mandatory, 0, &props,
                                body);
    if (rc != AMQP_STATUS_OK) {
        log_warn("publish to `%s`/`%s` failed: %s", o->exchange, o->routing_key,
                 amqp_error_string2(rc));
        return -1;
    }
    a->last_send_ms = clock_mono_ms();
    return 0;
}

static int amqp_send_ack(void *opaque, uint64_t tag, bool multiple)
{
    struct os_amqp *a = opaque;
    if (amqp_basic_ack(a->conn, AMQP_CHANNEL, tag, multiple) != AMQP_STATUS_OK)
        return -1;
    a->last_send_ms = clock_mono_ms();
    return 0;
}

/* Hold back or release TCP segments: what one flush sends leaves in as
 * few segments (and wake-ups of the broker) as possible. */
static void amqp_cork(struct os_amqp *a, int on)
{
    int fd = amqp_get_sockfd(a->conn);
    if (fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof(on));
}

/* Publish queued messages and send queued acks (batched: amqp_priv.h;
 * `idle`: nothing is held back).  Returns -1 when the connection failed
 * (unsent messages stay queued, in order). */
static int amqp_flush(struct os_amqp *a, bool idle)
{
    pthread_mutex_lock(&a->lock);
    struct amqp_ack *acks = a->acks;
    a->acks = NULL;
    struct amqp_out *out = a->out_head;
    size_t nout = a->out_len;
    a->out_head = a->out_tail = NULL;
    a->out_len = 0;
    pthread_mutex_unlock(&a->lock);

    int64_t now = clock_mono_ms();
    bool corked = nout + (acks != NULL) > 1;
    if (corked)
        amqp_cork(a, 1);
    int rc = 0;
    while (rc == 0 && out) {
        struct amqp_out *o = out;
        if (o->expires_ms && now >= o->expires_ms) {
            log_debug("dropping expired message to `%s`", o->routing_key);
            AMQP_COUNT(a, dropped);
        } else if (amqp_send_out(a, o) < 0) {
            rc = -1;
            break;
        } else {
            AMQP_COUNT(a, published);
        }
        out = o->next;
        nout--;
        amqp_out_free(o);
    }
    /* Acks after the publishes: a request's reply leaves before its ack
     * (queued before it, so it is in this flush when the ack is). */
    while (acks) {
        struct amqp_ack *k = acks;
        acks = k->next;
        /* a->gen changes only on this thread: no lock to read it */
        if (rc == 0 && k->gen == a->gen && !os_amqp_unacked_done(&a->unacked, k->tag, now))
            rc = amqp_send_ack(a, k->tag, false);
        free(k);
    }
    if (rc == 0)
        rc = os_amqp_unacked_emit(&a->unacked, now, AMQP_ACK_HOLD_MS, idle, amqp_send_ack, a);
    if (corked && rc == 0)
        amqp_cork(a, 0);
    if (out) {
        /* Back in front, in order: they go out after the reconnect. */
        struct amqp_out *tail = out;
        while (tail->next)
            tail = tail->next;
        pthread_mutex_lock(&a->lock);
        tail->next = a->out_head;
        if (!a->out_head)
            a->out_tail = tail;
        a->out_head = out;
        a->out_len += nout;
        pthread_mutex_unlock(&a->lock);
    }
    return rc;
}

static enum amqp_consumer amqp_consumer_of(amqp_bytes_t tag)
{
    for (size_t i = 0; i < ARRAY_SIZE(amqp_consumer_tag); i++)
        if (tag.len == strlen(amqp_consumer_tag[i]) &&
            memcmp(tag.bytes, amqp_consumer_tag[i], tag.len) == 0)
            return (enum amqp_consumer)i;
    return CONSUMER_TOPIC;
}

static int amqp_read_body(struct os_amqp *a, amqp_channel_t ch, amqp_message_t *msg)
{
    amqp_rpc_reply_t r = amqp_read_message(a->conn, ch, msg, 0);
    struct err *e = NULL;
    if (amqp_reply_check(r, "read message", &e) < 0) {
        log_err(LOG_LEVEL_WARN, e, "message lost in transit");
        err_free(e);
        return -1;
    }
    return 0;
}

/* Handle one frame if one is ready.  Returns 0, or -1 when the connection
 * must be rebuilt. */
static int amqp_handle_frame(struct os_amqp *a)
{
    amqp_frame_t frame;
    struct timeval zero = {0, 0};
    int rc = amqp_simple_wait_frame_noblock(a->conn, &frame, &zero);
    if (rc == AMQP_STATUS_TIMEOUT)
        return 0;
    if (rc != AMQP_STATUS_OK) {
        log_warn("RabbitMQ connection lost: %s", amqp_error_string2(rc));
        return -1;
    }
    if (frame.frame_type != AMQP_FRAME_METHOD)
        return 0; /* a stray content frame: nothing we can attach it to */

    switch (frame.payload.method.id) {
    case AMQP_BASIC_DELIVER_METHOD: {
        amqp_basic_deliver_t *d = frame.payload.method.decoded;
        enum amqp_consumer c = amqp_consumer_of(d->consumer_tag);
        uint64_t tag = d->delivery_tag;
        bool redelivered = d->redelivered;
        amqp_message_t msg;
        if (amqp_read_body(a, frame.channel, &msg) < 0)
            return -1;
        struct os_delivery *dl = xzalloc(sizeof(*dl));
        dl->kind = c == CONSUMER_REPLY ? OS_DELIVERY_REPLY : OS_DELIVERY_REQUEST;
        dl->conn_gen = a->gen; /* changes only on this thread */
        AMQP_COUNT(a, delivered);
        if (dl->kind == OS_DELIVERY_REQUEST)
            os_amqp_unacked_push(&a->unacked, tag);
        dl->tag = tag;
        dl->redelivered = redelivered;
        dl->len = msg.body.len;
        dl->body = xmalloc(msg.body.len + 1);
        memcpy(dl->body, msg.body.bytes, msg.body.len);
        dl->body[msg.body.len] = '\0';
        amqp_destroy_message(&msg);
        a->h.deliver(a->h.opaque, dl);
        return 0;
    }
    case AMQP_BASIC_RETURN_METHOD: {
        amqp_basic_return_t *r = frame.payload.method.decoded;
        log_warn("broker returned a message for `%.*s`: %u %.*s (the caller is gone)",
                 (int)r->routing_key.len, (char *)r->routing_key.bytes, r->reply_code,
                 (int)r->reply_text.len, (char *)r->reply_text.bytes);
        amqp_message_t msg;
        if (amqp_read_body(a, frame.channel, &msg) < 0)
            return -1;
        amqp_destroy_message(&msg);
        AMQP_COUNT(a, dropped);
        return 0;
    }
    case AMQP_CHANNEL_CLOSE_METHOD: {
        amqp_channel_close_t *m = frame.payload.method.decoded;
        log_error("broker closed the channel: %u %.*s", m->reply_code, (int)m->reply_text.len,
                  (char *)m->reply_text.bytes);
        amqp_channel_close_ok_t ok = {0};
        amqp_send_method(a->conn, frame.channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
        return -1;
    }
    case AMQP_CONNECTION_CLOSE_METHOD: {
        amqp_connection_close_t *m = frame.payload.method.decoded;
        log_warn("broker closed the connection: %u %.*s", m->reply_code,
                 (int)m->reply_text.len, (char *)m->reply_text.bytes);
        amqp_connection_close_ok_t ok = {0};
        amqp_send_method(a->conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
        return -1;
    }
    case AMQP_BASIC_CANCEL_METHOD:
        log_warn("broker cancelled a consumer (queue deleted?): declaring again");
        return -1;
    default:
        return 0;
    }
}

/* Wait for traffic, a wake-up or the next heartbeat; returns -1 on a
 * broken connection. */
static int amqp_wait(struct os_amqp *a)
{
    if (amqp_frames_enqueued(a->conn) || amqp_data_in_buffer(a->conn))
        return amqp_handle_frame(a);
    int64_t timeout = 1000;
    if (a->heartbeat_s > 0) {
        /* Send a heartbeat after half the interval of silence, as oslo does
         * (heartbeat_rate = 2). */
        int64_t half = (int64_t)a->heartbeat_s * 500;
        int64_t due = a->last_send_ms + half - clock_mono_ms();
        if (due <= 0) {
            amqp_frame_t hb = {.frame_type = AMQP_FRAME_HEARTBEAT, .channel = 0};
            if (amqp_send_frame(a->conn, &hb) != AMQP_STATUS_OK)
                return -1;
            a->last_send_ms = clock_mono_ms();
            due = half;
        }
        if (due < timeout)
            timeout = due;
    }
    struct pollfd p[2] = {
        {.fd = amqp_get_sockfd(a->conn), .events = POLLIN},
        {.fd = a->wake_fd, .events = POLLIN},
    };
    /* Announce the sleep, then look for work queued before it: whoever
     * queues after the look sees the flag and wakes us. */
    __atomic_store_n(&a->sleeping, true, __ATOMIC_SEQ_CST);
    pthread_mutex_lock(&a->lock);
    bool work = a->out_head || a->acks || a->stopping || a->broken ||
                (a->listen_topic && !a->listening);
    pthread_mutex_unlock(&a->lock);
    if (!work && a->unacked.ndone > 0) {
        /* Going idle: nothing done waits for its ack any longer. */
        __atomic_store_n(&a->sleeping, false, __ATOMIC_SEQ_CST);
        return os_amqp_unacked_emit(&a->unacked, clock_mono_ms(), AMQP_ACK_HOLD_MS, true,
                                    amqp_send_ack, a);
    }
    int n = work ? 0 : poll(p, 2, (int)timeout);
    __atomic_store_n(&a->sleeping, false, __ATOMIC_SEQ_CST);
    if (work)
        return 0;
    if (n < 0 && errno != EINTR)
        return -1;
    if (p[1].revents & POLLIN) {
        uint64_t v;
        ssize_t r = read(a->wake_fd, &v, sizeof(v));
        (void)r;
    }
    /* Also on timeout: rabbitmq-c checks the peer's heartbeat deadline. */
    if ((p[0].revents & (POLLIN | POLLHUP | POLLERR)) || n == 0)
        return amqp_handle_frame(a);
    return 0;
}

static bool amqp_sleep_or_stop(struct os_amqp *a, int64_t ms)
{
    int64_t end = clock_mono_ms() + ms;
    for (;;) {
        __atomic_store_n(&a->sleeping, true, __ATOMIC_SEQ_CST);
        pthread_mutex_lock(&a->lock);
        bool stop = a->stopping;
        pthread_mutex_unlock(&a->lock);
        int64_t left = end - clock_mono_ms();
        if (stop || left <= 0) {
            __atomic_store_n(&a->sleeping, false, __ATOMIC_SEQ_CST);
            return stop;
        }
        struct pollfd p = {.fd = a->wake_fd, .events = POLLIN};
        int n = poll(&p, 1, (int)left);
        __atomic_store_n(&a->sleeping, false, __ATOMIC_SEQ_CST);
        if (n > 0) {
            uint64_t v;
            ssize_t r = read(a->wake_fd, &v, sizeof(v));
            (void)r;
        }
    }
}

static void *amqp_thread(void *arg)
{
    struct os_amqp *a = arg;
    int64_t delay = 0;
    bool ever = false;
    log_ctx_clear();
    for (;;) {
        pthread_mutex_lock(&a->lock);
        bool stop = a->stopping;
        pthread_mutex_unlock(&a->lock);
        if (stop)
            break;

        if (!a->conn) {
            autoerr struct err *e = NULL;
            if (amqp_connect(a, &e) < 0) {
                delay = delay ? delay + a->retry_backoff_ms : a->retry_interval_ms;
                if (delay > a->interval_max_ms)
                    delay = a->interval_max_ms;
                log_err(LOG_LEVEL_WARN, e, "RabbitMQ unreachable, retrying in %lld ms",
                        (long long)delay);
                if (amqp_sleep_or_stop(a, delay))
                    break;
                continue;
            }
            delay = 0;
            if (ever)
                AMQP_COUNT(a, reconnects);
            ever = true;
            amqp_set_connected(a, true);
        }

        pthread_mutex_lock(&a->lock);
        autofree char *topic = !a->listening && a->listen_topic ? xstrdup(a->listen_topic) : NULL;
        autofree char *host = topic ? xstrdup(a->listen_host) : NULL;
        bool broken = a->broken;
        a->broken = false;
        pthread_mutex_unlock(&a->lock);

        int rc = broken ? -1 : 0;
        if (rc == 0 && topic) {
            autoerr struct err *e = NULL;
            rc = amqp_declare_server(a, topic, host, &e);
            if (rc < 0)
                log_err(LOG_LEVEL_ERROR, e, "cannot declare the RPC server queues");
        }
        if (rc == 0)
            rc = amqp_flush(a, false);
        if (rc == 0)
            rc = amqp_wait(a);
        if (rc == 0)
            amqp_maybe_release_buffers(a->conn);
        if (rc < 0) {
            amqp_teardown(a, false);
            amqp_set_connected(a, false);
            if (amqp_sleep_or_stop(a, a->retry_interval_ms))
                break;
        }
    }
    if (a->conn) {
        /* Give queued replies a last chance (bounded: stop must not hang). */
        int64_t end = clock_mono_ms() + 1000;
        while (amqp_flush(a, true) == 0 && a->out_head && clock_mono_ms() < end)
            ;
        amqp_teardown(a, true);
        amqp_set_connected(a, false);
    }
    return NULL;
}

int os_amqp_start(struct os_amqp *a, struct err **err)
{
    if (a->started)
        return 0;
    int rc = pthread_create(&a->thread, NULL, amqp_thread, a);
    if (rc != 0)
        return err_set_errno(err, rc, "start the AMQP thread");
    a->started = true;
    return 0;
}

void os_amqp_stop(struct os_amqp *a)
{
    if (!a || !a->started)
        return;
    pthread_mutex_lock(&a->lock);
    a->stopping = true;
    pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->lock);
    amqp_wake(a);
    pthread_join(a->thread, NULL);
    a->started = false;
}

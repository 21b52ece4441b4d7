/* rpc-echo: an oslo.messaging RPC server on sculpt's own messaging stack
 * (openstack/messaging.c: the AMQP transport, acks, [oslo_messaging_rabbit]
 * options; openstack/rpc_server.c: dispatch, workers, replies), serving a
 * test endpoint instead of the compute API, for the integration tests of
 * the transport against a real RabbitMQ and a real oslo client.
 *
 *   rpc-echo [-o section.name=value]... TOPIC HOST
 *
 * Serves TOPIC on HOST (queues TOPIC, TOPIC.HOST, TOPIC_fanout), version
 * 1.0 of the main endpoint:
 *   echo(value)   returns value
 *   sleep(ms)     returns ms after sleeping that long (holds its worker
 *                 and leaves its delivery unacked meanwhile)
 * Prints "READY" once connected and serving, runs until SIGTERM/SIGINT,
 * then prints "STATS handled=N failed=N reconnects=N".
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "openstack/amqp.h"
#include "openstack/messaging.h"
#include "openstack/oslo.h"

static int echo_echo(struct os_rpc_req *req, json_t **result, struct err **err)
{
    json_t *v = json_object_get(req->msg->args, "value");
    if (!v)
        return err_set(err, ERR_INVALID, "echo needs `value`");
    *result = json_incref(v);
    return 0;
}

static int echo_sleep(struct os_rpc_req *req, json_t **result, struct err **err)
{
    json_t *ms = json_object_get(req->msg->args, "ms");
    if (!json_is_integer(ms) || json_integer_value(ms) < 0 || json_integer_value(ms) > 600000)
        return err_set(err, ERR_INVALID, "sleep needs `ms` in 0..600000");
    clock_sleep_ms(json_integer_value(ms));
    *result = json_incref(ms);
    return 0;
}

static const struct os_rpc_method echo_table[] = {
    {NULL, "echo", 1, 0, echo_echo, OS_RPC_READ},
    {NULL, "sleep", 1, 0, echo_sleep, 0},
};

static volatile sig_atomic_t echo_stop;

static void echo_on_signal(int sig)
{
    (void)sig;
    echo_stop = 1;
}

int main(int argc, char **argv)
{
    /* Blocked in every thread (they inherit it); only the main thread
     * takes them, in sigsuspend. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    autoerr struct err *err = NULL;
    autocfg cfg = cfg_new_defaults();
    int i = 1;
    for (; i + 1 < argc && strcmp(argv[i], "-o") == 0; i += 2) {
        autofree char *o = xstrdup(argv[i + 1]);
        char *dot = strchr(o, '.');
        char *eq = dot ? strchr(dot, '=') : NULL;
        if (!eq) {
            fprintf(stderr, "rpc-echo: -o wants section.name=value, not `%s`\n", argv[i + 1]);
            return 2;
        }
        *dot = *eq = '\0';
        if (cfg_set(cfg, o, dot + 1, eq + 1, &err) < 0) {
            fprintf(stderr, "rpc-echo: %s\n", err->msg);
            return 2;
        }
    }
    if (argc - i != 2) {
        fprintf(stderr, "usage: rpc-echo [-o section.name=value]... TOPIC HOST\n");
        return 2;
    }
    autoptr(os_messaging) m = os_messaging_new(cfg, "rpc-echo", &err);
    if (!m || os_messaging_start(m, &err) < 0) {
        fprintf(stderr, "rpc-echo: %s\n", err->msg);
        return 1;
    }
    struct os_rpc_server_opts so = {.table = echo_table,
                                    .ntable = sizeof(echo_table) / sizeof(echo_table[0]),
                                    .workers = (int)cfg->executor_thread_pool_size};
    if (!os_amqp_wait_connected(m->amqp, 30000)) {
        fprintf(stderr, "rpc-echo: no connection to RabbitMQ within 30 s\n");
        return 1;
    }
    if (os_messaging_serve(m, &so, argv[i], argv[i + 1], &err) < 0) {
        fprintf(stderr, "rpc-echo: %s\n", err->msg);
        return 1;
    }
    struct sigaction sa = {.sa_handler = echo_on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    printf("READY\n");
    fflush(stdout);
    while (!echo_stop)
        sigsuspend(&old); /* no signal lost between the test and the wait */
    struct os_rpc_server_stats ss;
    struct os_amqp_stats as;
    os_rpc_server_get_stats(m->server, &ss);
    os_amqp_get_stats(m->amqp, &as);
    printf("STATS handled=%llu failed=%llu reconnects=%llu\n", ss.handled, ss.failed,
           (unsigned long long)as.reconnects);
    return 0;
}

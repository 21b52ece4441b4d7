/* sculpt-compute: the compute service Nova talks to in place of
 * nova-compute.
 *
 * The composition root: it reads sculpt.conf, opens every component
 * (hypervisor backend, host topology, Keystone, Placement, Glance and the
 * image cache, RabbitMQ, the REST API), hands them to the compute manager,
 * and tears them down in reverse order.  Signals are taken by one thread
 * (sigwait): SIGTERM/SIGINT stop cleanly, SIGHUP reloads the configuration.
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api/server.h"
#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "db/db.h"
#include "driver/control.h"
#include "driver/host.h"
#include "driver/hypervisor.h"
#include "driver/predict.h"
#include "driver/sculpt.h"
#include "openstack/compute.h"
#include "openstack/glance.h"
#include "openstack/http.h"
#include "openstack/image_cache.h"
#include "openstack/keystone.h"
#include "openstack/messaging.h"
#include "openstack/placement.h"

LOG_INIT("openstack.main");

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sculpt-compute [--config FILE] [--check-config] [--sample-config]\n"
            "\n"
            "  --config FILE     sculpt.conf to read (default /etc/sculpt/sculpt.conf)\n"
            "  --check-config    load and validate the config, print it, and exit\n"
            "  --sample-config   print a sample sculpt.conf documenting every option\n");
}

/* What the signal thread and main share. */
struct daemon_state {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop;
    const char *config_path;
    struct os_compute *compute;   /* set once created, for cancel */
};

static struct daemon_state state = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .cond = PTHREAD_COND_INITIALIZER,
};

/* A configuration published at run time (PUT /v1/config/..., SIGHUP):
 * the compute manager hands it to the components that copied settings. */
static void daemon_config_changed(void *ctx, const struct cfg *cfg)
{
    (void)ctx;
    pthread_mutex_lock(&state.lock);
    if (state.compute)
        os_compute_config_changed(state.compute, cfg);
    pthread_mutex_unlock(&state.lock);
}

/* SIGHUP: load the file again and publish it.  Log settings apply at
 * once; the API reads the published config per request; components that
 * copied settings at start keep them until a restart (said in the log). */
static void daemon_reload(void)
{
    autoerr struct err *e = NULL;
    autocfg cfg = cfg_load(state.config_path, &e);
    if (!cfg) {
        log_err(LOG_LEVEL_ERROR, e, "reload refused, keeping the running configuration");
        return;
    }
    enum log_level level = LOG_LEVEL_INFO;
    log_level_parse(cfg->log_level, &level);
    log_min_level = level;
    cfg_publish(cfg);
    daemon_config_changed(NULL, cfg);
    log_info("configuration reloaded from %s (log level %s; connection settings apply at the "
             "next restart)",
             state.config_path, log_level_name(level));
}

static void *daemon_signals(void *arg)
{
    sigset_t *set = arg;
    for (;;) {
        int sig = 0;
        if (sigwait(set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            daemon_reload();
            continue;
        }
        log_info("signal %d: stopping", sig);
        pthread_mutex_lock(&state.lock);
        state.stop = true;
        struct os_compute *c = state.compute;
        pthread_cond_broadcast(&state.cond);
        pthread_mutex_unlock(&state.lock);
        if (c)
            os_compute_cancel(c);
        if (sig == SIGUSR2) /* our own wake-up at exit */
            return NULL;
    }
}

static char *daemon_images_dir(const struct cfg *cfg)
{
    if (cfg->libvirt_images_path[0])
        return xstrdup(cfg->libvirt_images_path);
    return xasprintf("%s/_base", cfg->state_path);
}

/* Runs the daemon on `cfg` (a reference the function takes over). */
static int daemon_run(struct cfg *cfg)
{
    autoerr struct err *err = NULL;
    int rc = 1;
    struct drv_hv *hv = NULL;
    struct drv_host *host = NULL;
    struct drv_fleet *fleet = NULL;
    struct drv_sculpt *engine = NULL;
    struct db *db = NULL;
    struct os_keystone *ks = NULL;
    struct os_keystone *placement_ks = NULL;
    struct os_placement *placement = NULL;
    struct os_glance *glance = NULL;
    struct os_image_cache *images = NULL;
    struct os_messaging *msg = NULL;
    struct os_compute *compute = NULL;
    struct api_server *api = NULL;

    if (mkdir(cfg->state_path, 0755) < 0 && errno != EEXIST) {
        err_set_errno(&err, errno, "create state_path `%s`", cfg->state_path);
        goto out;
    }
    if (os_http_global_init(&err) < 0)
        goto out;

    /* The database first: settings changed at run time through the API
     * (PUT /v1/config/...) are kept there and apply over the file's. */
    if (cfg->db_connection[0]) {
        struct db_options dbo;
        db_options_from_cfg(cfg, &dbo);
        db = db_open(&dbo, &err);
        if (!db)
            goto out;
        struct cfg *eff = cfg_dup(cfg);
        int n = db_settings_apply(db, eff, &err);
        if (n < 0) {
            cfg_unref(eff);
            goto out;
        }
        if (n > 0) {
            log_info("%d setting(s) changed at run time apply over %s", n, cfg->source);
            cfg_publish(eff);
            cfg_unref(cfg);
            cfg = eff;
        } else {
            cfg_unref(eff);
        }
    } else {
        log_warn("[database] connection not set: no history, no journal, no event log");
    }

    hv = drv_hv_open(NULL, cfg, &err);
    if (!hv)
        goto out;
    host = drv_control_host(hv, cfg, &err);
    if (!host)
        goto out;
    char desc[256];
    log_info("host: %s", drv_host_describe(host, desc, sizeof(desc)));
    struct drv_predict_config pc;
    drv_predict_config_from_cfg(cfg, &pc);
    fleet = drv_fleet_new(&pc);
    struct drv_sculpt_params params;
    drv_sculpt_params_from_cfg(cfg, &params);
    engine = drv_sculpt_new(host, &params, &err);
    if (!engine)
        goto out;

    if (cfg->ks_auth_url[0]) {
        struct os_keystone_creds creds;
        if (os_keystone_creds_from_cfg(cfg, "keystone_authtoken", &creds, &err) < 0)
            goto out;
        ks = os_keystone_new(&creds, &err);
        if (!ks)
            goto out;
        /* Placement authenticates with its own section when given, else
         * as [keystone_authtoken]'s user. */
        struct os_keystone *pks = ks;
        if (cfg->placement_auth_url[0]) {
            struct os_keystone_creds pcreds;
            if (os_keystone_creds_from_cfg(cfg, "placement", &pcreds, &err) < 0)
                goto out;
            placement_ks = os_keystone_new(&pcreds, &err);
            if (!placement_ks)
                goto out;
            pks = placement_ks;
        }
        placement = os_placement_new(pks, cfg->placement_endpoint_override,
                                     cfg->placement_valid_interfaces);
    } else {
        log_warn("[keystone_authtoken] auth_url not set: Placement is not reported and images "
                 "are fetched with the requester's token only");
    }
    glance = os_glance_new(cfg, ks);
    autofree char *images_dir = daemon_images_dir(cfg);
    images = os_image_cache_new(images_dir, glance, (int)cfg->glance_num_retries, &err);
    if (!images)
        goto out;

    msg = os_messaging_new(cfg, "sculpt-compute", &err);
    if (!msg || os_messaging_start(msg, &err) < 0)
        goto out;

    struct api_deps adeps = {.engine = engine, .db = db, .keystone = ks,
                             .config_changed = daemon_config_changed};
    api = api_server_start(&adeps, cfg, &err);
    if (!api)
        goto out;
    log_info("REST API on %s port %u", cfg->api_listen, (unsigned)api_server_port(api));

    struct os_compute_deps deps = {
        .cfg = cfg,
        .msg = msg,
        .hv = hv,
        .host = host,
        .engine = engine,
        .fleet = fleet,
        .db = db,
        .placement = placement,
        .images = images,
    };
    compute = os_compute_new(&deps, &err);
    if (!compute)
        goto out;
    pthread_mutex_lock(&state.lock);
    state.compute = compute;
    bool stop = state.stop;
    pthread_mutex_unlock(&state.lock);
    if (stop || os_compute_start(compute, &err) < 0)
        goto out;

    log_info("sculpt-compute running as host `%s`", os_compute_host(compute));
    pthread_mutex_lock(&state.lock);
    while (!state.stop)
        pthread_cond_wait(&state.cond, &state.lock);
    pthread_mutex_unlock(&state.lock);
    rc = 0;

out:
    if (err && !(state.stop && err_code_of(err) == ERR_TIMEOUT)) {
        log_err(LOG_LEVEL_ERROR, err, "sculpt-compute cannot run");
        rc = 1;
    } else if (state.stop) {
        rc = 0;
    }
    pthread_mutex_lock(&state.lock);
    state.compute = NULL;
    pthread_mutex_unlock(&state.lock);
    os_compute_stop(compute);
    api_server_stop(api);
    os_messaging_stop(msg);
    os_compute_free(compute);
    os_messaging_free(msg);
    db_close(db);
    os_image_cache_free(images);
    os_glance_free(glance);
    os_placement_free(placement);
    os_keystone_free(placement_ks);
    os_keystone_free(ks);
    drv_sculpt_free(engine);
    drv_fleet_free(fleet);
    drv_host_free(host);
    drv_hv_close(hv);
    os_http_global_cleanup();
    cfg_unref(cfg);
    log_info("sculpt-compute stopped");
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", no_argument, NULL, 'k'},
        {"sample-config", no_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = "/etc/sculpt/sculpt.conf";
    bool check = false;
    autoerr struct err *err = NULL;
    int c;

    while ((c = getopt_long(argc, argv, "c:ksh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case 'k':
            check = true;
            break;
        case 's':
            cfg_write_sample(stdout);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }

    autocfg cfg = cfg_load(path, &err);
    if (!cfg) {
        fprintf(stderr, "sculpt-compute: %s\n", err->msg);
        return 1;
    }
    enum log_level level = LOG_LEVEL_INFO;
    log_level_parse(cfg->log_level, &level);
    if (log_setup(level, cfg->log_file, cfg->log_json, &err) < 0) {
        fprintf(stderr, "sculpt-compute: %s\n", err->msg);
        return 1;
    }
    cfg_publish(cfg);
    cfg_log(cfg);
    if (check)
        return 0;

    /* Every thread started from here on inherits the blocked set; only
     * the signal thread takes them. */
    static sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    state.config_path = path;
    pthread_t sig_thread;
    if (pthread_create(&sig_thread, NULL, daemon_signals, &set) != 0) {
        fprintf(stderr, "sculpt-compute: cannot start the signal thread\n");
        return 1;
    }

    /* RPC workers decode messages of kilobytes each: with one malloc arena
     * per thread (glibc's default, up to 8 per core) each arena keeps its
     * own high-water mark of freed JSON.  Two arenas hold the same load in
     * a fraction of the memory, at no measurable cost in throughput. */
    mallopt(M_ARENA_MAX, 2);

    int rc = daemon_run(cfg_ref(cfg));
    pthread_kill(sig_thread, SIGUSR2);
    pthread_join(sig_thread, NULL);
    log_shutdown();
    return rc;
}

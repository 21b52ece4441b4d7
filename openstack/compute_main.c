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
#include <time.h>

#include "api/server.h"
#include "common/clock.h"
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

/* The components settings changed at run time reach, while they live:
 * set by daemon_run as it creates them, cleared before it frees them. */
struct daemon_live {
    pthread_mutex_t lock; /* also serialises applying (API threads, SIGHUP) */
    struct db *db;
    struct drv_sculpt *engine;
    struct drv_fleet *fleet;
    struct os_compute *compute;
};

static struct daemon_live live = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* How often the main thread looks whether the fleet counted a new guest. */
#define DAEMON_FLEET_POLL_S 2

/* Hand a newly published config to the components that copied settings
 * at start: the engine ([engine], [cost]), the fleet ([predict]) and the
 * control loop with its predictors ([predict], [sculpt], [cost], [engine]
 * step_interval).  Connection settings apply at the next restart. */
static void daemon_apply(const struct cfg *cfg)
{
    autoerr struct err *e = NULL;
    pthread_mutex_lock(&live.lock);
    if (live.engine) {
        struct drv_sculpt_params sp;
        drv_sculpt_params_from_cfg(cfg, &sp);
        if (drv_sculpt_set_params(live.engine, &sp, &e) < 0)
            log_err(LOG_LEVEL_ERROR, e, "the engine keeps its settings");
        err_clear(&e);
    }
    if (live.fleet) {
        struct drv_predict_config pc;
        drv_predict_config_from_cfg(cfg, &pc);
        drv_fleet_set_config(live.fleet, &pc);
    }
    if (live.compute && os_compute_set_config(live.compute, cfg, &e) < 0)
        log_err(LOG_LEVEL_ERROR, e, "the control loop keeps its settings");
    pthread_mutex_unlock(&live.lock);
}

/* api_deps.config_changed: a PUT /v1/config/... was persisted and published. */
static void daemon_config_changed(void *ctx, const struct cfg *cfg)
{
    (void)ctx;
    daemon_apply(cfg);
    log_info("settings changed through the API apply to the engine, the predictor and the "
             "control loop");
}

/* api_deps.inventory_reported: what Placement last got, once the compute
 * service runs. */
static bool daemon_inventory_reported(void *ctx, struct drv_sculpt_inventory *out, int64_t *at_ms)
{
    (void)ctx;
    pthread_mutex_lock(&live.lock);
    bool written = live.compute && os_compute_inventory_reported(live.compute, out, at_ms);
    pthread_mutex_unlock(&live.lock);
    return written;
}

/* SIGHUP: load the file again, with the settings changed at run time over
 * it (they are kept in the database and win, as at start), publish it
 * and hand it to the running components.  Log settings apply at once;
 * connection settings at the next restart. */
static void daemon_reload(void)
{
    autoerr struct err *e = NULL;
    autocfg cfg = cfg_load(state.config_path, &e);
    if (!cfg) {
        log_err(LOG_LEVEL_ERROR, e, "reload refused, keeping the running configuration");
        return;
    }
    pthread_mutex_lock(&live.lock);
    int n = live.db ? db_settings_apply(live.db, cfg, &e) : 0;
    pthread_mutex_unlock(&live.lock);
    if (n < 0) {
        log_err(LOG_LEVEL_ERROR, e, "reload refused: the settings changed at run time cannot be "
                                    "read, keeping the running configuration");
        return;
    }
    enum log_level level = LOG_LEVEL_INFO;
    log_level_parse(cfg->log_level, &level);
    log_min_level = level;
    cfg_publish(cfg);
    daemon_apply(cfg);
    log_info("configuration reloaded from %s with %d setting(s) changed at run time (log level "
             "%s; connection settings apply at the next restart)",
             state.config_path, n, log_level_name(level));
}

static void daemon_live_set(struct db *db, struct drv_sculpt *engine, struct drv_fleet *fleet,
                            struct os_compute *compute)
{
    pthread_mutex_lock(&live.lock);
    live.db = db;
    live.engine = engine;
    live.fleet = fleet;
    live.compute = compute;
    pthread_mutex_unlock(&live.lock);
}

/* Save what the fleet learnt since the last save (queued: the database
 * writer takes it). */
static void daemon_fleet_save(struct db *db, struct drv_fleet *fleet,
                              struct db_fleet_marks *marks)
{
    autoerr struct err *e = NULL;
    size_t n = 0;
    if (db_fleet_save(db, fleet, marks, &n, &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "fleet history not saved, tried again later");
    else if (n)
        log_debug("fleet history: %zu group(s) saved", n);
}

/* The same for the guests' predictor states that changed since their
 * last save, saved with the fleet: a guest's own calibration is mixed
 * with the fleet's. */
static void daemon_predictors_save(struct os_compute *compute)
{
    autoerr struct err *e = NULL;
    size_t n = 0, bytes = 0;
    int64_t t0 = clock_mono_ms();
    if (os_compute_predictors_save(compute, &n, &bytes, &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "predictor states not saved, tried again later");
    else if (n)
        log_debug("predictor states: %zu guest(s) saved, %zu bytes, %lld ms", n, bytes,
                  (long long)(clock_mono_ms() - t0));
}

/* And what the pool manager learnt besides requests and templates (boot
 * times, idle calibration), when it changed. */
static void daemon_pools_save(struct os_compute *compute)
{
    autoerr struct err *e = NULL;
    size_t n = 0;
    if (os_compute_pools_save(compute, &n, &e) < 0)
        log_err(LOG_LEVEL_WARN, e, "pool boot times and idle calibration not saved, tried "
                "again later");
    else if (n)
        log_debug("pre-sculpting: %zu boot time(s) or calibration saved", n);
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
    struct db_fleet_marks *fleet_marks = NULL;
    autofree char *images_dir = NULL; /* before any goto: out frees it */

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
    if (db) {
        /* what earlier runs learnt; without it the predictor starts cold */
        fleet_marks = db_fleet_marks_new();
        autoerr struct err *e = NULL;
        if (db_fleet_load(db, fleet, (size_t)cfg->predict_fleet_max_groups, fleet_marks, &e) < 0)
            log_err(LOG_LEVEL_WARN, e, "fleet history not loaded: the predictor starts cold");
    }
    struct drv_sculpt_params params;
    drv_sculpt_params_from_cfg(cfg, &params);
    engine = drv_sculpt_new(host, &params, &err);
    if (!engine)
        goto out;
    daemon_live_set(db, engine, fleet, NULL);

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
    images_dir = daemon_images_dir(cfg);
    images = os_image_cache_new(images_dir, glance, (int)cfg->glance_num_retries, &err);
    if (!images)
        goto out;

    msg = os_messaging_new(cfg, "sculpt-compute", &err);
    if (!msg || os_messaging_start(msg, &err) < 0)
        goto out;

    struct api_deps adeps = {
        .engine = engine,
        .fleet = fleet,
        .db = db,
        .keystone = ks,
        .config_changed = daemon_config_changed,
        .inventory_reported = daemon_inventory_reported,
    };
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
        .glance = glance,
    };
    compute = os_compute_new(&deps, &err);
    if (!compute)
        goto out;
    daemon_live_set(db, engine, fleet, compute);
    {
        /* a change made through the API while the compute was created */
        autocfg cur = cfg_acquire();
        if (cur && cur != cfg)
            daemon_apply(cur);
    }
    pthread_mutex_lock(&state.lock);
    state.compute = compute;
    bool stop = state.stop;
    pthread_mutex_unlock(&state.lock);
    if (stop || os_compute_start(compute, &err) < 0)
        goto out;

    log_info("sculpt-compute running as host `%s`", os_compute_host(compute));
    /* The fleet and the guests' predictor states are saved every
     * fleet_save_interval, the fleet also within seconds of a new guest
     * being counted in it: a guest is counted once, when
     * admitted (adopted ones are not counted again), so a crash before
     * the next periodic save would forget it for good. */
    uint64_t saved_gen = fleet ? drv_fleet_guests_generation(fleet) : 0;
    int64_t saved_ms = clock_mono_ms();
    /* predictor states on the period alone (only those that changed
     * since their last save): a new guest has taught its predictor
     * nothing yet */
    int64_t states_saved_ms = saved_ms;
    pthread_mutex_lock(&state.lock);
    while (!state.stop) {
        if (!db) {
            pthread_cond_wait(&state.cond, &state.lock);
            continue;
        }
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += DAEMON_FLEET_POLL_S;
        if (pthread_cond_timedwait(&state.cond, &state.lock, &dl) != ETIMEDOUT)
            continue;
        autocfg cur = cfg_acquire();
        int64_t period_ms = 1000 * (cur ? cur->predict_fleet_save_interval_s : 10);
        uint64_t gen = drv_fleet_guests_generation(fleet);
        bool states_due = clock_mono_ms() - states_saved_ms >= period_ms;
        if (gen == saved_gen && clock_mono_ms() - saved_ms < period_ms && !states_due)
            continue;
        pthread_mutex_unlock(&state.lock);
        daemon_fleet_save(db, fleet, fleet_marks);
        if (states_due) {
            daemon_predictors_save(compute);
            daemon_pools_save(compute);
            os_compute_pools_trim(compute);
            states_saved_ms = clock_mono_ms();
        }
        saved_gen = gen;
        saved_ms = clock_mono_ms();
        pthread_mutex_lock(&state.lock);
    }
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
    daemon_live_set(NULL, NULL, NULL, NULL);
    os_compute_stop(compute);
    /* the control loop has stopped: what each guest learnt is final */
    if (db && compute) {
        daemon_predictors_save(compute);
        daemon_pools_save(compute);
    }
    api_server_stop(api);
    os_messaging_stop(msg);
    os_compute_free(compute);
    os_messaging_free(msg);
    /* the control loop has stopped: the fleet learns nothing more */
    if (db && fleet && fleet_marks)
        daemon_fleet_save(db, fleet, fleet_marks);
    db_fleet_marks_free(fleet_marks);
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
    /* Without fastbins: a request frees hundreds of small JSON nodes and
     * allocates a few buffers of kilobytes, each of which made malloc
     * consolidate the fastbins (7% of the CPU per call); the per-thread
     * caches still serve the small sizes. */
    mallopt(M_MXFAST, 0);

    int rc = daemon_run(cfg_ref(cfg));
    pthread_kill(sig_thread, SIGUSR2);
    pthread_join(sig_thread, NULL);
    log_shutdown();
    return rc;
}

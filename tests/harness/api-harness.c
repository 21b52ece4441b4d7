/* api-harness: the REST API in front of real components, for the API's
 * integration tests, the dashboard test and the API benchmark.
 *
 * It wires what sculpt-compute wires minus Nova: the fake hypervisor
 * backend ([fake] topology), the host read from the backend's
 * capabilities, the real sculpting engine, the predictor's fleet, and --
 * when [database] connection is set -- the real PostgreSQL layer.  It
 * boots guests through the engine's admission and placement, then runs the
 * control cycle (demand -> sample -> observe -> predict -> step -> reshape
 * -> record) over the last --minutes of wall time, so every route has
 * history to answer with; --live keeps stepping every --live-ms.
 *
 *   api-harness --config FILE [--guests N] [--minutes M] [--live]
 *               [--live-ms MS] [--port-file PATH]
 *
 * The chosen API port is written to --port-file once the server listens.
 * SIGTERM or SIGINT stops it cleanly.
 */
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/server.h"
#include "common/alloc.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "common/uuid.h"
#include "db/db.h"
#include "driver/cost.h"
#include "driver/fake/fake.h"
#include "driver/host.h"
#include "driver/hypervisor.h"
#include "driver/predict.h"
#include "driver/sculpt.h"

LOG_INIT("tests.api_harness");

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

struct guest {
    struct drv_instance *inst;
    struct drv_predictor *pred;
    struct drv_hv_sample prev;
    bool have_prev;
    double phase;                   /* of its demand's daily-like cycle */
    double level;                   /* mean demand as a share of the flavor */
};

struct harness {
    struct cfg *cfg;
    struct drv_hv *hv;
    struct drv_host *host;
    struct drv_sculpt *engine;
    struct drv_fleet *fleet;
    struct db *db;
    struct drv_cost_model cm;
    struct drv_predict_config pc;
    struct guest *guests;
    size_t nguests;
    uint64_t rng;
    int64_t steps;
};

static double rnd(struct harness *h)
{
    h->rng = h->rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(h->rng >> 11) / 9007199254740992.0;
}

static void die(const char *what, const struct err *err)
{
    fprintf(stderr, "api-harness: %s: %s\n", what, err ? err->msg : "failed");
    exit(1);
}

/* `err` must be in scope; the call runs before its error is read. */
#define CHECK(expr, what)                                                    \
    do {                                                                     \
        if ((expr) < 0)                                                      \
            die((what), err);                                                \
    } while (0)

/* Record a blueprint revision for a guest (the daemon does the same). */
static void record_blueprint(struct harness *h, const char *uuid, const struct drv_blueprint *bp,
                             const char *reason)
{
    if (!h->db)
        return;
    struct db_blueprint_rev rev = {.reason = (char *)reason, .bp = (struct drv_blueprint *)bp};
    snprintf(rev.instance_uuid, sizeof(rev.instance_uuid), "%s", uuid);
    for (int k = 0; k < DRV_RES_LAST; k++)
        rev.band[k] = drv_cost_critical_quantile(&h->cm, (enum drv_res_kind)k);
    autoerr struct err *err = NULL;
    CHECK(db_blueprint_add(h->db, &rev, &err), "db_blueprint_add");
}

static const struct {
    const char *name;
    int vcpus;
    int mem_mb;
} flavors[] = {{"m1.small", 1, 2048}, {"m1.medium", 2, 4096}, {"m1.large", 4, 8192}};

static void boot_guest(struct harness *h, size_t i, int64_t t_s)
{
    struct guest *g = &h->guests[i];
    autoerr struct err *err = NULL;
    struct drv_instance *inst = xzalloc(sizeof(*inst));
    CHECK(uuid_generate(inst->uuid, &err), "uuid");
    const size_t f = i % ARRAY_SIZE(flavors);
    inst->name = xasprintf("web-%zu", i + 1);
    inst->project_id = xstrdup("demo");
    inst->user_id = xstrdup("operator");
    inst->image_ref = xstrdup("cirros");
    inst->flavor.name = xstrdup(flavors[f].name);
    inst->flavor.vcpus = flavors[f].vcpus;
    inst->flavor.memory_mb = flavors[f].mem_mb;
    inst->flavor.root_gb = 1;
    inst->vm_state = xstrdup("active");
    inst->power_state = DRV_POWER_RUNNING;
    inst->created_ms = t_s * 1000;
    inst->metadata = xcalloc(1, sizeof(struct drv_kv));
    inst->metadata[0].key = xstrdup("tier");
    inst->metadata[0].value = xstrdup(i % 2 ? "batch" : "web");
    inst->nmetadata = 1;
    g->inst = inst;
    g->phase = rnd(h) * 6.28;
    g->level = 0.25 + 0.35 * rnd(h);

    struct drv_predict_request req;
    drv_predict_request_from_instance(inst, &req);
    req.boot_s = t_s;
    g->pred = drv_predictor_new(h->fleet, &req, &h->pc, &err);
    CHECK(g->pred ? 0 : -1, "drv_predictor_new");
    autoptr(drv_blueprint) bp = drv_predictor_blueprint(
        g->pred, t_s, (int32_t)h->cfg->blueprint_horizon_s, (int32_t)h->cfg->blueprint_step_s,
        &h->cm, &err);
    CHECK(bp ? 0 : -1, "drv_predictor_blueprint");
    struct drv_sculpt_guest_spec spec;
    CHECK(drv_sculpt_spec_from_instance(inst, h->host, 0, &spec, &err), "spec");
    struct drv_sculpt_refusal why;
    CHECK(drv_sculpt_place(h->engine, &spec, bp, t_s, &inst->shape, &why, &err), "drv_sculpt_place");

    struct drv_hv_guest_spec hs = {.shape = inst->shape};
    snprintf(hs.uuid, sizeof(hs.uuid), "%s", inst->uuid);
    hs.name = xasprintf("sculpt-%s", inst->uuid);
    hs.display_name = xstrdup(inst->name);
    hs.flavor_name = xstrdup(inst->flavor.name);
    hs.image.kernel = xstrdup("/var/lib/sculpt/_base/harness-vmlinuz"); /* the fake boots nothing */
    CHECK(drv_hv_spawn(h->hv, &hs, &err), "drv_hv_spawn");
    inst->domain = xstrdup(hs.name);
    drv_hv_guest_spec_release(&hs);
    if (h->db) {
        CHECK(db_instance_put(h->db, inst, &err), "db_instance_put");
        record_blueprint(h, inst->uuid, bp, "spawn");
    }
}

/* What the guest would use now: its level with a slow cycle and noise, as
 * a share of its flavor (memory moves less than CPU). */
static struct drv_res demand_of(struct harness *h, const struct guest *g, int64_t t_s)
{
    struct drv_res d = drv_res_zero();
    double cyc = sin(2 * M_PI * (double)t_s / 1800.0 + g->phase);
    double cpu = g->level * (1 + 0.6 * cyc) + 0.08 * rnd(h);
    double mem = (0.45 + 0.15 * g->level) * (1 + 0.1 * cyc);
    d.v[DRV_RES_VCPU] = fmax(0.02, cpu) * g->inst->flavor.vcpus;
    d.v[DRV_RES_MEM_MIB] = fmin(1.0, mem) * (double)g->inst->flavor.memory_mb;
    d.v[DRV_RES_NET_IN_MBPS] = 20 + 30 * fmax(0, cyc);
    d.v[DRV_RES_NET_OUT_MBPS] = 10 + 15 * fmax(0, cyc);
    return d;
}

static struct guest *guest_find(struct harness *h, const char *uuid)
{
    for (size_t i = 0; i < h->nguests; i++)
        if (strcmp(h->guests[i].inst->uuid, uuid) == 0)
            return &h->guests[i];
    return NULL;
}

/* One control step at time t_s, `dt_s` after the previous one. */
static void control_step(struct harness *h, int64_t t_s, int64_t dt_s)
{
    autoerr struct err *err = NULL;
    for (size_t i = 0; i < h->nguests; i++) {
        struct drv_res d = demand_of(h, &h->guests[i], t_s);
        CHECK(drv_fake_set_demand(h->hv, h->guests[i].inst->uuid, &d, &err), "demand");
    }
    CHECK(drv_fake_advance(h->hv, dt_s * 1000, &err), "advance");
    struct drv_hv_sample *samples = NULL;
    size_t n = 0;
    CHECK(drv_hv_sample(h->hv, &samples, &n, &err), "sample");
    struct db_usage_sample *rows = xcalloc(n + 1, sizeof(*rows));
    size_t nrows = 0;
    for (size_t i = 0; i < n; i++) {
        struct guest *g = guest_find(h, samples[i].uuid);
        if (!g)
            continue;
        if (g->have_prev)
            drv_hv_sample_derive(&g->prev, &samples[i]);
        g->prev = samples[i];
        if (!g->have_prev) {
            g->have_prev = true;
            continue;
        }
        /* the fake clock is its own; the samples belong to wall time t_s */
        struct drv_res use = samples[i].use;
        CHECK(drv_sculpt_observe(h->engine, g->inst->uuid, use, t_s, &err), "observe");
        drv_predictor_observe(g->pred, t_s, &use);
        struct db_usage_sample *r = &rows[nrows++];
        snprintf(r->instance_uuid, sizeof(r->instance_uuid), "%s", g->inst->uuid);
        r->t_ms = (t_s - dt_s) * 1000;
        r->step_s = (int32_t)dt_s;
        r->use = use;
    }
    free(samples);
    if (h->db && nrows)
        CHECK(db_usage_add(h->db, rows, nrows, &err), "db_usage_add");
    free(rows);

    /* a new blueprint every five steps, as the blueprint advances */
    if (h->steps % 5 == 0) {
        for (size_t i = 0; i < h->nguests; i++) {
            struct guest *g = &h->guests[i];
            autoptr(drv_blueprint) bp = drv_predictor_blueprint(
                g->pred, t_s, (int32_t)h->cfg->blueprint_horizon_s,
                (int32_t)h->cfg->blueprint_step_s, &h->cm, &err);
            CHECK(bp ? 0 : -1, "blueprint");
            CHECK(drv_sculpt_set_blueprint(h->engine, g->inst->uuid, bp, &err), "set_blueprint");
            record_blueprint(h, g->inst->uuid, bp, "revised from observed use");
        }
    }

    struct drv_sculpt_change *changes = NULL;
    size_t nchanges = 0;
    CHECK(drv_sculpt_step(h->engine, t_s, &changes, &nchanges, &err), "step");
    for (size_t i = 0; i < nchanges; i++) {
        struct drv_sculpt_change *c = &changes[i];
        struct drv_hv_reshape_report rep = {0};
        autoerr struct err *rerr = NULL;
        bool ok = drv_hv_reshape(h->hv, c->uuid, &c->to, &rep, &rerr) == 0;
        if (!ok)
            drv_sculpt_revert(h->engine, c->uuid, &c->from, NULL);
        if (h->db) {
            struct db_reshape r = {.at_ms = t_s * 1000, .from = c->from, .to = c->to,
                                   .reason = c->why, .duration_ms = (double)rep.total_ns / 1e6,
                                   .ok = ok, .error = ok ? NULL : rerr->msg};
            snprintf(r.instance_uuid, sizeof(r.instance_uuid), "%s", c->uuid);
            CHECK(db_reshape_add(h->db, &r, &err), "db_reshape_add");
        }
    }
    free(changes);

    if (h->db) {
        autoptr(drv_sculpt_snapshot) s = drv_sculpt_snapshot(h->engine);
        char topo[256];
        struct db_host_snapshot hs = {
            .at_ms = t_s * 1000, .host = h->cfg->host, .cpus = h->host->ncpus,
            .numa_nodes = h->host->nnodes, .capacity = s->capacity, .allocated = s->allocated,
            .used = s->used, .fragmentation = 1 - s->contiguity,
            .topology = drv_host_describe(h->host, topo, sizeof(topo)),
        };
        CHECK(db_host_snapshot_add(h->db, &hs, &err), "db_host_snapshot_add");
    }
    h->steps++;
}

/* A pre-sculpted pool as the pool manager records one, through the same
 * database calls: the m1.small class of the demo project, two members
 * prepared an hour ago, one handed over to a request ten minutes later,
 * one request that came when the pool was empty. */
static void seed_pool(struct harness *h, int64_t t0_s)
{
    if (!h->db)
        return;
    autoerr struct err *err = NULL;
    struct drv_shape shape = {.vcpus_online = 1, .vcpus_max = 1, .mem_max_mib = 2048,
                              .numa_node = -1};
    shape.res.v[DRV_RES_VCPU] = 0.5;
    shape.res.v[DRV_RES_MEM_MIB] = 1024;
    struct db_pool p = {.key = (char *)"m1.small:cirros:demo", .flavor_name = (char *)"m1.small",
                        .image_ref = (char *)"cirros", .project_id = (char *)"demo",
                        .target_size = 2, .confidence = 0.8, .shape = shape};
    CHECK(db_pool_put(h->db, &p, &err), "db_pool_put");
    for (int i = 0; i < 2; i++) {
        struct db_pool_member m = {.pool_key = p.key, .state = DB_MEMBER_READY, .shape = shape,
                                   .created_ms = t0_s * 1000,
                                   .ready_ms = (t0_s + 30) * 1000,
                                   .expires_ms = (t0_s + 7200) * 1000};
        CHECK(uuid_generate(m.uuid, &err), "uuid");
        m.domain = xasprintf("pool-%s", m.uuid);
        CHECK(db_pool_member_put(h->db, &m, &err), "db_pool_member_put");
        if (i == 0) {
            struct drv_instance inst = {.name = (char *)"pool-hit", .project_id = (char *)"demo",
                                        .image_ref = (char *)"cirros",
                                        .vm_state = (char *)"active",
                                        .created_ms = (t0_s + 600) * 1000, .shape = shape,
                                        .domain = m.domain};
            inst.flavor.name = (char *)"m1.small";
            inst.flavor.vcpus = 1;
            inst.flavor.memory_mb = 2048;
            CHECK(uuid_generate(inst.uuid, &err), "uuid");
            CHECK(db_pool_handover(h->db, m.uuid, &inst, false, &err), "db_pool_handover");
        }
        free(m.domain);
    }
    CHECK(db_pool_count(h->db, p.key, &(struct db_pool_counts){.misses = 1, .reclaims = 2}, &err),
          "db_pool_count");
}

/* The event log as the daemon writes it, through the same call: each
 * guest's build request from Nova, then for the first guest a memory
 * hot-plug that went through and for the second one that stalled (the
 * guest's kernel left the memory offline). */
static void seed_events(struct harness *h, int64_t t0_s)
{
    if (!h->db)
        return;
    autoerr struct err *err = NULL;
    for (size_t i = 0; i < h->nguests; i++) {
        autofree char *req = xasprintf("req-harness-%zu", i);
        struct db_event ev = {.at_ms = t0_s * 1000 + (int64_t)i, .request_id = req,
                              .source = (char *)"rpc",
                              .action = (char *)"build_and_run_instance", .duration_ms = 812};
        snprintf(ev.instance_uuid, sizeof(ev.instance_uuid), "%s", h->guests[i].inst->uuid);
        CHECK(db_event_add(h->db, &ev, &err), "db_event_add");
        if (i > 1)
            continue;
        struct db_event mem = {.at_ms = (t0_s + 600) * 1000, .source = (char *)"hypervisor",
                               .action = i == 0 ? (char *)"memory.caught-up"
                                                : (char *)"memory.plug-stalled",
                               .code = i == 0 ? 0 : ERR_TIMEOUT,
                               .message = i == 0 ? (char *)"memory hot-plug caught-up: asked "
                                                           "1536 MiB, holds 1536 MiB"
                                                 : (char *)"memory hot-plug plug-stalled: "
                                                           "asked 1536 MiB, holds 1024 MiB"};
        snprintf(mem.instance_uuid, sizeof(mem.instance_uuid), "%s", h->guests[i].inst->uuid);
        CHECK(db_event_add(h->db, &mem, &err), "db_event_add");
    }
}

static void usage(FILE *out)
{
    fprintf(out, "usage: api-harness --config FILE [--guests N] [--minutes M] [--live] "
                 "[--live-ms MS] [--port-file PATH]\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},  {"guests", required_argument, NULL, 'g'},
        {"minutes", required_argument, NULL, 'm'}, {"live", no_argument, NULL, 'l'},
        {"live-ms", required_argument, NULL, 'L'}, {"port-file", required_argument, NULL, 'p'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *port_file = NULL;
    long nguests = 4, minutes = 60, live_ms = 2000;
    bool live = false;
    int c;
    while ((c = getopt_long(argc, argv, "c:g:m:lL:p:", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'g': nguests = strtol(optarg, NULL, 10); break;
        case 'm': minutes = strtol(optarg, NULL, 10); break;
        case 'l': live = true; break;
        case 'L': live_ms = strtol(optarg, NULL, 10); break;
        case 'p': port_file = optarg; break;
        default: usage(stderr); return 2;
        }
    }
    if (!config || nguests < 0 || nguests > 256 || minutes < 1 || minutes > 7 * 1440 ||
        live_ms < 10) {
        usage(stderr);
        return 2;
    }

    autoerr struct err *err = NULL;
    struct harness h = {.rng = 42};
    h.cfg = cfg_load(config, &err);
    CHECK(h.cfg ? 0 : -1, "config");
    enum log_level level = LOG_LEVEL_INFO;
    log_level_parse(h.cfg->log_level, &level);
    CHECK(log_setup(level, h.cfg->log_file, h.cfg->log_json, &err), "log");
    if (h.cfg->db_connection[0]) {
        struct db_options o;
        db_options_from_cfg(h.cfg, &o);
        h.db = db_open(&o, &err);
        CHECK(h.db ? 0 : -1, "database");
        /* settings changed at run time win over the file, as in the daemon */
        CHECK(db_settings_apply(h.db, h.cfg, &err), "run-time settings");
    }
    cfg_publish(h.cfg);
    drv_cost_model_from_cfg(h.cfg, &h.cm);
    drv_predict_config_from_cfg(h.cfg, &h.pc);

    h.hv = drv_hv_open("fake", h.cfg, &err);
    CHECK(h.hv ? 0 : -1, "fake backend");
    autofree char *caps = drv_hv_capabilities(h.hv, &err);
    CHECK(caps ? 0 : -1, "capabilities");
    struct drv_host_limits limits;
    drv_host_limits_from_cfg(h.cfg, &limits);
    h.host = drv_host_parse(caps, &limits, &err);
    CHECK(h.host ? 0 : -1, "host");
    struct drv_sculpt_params sp;
    drv_sculpt_params_from_cfg(h.cfg, &sp);
    h.engine = drv_sculpt_new(h.host, &sp, &err);
    CHECK(h.engine ? 0 : -1, "engine");
    h.fleet = drv_fleet_new(&h.pc);

    int64_t now = clock_wall_ms() / 1000;
    int64_t step = h.cfg->blueprint_step_s;
    int64_t t = now - minutes * 60;
    h.nguests = (size_t)nguests;
    h.guests = xcalloc(h.nguests + 1, sizeof(*h.guests));
    for (size_t i = 0; i < h.nguests; i++)
        boot_guest(&h, i, t);
    seed_pool(&h, t);
    seed_events(&h, t);
    for (t += step; t <= now; t += step)
        control_step(&h, t, step);
    if (h.db)
        CHECK(db_sync(h.db, 0, &err), "db_sync");

    struct api_deps deps = {.engine = h.engine, .fleet = h.fleet, .db = h.db};
    struct api_server *srv = api_server_start(&deps, h.cfg, &err);
    CHECK(srv ? 0 : -1, "API server");
    if (port_file) {
        FILE *f = fopen(port_file, "w");
        CHECK(f ? 0 : -1, "port file");
        fprintf(f, "%u\n", api_server_port(srv));
        fclose(f);
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    log_info("api-harness: %zu guests, %lld steps of history; serving", h.nguests,
             (long long)h.steps);
    int64_t last = clock_wall_ms();
    while (!stop_requested) {
        clock_sleep_ms(live ? live_ms : 200);
        if (!live)
            continue;
        int64_t wall = clock_wall_ms();
        control_step(&h, wall / 1000, (wall - last + 999) / 1000);
        last = wall;
    }
    api_server_stop(srv);
    for (size_t i = 0; i < h.nguests; i++) {
        drv_instance_free(h.guests[i].inst);
        drv_predictor_free(h.guests[i].pred);
    }
    free(h.guests);
    db_close(h.db);
    drv_fleet_free(h.fleet);
    drv_sculpt_free(h.engine);
    drv_host_free(h.host);
    drv_hv_close(h.hv);
    cfg_publish(NULL);
    cfg_unref(h.cfg);
    log_shutdown();
    return 0;
}

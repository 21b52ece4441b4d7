#include "engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "driver/control.h"

static void test_engine_die(const char *what, struct err *err)
{
    fprintf(stderr, "test rig: %s: %s\n", what, err ? err->msg : "failed");
    abort();
}

/* Sets "section.name=value" on cfg. */
static void test_cfg_apply(struct cfg *cfg, const char *opt)
{
    autofree char *copy = xstrdup(opt);
    char *dot = strchr(copy, '.');
    char *eq = dot ? strchr(dot, '=') : NULL;
    if (!eq)
        test_engine_die(opt, NULL);
    *dot = '\0';
    *eq = '\0';
    struct err *err = NULL;
    if (cfg_set(cfg, copy, dot + 1, eq + 1, &err) < 0)
        test_engine_die(opt, err);
}

static struct cfg *test_fake_cfg(const char *const *opts)
{
    struct cfg *cfg = cfg_new_defaults();
    test_cfg_apply(cfg, "DEFAULT.compute_driver=fake");
    for (size_t i = 0; opts && opts[i]; i++)
        test_cfg_apply(cfg, opts[i]);
    return cfg;
}

struct drv_hv *test_fake_hv_open(const char *const *opts)
{
    autocfg cfg = test_fake_cfg(opts);
    struct err *err = NULL;
    struct drv_hv *hv = drv_hv_open(NULL, cfg, &err);
    if (!hv)
        test_engine_die("open the fake hypervisor", err);
    return hv;
}

void test_hv_events_record(const struct drv_hv_event *ev, void *opaque)
{
    struct test_hv_events *s = opaque;
    if (s->n < TEST_HV_EVENTS_MAX)
        s->ev[s->n++] = *ev;
}

void test_engine_open(const char *topology, struct cfg **cfg, struct drv_hv **hv,
                      struct drv_host **host, struct drv_sculpt **engine)
{
    autofree char *opt = xasprintf("fake.topology=%s", topology);
    const char *const opts[] = {opt, NULL};
    test_engine_open_opts(opts, cfg, hv, host, engine);
}

void test_engine_open_opts(const char *const *opts, struct cfg **cfg, struct drv_hv **hv,
                           struct drv_host **host, struct drv_sculpt **engine)
{
    *cfg = test_fake_cfg(opts);
    struct err *err = NULL;
    *hv = drv_hv_open(NULL, *cfg, &err);
    if (!*hv)
        test_engine_die("open the fake hypervisor", err);
    *host = drv_control_host(*hv, *cfg, &err);
    if (!*host)
        test_engine_die("the fake host", err);
    struct drv_sculpt_params p;
    drv_sculpt_params_from_cfg(*cfg, &p);
    *engine = drv_sculpt_new(*host, &p, &err);
    if (!*engine)
        test_engine_die("the engine", err);
}

void test_engine_close(struct cfg *cfg, struct drv_hv *hv, struct drv_host *host,
                       struct drv_sculpt *engine)
{
    drv_sculpt_free(engine);
    drv_host_free(host);
    drv_hv_close(hv);
    cfg_unref(cfg);
}

void test_fleet_open(const char *const *opts, struct test_control *t)
{
    memset(t, 0, sizeof(*t));
    test_engine_open_opts(opts, &t->cfg, &t->hv, &t->host, &t->engine);
    drv_predict_config_from_cfg(t->cfg, &t->pc);
    drv_cost_model_from_cfg(t->cfg, &t->cm);
    drv_control_params_from_cfg(t->cfg, &t->cp);
    t->fleet = drv_fleet_new(&t->pc);
}

void test_control_open(const char *const *opts, const struct drv_control_callbacks *cb,
                       struct test_control *t)
{
    test_fleet_open(opts, t);
    struct err *err = NULL;
    t->ctl = drv_control_new(t->engine, t->hv, t->fleet, &t->pc, &t->cm, &t->cp, cb, &err);
    if (!t->ctl)
        test_engine_die("the control loop", err);
}

void test_control_close(struct test_control *t)
{
    drv_control_free(t->ctl);
    drv_fleet_free(t->fleet);
    test_engine_close(t->cfg, t->hv, t->host, t->engine);
    memset(t, 0, sizeof(*t));
}

struct drv_blueprint *test_bp_flat(int32_t n, int32_t step_s, int64_t start_s, double vcpu,
                                   double mem_mib)
{
    struct err *err = NULL;
    struct drv_blueprint *bp = drv_blueprint_new(n, step_s, start_s, &err);
    if (!bp)
        test_engine_die("flat blueprint", err);
    struct drv_res r = drv_res_zero();
    r.v[DRV_RES_VCPU] = vcpu;
    r.v[DRV_RES_MEM_MIB] = mem_mib;
    drv_blueprint_fill_flat(bp, r);
    bp->confidence = 1;
    for (int k = 0; k < DRV_RES_LAST; k++)
        bp->res_confidence[k] = 1;
    snprintf(bp->model, sizeof(bp->model), "flat");
    return bp;
}

struct drv_sculpt_guest_spec test_guest_spec(const char *uuid, int32_t vcpus, double mem_mib,
                                             int32_t priority)
{
    struct drv_sculpt_guest_spec s;
    memset(&s, 0, sizeof(s));
    snprintf(s.uuid, sizeof(s.uuid), "%s", uuid);
    s.ceiling.v[DRV_RES_VCPU] = vcpus;
    s.ceiling.v[DRV_RES_MEM_MIB] = mem_mib;
    s.vcpus_max = vcpus;
    s.mem_max_mib = mem_mib;
    s.priority = priority;
    return s;
}

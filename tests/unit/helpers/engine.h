/* The fake backend and the engine on it, set up the way the driver-level
 * unit tests need them: one place for what each test file used to repeat.
 * Every call aborts the test program with a message on failure. */
#ifndef SC_TESTS_ENGINE_H
#define SC_TESTS_ENGINE_H

#include "common/config.h"
#include "driver/control.h"
#include "driver/cost.h"
#include "driver/host.h"
#include "driver/hypervisor.h"
#include "driver/predict.h"
#include "driver/sculpt.h"

/* A fake hypervisor ([DEFAULT] compute_driver = fake) with `opts`, each
 * "section.name=value", set over the defaults (a NULL-terminated list, or
 * NULL).  Caller closes with drv_hv_close(). */
struct drv_hv *test_fake_hv_open(const char *const *opts);

/* What the fake backend reported (drv_hv_set_event_cb(hv,
 * test_hv_events_record, &events)): the first TEST_HV_EVENTS_MAX kept. */
#define TEST_HV_EVENTS_MAX 32
struct test_hv_events {
    struct drv_hv_event ev[TEST_HV_EVENTS_MAX];
    int n;
};
void test_hv_events_record(const struct drv_hv_event *ev, void *opaque);

/* A configuration with the fake backend on `topology` ([fake] topology
 * syntax), its hypervisor, the host it reports (drv_control_host) and an
 * engine with the configuration's parameters.  Free all four with
 * test_engine_close(). */
void test_engine_open(const char *topology, struct cfg **cfg, struct drv_hv **hv,
                      struct drv_host **host, struct drv_sculpt **engine);
/* The same with `opts` ("section.name=value", NULL-terminated; the fake
 * topology among them as "fake.topology=...") over the defaults. */
void test_engine_open_opts(const char *const *opts, struct cfg **cfg, struct drv_hv **hv,
                           struct drv_host **host, struct drv_sculpt **engine);
void test_engine_close(struct cfg *cfg, struct drv_hv *hv, struct drv_host *host,
                       struct drv_sculpt *engine);

/* The engine of test_engine_open_opts(), the fleet's prediction state and
 * (test_control_open) the control loop over them, each made with the
 * configuration's settings, which are kept for whatever else the test
 * makes. */
struct test_control {
    struct cfg *cfg;
    struct drv_hv *hv;
    struct drv_host *host;
    struct drv_sculpt *engine;
    struct drv_fleet *fleet;
    struct drv_control *ctl;      /* NULL from test_fleet_open() */
    struct drv_predict_config pc; /* [predict] */
    struct drv_cost_model cm;     /* [cost] */
    struct drv_control_params cp; /* [engine] and [sculpt] */
};
/* Everything but the control loop (for a caller that makes its own, such
 * as os_compute_new()).  `opts` as test_engine_open_opts(). */
void test_fleet_open(const char *const *opts, struct test_control *t);
/* All of it, the loop with callbacks `cb` (NULL: none). */
void test_control_open(const char *const *opts, const struct drv_control_callbacks *cb,
                       struct test_control *t);
/* Frees what either opened (not `t` itself). */
void test_control_close(struct test_control *t);

/* A blueprint of `n` steps of `step_s` from `start_s`, flat at `vcpu` and
 * `mem_mib` in every band, every confidence 1 (model "flat"): a guest
 * whose need is known for sure.  Caller frees with drv_blueprint_free(). */
struct drv_blueprint *test_bp_flat(int32_t n, int32_t step_s, int64_t start_s, double vcpu,
                                   double mem_mib);
/* The spec of guest `uuid` of a flavor of `vcpus` and `mem_mib` (its
 * ceilings and its domain's maxima) at `priority`. */
struct drv_sculpt_guest_spec test_guest_spec(const char *uuid, int32_t vcpus, double mem_mib,
                                             int32_t priority);

#endif

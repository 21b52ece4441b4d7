/* The fake backend and the engine on it, set up the way the driver-level
 * unit tests need them: one place for what each test file used to repeat.
 * Every call aborts the test program with a message on failure. */
#ifndef SC_TESTS_ENGINE_H
#define SC_TESTS_ENGINE_H

#include "common/config.h"
#include "driver/host.h"
#include "driver/hypervisor.h"
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

#endif

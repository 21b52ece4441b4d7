/* The libvirt backend on libvirt's test:///default driver, for the unit
 * tests that run it (test_libvirt, test_libvirt_migrate). */
#ifndef SC_TESTS_LV_TEST_H
#define SC_TESTS_LV_TEST_H

#include "common/config.h"
#include "driver/hypervisor.h"

/* A configuration for the backend on test:///default with the guests'
 * folders under dir.  Aborts on failure; the caller cfg_unref()s it. */
struct cfg *lv_test_cfg(const char *dir);

/* *spec zeroed, then what a spawn needs: uuid, a kernel, at most
 * vcpus_max vCPUs and mem_max_mib MiB, 1 vCPU online and 256 MiB now. */
void lv_test_spec(struct drv_hv_guest_spec *spec, const char *uuid, int vcpus_max,
                  int mem_max_mib);

#endif

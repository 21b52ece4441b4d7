/* One libvirt domain (nova/virt/libvirt/guest.py's role): each knob set or
 * read with the call libvirt has for it, states, stats.  Every setter uses
 * VIR_DOMAIN_AFFECT_CURRENT: the live domain when it runs, its persistent
 * definition when it does not; the same code works on qemu:// and test://.
 * Failures carry the call and the domain name (`name`).
 */
#ifndef SC_DRIVER_LIBVIRT_GUEST_H
#define SC_DRIVER_LIBVIRT_GUEST_H

#include <stdbool.h>
#include <stdint.h>

#include <libvirt/libvirt.h>

#include "driver/hypervisor.h"
#include "driver/libvirt/config.h"

struct err;

int lv_guest_set_vcpus(virDomainPtr dom, const char *name, int32_t n, struct err **err);
/* shares, and the per-vCPU quota (-1: none) over `period_us`. */
int lv_guest_set_sched(virDomainPtr dom, const char *name, uint64_t shares, int64_t period_us,
                       int64_t quota_us, struct err **err);
/* Pin vCPU `vcpu` / the emulator threads to a cpuset ("0-3,8"). */
int lv_guest_pin_vcpu(virDomainPtr dom, const char *name, int32_t vcpu, const char *cpuset,
                      int32_t host_cpus, struct err **err);
int lv_guest_pin_emulator(virDomainPtr dom, const char *name, const char *cpuset, int32_t host_cpus,
                          struct err **err);
/* Memory on the host NUMA nodes `nodeset` ("1", "0-1"). */
int lv_guest_set_numa(virDomainPtr dom, const char *name, const char *nodeset, struct err **err);
/* The balloon target. */
int lv_guest_set_balloon(virDomainPtr dom, const char *name, uint64_t kib, struct err **err);
/* The virtio-mem device's requested size: the guest plugs (or unplugs)
 * memory until it holds that much, after the call returns. */
int lv_guest_set_vmem(virDomainPtr dom, const char *name, uint64_t requested_kib,
                      struct err **err);
/* Interface bandwidth in KB/s (0: unlimited) with bursts in KB. */
int lv_guest_set_bandwidth(virDomainPtr dom, const char *name, const char *tap, uint64_t in_kBps,
                           uint64_t in_burst_kB, uint64_t out_kBps, uint64_t out_burst_kB,
                           struct err **err);
/* Disk limits (0: unlimited). */
int lv_guest_set_iotune(virDomainPtr dom, const char *name, const char *disk, uint64_t read_iops,
                        uint64_t write_iops, uint64_t read_bytes, uint64_t write_bytes,
                        struct err **err);

/* Read the knobs of `dom` from its live (or, when off, persistent)
 * definition: one call. */
int lv_guest_read(virDomainPtr dom, const char *name, struct lv_knobs *out, struct err **err);

/* Power state and its reason word ("booted", "shutdown", "crashed"...).
 * has_managed_save maps a shut-off guest with a saved image to SUSPENDED. */
int lv_guest_state(virDomainPtr dom, const char *name, enum drv_power_state *state, char reason[32],
                   struct err **err);

/* The counters of one record of virConnectGetAllDomainStats. */
void lv_guest_stats_parse(const virDomainStatsRecord *rec, struct drv_hv_counters *out);

/* Map a lifecycle event (virDomainEventType, detail) to sculpt's event
 * type and reason word.  Returns false for events sculpt does not report. */
bool lv_guest_event_map(int event, int detail, enum drv_hv_event_type *type, const char **reason);
/* Whether the event is the source's pause for a migration's switch-over
 * (pre-copy's last copy, or post-copy): the migration's own doing. */
bool lv_guest_event_is_switchover(int event, int detail);

#endif

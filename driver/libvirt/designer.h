/* Policy (nova/virt/libvirt/designer.py's role): what a guest's domain
 * looks like for a spec and a shape on this host, and the libvirt value
 * of each knob.  Pure functions; the XML itself is config.c's.
 */
#ifndef SC_DRIVER_LIBVIRT_DESIGNER_H
#define SC_DRIVER_LIBVIRT_DESIGNER_H

#include <stdbool.h>
#include <stdint.h>

#include "driver/hypervisor.h"
#include "driver/libvirt/config.h"

struct err;

/* Host facts and operator policy the designer needs. */
struct lv_policy {
    const char *virt_type;      /* "kvm" or "qemu" */
    const char *cpu_mode;       /* "auto", "host-passthrough", "host-model", "custom" */
    const char *cpu_model;      /* guest CPU model for custom */
    const char *instances_path; /* absolute */
    int64_t period_us;          /* CFS period */
    int32_t pcie_ports;
    int32_t balloon_period_s;
    int32_t host_cpus;
    bool memory_hotplug;   /* memory above the boot memory by virtio-mem */
    uint64_t boot_min_kib; /* with it, the least boot memory */
    const char *vnc_listen; /* guests' VNC servers listen there ([vnc]
                             * server_listen); NULL: no VNC ([vnc] enabled
                             * false) */
    const char *serial_host; /* guests' serial consoles listen there on TCP
                              * ([serial_console] proxyclient_address); NULL:
                              * a unix socket ([serial_console] enabled
                              * false) */
};

/* libvirt's <shares> / "cpu_shares" for a CFS weight in cpu.weight units:
 * libvirt writes the value to cpu.weight on a cgroup v2 host (range
 * [1, 10000]) and to cpu.shares on v1, where the kernel's own mapping is
 * shares = weight x 1024 / 100 (at least 2). */
uint64_t lv_design_shares(uint32_t weight, bool cgroup_v2);

/* Does this host run the CPU controller on cgroup v2 (the unified
 * hierarchy mounted at /sys/fs/cgroup)?  Read once. */
bool lv_design_cgroup_v2(void);
/* Per-vCPU CFS quota (us) that holds `vcpu` over `online` vCPUs; -1 (no
 * limit, libvirt's value for it) when the entitlement covers them all. */
int64_t lv_design_quota(double vcpu, int32_t online, int64_t period_us);
/* Mbit/s -> libvirt's KB/s (0 stays 0: unlimited), and a burst of ~125 ms
 * at that rate (at least 32 KB) so htb can keep the average. */
uint64_t lv_design_kBps(double mbps);
uint64_t lv_design_burst_kB(uint64_t kBps);
/* MB/s -> bytes/s; IOPS rounded. */
uint64_t lv_design_bytes(double mbps);
uint64_t lv_design_iops(double iops);
/* The cpuset text a shape pins to: its pcpus, or every host CPU when it
 * has none (so a pin can also be lifted).  Returns buf. */
char *lv_design_cpuset(const struct drv_shape *s, int32_t host_cpus, char *buf, int size);

/* How a domain defined with `max_kib` that boots holding `cur_kib` splits
 * its memory when memory is hot-plugged: the boot memory covers cur_kib
 * and at least min_kib (at most max_kib), the virtio-mem device the rest
 * (*size_kib, a multiple of LV_VMEM_ALIGN_KIB; 0: none), *boot_kib +
 * *size_kib = max_kib. */
void lv_design_vmem(uint64_t max_kib, uint64_t cur_kib, uint64_t min_kib, uint64_t *boot_kib,
                    uint64_t *size_kib);

/* Is a balloon reading back held_kib on its way from from_kib (what the
 * guest held when the target was set) to target_kib, within a MiB either
 * way?  Then the target stands; outside, the balloon was moved by someone
 * else and what it holds is the truth. */
bool lv_design_balloon_moving(uint64_t held_kib, uint64_t from_kib, uint64_t target_kib);

/* Which knobs hold `mem_kib` in a guest booted with boot_kib and a
 * virtio-mem device of size_kib: the balloon target within the boot
 * memory (*balloon_kib <= boot_kib) and the device's requested size (the
 * rest, rounded up to a block, at most size_kib).  Without a device
 * (size_kib 0) the balloon holds it all. */
void lv_design_mem_split(uint64_t mem_kib, uint64_t boot_kib, uint64_t size_kib,
                         uint64_t *balloon_kib, uint64_t *requested_kib);

/* The device's requested size for mem_kib (lv_design_mem_split), given
 * what it is asked now: from nothing, a plug starts only once it reaches
 * boot_kib / 16 (whole blocks): the floor's growth by a few MiB at boot
 * (the working set learnt) would otherwise plug a few blocks and make the
 * guest's kernel add a whole memory block for them.  The guest holds its
 * boot memory meanwhile, less than 1/16 short: within the floor's margin
 * over its working set ([engine] mem_floor_margin, 0.1).  Once plugged the
 * request follows the shape, down to nothing. */
uint64_t lv_design_vmem_request(uint64_t mem_kib, uint64_t boot_kib, uint64_t size_kib,
                                uint64_t requested_now_kib);

/* The config drive's image in a guest's folder (Nova's name). */
#define LV_CONFIG_DRIVE_FILE "disk.config"

/* The metadata for a new guest: the spec with concrete tap names and MACs,
 * and its files under instances_path/UUID (the config drive's image among
 * them when spec->config_drive is set; out->spec keeps no drive contents).
 * *out is overwritten. */
void lv_design_meta(const struct lv_policy *p, const struct drv_hv_guest_spec *spec, int64_t now_ms,
                    struct lv_meta *out);

/* Whether sculpt's machine (q35) can attach a stable rescue's device `dev`
 * (resolved: drv_hv_rescue_dev_resolve): 0, or UNSUPPORTED for the IDE
 * bus, which q35 lacks. */
int lv_design_rescue_check(const struct drv_hv_rescue_dev *dev, struct err **err);

/* The domain for m's spec in `shape` (shape.vcpus_online vCPUs online);
 * rescued (m->rescued), the rescue's domain: a legacy one boots from the
 * rescue disk first, its own disk second, the rescue's drive in the
 * cdrom; a stable one keeps its own disk and drive where they are and
 * adds the rescue disk last, as its device on its bus, the next free
 * name on that bus (blockinfo.get_next_disk_info), boot order 1. */
void lv_design_domain(const struct lv_policy *p, const struct lv_meta *m,
                      const struct drv_shape *shape, struct lv_cfg_domain *out);

#endif

/* libvirt's XML as plain structs (nova/virt/libvirt/config.py's role): the
 * domain definition sculpt writes, and sculpt's own metadata element that
 * records the spec a guest was spawned from.  Formatting and parsing only;
 * what goes in is decided by designer.c.  Uses libxml2.
 */
#ifndef SC_DRIVER_LIBVIRT_CONFIG_H
#define SC_DRIVER_LIBVIRT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "driver/hypervisor.h"

struct err;

/* The namespace of sculpt's metadata elements in a domain's <metadata>. */
#define LV_META_URI "https://sculpt.openstack.org/xmlns/instance/1"
#define LV_META_PREFIX "sculpt"
/* Live-only metadata of the current run (when it started). */
#define LV_RUN_URI "https://sculpt.openstack.org/xmlns/run/1"
#define LV_RUN_PREFIX "sculptrun"

/* virtio-mem's block (QEMU's default on x86, the transparent huge page):
 * the device's size and every plugged amount are multiples of it. */
#define LV_VMEM_BLOCK_KIB 2048ULL
/* A Linux guest plugs only the memory blocks (128 MiB on x86 below 64 GiB
 * of boot memory) that lie wholly in the device: a device of 64 MiB plugs
 * nothing.  Devices are sized in multiples of it. */
#define LV_VMEM_ALIGN_KIB (128ULL * 1024)

/* The guest agent's virtio-serial port, as QEMU's agent and Nova name it. */
#define LV_GUEST_AGENT_CHANNEL "org.qemu.guest_agent.0"

struct lv_cfg_disk {
    char *path;                       /* the overlay */
    const char *format;               /* "qcow2", "raw" */
    char target[8];                   /* "vda" */
    const char *device;               /* "disk" (NULL), "cdrom" (read-only), "floppy" */
    const char *bus;                  /* "virtio" (NULL), "scsi", "usb", "ide", "sata", "fdc" */
    int boot_order;                   /* <boot order>, 0: none */
    uint64_t read_iops, write_iops;   /* <iotune>, 0: unlimited */
    uint64_t read_bytes, write_bytes; /* bytes/s, 0: unlimited */
};

struct lv_cfg_nic {
    char mac[18];
    char tap[DRV_HV_TAP_MAX + 1];
    uint64_t in_kBps, out_kBps; /* <bandwidth> average, KB/s; 0: none */
    uint64_t in_burst_kB, out_burst_kB;
};

struct lv_cfg_domain {
    const char *type; /* "kvm", "qemu" */
    char name[DRV_HV_NAME_MAX + 1];
    char uuid[DRV_UUID_LEN + 1];
    char *title;                   /* operator-facing; may be NULL */
    uint64_t mem_kib, cur_mem_kib; /* <memory>, <currentMemory> */
    uint64_t vmem_kib;             /* a virtio-mem device this big (boot memory:
                                    * mem_kib - vmem_kib, one guest NUMA cell,
                                    * <maxMemory>); 0: none */
    int32_t vcpus_max, vcpus_current;
    char cpuset[256];            /* <vcpu cpuset> and emulatorpin; "" none */
    uint64_t shares;             /* <cputune><shares> */
    int64_t period_us, quota_us; /* per vCPU; quota <= 0: none */
    int32_t numa_node;           /* <numatune> strict; -1 none */
    const char *machine;         /* "q35" */
    const char *cpu_mode;        /* "host-model", "host-passthrough", "custom" */
    const char *cpu_model;       /* for custom */
    const char *kernel, *initrd, *cmdline;
    struct lv_cfg_disk disks[2];
    size_t ndisks;
    bool cdrom;       /* a read-only SATA cdrom drive (the config drive's) */
    char *cdrom_path; /* its medium; NULL: the tray is empty */
    struct lv_cfg_disk last; /* a device after all others (a stable rescue's);
                              * path NULL: none */
    struct lv_cfg_nic nics[DRV_HV_MAX_VIFS];
    size_t nnics;
    int32_t pcie_ports;       /* spare pcie-root-ports */
    bool guest_agent;         /* the QEMU guest agent's virtio-serial channel
                               * (its socket's path chosen by libvirt, which
                               * leaves it out of a migration's XML) */
    const char *vnc_listen;   /* a VNC server listening there (Nova's
                               * _guest_add_video_device) with its video
                               * device; NULL: none.  Borrowed */
    char *serial_socket;      /* the console's unix socket */
    char *serial_log;         /* and its log file */
    const char *serial_host;  /* instead of the socket, a TCP console bound
                               * there on serial_port (Nova's
                               * _create_serial_consoles, [serial_console]
                               * enabled); NULL: the socket.  Borrowed */
    int32_t serial_port;
    int32_t balloon_period_s; /* <memballoon><stats period> */
    char *metadata;           /* sculpt's element (lv_meta_format) */
};

/* Release what the model owns (title, paths, metadata). */
void lv_cfg_domain_release(struct lv_cfg_domain *d);

/* The domain XML.  Caller frees. */
char *lv_cfg_domain_format(const struct lv_cfg_domain *d);

/* The cdrom drive sculpt gives guests (target LV_CDROM_TARGET on SATA, the
 * bus whose media QEMU changes live), holding `path` (NULL: empty), as
 * the <disk> element virDomainUpdateDeviceFlags takes.  Caller frees. */
#define LV_CDROM_TARGET "sda"
char *lv_cfg_cdrom_format(const char *path);
/* A block copy's destination (virDomainBlockCopy's destxml): the qcow2
 * file `path`.  Caller frees. */
char *lv_cfg_copy_dest_format(const char *path);
/* The target (vda...) of a disk of domain `xml` that is block-copied into
 * a live snapshot's delta in `dir` (a file there named *.delta), or NULL.
 * Caller frees. */
char *lv_cfg_copy_target(const char *xml, const char *dir);

/* The knobs of a domain as its XML states them (what lv_cfg_domain_read
 * finds). */
struct lv_knobs {
    int32_t vcpus_online, vcpus_max;
    uint64_t shares;
    int64_t period_us, quota_us; /* quota <= 0: none */
    char cpuset[256];            /* vCPU 0's pinning, else <vcpu cpuset>; "" none */
    int32_t numa_node;           /* first node of <numatune>; -1 none */
    uint64_t cur_kib, max_kib;   /* <currentMemory>, <memory> */
    /* the virtio-mem device (its size 0: none): requested and plugged now */
    uint64_t vmem_kib, vmem_requested_kib, vmem_current_kib;
    char taps[DRV_HV_MAX_VIFS][DRV_HV_TAP_MAX + 1];
    uint64_t in_kBps[DRV_HV_MAX_VIFS], out_kBps[DRV_HV_MAX_VIFS];
    size_t ntaps;
    char disk[8];                                            /* first disk's target, "" none */
    uint64_t read_iops, write_iops, read_bytes, write_bytes; /* its <iotune> */
    char *metadata; /* sculpt's <instance> element, or NULL */
};

void lv_knobs_release(struct lv_knobs *k);

/* Read the knobs from a domain's XML (virDomainGetXMLDesc).  *out is
 * overwritten; release with lv_knobs_release().  INVALID on bad XML. */
int lv_cfg_domain_read(const char *xml, struct lv_knobs *out, struct err **err);
/* The disks (target names) and interfaces (MAC, host-side target) of a
 * domain, appended to out's lists with their counters at -1. */
int lv_cfg_diag_devices(const char *xml, struct drv_hv_diag *out, struct err **err);

/* The virtio-mem device of a domain's XML (virDomainGetXMLDesc) with its
 * requested size set to `requested_kib`, as virDomainUpdateDeviceFlags
 * takes it (libvirt finds the device by its address and alias, so they
 * are kept).  Caller frees.  NOT_FOUND when the domain has none, INVALID
 * on bad XML. */
char *lv_cfg_vmem_request(const char *domain_xml, uint64_t requested_kib, struct err **err);

/* The port of the domain's remote console of `type` in its live XML
 * (config_graphics.c): UNSUPPORTED when it has none of that type,
 * CONFLICT when it has no port (not running), INVALID on bad XML. */
int lv_cfg_console_port(const char *xml, enum drv_hv_console type, int *port, struct err **err);
/* The domain XML with every VNC server's listen address (the attribute
 * and the <listen type='address'> children) set to `listen`, as a live
 * migration hands it to a destination that listens elsewhere.  Caller
 * frees; NULL with *err on bad XML. */
char *lv_cfg_vnc_listen_rewrite(const char *xml, const char *listen, struct err **err);

/* The TCP ports of the domain's serial consoles bound on this host
 * (<serial type='tcp'><source mode='bind' service=...>, or <console>
 * ones when it has no such serial, as Nova's
 * _get_serial_ports_from_guest), the first `max` into ports[]: their
 * count, or -1 (INVALID) on bad XML. */
int lv_cfg_serial_ports(const char *xml, int *ports, size_t max, struct err **err);
/* The domain XML with its TCP serial consoles moved for a live
 * migration's destination (Nova's _update_serial_xml): bound on `host`
 * at `port` when the destination names them, otherwise back to a unix
 * socket at `socket` (a destination without [serial_console] enabled,
 * as Zed's check that serial consoles are off on both ends would
 * require, without refusing the migration).  Unix consoles are left as
 * they are.  Caller frees; NULL with *err on bad XML. */
char *lv_cfg_serial_rewrite(const char *xml, const char *host, int port, const char *socket,
                            struct err **err);

/* What sculpt records of a guest beside libvirt's own definition. */
struct lv_meta {
    struct drv_hv_guest_spec spec; /* shape: the shape defined (next boot) */
    char *disk_path;               /* the overlay, NULL without a disk */
    char *instance_dir;            /* the guest's folder */
    char *console_log;
    char *console_socket;
    char *config_drive; /* the config drive's ISO in instance_dir, NULL: none
                         * (spec.cdrom_tray: the empty drive is defined) */
    int64_t created_ms; /* Unix ms */
    /* a rescue in force (drv_hv_rescue): the domain boots from rescue_disk
     * (an overlay of rescue_image's disk; NULL: its kernel alone) with
     * disk_path attached second and rescue_config_drive (NULL: none) in
     * its cdrom (a legacy rescue) */
    bool rescued;
    struct drv_hv_image rescue_image;
    char *rescue_disk;
    char *rescue_config_drive;
    /* LEGACY as above; else a stable device rescue: disk_path and
     * config_drive where they were, rescue_disk added last as this device
     * (its bus resolved), booted first */
    struct drv_hv_rescue_dev rescue_dev;
};

void lv_meta_release(struct lv_meta *m);
/* Forget the rescue in m (its files are the caller's). */
void lv_meta_rescue_clear(struct lv_meta *m);
/* Deep copy into *dst (overwritten); release with lv_meta_release(). */
void lv_meta_copy(struct lv_meta *dst, const struct lv_meta *src);

/* The <sculpt:instance> element.  Caller frees. */
char *lv_meta_format(const struct lv_meta *m);
/* The same without a namespace, as virDomainSetMetadata wants it (libvirt
 * adds the namespace itself and refuses a fragment that declares it). */
char *lv_meta_format_fragment(const struct lv_meta *m);
/* Parse it back (as virDomainGetMetadata returns it).  *out is
 * overwritten; release with lv_meta_release().  INVALID on bad XML. */
int lv_meta_parse(const char *xml, struct lv_meta *out, struct err **err);

/* Does the host CPU of a capabilities XML advertise hardware
 * virtualization (vmx or svm)?  /dev/kvm alone is not enough: some nested
 * hosts offer it and guests then hang or abort. */
bool lv_cfg_caps_hw_virt(const char *caps_xml);

/* The live <sculptrun:run started='MS' balloon='KiB' from='KiB'/> element:
 * when the guest's current run began and the balloon target sculpt last
 * set in it, with what the guest held when it was set (libvirt reports
 * only the balloon's actual size, which trails the target: a restarted
 * sculpt reads the target here).  Each value 0 when absent or malformed. */
struct lv_run {
    int64_t started_ms;
    uint64_t balloon_kib, from_kib;
    uint64_t gap_base_kib;      /* memory hot-plug: the kernel's own share */
    bool has_gap_base;          /* learnt in this run (lv_vmem.gap_base_kib) */
};
char *lv_run_format(const struct lv_run *r);
void lv_run_parse(const char *xml, struct lv_run *out);

#endif

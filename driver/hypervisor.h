/* The hypervisor boundary: one ops table every backend fills, the part of
 * Nova's ComputeDriver (nova/virt/driver.py) sculpt implements, laid out like
 * libvirt's virHypervisorDriver (src/ch/ch_driver.c).
 *
 * Two backends sit behind it: `libvirt` (driver/libvirt/, real KVM/QEMU
 * guests) and `fake` (driver/fake/, in memory and deterministic, for engine
 * tests and sculpt-replay).  Everything here is plain C: no libvirt type,
 * handle or error crosses this header.
 *
 * A guest is named by its instance UUID (also the libvirt domain UUID).  Its
 * shape (driver/shape.h) is what the engine wants enforced; spawn defines the
 * guest with room to grow (vcpus_max, mem_max_mib) and starts it in its
 * shape; reshape changes the live knobs that differ, never restarting it.
 *
 * The drv_hv_*() functions below validate their arguments once and then
 * call the backend.  They are thread-safe: several threads may call into one
 * handle; calls on the same guest should be serialised by the caller (the
 * engine does), the backend only keeps its own state consistent.
 */
#ifndef SC_DRIVER_HYPERVISOR_H
#define SC_DRIVER_HYPERVISOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/alloc.h"
#include "driver/instance.h"
#include "driver/resource.h"
#include "driver/shape.h"

struct cfg;
struct err;

/* Bounds checked at the boundary. */
#define DRV_HV_MAX_VIFS 8
#define DRV_HV_NAME_MAX 64              /* domain name, bytes */
#define DRV_HV_TAP_MAX 15               /* Linux IFNAMSIZ - 1 */
#define DRV_HV_CONSOLE_MAX (100 * 1024) /* Nova's MAX_CONSOLE_BYTES */

/* A guest's remote consoles (Nova's console types, by protocol). */
enum drv_hv_console {
    DRV_HV_CONSOLE_VNC,    /* <graphics type='vnc'> */
    DRV_HV_CONSOLE_SERIAL, /* <serial type='tcp'> bound on the host */
};

/* ---- what a guest is made of ---- */

/* The boot image, as local files (the Glance client downloads them into the
 * image cache first).  Either a kernel (+ initrd) boots directly, or the
 * disk's boot loader does; a guest may have both (the tiny test guest). */
struct drv_hv_image {
    char *kernel;      /* absolute path of a kernel, or NULL */
    char *initrd;      /* absolute path of an initrd, or NULL */
    char *cmdline;     /* kernel command line, or NULL for the default */
    char *disk_base;   /* absolute path of the cached base image of the root
                        * disk, or NULL for a guest without a disk; the
                        * guest writes to its own qcow2 overlay over it */
    char *disk_format; /* format of disk_base: "qcow2" (default) or "raw" */
    int64_t root_gb;   /* virtual size of the root disk; 0: the base's */
};

/* One network interface.  The host side is a tap device the backend
 * creates (libvirt `<interface type='ethernet'>`); a shape's bandwidth is
 * split evenly over a guest's interfaces. */
struct drv_hv_vif {
    char mac[18];                 /* "52:54:00:12:34:56"; "" lets the backend pick */
    char *port_id;                /* Neutron port uuid, or NULL */
    char tap[DRV_HV_TAP_MAX + 1]; /* host tap name; "" derives one from the
                                   * port id or instance uuid ("tap" + 11) */
};

/* A config drive (nova/virt/configdrive.py): the files of an ISO9660
 * volume labelled `config-2` that cloud-init and its kin read the
 * instance's metadata and user data from.  The caller composes the files
 * (openstack/config_drive.c does Nova's layout); the backend writes the
 * image beside the guest's disk and attaches it read-only as a cdrom. */
#define DRV_HV_CONFIG_DRIVE_LABEL "config-2"
#define DRV_HV_CONFIG_DRIVE_MAX_FILES 4096
#define DRV_HV_CONFIG_DRIVE_MAX_BYTES (64 * 1024 * 1024) /* sum of the files */

struct drv_hv_file {
    char *path; /* inside the drive, relative: "openstack/latest/user_data" */
    char *data; /* its bytes (any, not NUL-terminated as far as len goes) */
    size_t len;
};

struct drv_hv_config_drive {
    struct drv_hv_file *files; /* owned */
    size_t n;
};

/* Add a file (path and bytes copied). */
void drv_hv_config_drive_add(struct drv_hv_config_drive *cd, const char *path, const void *data,
                             size_t len);
/* The file at `path`, or NULL. */
const struct drv_hv_file *drv_hv_config_drive_get(const struct drv_hv_config_drive *cd,
                                                  const char *path);
/* Deep copy; NULL stays NULL.  Caller frees with drv_hv_config_drive_free(). */
struct drv_hv_config_drive *drv_hv_config_drive_dup(const struct drv_hv_config_drive *cd);
/* Release the files and the struct; accepts NULL. */
void drv_hv_config_drive_free(struct drv_hv_config_drive *cd);
DEFINE_AUTOPTR(drv_hv_config_drive)
/* INVALID unless every path is relative, made of plain components (no
 * "", ".", ".." nor "//"), unique, and the whole within the limits above. */
int drv_hv_config_drive_validate(const struct drv_hv_config_drive *cd, struct err **err);

/* Everything spawn needs.  The shape is validated (drv_shape_validate) and
 * its maxima checked against the host policy (drv_hv_host.max_*). */
struct drv_hv_guest_spec {
    char uuid[DRV_UUID_LEN + 1]; /* instance uuid = domain uuid */
    char *name;                  /* domain name; NULL: "sculpt-<uuid>" */
    char *display_name;          /* Nova's display name, for operators */
    char *project_id;            /* recorded in the guest's metadata */
    char *user_id;
    char *flavor_name;
    struct drv_shape shape; /* the shape to start in */
    struct drv_hv_image image;
    struct drv_hv_vif vifs[DRV_HV_MAX_VIFS];
    size_t nvifs;
    struct drv_hv_config_drive *config_drive; /* owned; NULL: none.  Attached
                                               * as a read-only cdrom */
    bool cdrom_tray; /* without a config drive: define an empty cdrom
                      * drive all the same, so that one can be inserted
                      * live later (a pool member, at its hand-over) */
    bool guest_agent; /* a QEMU guest agent channel (virtio-serial port
                       * org.qemu.guest_agent.0), as Nova adds it for an
                       * image with hw_qemu_guest_agent=yes */
};

/* Release what an image owns (not the struct), leaving it empty. */
void drv_hv_image_release(struct drv_hv_image *im);

/* How a rescue attaches its image (Nova's hw_rescue_device).  LEGACY: the
 * rescue disk first, the guest's own second; the others are a stable
 * device rescue (microversion 2.87): the guest's own devices where they
 * were, the rescue image added last as this device and booted first. */
enum drv_hv_rescue_device {
    DRV_HV_RESCUE_LEGACY,
    DRV_HV_RESCUE_DISK,
    DRV_HV_RESCUE_CDROM,
    DRV_HV_RESCUE_FLOPPY,
    DRV_HV_RESCUE_LAST,
};

/* A disk bus (Nova's hw_*_bus names). */
enum drv_hv_bus {
    DRV_HV_BUS_DEFAULT, /* the device's own: virtio, sata (q35's cdrom), fdc */
    DRV_HV_BUS_VIRTIO,
    DRV_HV_BUS_SCSI,
    DRV_HV_BUS_USB,
    DRV_HV_BUS_IDE,
    DRV_HV_BUS_SATA,
    DRV_HV_BUS_FDC,
    DRV_HV_BUS_LAST,
};

struct drv_hv_rescue_dev {
    enum drv_hv_rescue_device device;
    enum drv_hv_bus bus;
};

/* "legacy", "disk", "cdrom", "floppy" ("?" out of range). */
const char *drv_hv_rescue_device_name(enum drv_hv_rescue_device d);
/* "default", "virtio", "scsi", "usb", "ide", "sata", "fdc". */
const char *drv_hv_bus_name(enum drv_hv_bus b);
/* The value named `name` (as the _name functions spell it) into *out:
 * 0, or -1 for a name unknown (*out untouched). */
int drv_hv_rescue_device_parse(const char *name, enum drv_hv_rescue_device *out);
int drv_hv_bus_parse(const char *name, enum drv_hv_bus *out);
/* A stable rescue's device with its bus resolved (DEFAULT: the device's
 * own) into *out, checked against what QEMU can attach: a floppy only on
 * fdc and fdc only for a floppy, no cdrom on virtio.  INVALID otherwise
 * (*out untouched).  A legacy rescue comes back as it is. */
int drv_hv_rescue_dev_resolve(const struct drv_hv_rescue_dev *in, struct drv_hv_rescue_dev *out,
                              struct err **err);
/* Release what a spec owns (not the struct); accepts NULL. */
void drv_hv_guest_spec_release(struct drv_hv_guest_spec *spec);
/* Deep copy into *dst (which is overwritten). */
void drv_hv_guest_spec_copy(struct drv_hv_guest_spec *dst, const struct drv_hv_guest_spec *src);

/* ---- what a backend reports ---- */

/* The host as the backend sees it, and its policy for guests. */
struct drv_hv_host {
    char hostname[256];
    char hypervisor[32];         /* "QEMU", "KVM", "fake" */
    char virt_type[16];          /* domain type used for guests: "kvm", "qemu", "fake" */
    uint64_t hypervisor_version; /* major * 1000000 + minor * 1000 + micro */
    uint64_t library_version;    /* libvirt's, same encoding; 0 for fake */
    int32_t cpus;                /* host CPUs online */
    double mem_mib;              /* host memory */
    double mem_free_mib;         /* free now */
    int32_t max_vcpus;           /* the most vCPUs a guest may be defined with */
    double max_mem_mib;          /* the most memory a guest may be defined with */
    bool vcpu_unplug;            /* can vCPUs be removed live (false under TCG) */
};

/* Per-knob record of what a reshape did (and the basis of the benchmark). */
enum drv_hv_knob {
    DRV_HV_KNOB_VCPUS,   /* online vCPU count (hot-add / hot-remove) */
    DRV_HV_KNOB_QUOTA,   /* CFS quota/period and shares */
    DRV_HV_KNOB_PIN,     /* vCPU and emulator pinning */
    DRV_HV_KNOB_NUMA,    /* memory NUMA node */
    DRV_HV_KNOB_BALLOON, /* balloon target */
    DRV_HV_KNOB_NET,     /* interface bandwidth */
    DRV_HV_KNOB_DISK,    /* block I/O tune */
    DRV_HV_KNOB_LAST,
};

/* "vcpus", "quota", "pin", "numa", "balloon", "net", "disk". */
const char *drv_hv_knob_name(enum drv_hv_knob k);

struct drv_hv_reshape_report {
    uint32_t changed;                  /* bit (1 << knob) per knob touched */
    int32_t calls;                     /* hypervisor calls made */
    int64_t knob_ns[DRV_HV_KNOB_LAST]; /* time spent per knob */
    int64_t total_ns;                  /* the whole reshape */
    bool vcpus_kept;                   /* a vCPU shrink was done by quota only
                                        * (unplug unsupported): more vCPUs
                                        * stay online than the shape says */
};

/* A guest as the backend sees it now. */
struct drv_hv_info {
    char uuid[DRV_UUID_LEN + 1];
    char name[DRV_HV_NAME_MAX + 1]; /* domain name */
    enum drv_power_state state;
    char state_reason[32];       /* "booted", "crashed", "destroyed", "shutdown"... */
    bool ours;                   /* spawned by sculpt (carries its metadata) */
    int64_t domain_id;           /* changes on every (re)start; -1 when off */
    int64_t started_wall_ms;     /* when its current run began; 0 when off
                                  * or unknown */
    int64_t uptime_ms;           /* since then */
    uint64_t cpu_time_ns;        /* total CPU time used by the guest */
    struct drv_shape shape;      /* as enforced now, read back; memory: what
                                  * the guest holds (with memory hot-plug,
                                  * the balloon plus what it plugged, which
                                  * trails or falls short of the request) */
    int32_t vcpus_online_actual; /* >= shape.vcpus_online when a shrink
                                  * kept vCPUs online (TCG) */
    /* memory hot-plug (all 0 without a device): the device's requested and
     * plugged sizes; stalled when the guest made no move towards the
     * request for [libvirt] memory_hotplug_timeout (a guest without the
     * virtio_mem driver never plugs; a page it cannot move keeps a block
     * plugged) */
    double mem_requested_mib, mem_plugged_mib;
    bool mem_stalled;
    double mem_offline_mib; /* plugged but absent from the guest's MemTotal
                             * for [libvirt] memory_hotplug_timeout (its
                             * kernel left it offline); 0 otherwise */
    /* the memory the guest was asked to hold (balloon target, plus the
     * plug request with memory hot-plug): shape's memory trails it while
     * a balloon moves -- that is progress, not drift.  0: unknown (then
     * shape's memory is taken as asked) */
    double mem_asked_mib;
    bool rescued; /* runs its rescue definition (drv_hv_rescue) */
    struct drv_hv_rescue_dev rescue_dev; /* how, when rescued */
};

/* The shape the guest was asked to take: info->shape with its memory as
 * asked.  What recovery compares with and adopts (a shrink the guest has
 * not given back yet is neither rolled back nor asked again). */
void drv_hv_info_asked(const struct drv_hv_info *info, struct drv_shape *out);

/* Raw counters of one guest at one instant (libvirt's domain stats). */
struct drv_hv_counters {
    uint64_t cpu_time_ns;  /* all vCPU threads (sum of vcpu.N.time) */
    uint64_t cpu_total_ns; /* the whole QEMU process (cpu.time) */
    int32_t vcpus_online;
    double balloon_mib;      /* balloon's current size (what the guest holds) */
    double guest_total_mib;  /* MemTotal seen inside; 0 when not reported */
    double guest_free_mib;   /* MemFree; 0 when not reported */
    double guest_usable_mib; /* MemAvailable; 0 when not reported */
    double rss_mib;          /* host RSS of the QEMU process */
    int64_t guest_stats_wall_s; /* when the guest's own figures were taken
                                 * (Unix s); 0 when not reported */
    bool guest_mem_pending;     /* the guest's balloon driver is to report
                                 * its memory but has not yet (it boots):
                                 * the balloon is not what it uses */
    uint64_t net_rx_bytes, net_tx_bytes, net_rx_pkts, net_tx_pkts; /* guest view */
    uint64_t blk_rd_reqs, blk_wr_reqs, blk_rd_bytes, blk_wr_bytes;
    bool has_cpu, has_balloon, has_guest_mem, has_net, has_blk;
};

/* One guest's usage sample: raw counters plus the use derived from the
 * previous sample of the same guest by the same handle. */
struct drv_hv_sample {
    char uuid[DRV_UUID_LEN + 1];
    enum drv_power_state state;
    int64_t mono_ns; /* CLOCK_MONOTONIC when collected */
    int64_t wall_ms; /* Unix ms when collected */
    struct drv_hv_counters raw;
    double interval_s;  /* since the previous sample; 0 on the first
                         * (then `use` holds only memory) */
    struct drv_res use; /* vCPUs used (CPU time / interval), MiB used
                         * by the guest, Mbit/s, IOPS and MB/s */
    double mem_short_mib; /* memory hot-plug: > 0 when the guest was declared
                           * stalled short of its request, all it can use
                           * (the balloon plus what it plugged and onlined);
                           * 0 otherwise */
};

/* Derive use from two samples of one guest (prev may be NULL).  Sets
 * cur->interval_s and cur->use.  Counters that went backwards (the guest
 * restarted) count as a first sample. */
void drv_hv_sample_derive(const struct drv_hv_sample *prev, struct drv_hv_sample *cur);

/* ---- events ---- */

enum drv_hv_event_type {
    DRV_HV_EVENT_STARTED, /* running (booted, restored, migrated in) */
    DRV_HV_EVENT_STOPPED, /* shut off: shut down inside, destroyed, crashed */
    DRV_HV_EVENT_PAUSED,
    DRV_HV_EVENT_RESUMED,
    DRV_HV_EVENT_SUSPENDED, /* saved to disk (managed save) */
    DRV_HV_EVENT_CRASHED,   /* the guest OS panicked */
    DRV_HV_EVENT_DEFINED,
    DRV_HV_EVENT_UNDEFINED,
    DRV_HV_EVENT_DISCONNECTED, /* lost the hypervisor (uuid empty) */
    DRV_HV_EVENT_RECONNECTED,  /* back; the caller should reconcile (uuid empty) */
    DRV_HV_EVENT_MEMORY,       /* memory hot-plug: the guest stopped short of
                                * what was requested ("plug-stalled",
                                * "unplug-stalled") or caught up ("caught-up");
                                * its power state is unchanged */
    DRV_HV_EVENT_LAST,
};

/* "started", "stopped", ... */
const char *drv_hv_event_name(enum drv_hv_event_type t);

struct drv_hv_event {
    enum drv_hv_event_type type;
    char uuid[DRV_UUID_LEN + 1]; /* "" for connection events */
    char reason[32];             /* "shutdown", "destroyed", "crashed", "booted"... */
    enum drv_power_state state;  /* the guest's power state after the event */
    bool by_sculpt;              /* caused by a call through this handle
                                  * (false: behind sculpt's back) */
    int64_t wall_ms;
};

/* Called for each event.  For the libvirt backend it runs on the backend's
 * event thread: keep it short and hand work to another thread; it may call
 * drv_hv_get_info() but should not reshape or destroy from there.  The fake
 * backend calls it synchronously from the thread that caused the event. */
typedef void (*drv_hv_event_cb)(const struct drv_hv_event *ev, void *opaque);

/* ---- reconcile ---- */

/* What the engine believes of one guest. */
struct drv_hv_expect {
    char uuid[DRV_UUID_LEN + 1];
    enum drv_power_state state; /* RUNNING, PAUSED or SHUTDOWN */
    struct drv_shape shape;     /* the shape it should have */
};

enum drv_hv_drift {
    DRV_HV_DRIFT_NONE,     /* as believed */
    DRV_HV_DRIFT_RESHAPED, /* the live shape differed and was reapplied */
    DRV_HV_DRIFT_STATE,    /* the power state differs (reported, not forced) */
    DRV_HV_DRIFT_MISSING,  /* believed to exist, the hypervisor has no such guest */
    DRV_HV_DRIFT_UNKNOWN,  /* sculpt's metadata, but not believed in */
    DRV_HV_DRIFT_FAILED,   /* reapplying the shape failed (see message) */
    DRV_HV_DRIFT_LAST,
};

const char *drv_hv_drift_name(enum drv_hv_drift d);

struct drv_hv_reconcile_item {
    char uuid[DRV_UUID_LEN + 1];
    enum drv_hv_drift drift;
    enum drv_power_state actual; /* what the hypervisor says */
    char message[160];
};

struct drv_hv_reconcile {
    struct drv_hv_reconcile_item *items; /* owned */
    size_t n;
};

void drv_hv_reconcile_free(struct drv_hv_reconcile *r);
DEFINE_AUTOPTR(drv_hv_reconcile)

/* ---- snapshots ---- */

/* Whether a snapshot freezes the guest's filesystems (through its QEMU
 * guest agent) for the moment its copy is taken, as Zed's libvirt driver
 * quiesces a live snapshot. */
enum drv_hv_quiesce {
    DRV_HV_QUIESCE_NONE,    /* copy the disk as it is */
    DRV_HV_QUIESCE_TRY,     /* freeze; when the agent cannot, go on without */
    DRV_HV_QUIESCE_REQUIRE, /* freeze; when the agent cannot, fail the snapshot */
    DRV_HV_QUIESCE_LAST,
};

/* A guest's root disk as one image file, ready for Glance. */
struct drv_hv_snapshot {
    char *path;     /* owned; the file is removed by drv_hv_snapshot_release() */
    char format[8]; /* its format, Glance's disk_format: "qcow2" or "raw" */
    int64_t bytes;  /* its size on disk */
    bool live;      /* copied while the guest ran on (it was never stopped) */
    bool quiesced;  /* copied with the guest's filesystems frozen */
    int frozen;     /* how many the agent froze then (0: none it could) */
    bool quiesce_failed; /* kept on failure: a required freeze failed, and
                          * *err is drv_hv_fs_freeze's, unwrapped */
};

/* Remove the file (if any) and free the path; accepts NULL. */
void drv_hv_snapshot_release(struct drv_hv_snapshot *s);

/* ---- files the guests read ---- */

/* Paths of files outside the guests' own folders that the host's guests
 * read: base images, kernels, initrds, a rescue's image (what an image
 * cache must keep). */
struct drv_hv_paths {
    char **v; /* owned, each owned */
    size_t n;
};

/* Add each file `im` names (kernel, initrd, base image) to p. */
void drv_hv_paths_add_image(struct drv_hv_paths *p, const struct drv_hv_image *im);
/* Free the paths, leaving p empty. */
void drv_hv_paths_release(struct drv_hv_paths *p);

/* ---- diagnostics ---- */

/* What the hypervisor counts for a guest (Nova's instance diagnostics).
 * A counter the hypervisor does not give is -1. */
struct drv_hv_diag_disk {
    char dev[32];                /* the guest's target name: vda, sda... */
    int64_t read_bytes, read_requests, write_bytes, write_requests, errors;
};
struct drv_hv_diag_nic {
    char mac[18];                /* "" when the interface has none */
    char dev[32];                /* the host's side (tap); "" when it has none */
    int64_t rx_octets, rx_packets, rx_errors, rx_drop;
    int64_t tx_octets, tx_packets, tx_errors, tx_drop;
};
struct drv_hv_diag {
    enum drv_power_state state;
    int64_t mem_max_kib, mem_kib;  /* defined maximum; what the guest has now */
    size_t ncpus;                  /* vCPUs defined */
    int64_t *cpu_time_ns;          /* owned, ncpus of them; NULL when not running */
    struct drv_hv_diag_disk *disks; /* owned */
    size_t ndisks;
    struct drv_hv_diag_nic *nics;  /* owned */
    size_t nnics;
};

/* Free what `d` owns and zero it; accepts NULL. */
void drv_hv_diag_release(struct drv_hv_diag *d);

/* ---- the ops table ---- */

struct drv_hv;
struct drv_host_builder;

/* A live migration's figures as it goes (libvirt's job statistics);
 * bytes. */
struct drv_hv_live_progress {
    int64_t elapsed_ms;
    uint64_t memory_total, memory_processed, memory_remaining;
    uint64_t disk_total, disk_processed, disk_remaining;
};

/* What may be asked of a live migration under way (bits). */
enum drv_hv_live_request {
    DRV_HV_LIVE_ABORT = 1 << 0,          /* live_migration_abort */
    DRV_HV_LIVE_FORCE_COMPLETE = 1 << 1, /* live_migration_force_complete */
};

/* Who follows a live migration, from the migrating thread about every
 * half second: `progress` gets the job's figures; `requests` answers the
 * requests made since it was last asked (drv_hv_live_request bits; each
 * answered once).  An abort is carried out once the job runs (not in
 * post-copy: too late).  A forced completion, asked or taken past the
 * completion timeout ([libvirt] live_migration_timeout_action =
 * force_complete), switches the migration to post-copy when the backend
 * permits it (`postcopy` called once it runs so: the guest runs on the
 * destination), else pauses the guest until it is over (`paused` called;
 * a migration that fails then resumes it where it runs).  Any may be
 * NULL. */
struct drv_hv_live_watch {
    void (*progress)(void *opaque, const struct drv_hv_live_progress *p);
    unsigned (*requests)(void *opaque);
    void (*paused)(void *opaque);
    void (*postcopy)(void *opaque);
    void *opaque;
};

struct drv_hv_ops {
    const char *name; /* "libvirt", "fake" */
    /* Connect.  `cfg` gives the [libvirt] section (the fake reads [fake]). */
    int (*open)(struct drv_hv *hv, const struct cfg *cfg, struct err **err);
    void (*close)(struct drv_hv *hv);

    int (*host_info)(struct drv_hv *hv, struct drv_hv_host *out, struct err **err);
    /* libvirt's capabilities XML: the host topology (cells, cpus, siblings,
     * memory) the engine's topology parser reads.  Caller frees. */
    char *(*capabilities)(struct drv_hv *hv, struct err **err);
    /* Optional: the same topology handed straight to the engine's host
     * builder (driver/host_priv.h), by a backend that knows it first-hand,
     * so the engine needs no XML reader (that comes with the libvirt
     * module, driver/module.h).  NULL: the engine reads capabilities. */
    int (*topology)(struct drv_hv *hv, struct drv_host_builder *b, struct err **err);

    int (*spawn)(struct drv_hv *hv, const struct drv_hv_guest_spec *spec, struct err **err);
    int (*destroy)(struct drv_hv *hv, const char *uuid, bool keep_disks, struct err **err);
    int (*power_off)(struct drv_hv *hv, const char *uuid, int timeout_s, struct err **err);
    int (*power_on)(struct drv_hv *hv, const char *uuid, struct err **err);
    int (*reboot)(struct drv_hv *hv, const char *uuid, bool hard, struct err **err);
    int (*pause)(struct drv_hv *hv, const char *uuid, struct err **err);
    int (*unpause)(struct drv_hv *hv, const char *uuid, struct err **err);
    int (*suspend)(struct drv_hv *hv, const char *uuid, struct err **err);
    int (*resume)(struct drv_hv *hv, const char *uuid, struct err **err);
    int (*inject_nmi)(struct drv_hv *hv, const char *uuid, struct err **err);
    int (*set_user_password)(struct drv_hv *hv, const char *uuid, const char *user,
                             const char *password, struct err **err);
    /* Freeze or thaw the guest's filesystems through its QEMU guest agent
     * (drv_hv_fs_freeze, drv_hv_fs_thaw); *count: how many.  May be NULL
     * (UNSUPPORTED). */
    int (*fs_freeze)(struct drv_hv *hv, const char *uuid, int *count, struct err **err);
    int (*fs_thaw)(struct drv_hv *hv, const char *uuid, int *count, struct err **err);

    int (*reshape)(struct drv_hv *hv, const char *uuid, const struct drv_shape *to,
                   struct drv_hv_reshape_report *report, struct err **err);
    int (*resize_cold)(struct drv_hv *hv, const char *uuid, const struct drv_shape *to,
                       struct err **err);

    int (*get_info)(struct drv_hv *hv, const char *uuid, struct drv_hv_info *out, struct err **err);
    int (*list)(struct drv_hv *hv, struct drv_hv_info **out, size_t *n, struct err **err);
    int (*sample)(struct drv_hv *hv, struct drv_hv_sample **out, size_t *n, struct err **err);
    char *(*console_output)(struct drv_hv *hv, const char *uuid, size_t max_bytes,
                            struct err **err);
    /* May be NULL (UNSUPPORTED). */
    int (*console_port)(struct drv_hv *hv, const char *uuid, enum drv_hv_console type, int *port,
                        struct err **err);
    /* May be NULL (UNSUPPORTED). */
    int (*diagnostics)(struct drv_hv *hv, const char *uuid, struct drv_hv_diag *out,
                       struct err **err);
    /* The stored spec of a guest sculpt spawned (reconcile, cold resize). */
    int (*get_spec)(struct drv_hv *hv, const char *uuid, struct drv_hv_guest_spec *out,
                    struct err **err);
    /* Write an instance's identity (display name, project, user, flavor,
     * uuid) into the guest `uuid` (a pool member being handed over): what
     * operators see (libvirt: the domain's title and sculpt's metadata).
     * May be NULL. */
    int (*set_identity)(struct drv_hv *hv, const char *uuid, const struct drv_hv_guest_spec *inst,
                        struct err **err);
    /* Write config drive `cd` for guest `uuid` (running, paused or off)
     * and insert it into the guest's empty cdrom drive, live and in its
     * definition.  A guest that holds a config drive already keeps it:
     * only the instance's own hand-over puts one in a member (a failed
     * one destroys it), so that is a hand-over interrupted by a crash
     * and done again.  UNSUPPORTED when the guest has no cdrom drive (it
     * was spawned without cdrom_tray).  May be NULL (no hand-over with a
     * config drive then). */
    int (*insert_config_drive)(struct drv_hv *hv, const char *uuid,
                               const struct drv_hv_config_drive *cd, struct err **err);
    /* Rename guest `uuid` (shut off) to `name`; its uuid stays.  May be
     * NULL (guests keep their names). */
    int (*rename)(struct drv_hv *hv, const char *uuid, const char *name, struct err **err);
    /* Cold migration, source side (Nova's migrate_disk_and_power_off):
     * power guest `uuid` off (cleanly within timeout_s, 0: at once) and
     * make its disks available to host `dest`; *disk_info (caller frees)
     * is what the destination's migrate_in needs, backend-private.  The
     * guest stays defined here: a revert starts it again, a confirm
     * destroys it.  `inst_uuid` is the instance's uuid, which names what
     * is left on `dest` (a handed-over member's domain keeps its own uuid,
     * and the destination's migrate_cleanup knows only the instance's).
     * May be NULL (the backend cannot migrate). */
    int (*migrate_out)(struct drv_hv *hv, const char *uuid, const char *inst_uuid,
                       const char *dest, int timeout_s, char **disk_info, struct err **err);
    /* Destination side (finish_migration): define guest `spec`, in its
     * (new) shape, over the disks `disk_info` names, started when
     * power_on.  May be NULL. */
    int (*migrate_in)(struct drv_hv *hv, const struct drv_hv_guest_spec *spec,
                      const char *disk_info, bool power_on, struct err **err);
    /* Destination side, a move that is over without migrate_in (the
     * source rolled back, or finish_resize never came): drop what the
     * source left on this host for guest `uuid` (libvirt: the staging
     * folder its copy fills); nothing left is fine.  Never touches a
     * defined guest's files.  May be NULL (nothing is ever left). */
    int (*migrate_cleanup)(struct drv_hv *hv, const char *uuid, struct err **err);
    /* Live migration with the guest's disks copied as it runs (Nova's
     * block migration).  Destination side (pre_live_migration): make
     * what guest `spec` needs on this host before it arrives (its folder,
     * an empty overlay of its disk over this host's base, its config
     * drive); *dest_info (caller frees) is what the source's live_migrate
     * needs, backend-private.  Nothing is defined.  May be NULL (the
     * backend cannot live-migrate). */
    int (*live_prepare)(struct drv_hv *hv, const struct drv_hv_guest_spec *spec,
                        char **dest_info, struct err **err);
    /* Source side (live_migration): move running guest `uuid` to host
     * `dest` prepared with dest_info, reporting progress through `watch`
     * until it is over.  Success: the guest runs there, defined there,
     * and is gone from here with its files.  Failure: it runs here as
     * before. */
    int (*live_migrate)(struct drv_hv *hv, const char *uuid, const char *dest,
                        const char *dest_info, const struct drv_hv_live_watch *watch,
                        struct err **err);
    /* Source side: abort the live migration of `uuid` under way
     * (live_migration_abort); CONFLICT when none is. */
    int (*live_abort)(struct drv_hv *hv, const char *uuid, struct err **err);
    /* Destination side, after live_migrate succeeded
     * (post_live_migration_at_destination): take the guest on. */
    int (*live_finish)(struct drv_hv *hv, const char *uuid, struct err **err);
    /* Destination side, after live_migrate failed
     * (rollback_live_migration_at_destination): remove what live_prepare
     * made and a guest libvirt left paused; a guest running here is
     * CONFLICT (the migration did not fail). */
    int (*live_rollback)(struct drv_hv *hv, const char *uuid, struct err **err);
    /* Snapshot (the disk half of Nova's ComputeDriver.snapshot): copy
     * guest `uuid`'s root disk, its base image merged in, into a new
     * standalone image file *out, the guest left in the power state it
     * had, its filesystems frozen for the copy as `quiesce` asks (a
     * backend that cannot copy a running guest live needs no freeze: it
     * stops the guest).  May be NULL (UNSUPPORTED). */
    int (*snapshot)(struct drv_hv *hv, const char *uuid, enum drv_hv_quiesce quiesce,
                    struct drv_hv_snapshot *out, struct err **err);
    /* Rescue and unrescue (drv_hv_rescue, drv_hv_unrescue).  May be NULL
     * (UNSUPPORTED). */
    int (*rescue)(struct drv_hv *hv, const char *uuid, const struct drv_hv_image *image,
                  const struct drv_hv_rescue_dev *dev, const struct drv_hv_config_drive *cd,
                  int timeout_s, struct err **err);
    int (*unrescue)(struct drv_hv *hv, const char *uuid, struct err **err);
    /* The files every guest of sculpt's on the host reads outside its
     * folder, appended to *out (drv_hv_images_in_use).  May be NULL
     * (UNSUPPORTED). */
    int (*images_in_use)(struct drv_hv *hv, struct drv_hv_paths *out, struct err **err);
};

/* The handle: the backend's table, its private state and the event
 * subscriber.  Opaque in use; fields are for backends. */
struct drv_hv_aliases;

struct drv_hv {
    const struct drv_hv_ops *ops;
    void *priv;               /* backend state */
    drv_hv_event_cb event_cb; /* set by drv_hv_set_event_cb() */
    void *event_opaque;
    struct drv_hv_aliases *aliases; /* handed-over pool members (hypervisor_handover.c) */
};

/* The backend called `name` ("libvirt", "fake"), loading the libvirt
 * module if needed (driver/module.h).  NULL with *err: INVALID for an
 * unknown name, UNAVAILABLE when the module cannot be loaded. */
const struct drv_hv_ops *drv_hv_backend_load(const char *name, struct err **err);
/* The same without the reason. */
const struct drv_hv_ops *drv_hv_backend(const char *name);

/* Open a backend: `name` NULL takes [DEFAULT] compute_driver from cfg.
 * Returns a handle the caller closes with drv_hv_close(), or NULL with *err
 * (UNAVAILABLE when the hypervisor cannot be reached).  Call from any
 * thread. */
struct drv_hv *drv_hv_open(const char *name, const struct cfg *cfg, struct err **err);
/* Close and free; accepts NULL.  No event callback runs after it returns. */
void drv_hv_close(struct drv_hv *hv);
/* The same, under the name autoptr(drv_hv) expects. */
static inline void drv_hv_free(struct drv_hv *hv)
{
    drv_hv_close(hv);
}
DEFINE_AUTOPTR(drv_hv)

/* Subscribe to lifecycle and connection events (one subscriber; NULL
 * unsubscribes).  Set it before spawning anything to see every event. */
void drv_hv_set_event_cb(struct drv_hv *hv, drv_hv_event_cb cb, void *opaque);

int drv_hv_host_info(struct drv_hv *hv, struct drv_hv_host *out, struct err **err);
char *drv_hv_capabilities(struct drv_hv *hv, struct err **err);

/* Define the guest (maximum from spec->shape's vcpus_max and mem_max_mib,
 * which must be within the host policy) with its own overlay disk, and
 * start it in its shape.  On failure nothing is left behind.  CONFLICT when
 * the uuid exists, CAPACITY when the maxima exceed the host policy. */
int drv_hv_spawn(struct drv_hv *hv, const struct drv_hv_guest_spec *spec, struct err **err);
/* Stop (hard) and undefine; remove the guest's files unless keep_disks.
 * NOT_FOUND when there is no such guest. */
int drv_hv_destroy(struct drv_hv *hv, const char *uuid, bool keep_disks, struct err **err);
/* Clean shutdown (ACPI), waiting up to timeout_s, then hard; 0: hard at once. */
int drv_hv_power_off(struct drv_hv *hv, const char *uuid, int timeout_s, struct err **err);
/* Start a stopped guest in its latest shape. */
int drv_hv_power_on(struct drv_hv *hv, const char *uuid, struct err **err);
int drv_hv_reboot(struct drv_hv *hv, const char *uuid, bool hard, struct err **err);
/* Pause/unpause: stop the vCPUs in memory.  Suspend/resume: save the guest
 * to disk and restore it (Nova's suspend). */
int drv_hv_pause(struct drv_hv *hv, const char *uuid, struct err **err);
int drv_hv_unpause(struct drv_hv *hv, const char *uuid, struct err **err);
int drv_hv_suspend(struct drv_hv *hv, const char *uuid, struct err **err);
int drv_hv_resume(struct drv_hv *hv, const char *uuid, struct err **err);
/* Send the guest a non-maskable interrupt (Nova's trigger_crash_dump): a
 * guest set up for it dumps its kernel's memory, others log it.  CONFLICT
 * when the guest is not running; UNSUPPORTED when the backend cannot. */
int drv_hv_inject_nmi(struct drv_hv *hv, const char *uuid, struct err **err);
/* Set the password of `user` inside the guest through its QEMU guest
 * agent (virDomainSetUserPassword, the clear text the agent hashes; Nova's
 * set_admin_password).  Neither the password nor anything derived from it
 * appears in a message.  CONFLICT when the guest is not running;
 * UNSUPPORTED when it has no agent channel (spec.guest_agent) or the
 * backend cannot; TIMEOUT when the agent does not answer (none runs in
 * the guest); INTERNAL when the agent refused (an unknown user). */
int drv_hv_set_user_password(struct drv_hv *hv, const char *uuid, const char *user,
                             const char *password, struct err **err);
/* Freeze (thaw) the guest's filesystems through its QEMU guest agent
 * (virDomainFSFreeze / virDomainFSThaw, guest-fsfreeze-freeze / -thaw;
 * Nova's quiesce and unquiesce); *count (may be NULL): how many the agent
 * froze (thawed), 0 being a valid answer.  Thawing a guest not frozen
 * thaws nothing.  CONFLICT when the guest is not running; UNSUPPORTED
 * when it has no agent channel (spec.guest_agent) or the backend cannot;
 * TIMEOUT when the agent does not answer (none runs in the guest: nothing
 * was frozen); INTERNAL when the agent refused or failed (qemu-ga thaws
 * what it froze before it answers so).  Any thread. */
int drv_hv_fs_freeze(struct drv_hv *hv, const char *uuid, int *count, struct err **err);
int drv_hv_fs_thaw(struct drv_hv *hv, const char *uuid, int *count, struct err **err);
/* Whether the backend can freeze guests' filesystems at all (Nova's
 * _can_quiesce for the hypervisor's part). */
bool drv_hv_can_quiesce(const struct drv_hv *hv);

/* Change the live shape to `to`, touching only the knobs that differ from
 * the shape in force.  The maxima (vcpus_max, mem_max_mib) must equal the
 * defined ones (changing them needs drv_hv_resize_cold()).  A vCPU shrink
 * where unplug is unsupported keeps the vCPUs online and lowers the quota
 * (report->vcpus_kept).  A guest that is off keeps `to` for its next
 * start.  `report` may be NULL.  On failure the knobs already changed stay
 * changed and the next reshape retries the rest.  INVALID for a bad shape
 * or other maxima, CAPACITY beyond the host policy, NOT_FOUND, UNAVAILABLE
 * while the hypervisor is unreachable. */
int drv_hv_reshape(struct drv_hv *hv, const char *uuid, const struct drv_shape *to,
                   struct drv_hv_reshape_report *report, struct err **err);
/* What a Nova resize does: stop, redefine with `to` (maxima may change),
 * start again.  The guest restarts. */
int drv_hv_resize_cold(struct drv_hv *hv, const char *uuid, const struct drv_shape *to,
                       struct err **err);

int drv_hv_get_info(struct drv_hv *hv, const char *uuid, struct drv_hv_info *out, struct err **err);
/* Every guest the hypervisor has (sculpt's and others', see `ours`).
 * *out is caller-owned (free()). */
int drv_hv_list(struct drv_hv *hv, struct drv_hv_info **out, size_t *n, struct err **err);
/* Usage of every running guest of sculpt's, collected at once.  *out is
 * caller-owned (free()). */
int drv_hv_sample(struct drv_hv *hv, struct drv_hv_sample **out, size_t *n, struct err **err);
/* The last max_bytes (<= DRV_HV_CONSOLE_MAX) of the guest's serial console
 * log.  Caller frees. */
char *drv_hv_console_output(struct drv_hv *hv, const char *uuid, size_t max_bytes,
                            struct err **err);
/* The TCP port of the guest's remote console of `type` as its running
 * domain has it now (nova's driver.get_vnc_console reads it from the live
 * domain XML): NOT_FOUND without such a guest, CONFLICT when it does not
 * run, UNSUPPORTED when it has no such console (defined without one, or a
 * backend without consoles). */
int drv_hv_console_port(struct drv_hv *hv, const char *uuid, enum drv_hv_console type, int *port,
                        struct err **err);
/* The guest's counters (drv_hv_diag).  NOT_FOUND without such a guest;
 * UNSUPPORTED when the backend has none to give.  Release with
 * drv_hv_diag_release(). */
int drv_hv_diagnostics(struct drv_hv *hv, const char *uuid, struct drv_hv_diag *out,
                       struct err **err);
/* The spec a guest was spawned with (shape: as defined).  *out is
 * overwritten; release with drv_hv_guest_spec_release(). */
int drv_hv_get_spec(struct drv_hv *hv, const char *uuid, struct drv_hv_guest_spec *out,
                    struct err **err);
/* The files the host's guests read outside their folders (struct
 * drv_hv_paths), sorted, each once; *out is overwritten.  Fails rather
 * than leave a guest out (an image cache removes what is not listed). */
int drv_hv_images_in_use(struct drv_hv *hv, struct drv_hv_paths *out, struct err **err);

/* Compare what the hypervisor runs with what the engine believes: reapply
 * the shape of every running guest whose live shape drifted, and report
 * states that differ, guests missing, and guests of sculpt's not believed in
 * (left alone: the caller decides).  Returns a report the caller frees, or
 * NULL with *err when the hypervisor cannot be listed. */
struct drv_hv_reconcile *drv_hv_reconcile_run(struct drv_hv *hv, const struct drv_hv_expect *expect,
                                              size_t n, struct err **err);

/* ---- pre-sculpted guests: the hand-over ----
 * A pool member (driver/presculpt_pool.h) is spawned under its own uuid and
 * paused.  When a build request takes it, drv_hv_handover() makes it the
 * instance's guest: from then on every call above names it by the instance
 * uuid, and info, lists, samples, specs and events report that uuid; a
 * paused member is resumed.  Then (off the path to a running guest: it
 * writes the domain's definition) drv_hv_set_identity() writes the
 * instance's identity into it.  The domain keeps its uuid and, while it
 * runs, its name (libvirt renames only a domain that is shut off:
 * drv_hv_rename() once it is off): the alias ties the instance to it.  Aliases live in the handle: after a
 * restart, drv_hv_alias() restores those the database kept, before the
 * first list. */

/* Hand member `member_uuid` (paused or running) over to instance
 * inst->uuid: alias, insert inst->config_drive (when not NULL) into the
 * member's empty cdrom drive, then resume.  CONFLICT when the instance
 * already has a guest or the member is not running or paused; NOT_FOUND
 * when there is no such member; UNSUPPORTED when the instance needs a
 * config drive the member cannot take (the caller builds cold: a guest
 * never runs as the instance without its user data).  On failure the
 * member is not the instance's guest; it may hold the instance's drive
 * already, so the caller destroys it rather than keep it in a pool. */
int drv_hv_handover(struct drv_hv *hv, const char *member_uuid,
                    const struct drv_hv_guest_spec *inst, struct err **err);
/* Write inst's identity (uuid, display name, project, user, flavor) into
 * guest `uuid` (the instance's, after a hand-over): libvirt's title and
 * sculpt's metadata.  A backend without it: 0. */
int drv_hv_set_identity(struct drv_hv *hv, const char *uuid, const struct drv_hv_guest_spec *inst,
                        struct err **err);
/* Rename guest `uuid` to `name` (1 to DRV_HV_NAME_MAX bytes of letters,
 * digits, `-`, `_` and `.`): how a handed-over member comes to bear its
 * instance's domain name.  libvirt renames only a domain that is shut
 * off, and never changes a defined domain's uuid, so the alias stays.
 * Idempotent: a guest named so already is left alone.  CONFLICT while the
 * guest runs or is paused; NOT_FOUND without such a guest; CONFLICT when
 * another domain bears the name; UNSUPPORTED when the backend cannot
 * rename.  Any thread. */
int drv_hv_rename(struct drv_hv *hv, const char *uuid, const char *name, struct err **err);
/* Whether the backend can cold-migrate guests to another host. */
bool drv_hv_can_migrate(const struct drv_hv *hv);
/* Cold migration (drv_hv_ops.migrate_out/in): UNSUPPORTED when the backend
 * cannot; INVALID for a bad uuid, host or disk_info; NOT_FOUND without the
 * guest.  *disk_info: caller frees.  Any thread. */
int drv_hv_migrate_out(struct drv_hv *hv, const char *uuid, const char *dest, int timeout_s,
                       char **disk_info, struct err **err);
int drv_hv_migrate_in(struct drv_hv *hv, const struct drv_hv_guest_spec *spec,
                      const char *disk_info, bool power_on, struct err **err);
/* drv_hv_ops.migrate_cleanup for the instance `uuid` whose move here is
 * over: 0 when nothing was left or it was removed (and always for a
 * backend without the op); INVALID for a bad uuid.  Any thread. */
int drv_hv_migrate_cleanup(struct drv_hv *hv, const char *uuid, struct err **err);
/* Whether the backend can live-migrate guests to another host. */
bool drv_hv_can_live_migrate(const struct drv_hv *hv);
/* Live migration (drv_hv_ops.live_*): UNSUPPORTED when the backend cannot;
 * INVALID for a bad uuid, host or dest_info; NOT_FOUND without the guest.
 * *dest_info: caller frees.  Any thread; `watch` may be NULL. */
int drv_hv_live_prepare(struct drv_hv *hv, const struct drv_hv_guest_spec *spec,
                        char **dest_info, struct err **err);
int drv_hv_live_migrate(struct drv_hv *hv, const char *uuid, const char *dest,
                        const char *dest_info, const struct drv_hv_live_watch *watch,
                        struct err **err);
int drv_hv_live_abort(struct drv_hv *hv, const char *uuid, struct err **err);
int drv_hv_live_finish(struct drv_hv *hv, const char *uuid, struct err **err);
int drv_hv_live_rollback(struct drv_hv *hv, const char *uuid, struct err **err);
/* Snapshot guest `uuid` (drv_hv_ops.snapshot): *out is overwritten; on
 * success the caller uploads out->path and calls drv_hv_snapshot_release()
 * (always: the file is a temporary copy); on failure nothing is left.
 * UNSUPPORTED when the backend cannot, NOT_FOUND without the guest.  The
 * guest may be paused or saved to disk while its disk is copied (the
 * libvirt backend's cold snapshot) and is put back as it was.  A live
 * copy of a running guest is taken with its filesystems frozen when
 * `quiesce` asks (the freeze as short as the copy's end, the thaw on
 * every path; out->quiesced says whether it was); a freeze the agent
 * cannot make is logged and skipped (TRY) or fails the snapshot
 * (REQUIRE) with drv_hv_fs_freeze's error.  Any thread; the caller
 * serialises calls on one guest. */
int drv_hv_snapshot(struct drv_hv *hv, const char *uuid, enum drv_hv_quiesce quiesce,
                    struct drv_hv_snapshot *out, struct err **err);
/* Rescue (nova/virt/libvirt/driver.py rescue): guest `uuid` is powered
 * off (cleanly within timeout_s, 0: at once) and started again from its
 * rescue definition -- the same domain (uuid, name, shape, interfaces)
 * booting from a new overlay of `image` (kernel, initrd, disk: the
 * rescue image).  `dev` NULL or LEGACY: that overlay is its first disk,
 * its own disk attached second, and config drive `cd` (NULL: none) in
 * its cdrom.  Else a stable device rescue (blockinfo's
 * _get_stable_device_rescue_mapping): the guest's own disk and config
 * drive where they were (`cd` unused, as in Nova), the overlay added last
 * as dev's device on dev's bus, first in the boot order; the image needs
 * a disk (INVALID without), dev a valid pairing (drv_hv_rescue_dev_resolve;
 * a backend may refuse a bus its machine lacks, UNSUPPORTED), both
 * checked before the guest is touched.  The rescue is recorded with the
 * guest (info.rescued, info.rescue_dev), so a restart finds it.
 * Idempotent: a guest rescued already is left as it is.  On failure the
 * guest keeps (or gets back) its own definition, off.  UNSUPPORTED for a
 * backend without it, NOT_FOUND without the guest.  Any thread. */
int drv_hv_rescue(struct drv_hv *hv, const char *uuid, const struct drv_hv_image *image,
                  const struct drv_hv_rescue_dev *dev, const struct drv_hv_config_drive *cd,
                  int timeout_s, struct err **err);
/* Unrescue: the rescue guest stopped hard, the guest's own definition
 * back and started, the rescue disk and drive removed.  Idempotent: a
 * guest not rescued is only started when off (an unrescue interrupted
 * after its definition came back). */
int drv_hv_unrescue(struct drv_hv *hv, const char *uuid, struct err **err);
/* Name guest `domain_uuid` by `instance_uuid` from now on. */
void drv_hv_alias(struct drv_hv *hv, const char *instance_uuid, const char *domain_uuid);
/* The uuid the backend knows a guest by, for the uuid a caller names it
 * with (the same unless it was handed over). */
void drv_hv_domain_uuid(struct drv_hv *hv, const char *uuid, char out[DRV_UUID_LEN + 1]);

/* Nova's power_state name: "running", "shutdown"... */
const char *drv_power_state_name(enum drv_power_state s);

/* Which knobs differ between two shapes: a bit (1 << enum drv_hv_knob) per
 * knob, compared to the precision the knob has (quota in us for the given
 * period, memory in MiB, bandwidth in KB/s, I/O in ops/s and bytes/s).  The
 * maxima are not knobs: compare them yourself. */
uint32_t drv_hv_shape_diff(const struct drv_shape *from, const struct drv_shape *to,
                           int64_t period_us);

#endif

/* State of the libvirt backend, shared by its files: driver.c (open,
 * lifecycle, events), reshape.c (knobs), observe.c (info, list, usage,
 * console).
 *
 * Locking: lv->lock guards the guest table and every entry's fields.
 * libvirt calls are made without it, on copies and on domain handles held
 * with a reference.  Calls for one guest are serialised by the caller (the
 * engine); the event thread only updates states and expectations.
 */
#ifndef SC_DRIVER_LIBVIRT_DRIVER_PRIV_H
#define SC_DRIVER_LIBVIRT_DRIVER_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <libvirt/libvirt.h>

#include "driver/hypervisor.h"
#include "driver/libvirt/config.h"
#include "driver/libvirt/designer.h"
#include "driver/libvirt/host.h"
#include "driver/libvirt/serial_port.h"
#include "driver/libvirt/transfer.h"
#include "driver/libvirt/vmem.h"

/* [libvirt] live_migration_* (live.c) */
struct lv_live_cfg {
    char *uri;          /* the destination libvirtd's, %s for its address */
    char *inbound_addr; /* ours, for migrations in; "" none */
    uint64_t bandwidth_mib;
    int64_t downtime_ms;
    int64_t completion_timeout_s; /* a GiB; 0: none */
    bool timeout_force;           /* live_migration_timeout_action = force_complete */
    bool permit_post_copy;        /* live_migration_permit_post_copy */
};

/* An event sculpt is about to cause, so it is reported as by_sculpt. */
struct lv_expect {
    enum drv_hv_event_type type;
    int64_t until_ms; /* monotonic deadline */
};

#define LV_MAX_EXPECT 8

/* What the backend keeps of one guest. */
struct lv_entry {
    char uuid[DRV_UUID_LEN + 1];
    char name[DRV_HV_NAME_MAX + 1];
    virDomainPtr dom;            /* referenced handle, or NULL */
    uint64_t gen;                /* connection generation of dom */
    bool loaded;                 /* meta and applied read or set */
    bool ours;                   /* has sculpt's metadata */
    struct lv_meta meta;         /* spec, files; spec.shape = the defined shape */
    struct drv_shape applied;    /* the knobs as set; vcpus_online = online now */
    int32_t wanted_online;       /* vCPUs the last shape asked for */
    struct drv_cpuset def_pcpus; /* pinning of the definition (hot-added vCPUs get it) */
    struct lv_knobs names;       /* taps and disk target (knob values unused) */
    struct lv_vmem vmem;         /* memory hot-plug: the split of the definition
                                  * it runs, requested and plugged (vmem.h) */
    enum drv_power_state state;  /* last known */
    int64_t started_ms;          /* Unix ms the current run began, 0 unknown */
    uint64_t balloon_kib;        /* without memory hot-plug: the balloon target
                                  * set in this run (0 unknown) and what the */
    uint64_t balloon_from_kib;   /* guest held then (the run metadata) */
    bool gap_saved;              /* the run metadata holds vmem's gap base as */
    uint64_t gap_saved_kib;      /* gap_saved_kib (lv_vmem_gap_record) */
    double held_mib;             /* what the guest held when its knobs were last
                                  * read back while a target stands above or
                                  * below it; 0: it holds what it was asked */
    bool mem_seen;               /* its balloon driver reported this run */
    int64_t mem_wait_ms;         /* Unix ms of its first sample without that
                                  * report (0: none yet) */
    bool mem_pending;            /* the last sample found it booting, that
                                  * report still to come (lv_sample) */
    struct drv_hv_sample prev;   /* last usage sample */
    bool has_prev;
    struct lv_expect expect[LV_MAX_EXPECT];
    int nexpect;
    bool migrating_out;          /* a live migration out runs: its switch-over
                                  * pauses are sculpt's (live.c) */
};

struct lv {
    struct drv_hv *hv;
    struct lv_host *host;
    pthread_mutex_t lock;
    pthread_mutex_t run_lock; /* orders writes of a run's metadata, each
                               * made whole from the entry; before `lock` */
    struct lv_entry **g;
    size_t n;
    struct lv_policy pol;
    char *uri;
    char *instances_path;
    char *qemu_img;
    char *snapshots_dir;      /* [libvirt] snapshots_directory, resolved */
    char snapshot_format[8];  /* [libvirt] snapshot_image_format */
    bool live_snapshot;       /* not [workarounds] disable_libvirt_livesnapshot */
    char *cpu_mode;
    char *cpu_model;
    char *vnc_listen; /* [vnc] server_listen (pol.vnc_listen when enabled) */
    struct lv_serial serial; /* [serial_console] ports (pol.serial_host) */
    struct drv_hv_host info; /* host facts and policy, read at open */
    int32_t nodes;           /* host NUMA nodes */
    bool unplug;             /* vCPUs may be removed live */
    int64_t vmem_timeout_ms; /* a guest not plugging for this long is stalled */
    struct lv_ssh ssh;       /* how cold migrations reach other hosts */
    struct lv_live_cfg live; /* how live migrations do */
};

static inline struct lv *lv_of(struct drv_hv *hv)
{
    return hv->priv;
}

/* The entry for uuid (NULL if none); call with lv->lock held. */
struct lv_entry *lv_entry_find(struct lv *lv, const char *uuid);
/* The uuids of the entries now, copied (caller frees *out), so each can
 * be looked at without the lock; returns how many. */
typedef char lv_uuid_t[DRV_UUID_LEN + 1];
size_t lv_entry_uuids(struct lv *lv, lv_uuid_t **out);
/* fn(lv, uuid, dom, arg) for each entry whose domain is running now (the
 * sweeps of what an earlier run left in its guests); the handle is freed
 * after, libvirt's last error reset. */
void lv_each_active(struct lv *lv,
                    void (*fn)(struct lv *lv, const char *uuid, virDomainPtr dom, void *arg),
                    void *arg);

/* A referenced domain handle for uuid on the live connection, and the
 * entry (created if needed), loaded (metadata and knobs read back) when
 * `load` is set.  The caller virDomainFree()s the handle.  NOT_FOUND when
 * libvirt has no such domain; UNAVAILABLE when libvirtd is unreachable. */
virDomainPtr lv_domain(struct lv *lv, const char *uuid, bool load, struct err **err);

/* Read back an entry's state and, for a new entry or when `knobs`, its
 * metadata and knobs from libvirt.  Call without the lock. */
int lv_entry_load(struct lv *lv, const char *uuid, virDomainPtr dom, bool knobs, struct err **err);

/* The shape the knobs express. */
void lv_knobs_shape(const struct lv_knobs *k, int32_t host_cpus, struct drv_shape *out);

/* Note that sculpt is about to cause an event of `type` on uuid; withdraw
 * the note when the call failed (the event will not come, and a later
 * one of the same type, caused by someone else, must not be taken for
 * ours). */
void lv_expect(struct lv *lv, const char *uuid, enum drv_hv_event_type type);
void lv_unexpect(struct lv *lv, const char *uuid, enum drv_hv_event_type type);

/* After a failed call: if it was the connection, let the host notice. */
void lv_failed(struct lv *lv, const struct err *e);

/* Define (or redefine) the guest of entry `uuid` in `shape` from its
 * stored spec; updates the entry.  Returns the new handle (referenced) or
 * NULL. */
virDomainPtr lv_define(struct lv *lv, const char *uuid, const struct drv_shape *shape,
                       struct err **err);

/* Start a defined guest and record when (live metadata). */
int lv_start(struct lv *lv, virDomainPtr dom, const char *uuid, struct err **err);

/* Write the live run metadata (config.h) of a running guest.  Callers
 * that change part of it hold lv->run_lock from lv_run_of() on. */
int lv_write_run(virDomainPtr dom, const struct lv_run *run, struct err **err);
/* The run metadata as entry e knows it, the kernel's share learnt
 * included.  With the lock. */
void lv_run_of(const struct lv_entry *e, struct lv_run *out);

/* Hard stop when running (no error when it is not). */
int lv_stop_hard(struct lv *lv, virDomainPtr dom, const char *uuid, struct err **err);

/* CONFLICT when libvirt knows a domain of spec's uuid or domain name. */
int lv_spawn_check_new(struct lv *lv, const struct drv_hv_guest_spec *spec, struct err **err);

/* Make the guest of *meta (its files in place) sculpt's: its entry,
 * defined in meta->spec.shape, started when `start`.  *meta is taken
 * (zeroed).  On failure the domain, the entry and the guest's folder
 * are gone. */
int lv_spawn_install(struct lv *lv, struct lv_meta *meta, bool start, struct err **err);

/* migrate.c: drv_hv_ops.migrate_out, migrate_in and migrate_cleanup. */
int lv_migrate_out(struct drv_hv *hv, const char *uuid, const char *inst_uuid, const char *dest,
                   int timeout_s, char **disk_info, struct err **err);
int lv_migrate_in(struct drv_hv *hv, const struct drv_hv_guest_spec *spec, const char *disk_info,
                  bool power_on, struct err **err);
int lv_migrate_cleanup(struct drv_hv *hv, const char *uuid, struct err **err);

/* live.c: drv_hv_ops.live_*. */
int lv_live_prepare(struct drv_hv *hv, const struct drv_hv_guest_spec *spec, char **dest_info,
                    struct err **err);
int lv_live_migrate(struct drv_hv *hv, const char *uuid, const char *dest, const char *dest_info,
                    const struct drv_hv_live_watch *watch, struct err **err);
int lv_live_abort(struct drv_hv *hv, const char *uuid, struct err **err);
int lv_live_finish(struct drv_hv *hv, const char *uuid, struct err **err);
int lv_live_rollback(struct drv_hv *hv, const char *uuid, struct err **err);

/* Create the files of new guest *m: its folder, config drive (from cd)
 * and overlay.  CONFLICT when the folder holds another guest's disk. */
int lv_spawn_files(struct lv *lv, const struct lv_meta *m, const struct drv_hv_config_drive *cd,
                   struct err **err);

/* Forget guest `uuid` (gone from libvirt): its entry, its console socket
 * outside its folder and, unless keep_files, its folder. */
int lv_entry_drop(struct lv *lv, const char *uuid, bool keep_files, struct err **err);

/* snapshot.c: drv_hv_ops.snapshot (live or cold), and the removal of
 * snapshot files a crash left in snapshots_dir, and the block copies of
 * live snapshots it left running (at open). */
int lv_snapshot(struct drv_hv *hv, const char *uuid, enum drv_hv_quiesce quiesce,
                struct drv_hv_snapshot *out, struct err **err);
void lv_snapshot_sweep(struct lv *lv);

/* quiesce.c: drv_hv_ops.fs_freeze and fs_thaw; the freeze of a running
 * domain through its agent (*count: how many filesystems; may be NULL),
 * libvirt's error as "[Error Code N] message"; the record of a freeze
 * sculpt made for a snapshot (the domain's live metadata: set before the
 * freeze, dropped after the thaw); the thaw of a recorded guest (returns
 * how many were thawed, and drops the record); and the thaw at open of
 * every guest an earlier run left recorded. */
int lv_fs_freeze(struct drv_hv *hv, const char *uuid, int *count, struct err **err);
int lv_fs_thaw(struct drv_hv *hv, const char *uuid, int *count, struct err **err);
int lv_fs_set(virDomainPtr dom, bool freeze, int *count, struct err **err);
int lv_quiesce_record(virDomainPtr dom, bool frozen, struct err **err);
bool lv_quiesce_recorded(virDomainPtr dom);
int lv_quiesce_thaw(virDomainPtr dom, const char *uuid, struct err **err);
void lv_quiesce_sweep(struct lv *lv);

/* The ops implemented in reshape.c and observe.c. */
int lv_reshape(struct drv_hv *hv, const char *uuid, const struct drv_shape *to,
               struct drv_hv_reshape_report *rep, struct err **err);
int lv_resize_cold(struct drv_hv *hv, const char *uuid, const struct drv_shape *to,
                   struct err **err);
int lv_get_info(struct drv_hv *hv, const char *uuid, struct drv_hv_info *out, struct err **err);
int lv_list(struct drv_hv *hv, struct drv_hv_info **out, size_t *n, struct err **err);
int lv_sample(struct drv_hv *hv, struct drv_hv_sample **out, size_t *n, struct err **err);
int lv_diagnostics(struct drv_hv *hv, const char *uuid, struct drv_hv_diag *out,
                   struct err **err);
char *lv_console_output(struct drv_hv *hv, const char *uuid, size_t max_bytes, struct err **err);
int lv_console_port(struct drv_hv *hv, const char *uuid, enum drv_hv_console type, int *port,
                    struct err **err);
int lv_get_spec(struct drv_hv *hv, const char *uuid, struct drv_hv_guest_spec *out,
                struct err **err);
int lv_images_in_use(struct drv_hv *hv, struct drv_hv_paths *out, struct err **err);
/* driver.c: power off (cleanly within timeout_s, then hard); redefine
 * guest `uuid` from its metadata in its latest shape and start it. */
int lv_power_off(struct drv_hv *hv, const char *uuid, int timeout_s, struct err **err);
int lv_boot(struct lv *lv, const char *uuid, struct err **err);
/* rescue.c: drv_hv_ops.rescue and unrescue. */
int lv_rescue(struct drv_hv *hv, const char *uuid, const struct drv_hv_image *image,
              const struct drv_hv_rescue_dev *dev,
              const struct drv_hv_config_drive *cd, int timeout_s, struct err **err);
int lv_unrescue(struct drv_hv *hv, const char *uuid, struct err **err);
/* observe.c: a pool member takes an instance's identity (title, metadata). */
int lv_set_identity(struct drv_hv *hv, const char *uuid, const struct drv_hv_guest_spec *inst,
                    struct err **err);
/* A copy of sculpt's metadata of guest `uuid` into *out (release with
 * lv_meta_release); false, *out untouched, when it is not sculpt's. */
bool lv_entry_meta_get(struct lv *lv, const char *uuid, struct lv_meta *out);
/* Make *m the metadata of guest `uuid` (taken: *m is zeroed; a guest
 * gone meanwhile leaves it to the caller). */
void lv_entry_meta_put(struct lv *lv, const char *uuid, struct lv_meta *m);

/* A change to a domain's definition, and to the running guest when it
 * runs (or is paused). */
static inline unsigned lv_affect_now(virDomainPtr dom)
{
    return VIR_DOMAIN_AFFECT_CONFIG | (virDomainIsActive(dom) == 1 ? VIR_DOMAIN_AFFECT_LIVE : 0);
}

/* vmem_watch.c: memory hot-plug as the guests do it.
 * Guest `uuid` plugged current_kib now (the size-change event; any thread,
 * without the lock): a catch-up is reported. */
void lv_vmem_on_size(struct lv *lv, const char *uuid, uint64_t current_kib);
/* Declare stalled (once) every running guest with a request pending and
 * no move for the timeout (lv_vmem_due: the time a guest spends paused or
 * booting, its memory figures still to come, does not count), after
 * reading its device back; set the
 * balloon of a guest whose offset changed (lv_vmem_balloon_kib).  Called
 * by sample (the engine's step, so the delay is the timeout plus a step
 * at most); call without the lock. */
void lv_vmem_tick(struct lv *lv);
/* Register sculpt_memory_hotplug_stalled_total and
 * sculpt_memory_hotplug_offline_total with their series at 0 (the
 * backend's open, with memory hot-plug on). */
void lv_vmem_metrics_init(void);
/* Report a verdict: a log line, a DRV_HV_EVENT_MEMORY event, the metric
 * sculpt_memory_hotplug_stalled_total{direction} or
 * sculpt_memory_hotplug_offline_total.  Without the lock. */
void lv_vmem_report(struct lv *lv, const char *uuid, enum lv_vmem_news n, const struct lv_vmem *v,
                    enum drv_power_state state);
/* What a guest declared stalled short of its plug request holds, or
 * one declared offline can use (MiB), 0 when it is not short
 * (drv_hv_sample.mem_short_mib). */
double lv_vmem_short_mib(const struct lv_vmem *v);

/* News of one guest's memory found by a sample, reported once the lock
 * is released. */
struct lv_vmem_seen {
    char uuid[DRV_UUID_LEN + 1];
    enum lv_vmem_news news;
    struct lv_vmem v;
    enum drv_power_state state;
};

/* Hold sample x of entry e against what it plugged (lv_vmem_observe_total);
 * true, with *out filled, when there is news to report.  With the lock. */
bool lv_vmem_seen(struct lv *lv, struct lv_entry *e, const struct drv_hv_sample *x,
                  struct lv_vmem_seen *out);
/* Has entry e learnt a kernel's share its run metadata does not hold yet?
 * With the lock. */
bool lv_vmem_gap_unsaved(const struct lv_entry *e);
/* Write the kernel's share learnt for guest `uuid` into its run metadata
 * (lv_write_run), so that a restarted sculpt starts from it.  Without the
 * lock; a failure is logged (a restart learns it again). */
void lv_vmem_gap_record(struct lv *lv, const char *uuid);
/* The balloon target for a guest of mem_mib, offset as the record says. */
uint64_t lv_vmem_balloon_for(const struct lv_vmem *v, double mem_mib);

/* rename.c: drv_hv_ops.rename. */
int lv_rename(struct drv_hv *hv, const char *uuid, const char *name, struct err **err);

/* media.c: the hand-over's config drive into the guest's empty cdrom. */
int lv_insert_config_drive(struct drv_hv *hv, const char *uuid,
                           const struct drv_hv_config_drive *cd, struct err **err);

#endif

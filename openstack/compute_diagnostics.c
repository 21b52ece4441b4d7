/* get_instance_diagnostics and get_diagnostics (`openstack server show
 * --diagnostics`; the first from microversion 2.48, the second before):
 * the guest's counters from the backend (drv_hv_diagnostics) as Zed's
 * libvirt driver reports them -- a Diagnostics object, or the older flat
 * dict.  Only for a running guest, as Zed's manager: otherwise
 * InstanceInvalidState. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "driver/hypervisor.h"
#include "openstack/compute_ops.h"
#include "openstack/compute_priv.h"
#include "openstack/nova_instance.h"
#include "openstack/oslo.h"
#include "openstack/ovo.h"
#include "openstack/rpc_failure.h"

/* A counter: null when the hypervisor did not give it. */
static json_t *diag_num(int64_t v)
{
    return v < 0 ? json_null() : json_integer(v);
}

/* The guest's counters when it runs; -1 with the fault Nova raises. */
static int diag_read(struct os_rpc_req *req, const char **uuid, struct drv_hv_diag *d,
                     struct err **err)
{
    struct os_compute *c = req->opaque;
    json_t *inst = json_object_get(req->msg->args, "instance");
    *uuid = ovo_get_str(inst, "uuid");
    if (!ovo_is(inst, "Instance") || !*uuid)
        return err_set(err, ERR_INVALID, "%s needs an Instance", req->msg->method);
    if (drv_hv_diagnostics(c->hv, *uuid, d, err) < 0) {
        if (err_code_of(*err) == ERR_NOT_FOUND)
            os_fault_instance_not_found(&req->fault, *uuid);
        return -1;
    }
    if (d->state != DRV_POWER_RUNNING) {
        const char *state = drv_power_state_name(d->state);
        os_fault_nova(&req->fault, "InstanceInvalidState", 409);
        req->fault.kwargs = json_pack("{s:s, s:s, s:s, s:s}", "attr", "power state",
                                      "instance_uuid", *uuid, "state", state, "method",
                                      "get_diagnostics");
        drv_hv_diag_release(d);
        return err_set(err, ERR_CONFLICT,
                       "Instance %s in power state %s. Cannot get_diagnostics while the "
                       "instance is in this state.",
                       *uuid, state);
    }
    return 0;
}

json_t *os_diag_object(const struct drv_hv_diag *d, const char *hypervisor, bool config_drive,
                       int64_t uptime_s)
{
    json_t *o = ovo_new("Diagnostics");
    /* drv_power_state_name's are nova.compute.power_state.STATE_MAP's */
    ovo_set_str(o, "state", drv_power_state_name(d->state));
    ovo_set_str(o, "driver", "libvirt");
    ovo_set_str(o, "hypervisor", hypervisor);
    ovo_set_str(o, "hypervisor_os", "linux");
    ovo_set(o, "uptime", uptime_s >= 0 ? json_integer(uptime_s) : json_null());
    ovo_set(o, "config_drive", json_boolean(config_drive));
    json_t *mem = ovo_new("MemoryDiagnostics");
    ovo_set(mem, "maximum", json_integer(d->mem_max_kib / 1024));
    ovo_set(mem, "used", json_integer(d->mem_kib / 1024));
    ovo_set(o, "memory_details", mem);
    json_t *cpus = json_array();
    for (size_t k = 0; d->cpu_time_ns && k < d->ncpus; k++) {
        json_t *cpu = ovo_new("CpuDiagnostics");
        ovo_set(cpu, "id", json_integer((json_int_t)k));
        ovo_set(cpu, "time", diag_num(d->cpu_time_ns[k]));
        ovo_set(cpu, "utilisation", json_null());
        json_array_append_new(cpus, cpu);
    }
    json_t *disks = json_array();
    for (size_t k = 0; k < d->ndisks; k++) {
        const struct drv_hv_diag_disk *s = &d->disks[k];
        json_t *disk = ovo_new("DiskDiagnostics");
        ovo_set(disk, "read_bytes", diag_num(s->read_bytes));
        ovo_set(disk, "read_requests", diag_num(s->read_requests));
        ovo_set(disk, "write_bytes", diag_num(s->write_bytes));
        ovo_set(disk, "write_requests", diag_num(s->write_requests));
        ovo_set(disk, "errors_count", diag_num(s->errors));
        json_array_append_new(disks, disk);
    }
    json_t *nics = json_array();
    for (size_t k = 0; k < d->nnics; k++) {
        const struct drv_hv_diag_nic *s = &d->nics[k];
        json_t *nic = ovo_new("NicDiagnostics");
        ovo_set_str(nic, "mac_address", s->mac[0] ? s->mac : NULL);
        const struct {
            const char *field;
            int64_t v;
        } f[] = {{"rx_octets", s->rx_octets}, {"rx_errors", s->rx_errors},
                 {"rx_drop", s->rx_drop},     {"rx_packets", s->rx_packets},
                 {"tx_octets", s->tx_octets}, {"tx_errors", s->tx_errors},
                 {"tx_drop", s->tx_drop},     {"tx_packets", s->tx_packets}};
        for (size_t j = 0; j < ARRAY_SIZE(f); j++)
            ovo_set(nic, f[j].field, diag_num(f[j].v));
        json_array_append_new(nics, nic);
    }
    ovo_set(o, "num_cpus", json_integer((json_int_t)json_array_size(cpus)));
    ovo_set(o, "num_disks", json_integer((json_int_t)json_array_size(disks)));
    ovo_set(o, "num_nics", json_integer((json_int_t)json_array_size(nics)));
    ovo_set(o, "cpu_details", cpus);
    ovo_set(o, "disk_details", disks);
    ovo_set(o, "nic_details", nics);
    return o;
}

json_t *os_diag_legacy(const struct drv_hv_diag *d)
{
    json_t *o = json_object();
    char key[64];
    for (size_t k = 0; d->cpu_time_ns && k < d->ncpus; k++) {
        snprintf(key, sizeof(key), "cpu%zu_time", k);
        json_object_set_new(o, key, diag_num(d->cpu_time_ns[k]));
    }
    for (size_t k = 0; k < d->ndisks; k++) {
        const struct drv_hv_diag_disk *s = &d->disks[k];
        if (s->read_requests < 0)
            continue; /* Nova leaves out a disk whose stats libvirt refused */
        const struct {
            const char *suffix;
            int64_t v;
        } f[] = {{"read_req", s->read_requests}, {"read", s->read_bytes},
                 {"write_req", s->write_requests}, {"write", s->write_bytes},
                 {"errors", s->errors}};
        for (size_t j = 0; j < ARRAY_SIZE(f); j++) {
            snprintf(key, sizeof(key), "%s_%s", s->dev, f[j].suffix);
            json_object_set_new(o, key, json_integer(f[j].v));
        }
    }
    for (size_t k = 0; k < d->nnics; k++) {
        const struct drv_hv_diag_nic *s = &d->nics[k];
        if (!s->dev[0] || s->rx_octets < 0)
            continue;
        const struct {
            const char *suffix;
            int64_t v;
        } f[] = {{"rx", s->rx_octets},     {"rx_packets", s->rx_packets},
                 {"rx_errors", s->rx_errors}, {"rx_drop", s->rx_drop},
                 {"tx", s->tx_octets},     {"tx_packets", s->tx_packets},
                 {"tx_errors", s->tx_errors}, {"tx_drop", s->tx_drop}};
        for (size_t j = 0; j < ARRAY_SIZE(f); j++) {
            snprintf(key, sizeof(key), "%s_%s", s->dev, f[j].suffix);
            json_object_set_new(o, key, json_integer(f[j].v));
        }
    }
    json_object_set_new(o, "memory", json_integer(d->mem_max_kib));
    json_object_set_new(o, "memory-actual", json_integer(d->mem_kib));
    return o;
}

int os_compute_get_instance_diagnostics(struct os_rpc_req *req, json_t **result, struct err **err)
{
    struct os_compute *c = req->opaque;
    const char *uuid = NULL;
    struct drv_hv_diag d __attribute__((cleanup(drv_hv_diag_release))) = {0};
    if (diag_read(req, &uuid, &d, err) < 0)
        return -1;
    const json_t *inst = json_object_get(req->msg->args, "instance");
    const char *launched = ovo_get_str(inst, "launched_at");
    int64_t at = 0;
    int64_t uptime = launched && ovo_datetime_parse(launched, &at) == 0 ? time(NULL) - at : -1;
    const char *cd = ovo_get_str(inst, "config_drive");
    struct drv_hv_host host;
    autoerr struct err *e = NULL;
    const char *hypervisor = drv_hv_host_info(c->hv, &host, &e) == 0 ? host.virt_type : "qemu";
    *result = os_diag_object(&d, hypervisor, cd && *cd, uptime);
    return 0;
}

int os_compute_get_diagnostics(struct os_rpc_req *req, json_t **result, struct err **err)
{
    const char *uuid = NULL;
    struct drv_hv_diag d __attribute__((cleanup(drv_hv_diag_release))) = {0};
    if (diag_read(req, &uuid, &d, err) < 0)
        return -1;
    *result = os_diag_legacy(&d);
    return 0;
}

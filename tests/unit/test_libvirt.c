/* The libvirt backend's pure parts (XML model, metadata, designer) and its
 * domain wrapper and ops against libvirt's test:///default driver (no
 * daemon).  The real thing (libvirtd + QEMU) is tested by
 * tests/integration/libvirt_live.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/config.h"
#include "common/err.h"
#include "common/metrics.h"
#include "common/strbuf.h"
#include "driver/hypervisor.h"
#include "driver/libvirt/config.h"
#include "driver/libvirt/designer.h"
#include "driver/libvirt/driver_priv.h"
#include "driver/libvirt/guest.h"
#include "driver/libvirt/host.h"
#include "driver/libvirt/serial_port.h"
#include "driver/libvirt/vmem.h"
#include "driver/libvirt/volume.h"
#include "helpers/lv_test.h"
#include "helpers/tmpdir.h"

#define UUID_A "6f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"

static struct lv_policy policy(void)
{
    return (struct lv_policy){.virt_type = "qemu",
                              .cpu_model = "qemu64",
                              .instances_path = "/srv/instances",
                              .period_us = 100000,
                              .pcie_ports = 3,
                              .balloon_period_s = 5,
                              .host_cpus = 8};
}

static void spec_of(struct drv_hv_guest_spec *spec)
{
    memset(spec, 0, sizeof(*spec));
    snprintf(spec->uuid, sizeof(spec->uuid), UUID_A);
    spec->display_name = (char *)"web <1> & co";
    spec->project_id = (char *)"p1";
    spec->image.kernel = (char *)"/img/vmlinuz";
    spec->image.initrd = (char *)"/img/initrd.gz";
    spec->image.cmdline = (char *)"console=ttyS0 quiet";
    spec->image.disk_base = (char *)"/img/base.qcow2";
    spec->nvifs = 2;
    spec->shape =
        (struct drv_shape){.vcpus_online = 2, .vcpus_max = 4, .mem_max_mib = 1024, .numa_node = 0};
    spec->shape.res.v[DRV_RES_VCPU] = 1.5;
    spec->shape.res.v[DRV_RES_MEM_MIB] = 512;
    spec->shape.res.v[DRV_RES_NET_IN_MBPS] = 100;
    spec->shape.res.v[DRV_RES_DISK_WRITE_IOPS] = 300;
    spec->shape.res.v[DRV_RES_DISK_READ_MBPS] = 2.5;
    drv_cpuset_set(&spec->shape.pcpus, 2);
    drv_cpuset_set(&spec->shape.pcpus, 3);
}

static void test_designer_units(void **state)
{
    (void)state;
    /* cpu.weight 150 (1.5 vCPU at priority 0): cgroup v1's shares are x 10.24 */
    assert_int_equal(lv_design_shares(150, false), 1536);
    assert_int_equal(lv_design_shares(150, true), 150);
    assert_int_equal(lv_design_shares(1, false), 10);
    assert_int_equal(lv_design_shares(0, true), 1); /* clamped to cgroup v2's range */
    assert_int_equal(lv_design_shares(20000, true), 10000);
    assert_int_equal(lv_design_shares(10000, false), 102400);
    assert_int_equal(lv_design_quota(1.5, 2, 100000), 75000);
    assert_int_equal(lv_design_quota(2, 2, 100000), -1);
    assert_int_equal(lv_design_quota(0.001, 4, 100000), 1000); /* the kernel's floor */
    assert_int_equal(lv_design_kBps(10), 1250);
    assert_int_equal(lv_design_kBps(0), 0);
    assert_int_equal(lv_design_burst_kB(1250), 156);
    assert_int_equal(lv_design_burst_kB(10), 32);
    assert_int_equal(lv_design_bytes(2.5), 2500000);
    assert_int_equal(lv_design_iops(0.4), 1); /* a limit is never rounded away */
    struct drv_shape s = {.vcpus_online = 1};
    char buf[64];
    assert_string_equal(lv_design_cpuset(&s, 8, buf, sizeof(buf)), "0-7");
    drv_cpuset_set(&s.pcpus, 5);
    assert_string_equal(lv_design_cpuset(&s, 8, buf, sizeof(buf)), "5");
}

/* The domain written for a spec reads back as the same knobs. */
static void test_domain_roundtrip(void **state)
{
    (void)state;
    struct lv_policy p = policy();
    struct drv_hv_guest_spec spec;
    spec_of(&spec);
    struct lv_meta m;
    lv_design_meta(&p, &spec, 1234, &m);
    assert_string_equal(m.spec.name, "sculpt-" UUID_A);
    assert_string_equal(m.instance_dir, "/srv/instances/" UUID_A);
    assert_string_equal(m.disk_path, "/srv/instances/" UUID_A "/disk");
    assert_string_equal(m.console_socket, "/srv/instances/" UUID_A "/console.sock");
    assert_string_equal(m.spec.vifs[0].tap, "sc6f0c1a2b3c40");
    assert_string_equal(m.spec.vifs[1].tap, "sc6f0c1a2b3c41");
    assert_int_equal(strlen(m.spec.vifs[0].mac), 17);
    assert_string_not_equal(m.spec.vifs[0].mac, m.spec.vifs[1].mac);

    struct lv_cfg_domain d;
    lv_design_domain(&p, &m, &spec.shape, &d);
    char *xml = lv_cfg_domain_format(&d);
    assert_non_null(strstr(xml, "<domain type=\"qemu\">"));
    assert_non_null(strstr(xml, "web &lt;1&gt; &amp; co")); /* escaped, never pasted */
    assert_non_null(strstr(xml, "<model fallback=\"allow\">qemu64</model>"));
    assert_non_null(strstr(xml, "model=\"pcie-root-port\""));
    assert_non_null(strstr(xml, "<stats period=\"5\"/>"));
    assert_non_null(strstr(xml, "<log file=\"/srv/instances/" UUID_A "/console.log\""));

    struct lv_knobs k;
    struct err *err = NULL;
    assert_int_equal(lv_cfg_domain_read(xml, &k, &err), 0);
    assert_int_equal(k.vcpus_online, 2);
    assert_int_equal(k.vcpus_max, 4);
    assert_int_equal(k.shares, lv_design_cgroup_v2() ? 150 : 1536);
    assert_int_equal(k.quota_us, 75000);
    assert_string_equal(k.cpuset, "2-3");
    assert_int_equal(k.numa_node, 0);
    assert_int_equal(k.cur_kib, 512 * 1024);
    assert_int_equal(k.max_kib, 1024 * 1024);
    assert_int_equal(k.ntaps, 2);
    assert_int_equal(k.in_kBps[0] + k.in_kBps[1], 12500); /* split over two taps */
    /* the devices diagnostics read the counters of */
    struct drv_hv_diag dg = {0};
    assert_int_equal(lv_cfg_diag_devices(xml, &dg, &err), 0);
    assert_true(dg.ndisks >= 1);
    assert_string_equal(dg.disks[0].dev, "vda");
    assert_int_equal(dg.disks[0].read_bytes, -1); /* not read yet */
    assert_int_equal(dg.nnics, 2);
    for (size_t i = 0; i < 2; i++) {
        assert_string_equal(dg.nics[i].mac, m.spec.vifs[i].mac);
        assert_string_equal(dg.nics[i].dev, m.spec.vifs[i].tap);
        assert_int_equal(dg.nics[i].tx_octets, -1);
    }
    drv_hv_diag_release(&dg);
    assert_int_equal(lv_cfg_diag_devices("<domain", &dg, &err), -1);
    assert_int_equal(err_code_of(err), ERR_INVALID);
    err_clear(&err);
    assert_string_equal(k.disk, "vda");
    assert_int_equal(k.write_iops, 300);
    assert_int_equal(k.read_bytes, 2500000);
    assert_non_null(k.metadata);

    /* the metadata carried in the domain gives the spec back */
    struct lv_meta back;
    assert_int_equal(lv_meta_parse(k.metadata, &back, &err), 0);
    assert_string_equal(back.spec.display_name, "web <1> & co");
    assert_string_equal(back.spec.image.cmdline, "console=ttyS0 quiet");
    assert_string_equal(back.disk_path, m.disk_path);
    assert_int_equal(back.spec.nvifs, 2);
    assert_string_equal(back.spec.vifs[1].tap, "sc6f0c1a2b3c41");
    assert_true(back.spec.shape.res.v[DRV_RES_VCPU] == 1.5);
    assert_true(drv_cpuset_equal(&back.spec.shape.pcpus, &spec.shape.pcpus));
    assert_int_equal(back.created_ms, 1234);

    lv_meta_release(&back);
    lv_knobs_release(&k);
    free(xml);
    lv_cfg_domain_release(&d);
    lv_meta_release(&m);
}

/* An image with hw_qemu_guest_agent: the agent's virtio-serial channel
 * (Nova's name, a socket path libvirt picks), a root port for its
 * controller beside the spare ones, remembered in the metadata; without
 * it the domain is as before, no channel. */
static void test_guest_agent_xml(void **state)
{
    (void)state;
    struct lv_policy p = policy();
    struct drv_hv_guest_spec spec;
    spec_of(&spec);
    struct err *err = NULL;
    for (int agent = 0; agent <= 1; agent++) {
        spec.guest_agent = agent;
        struct lv_meta m;
        lv_design_meta(&p, &spec, 1, &m);
        struct lv_cfg_domain d;
        lv_design_domain(&p, &m, &spec.shape, &d);
        assert_int_equal(d.pcie_ports, p.pcie_ports + agent);
        char *xml = lv_cfg_domain_format(&d);
        const char *ch = strstr(xml, "<channel type=\"unix\">");
        if (agent) {
            assert_non_null(ch);
            assert_non_null(strstr(ch, "<source mode=\"bind\"/>"));
            assert_non_null(
                strstr(ch, "<target type=\"virtio\" name=\"org.qemu.guest_agent.0\"/>"));
        } else {
            assert_null(ch);
            assert_null(strstr(xml, "guest_agent"));
        }
        struct lv_knobs k;
        assert_int_equal(lv_cfg_domain_read(xml, &k, &err), 0);
        struct lv_meta back;
        assert_int_equal(lv_meta_parse(k.metadata, &back, &err), 0);
        assert_int_equal(back.spec.guest_agent, agent);
        /* a domain defined again from its record keeps its channel */
        struct lv_cfg_domain again;
        lv_design_domain(&p, &back, &back.spec.shape, &again);
        assert_int_equal(again.guest_agent, agent);
        lv_cfg_domain_release(&again);
        lv_meta_release(&back);
        lv_knobs_release(&k);
        free(xml);
        lv_cfg_domain_release(&d);
        lv_meta_release(&m);
    }
}

/* [vnc] enabled: Nova's <graphics type='vnc' autoport='yes' listen=...>
 * and a virtio video device in every definition the designer makes (a
 * redefinition from the record too); disabled, neither.  The live
 * domain's port is read back (none before it runs: CONFLICT; no VNC:
 * UNSUPPORTED), and a migration's XML takes the destination's address. */
static void test_vnc_xml(void **state)
{
    (void)state;
    struct lv_policy p = policy();
    struct drv_hv_guest_spec spec;
    spec_of(&spec);
    struct err *err = NULL;
    for (int vnc = 0; vnc <= 1; vnc++) {
        p.vnc_listen = vnc ? "127.0.0.1" : NULL;
        struct lv_meta m;
        lv_design_meta(&p, &spec, 1, &m);
        struct lv_cfg_domain d;
        lv_design_domain(&p, &m, &spec.shape, &d);
        char *xml = lv_cfg_domain_format(&d);
        const char *gr = strstr(xml, "<graphics type=\"vnc\" autoport=\"yes\" listen=\"127.0.0.1\"/>");
        const char *video = strstr(xml, "<video>");
        int port = 0;
        if (vnc) {
            assert_non_null(gr);
            assert_non_null(video);
            const char *model = strstr(video, "<model type=\"virtio\"/>");
            assert_non_null(model);
            assert_true(model < strstr(video, "</video>"));
            /* as defined (autoport, no port yet) */
            assert_int_equal(lv_cfg_console_port(xml, DRV_HV_CONSOLE_VNC, &port, &err), -1);
            assert_int_equal(err_code_of(err), ERR_CONFLICT);
            err_clear(&err);
        } else {
            assert_null(strstr(xml, "<graphics"));
            assert_null(strstr(xml, "<video"));
            assert_int_equal(lv_cfg_console_port(xml, DRV_HV_CONSOLE_VNC, &port, &err), -1);
            assert_int_equal(err_code_of(err), ERR_UNSUPPORTED);
            err_clear(&err);
        }
        struct lv_knobs k;
        assert_int_equal(lv_cfg_domain_read(xml, &k, &err), 0);
        struct lv_meta back;
        assert_int_equal(lv_meta_parse(k.metadata, &back, &err), 0);
        struct lv_cfg_domain again;
        lv_design_domain(&p, &back, &back.spec.shape, &again);
        assert_true(again.vnc_listen == p.vnc_listen);
        lv_cfg_domain_release(&again);
        lv_meta_release(&back);
        lv_knobs_release(&k);
        free(xml);
        lv_cfg_domain_release(&d);
        lv_meta_release(&m);
    }
    /* a running domain as libvirt states it */
    const char *live =
        "<domain type='qemu'><name>x</name><devices>"
        "<graphics type='spice' port='5901' autoport='yes'/>"
        "<graphics type='vnc' port='5907' autoport='yes' listen='127.0.0.1'>"
        "<listen type='address' address='127.0.0.1'/></graphics>"
        "<video><model type='virtio'/></video></devices></domain>";
    int port = 0;
    assert_int_equal(lv_cfg_console_port(live, DRV_HV_CONSOLE_VNC, &port, &err), 0);
    assert_int_equal(port, 5907);
    assert_int_equal(lv_cfg_console_port("<domain", DRV_HV_CONSOLE_VNC, &port, &err), -1);
    assert_int_equal(err_code_of(err), ERR_INVALID);
    err_clear(&err);
    char *moved = lv_cfg_vnc_listen_rewrite(live, "192.0.2.7", &err);
    assert_non_null(moved);
    assert_non_null(strstr(moved, "listen=\"192.0.2.7\""));
    assert_non_null(strstr(moved, "<listen type=\"address\" address=\"192.0.2.7\"/>"));
    assert_null(strstr(moved, "127.0.0.1"));
    assert_non_null(strstr(moved, "<graphics type=\"spice\" port=\"5901\""));
    free(moved);
}

/* [serial_console] enabled: Nova's <serial type='tcp'> bound on the
 * proxyclient address at the port chosen, raw, logged to the console log
 * (get_console_output and a pool member's readiness read it) instead of
 * the unix socket; disabled, the socket.  The port is read back, and a
 * live migration moves it or turns it back into a socket. */
static void test_serial_tcp_xml(void **state)
{
    (void)state;
    struct lv_policy p = policy();
    struct drv_hv_guest_spec spec;
    spec_of(&spec);
    struct err *err = NULL;
    for (int tcp = 0; tcp <= 1; tcp++) {
        p.serial_host = tcp ? "127.0.0.1" : NULL;
        struct lv_meta m;
        lv_design_meta(&p, &spec, 1, &m);
        struct lv_cfg_domain d;
        lv_design_domain(&p, &m, &spec.shape, &d);
        assert_true(d.serial_host == p.serial_host);
        d.serial_port = 10003;
        char *xml = lv_cfg_domain_format(&d);
        int ports[4] = {0};
        int port = 0;
        if (tcp) {
            const char *ser = strstr(xml, "<serial type=\"tcp\">");
            assert_non_null(ser);
            const char *end = strstr(ser, "</serial>");
            char want[512];
            snprintf(want, sizeof(want), "<log file=\"%s\" append=\"on\"/>", m.console_log);
            const char *parts[] = {
                "<source mode=\"bind\" host=\"127.0.0.1\" service=\"10003\"/>",
                "<protocol type=\"raw\"/>", want, "<target port=\"0\"/>"};
            for (size_t i = 0; i < 4; i++) {
                const char *at = strstr(ser, parts[i]);
                if (!at || at > end)
                    fail_msg("no `%s` in %s", parts[i], ser);
            }
            assert_null(strstr(xml, "type=\"unix\""));
            assert_int_equal(lv_cfg_serial_ports(xml, ports, 4, &err), 1);
            assert_int_equal(ports[0], 10003);
            assert_int_equal(lv_cfg_console_port(xml, DRV_HV_CONSOLE_SERIAL, &port, &err), 0);
            assert_int_equal(port, 10003);
            /* to a destination that listens elsewhere, and to one
             * without serial consoles: its socket, the log kept */
            char *moved = lv_cfg_serial_rewrite(xml, "192.0.2.7", 10011, "/d/console.sock", &err);
            assert_non_null(moved);
            assert_non_null(
                strstr(moved, "<source mode=\"bind\" host=\"192.0.2.7\" service=\"10011\"/>"));
            free(moved);
            moved = lv_cfg_serial_rewrite(xml, NULL, 0, "/d/console.sock", &err);
            assert_non_null(moved);
            assert_non_null(strstr(moved, "<serial type=\"unix\">"));
            assert_non_null(strstr(moved, "<source mode=\"bind\" path=\"/d/console.sock\"/>"));
            assert_non_null(strstr(moved, want));
            assert_null(strstr(moved, "protocol"));
            assert_int_equal(lv_cfg_serial_ports(moved, ports, 4, &err), 0);
            free(moved);
        } else {
            assert_non_null(strstr(xml, "<serial type=\"unix\">"));
            assert_null(strstr(xml, "type=\"tcp\""));
            assert_int_equal(lv_cfg_serial_ports(xml, ports, 4, &err), 0);
            assert_int_equal(lv_cfg_console_port(xml, DRV_HV_CONSOLE_SERIAL, &port, &err), -1);
            assert_int_equal(err_code_of(err), ERR_UNSUPPORTED);
            err_clear(&err);
            /* a unix console stays as it is */
            char *same = lv_cfg_serial_rewrite(xml, "192.0.2.7", 10011, "/d/console.sock", &err);
            assert_non_null(same);
            assert_null(strstr(same, "192.0.2.7"));
            assert_non_null(strstr(same, m.console_socket));
            free(same);
        }
        free(xml);
        lv_cfg_domain_release(&d);
        lv_meta_release(&m);
    }
    /* Nova's order: TCP <serial>s, else TCP <console>s; connect-mode
     * ones and bad ports are not this host's */
    const char *live = "<domain type='qemu'><name>x</name><devices>"
                       "<serial type='tcp'><source mode='connect' host='h' service='9'/></serial>"
                       "<serial type='tcp'><source mode='bind' host='h' service='10001'/></serial>"
                       "<serial type='tcp'><source mode='bind' host='h' service='x'/></serial>"
                       "<serial type='tcp'><source mode='bind' host='h' service='10002'/></serial>"
                       "<console type='tcp'><source mode='bind' host='h' service='7'/></console>"
                       "</devices></domain>";
    int ports[4] = {0};
    assert_int_equal(lv_cfg_serial_ports(live, ports, 4, &err), 2);
    assert_int_equal(ports[0], 10001);
    assert_int_equal(ports[1], 10002);
    assert_int_equal(lv_cfg_serial_ports(live, ports, 1, &err), 1);
    const char *s390 = "<domain type='qemu'><name>x</name><devices>"
                       "<console type='tcp'><source mode='bind' host='h' service='7'/></console>"
                       "</devices></domain>";
    assert_int_equal(lv_cfg_serial_ports(s390, ports, 4, &err), 1);
    assert_int_equal(ports[0], 7);
    assert_int_equal(lv_cfg_serial_ports("<domain", ports, 4, &err), -1);
    assert_int_equal(err_code_of(err), ERR_INVALID);
    err_clear(&err);
}

/* Ports as Zed's acquire_port takes them: in the range, not held, and
 * bindable; none left: CAPACITY. */
static int busy_port = -1;
static bool bindable_but_busy(const char *host, int port)
{
    (void)host;
    return port != busy_port;
}

static void test_serial_port_pick(void **state)
{
    (void)state;
    struct err *err = NULL;
    int used[] = {10000, 10002};
    busy_port = 10001;
    assert_int_equal(lv_serial_port_pick(10000, 10010, used, 2, "h", bindable_but_busy, &err),
                     10003);
    assert_int_equal(lv_serial_port_pick(10004, 10010, used, 2, "h", bindable_but_busy, &err),
                     10004);
    assert_int_equal(lv_serial_port_pick(10000, 10003, used, 2, "h", bindable_but_busy, &err), -1);
    assert_int_equal(err_code_of(err), ERR_CAPACITY);
    assert_non_null(strstr(err->msg, "port_range 10000:10003"));
    err_clear(&err);
    /* a real socket bound: the port is not bindable, another is */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 1), 0);
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    int taken = ntohs(a.sin_port);
    assert_false(lv_serial_port_bindable("127.0.0.1", taken));
    assert_int_equal(lv_serial_port_pick(taken, taken + 1, NULL, 0, "127.0.0.1",
                                         lv_serial_port_bindable, &err),
                     -1);
    err_clear(&err);
    close(fd);
    assert_false(lv_serial_port_bindable("no-such-host.invalid", 10000));
}

/* A config drive: its image beside the disk, a read-only SATA cdrom that
 * is not taken for the disk whose I/O is tuned, kept in the metadata; a
 * pool member's empty drive. */
static void test_config_drive_xml(void **state)
{
    (void)state;
    struct lv_policy p = policy();
    struct drv_hv_guest_spec spec;
    spec_of(&spec);
    spec.image.disk_base = NULL; /* the tiny guest's case: a kernel, no disk */
    spec.config_drive = xzalloc(sizeof(*spec.config_drive));
    drv_hv_config_drive_add(spec.config_drive, "openstack/latest/user_data", "hi", 2);
    struct lv_meta m;
    lv_design_meta(&p, &spec, 1, &m);
    assert_string_equal(m.config_drive, "/srv/instances/" UUID_A "/disk.config");
    assert_null(m.spec.config_drive); /* contents are not kept with the guest */
    struct lv_cfg_domain d;
    lv_design_domain(&p, &m, &spec.shape, &d);
    char *xml = lv_cfg_domain_format(&d);
    assert_non_null(strstr(xml, "device=\"cdrom\""));
    assert_non_null(strstr(xml, "<source file=\"/srv/instances/" UUID_A "/disk.config\"/>"));
    assert_non_null(strstr(xml, "<target dev=\"sda\" bus=\"sata\"/>"));
    assert_non_null(strstr(xml, "<readonly/>"));
    struct lv_knobs k;
    struct err *err = NULL;
    assert_int_equal(lv_cfg_domain_read(xml, &k, &err), 0);
    assert_string_equal(k.disk, ""); /* the cdrom is no disk to tune */
    struct lv_meta back;
    assert_int_equal(lv_meta_parse(k.metadata, &back, &err), 0);
    assert_string_equal(back.config_drive, m.config_drive);
    assert_false(back.spec.cdrom_tray);
    lv_meta_release(&back);
    lv_knobs_release(&k);
    free(xml);
    lv_cfg_domain_release(&d);
    lv_meta_release(&m);

    /* a member: an empty drive, remembered */
    drv_hv_config_drive_free(spec.config_drive);
    spec.config_drive = NULL;
    spec.cdrom_tray = true;
    lv_design_meta(&p, &spec, 1, &m);
    assert_null(m.config_drive);
    lv_design_domain(&p, &m, &spec.shape, &d);
    xml = lv_cfg_domain_format(&d);
    assert_non_null(strstr(xml, "device=\"cdrom\""));
    assert_null(strstr(xml, "disk.config"));
    assert_int_equal(lv_cfg_domain_read(xml, &k, &err), 0);
    assert_int_equal(lv_meta_parse(k.metadata, &back, &err), 0);
    assert_true(back.spec.cdrom_tray);
    assert_null(back.config_drive);
    lv_meta_release(&back);
    lv_knobs_release(&k);
    free(xml);
    lv_cfg_domain_release(&d);
    lv_meta_release(&m);
    /* without either: no cdrom */
    spec.cdrom_tray = false;
    lv_design_meta(&p, &spec, 1, &m);
    lv_design_domain(&p, &m, &spec.shape, &d);
    xml = lv_cfg_domain_format(&d);
    assert_null(strstr(xml, "cdrom"));
    free(xml);
    lv_cfg_domain_release(&d);
    lv_meta_release(&m);

    /* the media change's element */
    xml = lv_cfg_cdrom_format("/srv/x/disk.config");
    assert_non_null(strstr(xml, "<disk type=\"file\" device=\"cdrom\">"));
    assert_non_null(strstr(xml, "<source file=\"/srv/x/disk.config\"/>"));
    free(xml);
    xml = lv_cfg_cdrom_format(NULL);
    assert_null(strstr(xml, "<source"));
    free(xml);
}

/* A live snapshot's block copy destination and its delta: the same base
 * and virtual size as the guest's overlay (real qemu-img). */
static void test_snapshot_delta(void **state)
{
    const char *dir = *state;
    autofree char *xml = lv_cfg_copy_dest_format("/srv/snap's & <x>.delta");
    assert_string_equal(xml, "<disk type=\"file\">\n  <driver type=\"qcow2\"/>\n"
                             "  <source file=\"/srv/snap's &amp; &lt;x&gt;.delta\"/>\n</disk>");

    /* a copy a crash left running is found by its destination */
    const char *left = "<domain type='qemu'><devices>"
                       "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
                       "<source file='/i/u/disk' index='1'/>"
                       "<mirror type='file' job='copy' ready='yes'><format type='qcow2'/>"
                       "<source file='/i/snapshots/u-abc123.delta' index='3'/></mirror>"
                       "<target dev='vdb' bus='virtio'/></disk></devices></domain>";
    autofree char *t = lv_cfg_copy_target(left, "/i/snapshots");
    assert_string_equal(t, "vdb");
    assert_null(lv_cfg_copy_target(left, "/i/snap"));
    assert_null(lv_cfg_copy_target(left, "/elsewhere"));
    const char *migrating = "<domain><devices><disk type='file'><source file='/i/u/disk'/>"
                            "<mirror type='network' job='copy'><source protocol='nbd' "
                            "name='drive-virtio-disk0'/></mirror><target dev='vda'/></disk>"
                            "</devices></domain>";
    assert_null(lv_cfg_copy_target(migrating, "/i/snapshots"));
    assert_null(lv_cfg_copy_target("<domain", "/i/snapshots"));

    autofree char *base = xasprintf("%s/base", dir);
    autofree char *overlay = xasprintf("%s/disk", dir);
    autofree char *delta = xasprintf("%s/disk.delta", dir);
    char *mk[] = {(char *)"qemu-img", (char *)"create", (char *)"-q", (char *)"-f",
                  (char *)"raw",      base,             (char *)"3M", NULL};
    struct err *err = NULL;
    autostrbuf made = STRBUF_INIT;
    assert_int_equal(lv_volume_run(mk, &made, &err), 0);
    assert_int_equal(lv_volume_create_overlay("qemu-img", base, "raw", 1, overlay, &err), 0);
    assert_int_equal(lv_volume_create_delta("qemu-img", overlay, delta, &err), 0);
    char *info[] = {(char *)"qemu-img", (char *)"info", (char *)"-f", (char *)"qcow2", delta,
                    NULL};
    autostrbuf out = STRBUF_INIT;
    assert_int_equal(lv_volume_run(info, &out, &err), 0);
    autofree char *want_base = xasprintf("backing file: %s\n", base);
    assert_non_null(strstr(out.s, want_base));
    assert_non_null(strstr(out.s, "backing file format: raw"));
    assert_non_null(strstr(out.s, "(1073741824 bytes)"));
    /* an image over no base cannot be copied shallow */
    autofree char *plain = xasprintf("%s/plain", dir);
    autofree char *other = xasprintf("%s/plain.delta", dir);
    char *mk2[] = {(char *)"qemu-img", (char *)"create", (char *)"-q", (char *)"-f",
                   (char *)"qcow2",    plain,            (char *)"1M", NULL};
    assert_int_equal(lv_volume_run(mk2, &made, &err), 0);
    assert_int_equal(lv_volume_create_delta("qemu-img", plain, other, &err), -1);
    assert_int_equal(err_code_of(err), ERR_INVALID);
    err_clear(&err);
    assert_int_equal(access(other, F_OK), -1);
    assert_int_equal(lv_volume_create_delta("qemu-img", "/nonexistent/disk", other, &err), -1);
    assert_int_equal(err_code_of(err), ERR_NOT_FOUND);
    err_clear(&err);
}

/* The metadata (*m) and domain of `spec` given a config drive (its
 * spec->config_drive, which the caller frees), the guest's own before any
 * rescue (caller frees). */
static char *own_domain(const struct lv_policy *p, struct drv_hv_guest_spec *spec,
                        struct lv_meta *m)
{
    spec->config_drive = xzalloc(sizeof(*spec->config_drive));
    drv_hv_config_drive_add(spec->config_drive, "openstack/latest/user_data", "hi", 2);
    lv_design_meta(p, spec, 1, m);
    struct lv_cfg_domain d;
    lv_design_domain(p, m, &spec->shape, &d);
    char *own = lv_cfg_domain_format(&d);
    lv_cfg_domain_release(&d);
    return own;
}

/* A rescue's domain: the rescue image's kernel and disk first, the
 * guest's own disk second, the rescue's config drive in the cdrom, all of
 * it in the metadata so a restart finds it; cleared, the guest's own
 * domain again. */
static void test_rescue_xml(void **state)
{
    (void)state;
    struct lv_policy p = policy();
    struct drv_hv_guest_spec spec;
    spec_of(&spec);
    struct lv_meta m;
    char *own = own_domain(&p, &spec, &m);
    struct lv_cfg_domain d;

    m.rescued = true;
    m.rescue_image.kernel = xstrdup("/cache/rescue-kernel");
    m.rescue_image.disk_base = xstrdup("/cache/rescue-image");
    m.rescue_image.disk_format = xstrdup("raw");
    m.rescue_disk = xstrdup("/srv/instances/" UUID_A "/disk.rescue");
    m.rescue_config_drive = xstrdup("/srv/instances/" UUID_A "/disk.config.rescue");
    lv_design_domain(&p, &m, &spec.shape, &d);
    char *xml = lv_cfg_domain_format(&d);
    const char *rescue = strstr(xml, "<source file=\"/srv/instances/" UUID_A "/disk.rescue\"/>");
    const char *disk = strstr(xml, "<source file=\"/srv/instances/" UUID_A "/disk\"/>");
    assert_non_null(rescue);
    assert_non_null(disk);
    assert_true(rescue < disk); /* the rescue disk first */
    assert_non_null(strstr(rescue, "<target dev=\"vda\""));
    assert_non_null(strstr(disk, "<target dev=\"vdb\""));
    assert_non_null(strstr(xml, "<kernel>/cache/rescue-kernel</kernel>"));
    assert_non_null(strstr(xml, "disk.config.rescue"));
    assert_null(strstr(xml, "<source file=\"/srv/instances/" UUID_A "/disk.config\"/>"));
    assert_non_null(strstr(xml, "<source file=\"/srv/instances/" UUID_A "/disk.config.rescue\"/>"));
    struct lv_knobs k;
    struct err *err = NULL;
    assert_int_equal(lv_cfg_domain_read(xml, &k, &err), 0);
    struct lv_meta back;
    assert_int_equal(lv_meta_parse(k.metadata, &back, &err), 0);
    assert_true(back.rescued);
    assert_string_equal(back.rescue_disk, m.rescue_disk);
    assert_string_equal(back.rescue_config_drive, m.rescue_config_drive);
    assert_string_equal(back.rescue_image.disk_base, "/cache/rescue-image");
    assert_string_equal(back.rescue_image.kernel, "/cache/rescue-kernel");
    assert_string_equal(back.disk_path, m.disk_path);
    struct lv_meta copy;
    lv_meta_copy(&copy, &back);
    assert_string_equal(copy.rescue_disk, m.rescue_disk);
    lv_meta_release(&copy);
    lv_meta_release(&back);
    lv_knobs_release(&k);
    free(xml);
    lv_cfg_domain_release(&d);

    /* unrescued: the guest's own domain, to the byte */
    lv_meta_rescue_clear(&m);
    lv_design_domain(&p, &m, &spec.shape, &d);
    xml = lv_cfg_domain_format(&d);
    assert_string_equal(xml, own);
    assert_null(strstr(xml, "rescue"));
    free(xml);
    free(own);
    lv_cfg_domain_release(&d);
    lv_meta_release(&m);
    drv_hv_config_drive_free(spec.config_drive);
}

/* The <disk> element whose source is `path` in a domain's XML, and its
 * target (caller frees; NULL: none). */
static char *disk_of(const char *xml, const char *path)
{
    autofree char *src = xasprintf("<source file=\"%s\"/>", path);
    const char *at = strstr(xml, src);
    if (!at)
        return NULL;
    const char *start = at;
    while (start > xml && strncmp(start, "<disk ", 6) != 0)
        start--;
    const char *end = strstr(at, "</disk>");
    return end ? xstrndup(start, (size_t)(end - start)) : NULL;
}

static char *target_of(const char *xml, const char *path)
{
    autofree char *disk = disk_of(xml, path);
    const char *tgt = disk ? strstr(disk, "<target dev=\"") : NULL;
    if (!tgt)
        return NULL;
    tgt += strlen("<target dev=\"");
    return xstrndup(tgt, strcspn(tgt, "\""));
}

/* A stable device rescue's domain (blockinfo's
 * _get_stable_device_rescue_mapping): the guest's own disk and config
 * drive where they were, the rescue disk last as the device asked for,
 * on the next free name of its bus, booted first; what it is kept in
 * the metadata; q35 has no IDE. */
static void test_stable_rescue_xml(void **state)
{
    (void)state;
    struct lv_policy p = policy();
    struct drv_hv_guest_spec spec;
    spec_of(&spec);
    spec.image.kernel = NULL; /* booted by its disk's loader: <boot dev> */
    struct lv_meta m;
    char *own = own_domain(&p, &spec, &m);
    struct lv_cfg_domain d;
    assert_non_null(strstr(own, "<boot dev=\"hd\"/>"));
    const char *dir = "/srv/instances/" UUID_A;
    autofree char *disk = xasprintf("%s/disk", dir);
    autofree char *drive = xasprintf("%s/disk.config", dir);
    autofree char *rescue = xasprintf("%s/disk.rescue", dir);
    static const struct {
        enum drv_hv_rescue_device device;
        enum drv_hv_bus bus;
        const char *xml_device, *xml_bus, *target;
    } cases[] = {
        /* the config drive holds sda: the next sd name is sdb */
        {DRV_HV_RESCUE_CDROM, DRV_HV_BUS_SATA, "cdrom", "sata", "sdb"},
        {DRV_HV_RESCUE_DISK, DRV_HV_BUS_VIRTIO, "disk", "virtio", "vdb"},
        {DRV_HV_RESCUE_DISK, DRV_HV_BUS_USB, "disk", "usb", "sdb"},
        {DRV_HV_RESCUE_CDROM, DRV_HV_BUS_SCSI, "cdrom", "scsi", "sdb"},
        {DRV_HV_RESCUE_FLOPPY, DRV_HV_BUS_FDC, "floppy", "fdc", "fda"},
    };
    for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
        lv_meta_rescue_clear(&m);
        m.rescued = true;
        m.rescue_dev = (struct drv_hv_rescue_dev){cases[c].device, cases[c].bus};
        m.rescue_image.disk_base = xstrdup("/cache/rescue.iso");
        m.rescue_image.disk_format = xstrdup("raw");
        m.rescue_disk = xstrdup(rescue);
        lv_design_domain(&p, &m, &spec.shape, &d);
        char *xml = lv_cfg_domain_format(&d);
        /* its own devices as they were */
        autofree char *t_disk = target_of(xml, disk);
        autofree char *t_drive = target_of(xml, drive);
        autofree char *t_rescue = target_of(xml, rescue);
        assert_string_equal(t_disk, "vda");
        assert_string_equal(t_drive, "sda");
        assert_string_equal(t_rescue, cases[c].target);
        assert_true(strstr(xml, rescue) > strstr(xml, drive)); /* last */
        autofree char *r = disk_of(xml, rescue);
        autofree char *dev = xasprintf("<disk type=\"file\" device=\"%s\">", cases[c].xml_device);
        assert_non_null(strstr(r, dev));
        autofree char *bus = xasprintf("bus=\"%s\"", cases[c].xml_bus);
        assert_non_null(strstr(r, bus));
        assert_non_null(strstr(r, "<boot order=\"1\"/>"));
        assert_null(strstr(xml, "<boot dev=")); /* libvirt refuses both */
        assert_int_equal(strstr(xml, "model=\"virtio-scsi\"") != NULL,
                         cases[c].bus == DRV_HV_BUS_SCSI);
        assert_int_equal(strstr(r, "<readonly/>") != NULL,
                         cases[c].device == DRV_HV_RESCUE_CDROM);
        assert_null(strstr(xml, "disk.config.rescue"));
        /* the I/O limits still read off the guest's own disk */
        struct lv_knobs k;
        struct err *err = NULL;
        assert_int_equal(lv_cfg_domain_read(xml, &k, &err), 0);
        assert_string_equal(k.disk, "vda");
        struct lv_meta back;
        assert_int_equal(lv_meta_parse(k.metadata, &back, &err), 0);
        assert_true(back.rescued);
        assert_int_equal(back.rescue_dev.device, cases[c].device);
        assert_int_equal(back.rescue_dev.bus, cases[c].bus);
        lv_meta_release(&back);
        lv_knobs_release(&k);
        free(xml);
        lv_cfg_domain_release(&d);
    }
    /* without a config drive the sd names start at sda */
    free(m.config_drive);
    m.config_drive = NULL;
    m.rescue_dev = (struct drv_hv_rescue_dev){DRV_HV_RESCUE_CDROM, DRV_HV_BUS_SATA};
    lv_design_domain(&p, &m, &spec.shape, &d);
    char *xml = lv_cfg_domain_format(&d);
    autofree char *t = target_of(xml, rescue);
    assert_string_equal(t, "sda");
    free(xml);
    lv_cfg_domain_release(&d);

    /* unrescued: the guest's own domain, to the byte */
    m.config_drive = xstrdup(drive);
    lv_meta_rescue_clear(&m);
    lv_design_domain(&p, &m, &spec.shape, &d);
    xml = lv_cfg_domain_format(&d);
    assert_string_equal(xml, own);
    free(xml);
    free(own);
    lv_cfg_domain_release(&d);
    lv_meta_release(&m);
    drv_hv_config_drive_free(spec.config_drive);

    /* what q35 cannot attach, and metadata naming what sculpt does not know */
    struct err *err = NULL;
    struct drv_hv_rescue_dev ide = {DRV_HV_RESCUE_CDROM, DRV_HV_BUS_IDE};
    assert_int_equal(lv_design_rescue_check(&ide, &err), -1);
    assert_int_equal(err_code_of(err), ERR_UNSUPPORTED);
    assert_non_null(strstr(err->msg, "no IDE bus"));
    err_clear(&err);
    struct drv_hv_rescue_dev usb = {DRV_HV_RESCUE_CDROM, DRV_HV_BUS_USB};
    assert_int_equal(lv_design_rescue_check(&usb, &err), 0);
    struct lv_meta bad;
    assert_int_equal(lv_meta_parse("<instance><rescue disk='/x' device='tape' bus='virtio'/>"
                                   "</instance>",
                                   &bad, &err),
                     -1);
    assert_non_null(strstr(err->msg, "`tape`"));
    err_clear(&err);
}

/* A folder too deep for a unix socket path gets a short one. */
static void test_long_paths(void **state)
{
    (void)state;
    struct lv_policy p = policy();
    p.instances_path = "/a/very/deep/checkout/of/sculpt/in/some/ci/workspace/run/sculpt/instances";
    struct drv_hv_guest_spec spec;
    spec_of(&spec);
    struct lv_meta m;
    lv_design_meta(&p, &spec, 0, &m);
    assert_string_equal(m.console_socket, "/tmp/sculpt-console-" UUID_A ".sock");
    lv_meta_release(&m);
}

static void test_meta_bad(void **state)
{
    (void)state;
    struct lv_meta m;
    struct err *err = NULL;
    assert_int_equal(lv_meta_parse("<not xml", &m, &err), -1);
    err_clear(&err);
    assert_int_equal(lv_meta_parse("<instance/>", &m, &err), -1);
    assert_non_null(strstr(err->msg, "no shape"));
    err_clear(&err);
    assert_int_equal(lv_meta_parse("<instance><shape vcpus_online='x'/></instance>", &m, &err), -1);
    err_clear(&err);
    struct lv_run run;
    lv_run_parse("<run started='1700000000123'/>", &run);
    assert_int_equal(run.started_ms, 1700000000123LL);
    assert_int_equal(run.balloon_kib, 0);
    /* the balloon target a restarted sculpt reads back, as written */
    struct lv_run set = {.started_ms = 1700000000123LL, .balloon_kib = 131072, .from_kib = 327680};
    autofree char *xml = lv_run_format(&set);
    lv_run_parse(xml, &run);
    assert_int_equal(run.started_ms, set.started_ms);
    assert_int_equal(run.balloon_kib, 131072);
    assert_int_equal(run.from_kib, 327680);
    /* as libvirt hands it back: prefixed, double quotes */
    lv_run_parse("<sculptrun:run xmlns:sculptrun=\"x\" started=\"5\" balloon=\"2048\" "
                 "from=\"4096\"/>",
                 &run);
    assert_true(run.started_ms == 5 && run.balloon_kib == 2048 && run.from_kib == 4096);
    lv_run_parse("<run started='7' balloon='x' from='9'/>", &run);
    assert_true(run.started_ms == 7 && run.balloon_kib == 0 && run.from_kib == 0);
    /* the kernel's memory share learnt in the run; 0 is a share too */
    assert_false(run.has_gap_base);
    struct lv_run gap = {.started_ms = 9, .gap_base_kib = 0, .has_gap_base = true};
    autofree char *gxml = lv_run_format(&gap);
    lv_run_parse(gxml, &run);
    assert_true(run.started_ms == 9 && run.has_gap_base && run.gap_base_kib == 0);
    gap = (struct lv_run){.started_ms = 9, .balloon_kib = 2048, .from_kib = 4096,
                          .gap_base_kib = 101096, .has_gap_base = true};
    free(gxml);
    gxml = lv_run_format(&gap);
    lv_run_parse(gxml, &run);
    assert_true(run.balloon_kib == 2048 && run.from_kib == 4096 && run.has_gap_base &&
                run.gap_base_kib == 101096);
    lv_run_parse("<run started='9' gap_base='-5'/>", &run);
    assert_false(run.has_gap_base);
    assert_true(lv_cfg_caps_hw_virt("<capabilities><host><cpu><feature name='vmx'/></cpu>"
                                    "</host></capabilities>"));
    assert_false(lv_cfg_caps_hw_virt("<capabilities><host><cpu><feature name='hypervisor'/>"
                                     "</cpu></host></capabilities>"));
    assert_false(lv_cfg_caps_hw_virt("not xml"));
    lv_run_parse(NULL, &run);
    assert_true(run.started_ms == 0 && run.balloon_kib == 0);
}

/* A balloon between what the guest held when its target was set and the
 * target is on its way (a MiB of slack either side); elsewhere it was
 * moved by someone else. */
static void test_balloon_moving(void **state)
{
    (void)state;
    assert_true(lv_design_balloon_moving(200 * 1024, 320 * 1024, 128 * 1024));  /* shrinking */
    assert_true(lv_design_balloon_moving(320 * 1024, 320 * 1024, 128 * 1024));  /* not yet */
    assert_true(lv_design_balloon_moving(128 * 1024 - 512, 320 * 1024, 128 * 1024));
    assert_true(lv_design_balloon_moving(200 * 1024, 128 * 1024, 320 * 1024));  /* growing */
    assert_false(lv_design_balloon_moving(100 * 1024, 320 * 1024, 128 * 1024)); /* below */
    assert_false(lv_design_balloon_moving(400 * 1024, 320 * 1024, 128 * 1024)); /* above */
    assert_false(lv_design_balloon_moving(200 * 1024, 300 * 1024, 320 * 1024)); /* virsh setmem */
}

static void test_event_map(void **state)
{
    (void)state;
    enum drv_hv_event_type t;
    const char *why;
    assert_true(
        lv_guest_event_map(VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_CRASHED, &t, &why));
    assert_int_equal(t, DRV_HV_EVENT_STOPPED);
    assert_string_equal(why, "crashed");
    assert_true(
        lv_guest_event_map(VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_SAVED, &t, &why));
    assert_int_equal(t, DRV_HV_EVENT_SUSPENDED);
    assert_false(lv_guest_event_map(VIR_DOMAIN_EVENT_SHUTDOWN, 0, &t, &why));
    /* a rename undefines and defines the domain: not a guest gone */
    assert_false(lv_guest_event_map(VIR_DOMAIN_EVENT_UNDEFINED, VIR_DOMAIN_EVENT_UNDEFINED_RENAMED,
                                    &t, &why));
    assert_false(
        lv_guest_event_map(VIR_DOMAIN_EVENT_DEFINED, VIR_DOMAIN_EVENT_DEFINED_RENAMED, &t, &why));
    assert_true(lv_guest_event_map(VIR_DOMAIN_EVENT_UNDEFINED, 0, &t, &why));
    assert_int_equal(t, DRV_HV_EVENT_UNDEFINED);
    /* a migration's switch-over pauses the source: pre-copy's last copy,
     * post-copy; a pause by hand is no switch-over */
    assert_true(lv_guest_event_map(VIR_DOMAIN_EVENT_SUSPENDED, VIR_DOMAIN_EVENT_SUSPENDED_MIGRATED,
                                   &t, &why));
    assert_int_equal(t, DRV_HV_EVENT_PAUSED);
    assert_string_equal(why, "migrated");
    assert_true(lv_guest_event_is_switchover(VIR_DOMAIN_EVENT_SUSPENDED,
                                             VIR_DOMAIN_EVENT_SUSPENDED_MIGRATED));
    assert_true(lv_guest_event_is_switchover(VIR_DOMAIN_EVENT_SUSPENDED,
                                             VIR_DOMAIN_EVENT_SUSPENDED_POSTCOPY));
    assert_false(lv_guest_event_is_switchover(VIR_DOMAIN_EVENT_SUSPENDED,
                                              VIR_DOMAIN_EVENT_SUSPENDED_PAUSED));
    assert_false(lv_guest_event_is_switchover(VIR_DOMAIN_EVENT_STOPPED,
                                              VIR_DOMAIN_EVENT_STOPPED_MIGRATED));
}

/* Memory hot-plug: the boot memory holds the shape's memory, a virtio-mem
 * device the rest up to the maximum; a memory target splits into a
 * balloon within the boot memory and a requested size above it. */
static void test_vmem_design(void **state)
{
    (void)state;
    uint64_t boot, size, bal, req;
    const uint64_t M = 1024; /* KiB per MiB */
    lv_design_vmem(1024 * M, 512 * M, 256 * M, &boot, &size);
    assert_int_equal(boot, 512 * M);
    assert_int_equal(size, 512 * M);
    /* the device is whole guest memory blocks (128 MiB): the rest stays in
     * the boot memory */
    lv_design_vmem(1000 * M, 333 * M, 256 * M, &boot, &size);
    assert_int_equal(size, 640 * M);
    assert_int_equal(boot, 360 * M);
    assert_int_equal(boot + size, 1000 * M);
    lv_design_vmem(320 * M, 128 * M, 192 * M, &boot, &size);
    assert_int_equal(size, 128 * M);
    assert_int_equal(boot, 192 * M);
    lv_design_vmem(256 * M, 128 * M, 192 * M, &boot, &size); /* 64 MiB would plug nothing */
    assert_int_equal(size, 0);
    assert_int_equal(boot, 256 * M);
    lv_design_vmem(512 * M, 512 * M, 256 * M, &boot, &size);
    assert_int_equal(size, 0);
    assert_int_equal(boot, 512 * M);
    lv_design_vmem(512 * M, 511 * M, 256 * M, &boot, &size); /* less than a block of room */
    assert_int_equal(size, 0);
    lv_design_vmem(256 * M, 512 * M, 256 * M, &boot, &size); /* no room at all */
    assert_int_equal(size, 0);
    assert_int_equal(boot, 256 * M);
    /* a small shape boots with the least a kernel needs, the balloon holds
     * it down */
    lv_design_vmem(1024 * M, 128 * M, 256 * M, &boot, &size);
    assert_int_equal(boot, 256 * M);
    assert_int_equal(size, 768 * M);
    lv_design_vmem(256 * M, 128 * M, 512 * M, &boot, &size); /* the floor above the maximum */
    assert_int_equal(boot, 256 * M);
    assert_int_equal(size, 0);

    lv_design_mem_split(300 * M, 512 * M, 512 * M, &bal, &req);
    assert_int_equal(bal, 300 * M);
    assert_int_equal(req, 0);
    lv_design_mem_split(512 * M, 512 * M, 512 * M, &bal, &req);
    assert_int_equal(bal, 512 * M);
    assert_int_equal(req, 0);
    lv_design_mem_split(640 * M, 512 * M, 512 * M, &bal, &req);
    assert_int_equal(bal, 512 * M);
    assert_int_equal(req, 128 * M);
    lv_design_mem_split(641 * M, 512 * M, 512 * M, &bal, &req); /* rounded up to a block */
    assert_int_equal(req, 130 * M);
    lv_design_mem_split(2048 * M, 512 * M, 512 * M, &bal, &req); /* never above the device */
    assert_int_equal(req, 512 * M);
    lv_design_mem_split(900 * M, 512 * M, 0, &bal, &req); /* no device: the balloon alone */
    assert_int_equal(bal, 900 * M);
    assert_int_equal(req, 0);

    /* FOLLOWUPS #100: the floor's growth by a few MiB at boot plugs
     * nothing; a plug starts at 1/16 of the boot memory (16 MiB of 256),
     * then follows the shape down to nothing */
    assert_int_equal(lv_design_vmem_request(262 * M, 256 * M, 384 * M, 0), 0);
    assert_int_equal(lv_design_vmem_request(271 * M, 256 * M, 384 * M, 0), 0);
    assert_int_equal(lv_design_vmem_request(272 * M, 256 * M, 384 * M, 0), 16 * M);
    assert_int_equal(lv_design_vmem_request(512 * M, 256 * M, 384 * M, 0), 256 * M);
    assert_int_equal(lv_design_vmem_request(262 * M, 256 * M, 384 * M, 256 * M), 6 * M);
    assert_int_equal(lv_design_vmem_request(256 * M, 256 * M, 384 * M, 6 * M), 0);
    assert_int_equal(lv_design_vmem_request(300 * M, 600 * M, 384 * M, 0), 0);
    assert_int_equal(lv_design_vmem_request(262 * M, 256 * M, 0, 0), 0); /* no device */
    assert_int_equal(lv_design_vmem_request(262 * M, 256 * M, 4 * M, 0), 4 * M); /* all of it */
}

/* The stall watch's clock (lv_vmem_due, one call a tick): a request made
 * while the guest boots waits from the first tick the guest runs with its
 * memory figures, however long it booted (FOLLOWUPS #101: a guest was
 * declared stalled while it booted); a pause stops the clock too. */
static void test_vmem_due_boot(void **state)
{
    (void)state;
    const uint64_t M = 1024;
    const int64_t T = 20000, tick = 3000; /* the timeout, a sample; ms */
    struct lv_vmem v;
    lv_vmem_defined(&v, 256 * M, 1024 * M);
    assert_false(lv_vmem_due(&v, LV_VMEM_GUEST_RUNNING, 0, T)); /* nothing requested */
    /* the first shape asks for more at spawn; the guest boots for 3 T */
    lv_vmem_request(&v, 512 * M, 0);
    int64_t t = 0;
    for (; t <= 3 * T; t += tick)
        assert_false(lv_vmem_due(&v, LV_VMEM_GUEST_BOOTING, t, T));
    /* its figures appear at t: the timeout runs from here */
    int64_t up = t;
    for (; t < up + T; t += tick)
        assert_false(lv_vmem_due(&v, LV_VMEM_GUEST_RUNNING, t, T));
    assert_true(lv_vmem_due(&v, LV_VMEM_GUEST_RUNNING, up + T, T));
    /* the read back confirms: stalled once, then no more due */
    assert_int_equal(lv_vmem_observe(&v, 0, up + T, T), LV_VMEM_NEWS_STALLED);
    assert_false(lv_vmem_due(&v, LV_VMEM_GUEST_RUNNING, up + 10 * T, T));

    /* a guest that plugs once up: never due */
    lv_vmem_defined(&v, 256 * M, 1024 * M);
    lv_vmem_request(&v, 512 * M, 0);
    assert_false(lv_vmem_due(&v, LV_VMEM_GUEST_BOOTING, 5 * T, T));
    assert_false(lv_vmem_due(&v, LV_VMEM_GUEST_RUNNING, 6 * T, T));
    assert_int_equal(lv_vmem_observe(&v, 512 * M, 6 * T + 1, T), LV_VMEM_NEWS_NONE);
    assert_false(lv_vmem_due(&v, LV_VMEM_GUEST_RUNNING, 20 * T, T));

    /* a running guest: due after the timeout from the request, unless it
     * was paused in between (the clock starts again when it resumes) */
    lv_vmem_defined(&v, 256 * M, 1024 * M);
    lv_vmem_request(&v, 512 * M, 0);
    assert_false(lv_vmem_due(&v, LV_VMEM_GUEST_RUNNING, T - 1, T));
    assert_false(lv_vmem_due(&v, LV_VMEM_GUEST_PAUSED, T - 1, T));
    assert_false(lv_vmem_due(&v, LV_VMEM_GUEST_PAUSED, 5 * T, T));
    assert_false(lv_vmem_due(&v, LV_VMEM_GUEST_RUNNING, 5 * T + 1, T));
    assert_false(lv_vmem_due(&v, LV_VMEM_GUEST_RUNNING, 6 * T, T));
    assert_true(lv_vmem_due(&v, LV_VMEM_GUEST_RUNNING, 6 * T + 1, T));
    /* a guest that is down: nothing to wait for, and its clock kept */
    assert_false(lv_vmem_due(&v, LV_VMEM_GUEST_DOWN, 7 * T, T));
    assert_true(lv_vmem_due(&v, LV_VMEM_GUEST_RUNNING, 7 * T, T));
}

/* What a guest plugged against what was requested: a guest that moves
 * keeps its time, one that makes no move for the timeout is stalled once,
 * and catches up later; the balloon takes what an unplug left behind. */
static void test_vmem_track(void **state)
{
    (void)state;
    const uint64_t M = 1024;
    const int64_t T = 60000; /* the timeout, ms */
    struct lv_vmem v;
    lv_vmem_defined(&v, 256 * M, 1024 * M);
    assert_false(lv_vmem_pending(&v));
    assert_int_equal(lv_vmem_balloon_now_kib(&v), 256 * M); /* not known: the boot memory */
    v.balloon_kib = 192 * M;
    assert_int_equal(lv_vmem_balloon_now_kib(&v), 192 * M);
    v.balloon_kib = 0;
    assert_int_equal(lv_vmem_observe(&v, 0, 1000, T), LV_VMEM_NEWS_NONE);

    /* a guest that plugs, slowly: each move restarts the clock */
    lv_vmem_request(&v, 512 * M, 1000);
    assert_true(lv_vmem_pending(&v));
    assert_int_equal(lv_vmem_observe(&v, 128 * M, 50000, T), LV_VMEM_NEWS_NONE);
    assert_int_equal(lv_vmem_observe(&v, 256 * M, 100000, T), LV_VMEM_NEWS_NONE);
    assert_int_equal(lv_vmem_observe(&v, 256 * M, 159999, T), LV_VMEM_NEWS_NONE);
    assert_int_equal(lv_vmem_observe(&v, 512 * M, 159999, T), LV_VMEM_NEWS_NONE);
    assert_false(lv_vmem_pending(&v));
    assert_int_equal(lv_vmem_held_kib(&v, 256 * M), 768 * M);

    /* a guest that never plugs (no virtio_mem driver): stalled once */
    lv_vmem_defined(&v, 256 * M, 1024 * M);
    lv_vmem_request(&v, 512 * M, 0);
    assert_int_equal(lv_vmem_observe(&v, 0, T - 1, T), LV_VMEM_NEWS_NONE);
    assert_int_equal(lv_vmem_observe(&v, 0, T, T), LV_VMEM_NEWS_STALLED);
    assert_true(v.stalled);
    assert_int_equal(lv_vmem_observe(&v, 0, 10 * T, T), LV_VMEM_NEWS_NONE);
    assert_int_equal(v.stalls, 1);
    assert_int_equal(lv_vmem_held_kib(&v, 256 * M), 256 * M);
    assert_true(lv_vmem_short_mib(&v) == 256); /* what the engine is told it holds */
    /* a move that is not towards the request keeps it stalled */
    assert_int_equal(lv_vmem_observe(&v, 0, 11 * T, T), LV_VMEM_NEWS_NONE);
    /* its driver loaded late: it catches up */
    assert_int_equal(lv_vmem_observe(&v, 256 * M, 12 * T, T), LV_VMEM_NEWS_NONE);
    assert_true(v.stalled);
    assert_int_equal(lv_vmem_observe(&v, 512 * M, 12 * T, T), LV_VMEM_NEWS_CAUGHT_UP);
    assert_false(v.stalled);
    assert_true(lv_vmem_short_mib(&v) == 0);
    /* a new request gives a stalled guest a new chance */
    lv_vmem_request(&v, 1024 * M, 13 * T);
    assert_int_equal(lv_vmem_observe(&v, 512 * M, 14 * T - 1, T), LV_VMEM_NEWS_NONE);
    assert_int_equal(lv_vmem_observe(&v, 512 * M, 14 * T, T), LV_VMEM_NEWS_STALLED);
    assert_int_equal(v.stalls, 2);
    lv_vmem_request(&v, 512 * M, 15 * T);
    assert_false(v.stalled);
    assert_false(lv_vmem_pending(&v));

    /* an unplug that leaves blocks behind: no offset while it unplugs,
     * then the balloon takes the excess, never below a quarter of the
     * boot memory */
    lv_vmem_defined(&v, 256 * M, 1024 * M);
    lv_vmem_request(&v, 1024 * M, 0);
    assert_int_equal(lv_vmem_observe(&v, 1024 * M, 1, T), LV_VMEM_NEWS_NONE);
    lv_vmem_request(&v, 0, 10);
    assert_int_equal(lv_vmem_observe(&v, 4 * M, 20, T), LV_VMEM_NEWS_NONE);
    assert_int_equal(lv_vmem_balloon_kib(&v, 192 * M, 64 * M), 192 * M);
    assert_int_equal(lv_vmem_observe(&v, 4 * M, 20 + T, T), LV_VMEM_NEWS_STALLED);
    assert_int_equal(lv_vmem_balloon_kib(&v, 192 * M, 64 * M), 188 * M);
    assert_true(lv_vmem_short_mib(&v) == 0); /* more than asked: not short */
    assert_int_equal(lv_vmem_held_kib(&v, 188 * M), 192 * M);
    assert_int_equal(lv_vmem_observe(&v, 256 * M, 30 + T, T), LV_VMEM_NEWS_NONE);
    assert_int_equal(lv_vmem_balloon_kib(&v, 192 * M, 64 * M), 64 * M);
    assert_int_equal(lv_vmem_balloon_kib(&v, 32 * M, 64 * M), 32 * M);
    /* the guest unplugged the rest after all: the balloon comes back */
    assert_int_equal(lv_vmem_observe(&v, 0, 40 + T, T), LV_VMEM_NEWS_CAUGHT_UP);
    assert_int_equal(lv_vmem_balloon_kib(&v, 192 * M, 64 * M), 192 * M);

    /* no device: nothing to follow */
    lv_vmem_defined(&v, 512 * M, 0);
    assert_int_equal(lv_vmem_observe(&v, 0, 10 * T, T), LV_VMEM_NEWS_NONE);
    assert_int_equal(lv_vmem_held_kib(&v, 300 * M), 300 * M);
    assert_string_equal(lv_vmem_news_name(LV_VMEM_NEWS_STALLED), "stalled");
}

/* Plugged memory a guest left offline: its MemTotal against what it
 * holds, with the figures of the tiny guest (256 MiB of boot memory shows
 * a MemTotal of 157048 KiB; 512 MiB plugged and onlined adds exactly
 * 524288), each sample counting only once the guest's statistics are
 * newer than what it holds. */
static void test_vmem_offline(void **state)
{
    (void)state;
    const uint64_t M = 1024, BOOT_TOTAL = 157048;
    const int64_t T = 10000; /* the timeout, ms */
    struct lv_vmem v;
    lv_vmem_defined(&v, 256 * M, 1024 * M);
    /* booted: what it holds changed at 100 s; statistics of 100 s do not
     * count, those of 101 s set the kernel's own gap */
    assert_int_equal(lv_vmem_observe_total(&v, 256 * M, BOOT_TOTAL, 99, 100, 0, T),
                     LV_VMEM_NEWS_NONE);
    assert_int_equal(lv_vmem_observe_total(&v, 256 * M, BOOT_TOTAL, 100, 101, 1000, T),
                     LV_VMEM_NEWS_NONE);
    assert_false(v.has_gap_base);
    assert_int_equal(lv_vmem_observe_total(&v, 256 * M, BOOT_TOTAL, 101, 102, 2000, T),
                     LV_VMEM_NEWS_NONE);
    assert_true(v.has_gap_base);
    assert_int_equal(v.gap_base_kib, 256 * M - BOOT_TOTAL);

    /* plugged and onlined: MemTotal follows, nothing to say */
    lv_vmem_request(&v, 512 * M, 3000);
    assert_int_equal(lv_vmem_observe(&v, 512 * M, 4000, T), LV_VMEM_NEWS_NONE);
    assert_int_equal(lv_vmem_observe_total(&v, 768 * M, BOOT_TOTAL, 103, 104, 4000, T),
                     LV_VMEM_NEWS_NONE); /* stale: taken before the plug was seen */
    assert_int_equal(lv_vmem_observe_total(&v, 768 * M, BOOT_TOTAL, 104, 105, 5000, T),
                     LV_VMEM_NEWS_NONE);
    assert_int_equal(v.offline_since_ms, 0);
    /* with the page structures of what is plugged out of the boot memory */
    assert_int_equal(
        lv_vmem_observe_total(&v, 768 * M, BOOT_TOTAL + 524288 - 8 * M, 105, 106, 6000, T),
        LV_VMEM_NEWS_NONE);
    assert_int_equal(
        lv_vmem_observe_total(&v, 768 * M, BOOT_TOTAL + 524288 - 8 * M, 200, 200, 60000, T),
        LV_VMEM_NEWS_NONE);
    assert_int_equal(v.offline_kib, 0);
    assert_int_equal(v.offline_since_ms, 0);

    /* plugged and left offline: MemTotal stays, declared after the
     * timeout, once; the engine is told what it can use */
    lv_vmem_defined(&v, 256 * M, 1024 * M);
    assert_int_equal(lv_vmem_observe_total(&v, 256 * M, BOOT_TOTAL, 0, 100, 0, T),
                     LV_VMEM_NEWS_NONE);
    assert_int_equal(lv_vmem_observe_total(&v, 256 * M, BOOT_TOTAL, 101, 102, 1000, T),
                     LV_VMEM_NEWS_NONE);
    lv_vmem_request(&v, 512 * M, 2000);
    assert_int_equal(lv_vmem_observe(&v, 512 * M, 3000, T), LV_VMEM_NEWS_NONE);
    assert_int_equal(lv_vmem_observe_total(&v, 768 * M, BOOT_TOTAL, 102, 103, 3000, T),
                     LV_VMEM_NEWS_NONE);
    assert_int_equal(lv_vmem_observe_total(&v, 768 * M, BOOT_TOTAL, 104, 105, 4000, T),
                     LV_VMEM_NEWS_NONE);
    assert_int_equal(v.offline_since_ms, 4000);
    assert_true(lv_vmem_short_mib(&v) == 0); /* not yet declared */
    assert_int_equal(lv_vmem_observe_total(&v, 768 * M, BOOT_TOTAL, 110, 110, 4000 + T - 1, T),
                     LV_VMEM_NEWS_NONE);
    assert_int_equal(lv_vmem_observe_total(&v, 768 * M, BOOT_TOTAL, 111, 111, 4000 + T, T),
                     LV_VMEM_NEWS_OFFLINE);
    assert_true(v.offline);
    assert_int_equal(v.offline_kib, 512 * M - 512 * M / 32);
    assert_int_equal(lv_vmem_observe_total(&v, 768 * M, BOOT_TOTAL, 120, 120, 5 * T, T),
                     LV_VMEM_NEWS_NONE);
    assert_int_equal(lv_vmem_usable_kib(&v, 256 * M), 256 * M + 512 * M / 32);
    assert_true(lv_vmem_short_mib(&v) == 256 + 16);
    assert_false(v.stalled); /* plugged as asked: not a stall */
    /* its owner onlines it: MemTotal follows */
    assert_int_equal(
        lv_vmem_observe_total(&v, 768 * M, BOOT_TOTAL + 524288, 130, 130, 6 * T, T),
        LV_VMEM_NEWS_ONLINED);
    assert_false(v.offline);
    assert_true(lv_vmem_short_mib(&v) == 0);

    /* FOLLOWUPS #114: plugged before its first statistics and left
     * offline, then unplugged: the share is learnt only with nothing
     * plugged nor asked, so the next plug left offline is declared */
    lv_vmem_defined(&v, 256 * M, 1024 * M);
    lv_vmem_request(&v, 512 * M, 0);
    assert_int_equal(lv_vmem_observe(&v, 512 * M, 0, T), LV_VMEM_NEWS_NONE);
    assert_int_equal(lv_vmem_observe_total(&v, 768 * M, BOOT_TOTAL, 0, 100, 0, T),
                     LV_VMEM_NEWS_NONE);
    assert_int_equal(lv_vmem_observe_total(&v, 768 * M, BOOT_TOTAL, 101, 102, 1000, T),
                     LV_VMEM_NEWS_NONE);
    assert_false(v.has_gap_base); /* 512 MiB offline is not the kernel's */
    lv_vmem_request(&v, 0, 2000);
    assert_int_equal(lv_vmem_observe_total(&v, 768 * M, BOOT_TOTAL, 102, 103, 2000, T),
                     LV_VMEM_NEWS_NONE); /* asked, not yet unplugged */
    assert_int_equal(lv_vmem_observe(&v, 0, 3000, T), LV_VMEM_NEWS_NONE);
    assert_int_equal(lv_vmem_observe_total(&v, 256 * M, BOOT_TOTAL, 103, 104, 3000, T),
                     LV_VMEM_NEWS_NONE);
    assert_int_equal(lv_vmem_observe_total(&v, 256 * M, BOOT_TOTAL, 105, 106, 4000, T),
                     LV_VMEM_NEWS_NONE);
    assert_true(v.has_gap_base);
    assert_int_equal(v.gap_base_kib, 256 * M - BOOT_TOTAL);
    lv_vmem_request(&v, 512 * M, 5000);
    assert_int_equal(lv_vmem_observe(&v, 512 * M, 5000, T), LV_VMEM_NEWS_NONE);
    assert_int_equal(lv_vmem_observe_total(&v, 768 * M, BOOT_TOTAL, 106, 107, 5000, T),
                     LV_VMEM_NEWS_NONE);
    assert_int_equal(lv_vmem_observe_total(&v, 768 * M, BOOT_TOTAL, 108, 108, 6000, T),
                     LV_VMEM_NEWS_NONE);
    assert_int_equal(lv_vmem_observe_total(&v, 768 * M, BOOT_TOTAL, 118, 118, 6000 + T, T),
                     LV_VMEM_NEWS_OFFLINE);

    /* a balloon that moved before the statistics did is no news */
    lv_vmem_defined(&v, 256 * M, 1024 * M);
    assert_int_equal(lv_vmem_observe_total(&v, 256 * M, BOOT_TOTAL, 0, 100, 0, T),
                     LV_VMEM_NEWS_NONE);
    assert_int_equal(lv_vmem_observe_total(&v, 256 * M, BOOT_TOTAL, 101, 102, 1000, T),
                     LV_VMEM_NEWS_NONE);
    assert_int_equal(lv_vmem_observe_total(&v, 128 * M, BOOT_TOTAL, 102, 103, 2000, T),
                     LV_VMEM_NEWS_NONE);
    assert_int_equal(lv_vmem_observe_total(&v, 128 * M, BOOT_TOTAL, 103, 104, 3000, T),
                     LV_VMEM_NEWS_NONE);
    assert_int_equal(v.gap_base_kib, 256 * M - BOOT_TOTAL); /* not lowered by a stale one */
    assert_int_equal(
        lv_vmem_observe_total(&v, 128 * M, BOOT_TOTAL - 128 * M, 104, 105, 4000, T),
        LV_VMEM_NEWS_NONE);
    assert_int_equal(v.gap_base_kib, 256 * M - BOOT_TOTAL);
    /* no device, no statistics: nothing to follow */
    lv_vmem_defined(&v, 512 * M, 0);
    assert_int_equal(lv_vmem_observe_total(&v, 512 * M, 100, 10, 11, 0, T), LV_VMEM_NEWS_NONE);
    lv_vmem_defined(&v, 256 * M, 1024 * M);
    assert_int_equal(lv_vmem_observe_total(&v, 256 * M, 0, 10, 11, 0, T), LV_VMEM_NEWS_NONE);
    assert_string_equal(lv_vmem_news_name(LV_VMEM_NEWS_OFFLINE), "offline");
}

/* FOLLOWUPS #99: a sculpt restarted while a guest leaves plugged memory
 * offline.  Learnt anew, the guest's first gap (its kernel's share plus
 * what it left offline) passes for its kernel's share and nothing is ever
 * declared; from the share the run metadata kept, the offline memory is
 * declared after the timeout as it would have been without the restart. */
static void test_vmem_gap_restart(void **state)
{
    (void)state;
    const uint64_t M = 1024, BOOT_TOTAL = 157048;
    const int64_t T = 10000;
    /* the first process: the kernel's share learnt at boot, kept in the run */
    struct lv_vmem v;
    lv_vmem_defined(&v, 256 * M, 1024 * M);
    lv_vmem_observe_total(&v, 256 * M, BOOT_TOTAL, 0, 100, 0, T);
    lv_vmem_observe_total(&v, 256 * M, BOOT_TOTAL, 101, 102, 1000, T);
    assert_true(v.has_gap_base);
    struct lv_entry e;
    memset(&e, 0, sizeof(e));
    e.started_ms = 1700000000000LL;
    e.vmem = v;
    struct lv_run kept;
    lv_run_of(&e, &kept);
    assert_true(kept.has_gap_base && kept.gap_base_kib == 256 * M - BOOT_TOTAL);
    autofree char *xml = lv_run_format(&kept);

    /* the guest plugs 512 MiB and leaves it offline; sculpt restarts and
     * its first samples see the guest so */
    for (int restored = 0; restored < 2; restored++) {
        struct lv_vmem w;
        lv_vmem_defined(&w, 256 * M, 1024 * M);
        if (restored) {
            struct lv_run run;
            lv_run_parse(xml, &run);
            lv_vmem_restore_gap(&w, run.gap_base_kib);
        }
        lv_vmem_request(&w, 512 * M, 0);
        lv_vmem_observe(&w, 512 * M, 0, T);
        int declared = 0;
        for (int64_t s = 0; s <= 3; s++)
            declared += lv_vmem_observe_total(&w, 768 * M, BOOT_TOTAL, 200 + s, 200 + s, s * T,
                                              T) == LV_VMEM_NEWS_OFFLINE;
        assert_int_equal(declared, restored);
        assert_int_equal(w.offline, restored);
        if (restored) {
            assert_int_equal(w.offline_kib, 512 * M - 512 * M / 32);
        } else {
            /* not taken for the kernel's (FOLLOWUPS #114): with memory
             * plugged there is no share to learn, nothing to judge by */
            assert_false(w.has_gap_base);
        }
    }
    /* a smaller share seen since stands; none without a device */
    lv_vmem_restore_gap(&v, v.gap_base_kib + 4096);
    assert_int_equal(v.gap_base_kib, 256 * M - BOOT_TOTAL);
    lv_vmem_restore_gap(&v, 1024);
    assert_int_equal(v.gap_base_kib, 1024);
    lv_vmem_defined(&v, 512 * M, 0);
    lv_vmem_restore_gap(&v, 1024);
    assert_false(v.has_gap_base);
    e.vmem = v;
    lv_run_of(&e, &kept);
    assert_false(kept.has_gap_base);
}

static struct drv_hv_event vmem_seen[8];
static int vmem_nseen;

static void vmem_record(const struct drv_hv_event *ev, void *opaque)
{
    (void)opaque;
    if (vmem_nseen < (int)(sizeof(vmem_seen) / sizeof(vmem_seen[0])))
        vmem_seen[vmem_nseen++] = *ev;
}

/* A verdict reaches the operator: an event (its power state unchanged),
 * and, for a stall, the metric by direction; memory left offline its
 * own. */
static void test_vmem_report(void **state)
{
    (void)state;
    const uint64_t M = 1024;
    struct lv lv;
    struct drv_hv hv;
    memset(&lv, 0, sizeof(lv));
    memset(&hv, 0, sizeof(hv));
    hv.priv = &lv;
    hv.event_cb = vmem_record;
    lv.hv = &hv;
    lv.vmem_timeout_ms = 60000;
    vmem_nseen = 0;
    struct lv_vmem v;
    lv_vmem_defined(&v, 256 * M, 1024 * M);
    lv_vmem_request(&v, 512 * M, 0);
    assert_int_equal(lv_vmem_observe(&v, 0, 60000, 60000), LV_VMEM_NEWS_STALLED);
    lv_vmem_report(&lv, UUID_A, LV_VMEM_NEWS_STALLED, &v, DRV_POWER_RUNNING);
    lv_vmem_report(&lv, UUID_A, LV_VMEM_NEWS_NONE, &v, DRV_POWER_RUNNING);
    assert_int_equal(lv_vmem_observe(&v, 512 * M, 70000, 60000), LV_VMEM_NEWS_CAUGHT_UP);
    lv_vmem_report(&lv, UUID_A, LV_VMEM_NEWS_CAUGHT_UP, &v, DRV_POWER_RUNNING);
    lv_vmem_request(&v, 0, 80000);
    assert_int_equal(lv_vmem_observe(&v, 4 * M, 90000, 60000), LV_VMEM_NEWS_NONE);
    assert_int_equal(lv_vmem_observe(&v, 4 * M, 150000, 60000), LV_VMEM_NEWS_STALLED);
    lv_vmem_report(&lv, UUID_A, LV_VMEM_NEWS_STALLED, &v, DRV_POWER_RUNNING);
    /* plugged and left offline, then onlined */
    v.offline = true;
    v.offline_kib = 496 * M;
    lv_vmem_report(&lv, UUID_A, LV_VMEM_NEWS_OFFLINE, &v, DRV_POWER_RUNNING);
    v.offline = false;
    lv_vmem_report(&lv, UUID_A, LV_VMEM_NEWS_ONLINED, &v, DRV_POWER_RUNNING);
    assert_int_equal(vmem_nseen, 5);
    assert_int_equal(vmem_seen[0].type, DRV_HV_EVENT_MEMORY);
    assert_string_equal(vmem_seen[0].uuid, UUID_A);
    assert_string_equal(vmem_seen[0].reason, "plug-stalled");
    assert_int_equal(vmem_seen[0].state, DRV_POWER_RUNNING);
    assert_string_equal(vmem_seen[1].reason, "caught-up");
    assert_string_equal(vmem_seen[2].reason, "unplug-stalled");
    assert_string_equal(vmem_seen[3].reason, "plug-offline");
    assert_string_equal(vmem_seen[4].reason, "onlined");
    assert_string_equal(drv_hv_event_name(DRV_HV_EVENT_MEMORY), "memory");
    char *text = metrics_render();
    assert_non_null(strstr(text, "sculpt_memory_hotplug_stalled_total{direction=\"plug\"} 1\n"));
    assert_non_null(strstr(text, "sculpt_memory_hotplug_stalled_total{direction=\"unplug\"} 1\n"));
    assert_non_null(strstr(text, "sculpt_memory_hotplug_offline_total 1\n"));
    free(text);
}

/* The domain of a guest with memory hot-plug, read back; the device
 * update libvirt takes, built from a live domain's XML. */
static void test_vmem_xml(void **state)
{
    (void)state;
    struct lv_policy p = policy();
    p.memory_hotplug = true;
    p.boot_min_kib = 256 * 1024;
    struct drv_hv_guest_spec spec;
    spec_of(&spec);
    struct lv_meta m;
    lv_design_meta(&p, &spec, 1234, &m);
    struct lv_cfg_domain d;
    lv_design_domain(&p, &m, &spec.shape, &d);
    assert_int_equal(d.vmem_kib, 512 * 1024);
    assert_int_equal(d.pcie_ports, 4); /* one more: the device takes a port */
    char *xml = lv_cfg_domain_format(&d);
    assert_non_null(strstr(xml, "<maxMemory slots=\"1\" unit=\"KiB\">1048576</maxMemory>"));
    assert_non_null(strstr(xml, "<memory unit=\"KiB\">1048576</memory>"));
    assert_non_null(strstr(xml, "<currentMemory unit=\"KiB\">524288</currentMemory>"));
    assert_non_null(
        strstr(xml, "<cell id=\"0\" cpus=\"0-3\" memory=\"524288\" unit=\"KiB\"/>"));
    assert_non_null(strstr(xml, "<memory model=\"virtio-mem\">"));
    assert_non_null(strstr(xml, "<size unit=\"KiB\">524288</size>"));
    assert_non_null(strstr(xml, "<block unit=\"KiB\">2048</block>"));
    assert_non_null(strstr(xml, "<requested unit=\"KiB\">0</requested>"));
    struct lv_knobs k;
    struct err *err = NULL;
    assert_int_equal(lv_cfg_domain_read(xml, &k, &err), 0);
    assert_int_equal(k.max_kib, 1024 * 1024);
    assert_int_equal(k.cur_kib, 512 * 1024);
    assert_int_equal(k.vmem_kib, 512 * 1024);
    assert_int_equal(k.vmem_requested_kib, 0);
    lv_knobs_release(&k);
    free(xml);
    lv_cfg_domain_release(&d);

    /* a floor above the shape's memory: booted with it, ballooned down */
    p.boot_min_kib = 768 * 1024;
    lv_design_domain(&p, &m, &spec.shape, &d);
    assert_int_equal(d.vmem_kib, 256 * 1024);
    xml = lv_cfg_domain_format(&d);
    assert_non_null(strstr(xml, "<currentMemory unit=\"KiB\">524288</currentMemory>"));
    assert_non_null(strstr(xml, "memory=\"786432\""));
    free(xml);
    lv_cfg_domain_release(&d);

    /* without hot-plug: no device, no NUMA cell, the maximum at boot */
    p.memory_hotplug = false;
    lv_design_domain(&p, &m, &spec.shape, &d);
    assert_int_equal(d.vmem_kib, 0);
    xml = lv_cfg_domain_format(&d);
    assert_null(strstr(xml, "maxMemory"));
    assert_null(strstr(xml, "virtio-mem"));
    assert_null(strstr(xml, "<cell"));
    free(xml);
    lv_cfg_domain_release(&d);
    lv_meta_release(&m);

    /* as libvirt shows a running guest (sizes in other units, its alias,
     * address and plugged size) */
    const char *live =
        "<domain type='qemu'><name>g</name><maxMemory slots='1' unit='KiB'>2359296</maxMemory>"
        "<memory unit='KiB'>2359296</memory><currentMemory unit='KiB'>335872</currentMemory>"
        "<devices><memory model='dimm'><target><size unit='KiB'>4</size></target></memory>"
        "<memory model='virtio-mem'><target><size unit='GiB'>2</size><node>0</node>"
        "<block unit='KiB'>2048</block><requested unit='MiB'>128</requested>"
        "<current unit='KiB'>131072</current></target><alias name='virtiomem0'/>"
        "<address type='pci' domain='0x0000' bus='0x03' slot='0x00' function='0x0'/></memory>"
        "</devices></domain>";
    assert_int_equal(lv_cfg_domain_read(live, &k, &err), 0);
    assert_int_equal(k.vmem_kib, 2097152);
    assert_int_equal(k.vmem_requested_kib, 131072);
    assert_int_equal(k.vmem_current_kib, 131072);
    assert_int_equal(k.cur_kib, 335872);
    lv_knobs_release(&k);
    char *dev = lv_cfg_vmem_request(live, 65536, &err);
    assert_non_null(dev);
    assert_non_null(strstr(dev, "<memory model=\"virtio-mem\">"));
    assert_non_null(strstr(dev, "<requested unit=\"KiB\">65536</requested>"));
    assert_non_null(strstr(dev, "<alias name=\"virtiomem0\"/>"));
    assert_non_null(strstr(dev, "bus=\"0x03\""));
    assert_null(strstr(dev, "<current"));
    assert_null(strstr(dev, "dimm"));
    free(dev);
    assert_null(lv_cfg_vmem_request("<domain><devices/></domain>", 0, &err));
    assert_int_equal(err->code, ERR_NOT_FOUND);
    err_clear(&err);
    assert_null(lv_cfg_vmem_request("<domain", 0, &err));
    assert_int_equal(err->code, ERR_INVALID);
    err_clear(&err);
}

/* ---- against test:///default ---- */

static void noop_lifecycle(void *o, const char *u, const char *n, int e, int d)
{
    (void)o, (void)u, (void)n, (void)e, (void)d;
}

static void noop_conn(void *o, bool c)
{
    (void)o, (void)c;
}

static void noop_memdev(void *o, const char *u, const char *a, uint64_t kib)
{
    (void)o, (void)u, (void)a, (void)kib;
}

/* The knob setters and the read-back on the test driver's domain `test`. */
static void test_guest_knobs(void **state)
{
    (void)state;
    struct err *err = NULL;
    struct lv_host *h =
        lv_host_open("test:///default", 1000, noop_lifecycle, noop_memdev, noop_conn, NULL, &err);
    assert_non_null(h);
    virConnectPtr c = lv_host_conn(h, NULL, &err);
    assert_non_null(c);
    virDomainPtr dom = virDomainLookupByName(c, "test");
    assert_non_null(dom);

    assert_int_equal(lv_guest_set_vcpus(dom, "test", 1, &err), 0);
    assert_int_equal(lv_guest_set_balloon(dom, "test", 1024 * 1024, &err), 0);
    assert_int_equal(lv_guest_pin_vcpu(dom, "test", 0, "1", 2, &err), 0);
    /* the test driver wants every *_max set above its rate (QEMU does
     * not): the refusal comes back as a project error */
    assert_int_equal(lv_guest_set_iotune(dom, "test", "vda", 100, 50, 0, 2000000, &err), -1);
    assert_int_equal(err->code, ERR_INVALID);
    assert_non_null(strstr(err->msg, "virDomainSetBlockIoTune on `test`: invalid argument"));
    err_clear(&err);
    struct lv_knobs k;
    assert_int_equal(lv_guest_read(dom, "test", &k, &err), 0);
    assert_int_equal(k.vcpus_online, 1);
    assert_int_equal(k.cur_kib, 1024 * 1024);
    assert_string_equal(k.cpuset, "1");
    lv_knobs_release(&k);
    enum drv_power_state st;
    char why[32];
    assert_int_equal(lv_guest_state(dom, "test", &st, why, &err), 0);
    assert_int_equal(st, DRV_POWER_RUNNING);

    /* a libvirt failure becomes a project error naming call and domain */
    assert_int_equal(lv_guest_set_vcpus(dom, "test", 64, &err), -1);
    assert_int_equal(err->code, ERR_INVALID);
    assert_non_null(strstr(err->msg, "virDomainSetVcpusFlags on `test`"));
    err_clear(&err);
    assert_null(virDomainLookupByName(c, "nope"));
    lv_error(&err, "virDomainLookupByName", "nope");
    assert_int_equal(err->code, ERR_NOT_FOUND);
    err_clear(&err);

    virDomainFree(dom);
    virConnectClose(c);
    lv_host_close(h);
}

/* The ops table end to end on test:///default: spawn, reshape, read,
 * errors, destroy. */
/* libvirt's every call clears the last error, virDomainGetName too: what a
 * failed call said must survive naming its domain (it read "unknown libvirt
 * error" when the name was lv_error's argument). */
static void test_dom_error(void **state)
{
    (void)state;
    virConnectPtr conn = virConnectOpen("test:///default");
    assert_non_null(conn);
    virDomainPtr dom = virDomainLookupByName(conn, "test");
    assert_non_null(dom);
    assert_int_equal(virDomainDestroy(dom), 0);
    assert_true(virDomainDestroy(dom) < 0); /* no longer running */
    autoerr struct err *e = NULL;
    assert_int_equal(lv_dom_error(&e, "virDomainDestroy", dom), -1);
    assert_int_equal(err_code_of(e), ERR_CONFLICT);
    assert_non_null(strstr(e->msg, "virDomainDestroy on `test`: "));
    assert_null(strstr(e->msg, "unknown libvirt error"));
    assert_int_equal(virDomainCreate(dom), 0); /* the shared test domain as it was */
    virDomainFree(dom);
    virConnectClose(conn);
}

/* Zed's acquire_port against a libvirt: a port another domain names is
 * not taken, even while that domain does not run; the domain's own port
 * is kept at its redefinition; a port promised to a migration is held. */
static void test_serial_acquire(void **state)
{
    (void)state;
    /* a port free now, and the range from it */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    int p = ntohs(a.sin_port);
    if (p > 65000)
        p -= 1000;
    virConnectPtr conn = virConnectOpen("test:///default");
    assert_non_null(conn);
    char xml[1024];
    snprintf(xml, sizeof(xml),
             "<domain type='test'><name>serial-a</name><uuid>%s</uuid><memory>65536</memory>"
             "<os><type>hvm</type></os><devices><serial type='tcp'><source mode='bind' "
             "host='127.0.0.1' service='%d'/><protocol type='raw'/><target port='0'/></serial>"
             "</devices></domain>",
             "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4e", p);
    virDomainPtr dom = virDomainDefineXML(conn, xml);
    assert_non_null(dom);
    struct cfg *cfg = cfg_load_string("[serial_console]\nenabled = true\n", "t.conf", NULL);
    assert_non_null(cfg);
    free(cfg->serial_console_port_range);
    cfg->serial_console_port_range = xasprintf("%d:%d", p, p + 200);
    struct lv_serial s;
    lv_serial_init(&s, cfg);
    assert_string_equal(s.host, "127.0.0.1");
    struct err *err = NULL;
    lv_serial_lock(&s);
    assert_int_equal(lv_serial_acquire(&s, conn, "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4e", 0, &err), p);
    int other = lv_serial_acquire(&s, conn, UUID_A, 60000, &err);
    assert_true(other > p && other < p + 200);
    /* held for the migration: the next guest gets another */
    int third = lv_serial_acquire(&s, conn, "0e1d2c3b-4a59-4876-a5b4-c3d2e1f0a9b8", 0, &err);
    assert_true(third > other && third < p + 200);
    lv_serial_unlock(&s);
    lv_serial_release(&s);
    assert_int_equal(virDomainUndefine(dom), 0);
    virDomainFree(dom);
    virConnectClose(conn);
    cfg_unref(cfg);
}

static void test_backend_on_test_driver(void **state)
{
    const char *dir = *state; /* test_tmpdir_setup */
    struct cfg *cfg = lv_test_cfg(dir);
    struct err *err = NULL;
    struct drv_hv *hv = drv_hv_open("libvirt", cfg, &err);
    assert_non_null(hv);
    struct drv_hv_host host;
    assert_int_equal(drv_hv_host_info(hv, &host, &err), 0);
    assert_string_equal(host.virt_type, "test");

    struct drv_hv_guest_spec spec;
    lv_test_spec(&spec, UUID_A, 2, 512);
    assert_int_equal(drv_hv_spawn(hv, &spec, &err), 0);
    struct drv_hv_info info;
    assert_int_equal(drv_hv_get_info(hv, UUID_A, &info, &err), 0);
    assert_int_equal(info.state, DRV_POWER_RUNNING);
    assert_true(info.ours);

    /* the balloon works on the test driver; only what changed is set */
    struct drv_shape to = spec.shape;
    to.res.v[DRV_RES_MEM_MIB] = 300;
    struct drv_hv_reshape_report rep;
    assert_int_equal(drv_hv_reshape(hv, UUID_A, &to, &rep, &err), 0);
    assert_int_equal(rep.calls, 1);
    assert_int_equal(rep.changed, 1u << DRV_HV_KNOB_BALLOON);
    assert_int_equal(drv_hv_reshape(hv, UUID_A, &to, &rep, &err), 0);
    assert_int_equal(rep.calls, 0);

    /* its scheduler knows only `weight`: the vCPU is hot-added, then the
     * quota is refused, and the error names the call and the domain */
    to.vcpus_online = 2;
    to.res.v[DRV_RES_VCPU] = 1.5;
    assert_int_equal(drv_hv_reshape(hv, UUID_A, &to, &rep, &err), -1);
    assert_non_null(strstr(err->msg, "virDomainSetSchedulerParametersFlags on `sculpt-" UUID_A));
    err_clear(&err);
    assert_int_equal(rep.changed, 1u << DRV_HV_KNOB_VCPUS);
    assert_int_equal(drv_hv_get_info(hv, UUID_A, &info, &err), 0);
    assert_int_equal(info.vcpus_online_actual, 2);

    struct drv_hv_guest_spec back;
    assert_int_equal(drv_hv_get_spec(hv, UUID_A, &back, &err), 0);
    assert_string_equal(back.image.kernel, "/img/vmlinuz");
    drv_hv_guest_spec_release(&back);

    assert_int_equal(drv_hv_spawn(hv, &spec, &err), -1);
    assert_int_equal(err->code, ERR_CONFLICT);
    err_clear(&err);
    assert_int_equal(drv_hv_destroy(hv, UUID_A, false, &err), 0);
    assert_int_equal(drv_hv_get_info(hv, UUID_A, &info, &err), -1);
    assert_int_equal(err->code, ERR_NOT_FOUND);
    err_clear(&err);
    drv_hv_close(hv);
    cfg_unref(cfg);
}

/* Memory hot-plug through the ops on test:///default: the domain is
 * defined with the device; the balloon moves within the boot memory and
 * the device's requested size above it. */
static void test_vmem_on_test_driver(void **state)
{
    const char *dir = *state; /* test_tmpdir_setup */
    struct cfg *cfg = lv_test_cfg(dir);
    struct err *err = NULL;
    assert_int_equal(cfg_set(cfg, "libvirt", "memory_hotplug", "true", &err), 0);
    metrics_reset();
    struct drv_hv *hv = drv_hv_open("libvirt", cfg, &err);
    assert_non_null(hv);
    /* the stall counter is there from the start, at 0 */
    char *text = metrics_render();
    assert_non_null(strstr(text, "sculpt_memory_hotplug_stalled_total{direction=\"plug\"} 0\n"));
    assert_non_null(strstr(text, "sculpt_memory_hotplug_stalled_total{direction=\"unplug\"} 0\n"));
    free(text);
    struct drv_hv_guest_spec spec;
    lv_test_spec(&spec, UUID_A, 2, 1024);
    assert_int_equal(drv_hv_spawn(hv, &spec, &err), 0);

    /* defined to boot with 256 MiB and a device of the other 768 */
    struct lv_host *h =
        lv_host_open("test:///default", 1000, noop_lifecycle, noop_memdev, noop_conn, NULL, &err);
    assert_non_null(h);
    virConnectPtr c = lv_host_conn(h, NULL, &err);
    assert_non_null(c);
    virDomainPtr dom = virDomainLookupByUUIDString(c, UUID_A);
    assert_non_null(dom);
    struct lv_knobs k;
    assert_int_equal(lv_guest_read(dom, "g", &k, &err), 0);
    assert_int_equal(k.max_kib, 1024 * 1024);
    assert_int_equal(k.vmem_kib, 768 * 1024);
    assert_int_equal(k.cur_kib, 256 * 1024);
    lv_knobs_release(&k);
    virDomainFree(dom);
    virConnectClose(c);
    lv_host_close(h);

    /* within the boot memory: the balloon alone */
    struct drv_shape to = spec.shape;
    to.res.v[DRV_RES_MEM_MIB] = 200;
    struct drv_hv_reshape_report rep;
    assert_int_equal(drv_hv_reshape(hv, UUID_A, &to, &rep, &err), 0);
    assert_int_equal(rep.calls, 1);
    assert_int_equal(rep.changed, 1u << DRV_HV_KNOB_BALLOON);
    /* above it: the balloon up to the boot memory, then the device; the
     * test driver updates no device, and the refusal names the call and
     * leaves the memory recorded as it was */
    to.res.v[DRV_RES_MEM_MIB] = 640;
    assert_int_equal(drv_hv_reshape(hv, UUID_A, &to, &rep, &err), -1);
    assert_int_equal(rep.calls, 2);
    assert_int_equal(rep.changed, 0);
    assert_non_null(strstr(err->msg, "virDomainUpdateDeviceFlags on `sculpt-" UUID_A));
    err_clear(&err);
    /* the balloon set on the way is recorded: nothing left to call */
    to.res.v[DRV_RES_MEM_MIB] = 256;
    assert_int_equal(drv_hv_reshape(hv, UUID_A, &to, &rep, &err), 0);
    assert_int_equal(rep.calls, 0);
    assert_int_equal(rep.changed, 1u << DRV_HV_KNOB_BALLOON);
    assert_int_equal(drv_hv_reshape(hv, UUID_A, &to, &rep, &err), 0);
    assert_int_equal(rep.calls, 0);
    /* the info says what the guest holds: the balloon and nothing plugged */
    struct drv_hv_info info;
    assert_int_equal(drv_hv_get_info(hv, UUID_A, &info, &err), 0);
    assert_true(info.shape.res.v[DRV_RES_MEM_MIB] == 256);
    assert_true(info.mem_requested_mib == 0);
    assert_true(info.mem_plugged_mib == 0);
    assert_false(info.mem_stalled);
    /* read back from the domain by a list (a restarted sculpt): the same */
    struct drv_hv_info *all = NULL;
    size_t n = 0;
    assert_int_equal(drv_hv_list(hv, &all, &n, &err), 0);
    bool found = false;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(all[i].uuid, UUID_A) != 0)
            continue;
        found = true;
        assert_true(all[i].shape.res.v[DRV_RES_MEM_MIB] == 256);
        assert_true(all[i].mem_requested_mib == 0);
    }
    assert_true(found);
    free(all);
    assert_int_equal(drv_hv_reshape(hv, UUID_A, &to, &rep, &err), 0);
    assert_int_equal(rep.calls, 0);
    assert_int_equal(drv_hv_destroy(hv, UUID_A, false, &err), 0);
    drv_hv_close(hv);
    cfg_unref(cfg);
}

/* The kernel's share a guest's run metadata keeps, through the backend on
 * test:///default: written once learnt (and again only when it changes),
 * read back when a restarted sculpt loads the guest; a new run of the
 * guest starts without it. */
static void test_vmem_gap_on_test_driver(void **state)
{
    const char *dir = *state; /* test_tmpdir_setup */
    struct cfg *cfg = lv_test_cfg(dir);
    struct err *err = NULL;
    assert_int_equal(cfg_set(cfg, "libvirt", "memory_hotplug", "true", &err), 0);
    struct drv_hv *hv = drv_hv_open("libvirt", cfg, &err);
    assert_non_null(hv);
    struct drv_hv_guest_spec spec;
    lv_test_spec(&spec, UUID_A, 2, 1024);
    assert_int_equal(drv_hv_spawn(hv, &spec, &err), 0);

    /* the share learnt from the guest's statistics (the test driver has
     * none: set as lv_vmem_observe_total would) */
    struct lv *lv = lv_of(hv);
    pthread_mutex_lock(&lv->lock);
    struct lv_entry *e = lv_entry_find(lv, UUID_A);
    assert_non_null(e);
    assert_false(lv_vmem_gap_unsaved(e));
    e->vmem.gap_base_kib = 101096;
    e->vmem.has_gap_base = true;
    assert_true(lv_vmem_gap_unsaved(e));
    int64_t started = e->started_ms;
    pthread_mutex_unlock(&lv->lock);
    lv_vmem_gap_record(lv, UUID_A);
    pthread_mutex_lock(&lv->lock);
    assert_false(lv_vmem_gap_unsaved(lv_entry_find(lv, UUID_A)));
    pthread_mutex_unlock(&lv->lock);

    /* a restarted sculpt: the guest loaded, its share with it, the run's
     * start kept (opened before the first closes: test:///default lives
     * as long as a connection to it) */
    struct drv_hv *first = hv;
    hv = drv_hv_open("libvirt", cfg, &err);
    assert_non_null(hv);
    drv_hv_close(first);
    struct drv_hv_info info;
    assert_int_equal(drv_hv_get_info(hv, UUID_A, &info, &err), 0);
    lv = lv_of(hv);
    pthread_mutex_lock(&lv->lock);
    e = lv_entry_find(lv, UUID_A);
    assert_true(e->vmem.has_gap_base);
    assert_int_equal(e->vmem.gap_base_kib, 101096);
    assert_int_equal(e->started_ms, started);
    assert_false(lv_vmem_gap_unsaved(e));
    pthread_mutex_unlock(&lv->lock);

    /* a new run (a power cycle redefines the guest): neither the record
     * nor the run's metadata keep the old run's share */
    assert_int_equal(drv_hv_power_off(hv, UUID_A, 0, &err), 0);
    assert_int_equal(drv_hv_power_on(hv, UUID_A, &err), 0);
    pthread_mutex_lock(&lv->lock);
    e = lv_entry_find(lv, UUID_A);
    assert_false(e->vmem.has_gap_base);
    assert_false(lv_vmem_gap_unsaved(e));
    pthread_mutex_unlock(&lv->lock);
    first = hv;
    hv = drv_hv_open("libvirt", cfg, &err);
    assert_non_null(hv);
    drv_hv_close(first);
    assert_int_equal(drv_hv_get_info(hv, UUID_A, &info, &err), 0);
    lv = lv_of(hv);
    pthread_mutex_lock(&lv->lock);
    assert_false(lv_entry_find(lv, UUID_A)->vmem.has_gap_base);
    pthread_mutex_unlock(&lv->lock);
    assert_int_equal(drv_hv_destroy(hv, UUID_A, false, &err), 0);
    drv_hv_close(hv);
    cfg_unref(cfg);
}

#define INSTANCE_B "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"

/* A guest renamed once it is off, as a handed-over member is: named by
 * its instance's uuid through the alias, its own uuid kept, sculpt's
 * metadata following, refused while it runs or when the name is taken. */
static void test_rename_on_test_driver(void **state)
{
    const char *dir = *state; /* test_tmpdir_setup */
    struct cfg *cfg = lv_test_cfg(dir);
    struct err *err = NULL;
    struct drv_hv *hv = drv_hv_open("libvirt", cfg, &err);
    assert_non_null(hv);
    struct drv_hv_guest_spec spec;
    lv_test_spec(&spec, UUID_A, 1, 256);
    spec.name = (char *)"sculpt-pool-6f0c1a2b";
    assert_int_equal(drv_hv_spawn(hv, &spec, &err), 0);
    drv_hv_alias(hv, INSTANCE_B, UUID_A);

    struct drv_hv_guest_spec id = {.uuid = INSTANCE_B, .display_name = (char *)"web-1"};
    assert_int_equal(drv_hv_set_identity(hv, INSTANCE_B, &id, &err), 0);

    /* running: libvirt renames only an inactive domain */
    assert_int_equal(drv_hv_rename(hv, INSTANCE_B, "instance-0000002a", &err), -1);
    assert_int_equal(err->code, ERR_CONFLICT);
    assert_non_null(strstr(err->msg, "`sculpt-pool-6f0c1a2b` is active"));
    err_clear(&err);
    assert_int_equal(drv_hv_power_off(hv, INSTANCE_B, 0, &err), 0);
    /* a name libvirt or a shell would not take as it is; one taken */
    assert_int_equal(drv_hv_rename(hv, INSTANCE_B, "a b", &err), -1);
    assert_int_equal(err->code, ERR_INVALID);
    err_clear(&err);
    assert_int_equal(drv_hv_rename(hv, INSTANCE_B, "", &err), -1);
    assert_int_equal(err->code, ERR_INVALID);
    err_clear(&err);
    assert_int_equal(drv_hv_rename(hv, INSTANCE_B, "test", &err), -1);
    assert_int_equal(err->code, ERR_CONFLICT);
    err_clear(&err);

    assert_int_equal(drv_hv_rename(hv, INSTANCE_B, "instance-0000002a", &err), 0);
    struct drv_hv_info info;
    assert_int_equal(drv_hv_get_info(hv, INSTANCE_B, &info, &err), 0);
    assert_string_equal(info.name, "instance-0000002a");
    assert_string_equal(info.uuid, INSTANCE_B);
    assert_int_equal(info.state, DRV_POWER_SHUTDOWN);
    /* libvirt: the same domain (its uuid), under the new name */
    struct drv_hv_info *all = NULL;
    size_t n = 0;
    assert_int_equal(drv_hv_list(hv, &all, &n, &err), 0);
    size_t found = 0;
    for (size_t i = 0; i < n; i++) {
        assert_string_not_equal(all[i].name, "sculpt-pool-6f0c1a2b");
        if (strcmp(all[i].name, "instance-0000002a") == 0) {
            assert_string_equal(all[i].uuid, INSTANCE_B);
            found++;
        }
    }
    assert_int_equal(found, 1);
    free(all);
    char dom[DRV_UUID_LEN + 1];
    drv_hv_domain_uuid(hv, INSTANCE_B, dom);
    assert_string_equal(dom, UUID_A);
    struct drv_hv_guest_spec back;
    assert_int_equal(drv_hv_get_spec(hv, INSTANCE_B, &back, &err), 0);
    assert_string_equal(back.name, "instance-0000002a");
    drv_hv_guest_spec_release(&back);
    /* again: nothing to do */
    if (drv_hv_rename(hv, INSTANCE_B, "instance-0000002a", &err) < 0)
        fail_msg("%s", err->msg);

    /* a start redefines the domain: under its new name, its title kept */
    assert_int_equal(drv_hv_power_on(hv, INSTANCE_B, &err), 0);
    assert_int_equal(drv_hv_get_info(hv, INSTANCE_B, &info, &err), 0);
    assert_int_equal(info.state, DRV_POWER_RUNNING);
    assert_string_equal(info.name, "instance-0000002a");
    virConnectPtr conn = virConnectOpen("test:///default");
    assert_non_null(conn);
    virDomainPtr d = virDomainLookupByName(conn, "instance-0000002a");
    assert_non_null(d);
    char *title = virDomainGetMetadata(d, VIR_DOMAIN_METADATA_TITLE, NULL, 0);
    assert_non_null(title);
    assert_string_equal(title, "web-1 (" INSTANCE_B ")");
    free(title);
    virDomainFree(d);
    virConnectClose(conn);
    assert_int_equal(drv_hv_destroy(hv, INSTANCE_B, false, &err), 0);
    assert_int_equal(drv_hv_rename(hv, INSTANCE_B, "instance-0000002b", &err), -1);
    assert_int_equal(err->code, ERR_NOT_FOUND);
    err_clear(&err);
    drv_hv_close(hv);
    cfg_unref(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_designer_units),
        cmocka_unit_test(test_domain_roundtrip),
        cmocka_unit_test(test_config_drive_xml),
        cmocka_unit_test(test_guest_agent_xml),
        cmocka_unit_test_setup_teardown(test_snapshot_delta, test_tmpdir_setup,
                                        test_tmpdir_teardown),
        cmocka_unit_test(test_vnc_xml),
        cmocka_unit_test(test_serial_tcp_xml),
        cmocka_unit_test(test_serial_port_pick),
        cmocka_unit_test(test_serial_acquire),
        cmocka_unit_test(test_stable_rescue_xml),
        cmocka_unit_test(test_rescue_xml),
        cmocka_unit_test(test_vmem_design),
        cmocka_unit_test(test_vmem_due_boot),
        cmocka_unit_test(test_vmem_track),
        cmocka_unit_test(test_vmem_offline),
        cmocka_unit_test(test_vmem_gap_restart),
        cmocka_unit_test(test_vmem_report),
        cmocka_unit_test(test_vmem_xml),
        cmocka_unit_test(test_long_paths),
        cmocka_unit_test(test_meta_bad),
        cmocka_unit_test(test_event_map),
        cmocka_unit_test(test_balloon_moving),
        cmocka_unit_test(test_guest_knobs),
        cmocka_unit_test(test_dom_error),
        cmocka_unit_test_setup_teardown(test_backend_on_test_driver, test_tmpdir_setup,
                                        test_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_vmem_gap_on_test_driver, test_tmpdir_setup,
                                        test_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_vmem_on_test_driver, test_tmpdir_setup,
                                        test_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_rename_on_test_driver, test_tmpdir_setup,
                                        test_tmpdir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

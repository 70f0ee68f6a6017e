/* The daemon core in-process against libvirt's test:///default driver (2 nodes, 8 usable CPUs
 * for pinning): lifecycle events place and release domains, pins are read back through a
 * second connection, refusals, reload (bad and good), restart adoption, the control socket. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <dlfcn.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "cpulist.h"
#include "fixture.h"
#include "kfile.h"
#include "manager.h"
#include "oracle.h"
#include "pin.h"

/* Fault injection: the daemon's calls to virDomainPinVcpuFlags land here first (an executable's
 * definition wins over libvirt's); while fail_pins > 0 each call for the domain fail_pins_of
 * (NULL: any) fails, as libvirt's do when a domain job holds the domain. */
static int fail_pins;
static const char *fail_pins_of;

int virDomainPinVcpuFlags(virDomainPtr dom, unsigned int vcpu, unsigned char *map, int maplen, unsigned int flags) {
        static int (*real)(virDomainPtr, unsigned int, unsigned char *, int, unsigned int);
        if (!real)
                *(void **) &real = dlsym(RTLD_NEXT, "virDomainPinVcpuFlags");
        if (fail_pins > 0 && (!fail_pins_of || strcmp(fail_pins_of, virDomainGetName(dom)) == 0)) {
                fail_pins--;
                return -1;
        }
        return real(dom, vcpu, map, maplen, flags);
}

/* The test driver refuses pins beyond its 8 "maxcpus": the model matches that, 2 nodes x 4. */
#define TOPOLOGY_DESC "pack:2 numa:1(memory=16GiB) core:4 pu:1"

static const char policy[] = "[Class default]\nCPUPolicy=shared\nCacheLocality=numa\nMemoryPolicy=strict\n"
                             "[Class ded]\nMatchName=ded-*\nCPUPolicy=dedicated\nCacheLocality=numa\n"
                             "[Class vdi]\nMatchName=vdi-*\nCPUPolicy=shared\nOvercommit=2\n";

typedef struct Fixture {
        DaemonFixture d; /* host tuning writes its sysfs, never the real /sys */
        virConnectPtr conn; /* the test's own connection, as a user's virsh would be */
        Manager *m;
} Fixture;

static Fixture fx;

static void quiet(void *userdata, virErrorPtr error) {
        (void) userdata;
        (void) error;
}

static ManagerOptions fixture_options(void) {
        return (ManagerOptions){ .config_path = fx.d.config,
                                 .policy_dir = fx.d.policy_dir,
                                 .topology = fx.d.topology,
                                 .uri = "test:///default",
                                 .runtime_dir = fx.d.runtime,
                                 .state_dir = fx.d.state,
                                 .sysfs = fx.d.sysfs,
                                 .procfs = fx.d.procfs };
}

/* Runs m's event loop until cond holds and the libvirt calls it made meanwhile are answered and
 * handled, or 5 s pass. */
static bool pump_manager_until(Manager *m, bool (*cond)(void *), void *arg) {
        for (int i = 0; i < 500; i++) {
                if (cond(arg) && !manager_busy(m))
                        return true;
                sd_event_run(m->event, 10000);
        }
        return cond(arg);
}

static bool pump_until(bool (*cond)(void *), void *arg) {
        return pump_manager_until(fx.m, cond, arg);
}

/* Delivers what is queued for the loop (messages from libvirt's thread), and waits (up to 5 s)
 * for the libvirt calls that follow them. */
static void drain(void) {
        for (int i = 0; i < 500; i++) {
                while (sd_event_run(fx.m->event, 0) > 0)
                        ;
                if (!manager_busy(fx.m))
                        return;
                sd_event_run(fx.m->event, 10000);
        }
}

static bool is_connected(void *m) {
        return ((Manager *) m)->connected;
}

/* The connection is made in the background after READY: the loop runs until it is up. */
static Manager *start_manager(void) {
        ManagerOptions o = fixture_options();
        Manager *m = NULL;
        assert_int_equal(manager_new(&o, &m), 0);
        assert_int_equal(manager_start(m), 0);
        assert_true(pump_manager_until(m, is_connected, m));
        return m;
}

static bool is_managed(void *name) {
        return manager_find(fx.m, name) != NULL;
}

static bool is_gone(void *name) {
        return manager_find(fx.m, name) == NULL;
}

static int setup(void **state) {
        (void) state;
        virSetErrorFunc(NULL, quiet);
        daemon_fixture_new(&fx.d, TOPOLOGY_DESC);
        for (int cpu = 0; cpu < 8; cpu++) {
                char rel[80];
                snprintf(rel, sizeof(rel), "devices/system/cpu/cpu%d/cpufreq/scaling_governor", cpu);
                fixture_write(fx.d.sysfs, rel, "schedutil\n");
        }
        fixture_write(fx.d.root, "kvmtuned.conf",
                      "[Daemon]\nURI=test:///default\nMetrics=off\n[Host]\nGovernorDedicated=performance\n");
        fixture_write(fx.d.root, "policy.d/50-test.conf", policy);
        fx.conn = virConnectOpen("test:///default");
        assert_non_null(fx.conn);
        /* test:///default's "test" holds 2 GiB of its 8 GiB <memory>, bound strictly wherever it
         * lands: its balloon's 6 GiB would stay booked on that node, which changes from run to run.
         * Inflated to its <memory>, it books what it holds, and the memory tests' figures are exact. */
        virDomainPtr test = virDomainLookupByName(fx.conn, "test");
        assert_non_null(test);
        assert_int_equal(virDomainSetMemory(test, 8 * 1024 * 1024), 0);
        virDomainFree(test);
        fx.m = start_manager();
        return 0;
}

static int teardown(void **state) {
        (void) state;
        /* Every state change of every test went through the state table. */
        unsigned bad = fx.m ? fx.m->bad_transitions : 0;
        if (bad)
                print_error("%u events the state table refused (logged as bugs)\n", bad);
        manager_free(fx.m);
        virConnectClose(fx.conn);
        daemon_fixture_free(&fx.d);
        return bad ? -1 : 0;
}

/* Destroys dom, waits until kvmtuned released it, frees the handle. */
static void stop_domain(virDomainPtr dom, const char *name) {
        assert_int_equal(virDomainDestroy(dom), 0);
        assert_true(pump_until(is_gone, (void *) name));
        virDomainFree(dom);
}

static virDomainPtr create(const char *name, unsigned vcpus, const char *extra) {
        char xml[1024];
        snprintf(xml, sizeof(xml),
                 "<domain type='test'><name>%s</name><memory unit='MiB'>256</memory><vcpu>%u</vcpu>"
                 "<os><type arch='i686'>hvm</type></os>%s</domain>",
                 name, vcpus, extra ? extra : "");
        virDomainPtr dom = virDomainCreateXML(fx.conn, xml, 0);
        assert_non_null(dom);
        return dom;
}

/* The live pins of a vCPU as libvirt reports them to another connection. */
static char *vcpu_pins(virDomainPtr dom, unsigned vcpu) {
        unsigned char maps[16][1];
        int n = virDomainGetVcpuPinInfo(dom, 16, &maps[0][0], 1, 0);
        assert_true(n > (int) vcpu);
        hwloc_bitmap_t set = hwloc_bitmap_alloc();
        for (int cpu = 0; cpu < 8; cpu++)
                if (VIR_CPU_USABLE(&maps[0][0], 1, vcpu, cpu))
                        hwloc_bitmap_set(set, (unsigned) cpu);
        char *s = cpulist_format(set);
        hwloc_bitmap_free(set);
        return s;
}

static char *emulator_pins(virDomainPtr dom) {
        unsigned char map[1] = { 0 };
        assert_true(virDomainGetEmulatorPinInfo(dom, map, 1, 0) >= 0);
        hwloc_bitmap_t set = hwloc_bitmap_alloc();
        for (int cpu = 0; cpu < 8; cpu++)
                if (VIR_CPU_USABLE(map, 1, 0, cpu))
                        hwloc_bitmap_set(set, (unsigned) cpu);
        char *s = cpulist_format(set);
        hwloc_bitmap_free(set);
        return s;
}

static char *numa_nodeset(virDomainPtr dom) {
        virTypedParameterPtr params = NULL;
        int n = 0;
        assert_int_equal(virDomainGetNumaParameters(dom, NULL, &n, 0), 0);
        params = calloc((size_t) n, sizeof(virTypedParameter));
        assert_int_equal(virDomainGetNumaParameters(dom, params, &n, 0), 0);
        char *nodes = NULL;
        for (int i = 0; i < n; i++)
                if (strcmp(params[i].field, VIR_DOMAIN_NUMA_NODESET) == 0)
                        nodes = strdup(params[i].value.s);
        virTypedParamsClear(params, n);
        free(params);
        return nodes;
}

/* The governor of a CPU in the fixture sysfs. */
static void assert_governor(int cpu, const char *want) {
        char rel[80], *text = NULL;
        snprintf(rel, sizeof(rel), "devices/system/cpu/cpu%d/cpufreq/scaling_governor", cpu);
        assert_int_equal(kfile_read(fx.d.sysfs, rel, &text), 0);
        text[strcspn(text, "\n")] = '\0';
        assert_string_equal(text, want);
        free(text);
}

static void test_existing_domain_placed_at_start(void **state) {
        (void) state;
        /* The test driver starts with one running domain, "test": reconcile placed it. */
        ManagedDomain *d = manager_find(fx.m, "test");
        assert_non_null(d);
        print_message("test: %s%s%s\n", d->error ? "" : "placed", d->error ? "error: " : "", d->error ? d->error : "");
        assert_int_equal(d->state, DOMAIN_PLACED);
        virDomainPtr dom = virDomainLookupByName(fx.conn, "test");
        char *pins = vcpu_pins(dom, 0), *nodes = numa_nodeset(dom);
        print_message("test: vCPU 0 on %s, memory on node %s\n", pins, nodes);
        /* shared, one node: node 0's shared CPUs are 1-3, node 1's 5-7. */
        assert_true(strcmp(pins, "1-3") == 0 || strcmp(pins, "5-7") == 0);
        assert_string_equal(nodes, strcmp(pins, "1-3") == 0 ? "0" : "1");
        free(pins);
        free(nodes);
        virDomainFree(dom);
}

/* A second kvmtuned on the same state directory (here a dry run, as an operator previewing a
 * policy would start it) is refused before it reads the running one's journal. */
static void test_second_instance_refused(void **state) {
        (void) state;
        ManagerOptions o = fixture_options();
        o.dry_run = true;
        Manager *second = NULL;
        assert_int_equal(manager_new(&o, &second), -EBUSY);
        assert_null(second);
        assert_true(fx.m->connected);
}

static void test_dedicated_lifecycle(void **state) {
        (void) state;
        virDomainPtr dom = create("ded-a", 2, NULL);
        assert_true(pump_until(is_managed, "ded-a"));
        ManagedDomain *d = manager_find(fx.m, "ded-a");
        assert_int_equal(d->state, DOMAIN_PLACED);
        assert_true(d->pin_usec > 0);
        print_message("ded-a pinned %.2f ms after its STARTED event\n", (double) d->pin_usec / 1000);

        char *v0 = vcpu_pins(dom, 0), *v1 = vcpu_pins(dom, 1), *emu = emulator_pins(dom), *nodes = numa_nodeset(dom);
        print_message("ded-a: vCPU 0 -> %s, vCPU 1 -> %s, emulator -> %s, memory -> node %s\n", v0, v1, emu, nodes);
        /* One CPU each, different, not housekeeping (0 and 4), in one node; emulator on that
         * node's housekeeping CPU; memory strict there. */
        assert_int_equal(strlen(v0), 1);
        assert_int_equal(strlen(v1), 1);
        assert_string_not_equal(v0, v1);
        int a = atoi(v0), b = atoi(v1);
        assert_true(a != 0 && a != 4 && b != 0 && b != 4);
        assert_int_equal(a / 4, b / 4);
        assert_int_equal(atoi(emu), (a / 4) * 4);
        assert_int_equal(atoi(nodes), a / 4);
        /* GovernorDedicated=performance on the CPUs it holds, the others as they were. */
        assert_governor(a, "performance");
        assert_governor(b, "performance");
        assert_governor(0, "schedutil");

        /* The shared "test" domain no longer floats over ded-a's CPUs. */
        virDomainPtr test = virDomainLookupByName(fx.conn, "test");
        char *shared = vcpu_pins(test, 0);
        hwloc_bitmap_t s = NULL;
        const char *why;
        assert_int_equal(cpulist_parse(shared, &s, &why), 0);
        assert_false(hwloc_bitmap_isset(s, (unsigned) a));
        assert_false(hwloc_bitmap_isset(s, (unsigned) b));
        hwloc_bitmap_free(s);
        free(shared);
        virDomainFree(test);

        /* Destroyed: released, its CPUs free again. */
        assert_int_equal(virDomainDestroy(dom), 0);
        assert_true(pump_until(is_gone, "ded-a"));
        hwloc_bitmap_t held = hwloc_bitmap_alloc();
        planner_held_cpus(fx.m->planner, held);
        assert_true(hwloc_bitmap_iszero(held));
        hwloc_bitmap_free(held);
        assert_governor(a, "schedutil");
        assert_governor(b, "schedutil");
        free(v0);
        free(v1);
        free(emu);
        free(nodes);
        virDomainFree(dom);
}

static void test_refusal_leaves_domain_running(void **state) {
        (void) state;
        /* 6 dedicated CPUs exist, but the shared "test" domain keeps one shared CPU on its node. */
        virDomainPtr dom = create("ded-huge", 7, NULL);
        assert_true(pump_until(is_managed, "ded-huge"));
        ManagedDomain *d = manager_find(fx.m, "ded-huge");
        assert_int_equal(d->state, DOMAIN_REFUSED);
        print_message("ded-huge: %s\n", d->error);
        assert_string_equal(d->error, "host: needs 7 dedicated CPUs, 5 free");
        assert_int_equal(virDomainIsActive(dom), 1);
        json_object *o = manager_domains_json(fx.m);
        assert_non_null(strstr(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), "\"state\":\"refused\""));
        json_object_put(o);
        virDomainDestroy(dom);
        assert_true(pump_until(is_gone, "ded-huge"));
        virDomainFree(dom);
}

static void test_reload(void **state) {
        (void) state;
        virDomainPtr keep = create("ded-keep", 1, NULL);
        virDomainPtr vdi = create("vdi-1", 2, NULL);
        assert_true(pump_until(is_managed, "ded-keep"));
        assert_true(pump_until(is_managed, "vdi-1"));
        char *keep_before = vcpu_pins(keep, 0);

        /* A bad policy: refused with FILE:LINE, the running policy stays. */
        fixture_write(fx.d.root, "policy.d/60-bad.conf", "[Class broken]\nCPUPolicy=fast\n");
        char *errors = NULL;
        assert_int_equal(manager_reload(fx.m, &errors, NULL), -EINVAL);
        print_message("bad reload: %s", errors);
        assert_non_null(strstr(errors, "policy.d/60-bad.conf:2: CPUPolicy=fast: expected dedicated, shared or mixed"));
        free(errors);
        assert_null(config_find_class(fx.m->config, "broken"));
        char *unlink_cmd = oracle_run("rm -f '%s/policy.d/60-bad.conf'", fx.d.root);
        free(unlink_cmd);

        /* A good one that changes only the vdi class: ded-keep does not move. */
        char changed[1024];
        snprintf(changed, sizeof(changed), "%s", policy);
        char *p = strstr(changed, "Overcommit=2");
        memcpy(p, "Overcommit=3", 12);
        fixture_write(fx.d.root, "policy.d/50-test.conf", changed);
        assert_int_equal(manager_reload(fx.m, &errors, NULL), 0);
        drain(); /* the re-pins it asked for */
        assert_true(config_find_class(fx.m->config, "vdi")->overcommit == 3);
        char *keep_after = vcpu_pins(keep, 0);
        assert_string_equal(keep_before, keep_after);
        assert_int_equal(manager_find(fx.m, "ded-keep")->state, DOMAIN_PLACED);
        assert_int_equal(manager_find(fx.m, "vdi-1")->state, DOMAIN_PLACED);
        fixture_write(fx.d.root, "policy.d/50-test.conf", policy);
        assert_int_equal(manager_reload(fx.m, &errors, NULL), 0);
        free(keep_before);
        free(keep_after);
        virDomainFree(keep);
        virDomainFree(vdi);
}

/* kvmtuned restarts (its state file survives, the domains keep running): nothing moves,
 * nothing is booked twice. */
static void test_restart_adopts(void **state) {
        (void) state;
        virDomainPtr keep = virDomainLookupByName(fx.conn, "ded-keep");
        virDomainPtr test_dom = virDomainLookupByName(fx.conn, "test");
        char *before = vcpu_pins(keep, 0);
        hwloc_bitmap_t held_before = hwloc_bitmap_alloc(), held_after = hwloc_bitmap_alloc();
        planner_held_cpus(fx.m->planner, held_before);

        manager_free(fx.m);
        fx.m = NULL;
        fx.m = start_manager();
        ManagedDomain *d = manager_find(fx.m, "ded-keep");
        assert_non_null(d);
        assert_int_equal(d->state, DOMAIN_PLACED);
        char *after = vcpu_pins(keep, 0);
        assert_string_equal(before, after);
        planner_held_cpus(fx.m->planner, held_after);
        assert_true(hwloc_bitmap_isequal(held_before, held_after));
        assert_non_null(manager_find(fx.m, "vdi-1"));
        assert_non_null(manager_find(fx.m, "test"));

        /* A domain that stopped while kvmtuned was away is released by the reconcile. */
        virDomainPtr vdi = virDomainLookupByName(fx.conn, "vdi-1");
        manager_free(fx.m);
        fx.m = NULL;
        virDomainDestroy(vdi);
        fx.m = start_manager();
        assert_null(manager_find(fx.m, "vdi-1"));

        /* The policy changed while kvmtuned was away: the saved placement of a domain whose class
         * changed is not adopted, the domain is placed again under its new class. */
        manager_free(fx.m);
        fx.m = NULL;
        fixture_write(fx.d.root, "policy.d/10-renamed.conf", "[Class ded2]\nMatchName=ded-keep\nCPUPolicy=dedicated\n");
        fx.m = start_manager();
        d = manager_find(fx.m, "ded-keep");
        assert_non_null(d);
        assert_int_equal(d->state, DOMAIN_PLACED);
        assert_string_equal(planner_find(fx.m->planner, "ded-keep")->cls->name, "ded2");
        manager_free(fx.m);
        fx.m = NULL;
        char *renamed = NULL;
        assert_true(asprintf(&renamed, "%s/policy.d/10-renamed.conf", fx.d.root) > 0);
        assert_int_equal(unlink(renamed), 0);
        free(renamed);
        fx.m = start_manager();
        assert_string_equal(planner_find(fx.m->planner, "ded-keep")->cls->name, "ded");

        /* The shared pool shrank while kvmtuned was away: the adopted shared domain "test" floats
         * over today's shared CPUs of its node, not the saved ones. */
        manager_free(fx.m);
        fx.m = NULL;
        fixture_write(fx.d.root, "kvmtuned.conf",
                      "[Daemon]\nURI=test:///default\nMetrics=off\n[Host]\nGovernorDedicated=performance\n"
                      "SharedCPUs=2,5-7\n");
        fx.m = start_manager();
        const Placement *tp = planner_find(fx.m->planner, "test");
        assert_non_null(tp);
        unsigned node = 0;
        while (node < fx.m->topology->n_nodes && !tp->shared_vcpus[node])
                node++;
        hwloc_bitmap_t shared = hwloc_bitmap_alloc();
        planner_shared_cpus(fx.m->planner, node, shared);
        char *want = cpulist_format(shared), *now = vcpu_pins(test_dom, 0);
        print_message("SharedCPUs=2,5-7 after a restart: test floats on %s, node %u's shared CPUs are %s\n", now, node,
                      want);
        assert_string_equal(now, want);
        /* and today's shared CPUs are those of SharedCPUs=2,5-7, not the saved pool */
        assert_true(strcmp(want, node == 0 ? "2" : "5-7") == 0);
        free(want);
        free(now);
        hwloc_bitmap_free(shared);
        manager_free(fx.m);
        fx.m = NULL;
        fixture_write(fx.d.root, "kvmtuned.conf",
                      "[Daemon]\nURI=test:///default\nMetrics=off\n[Host]\nGovernorDedicated=performance\n");
        fx.m = start_manager();
        free(before);
        free(after);
        hwloc_bitmap_free(held_before);
        hwloc_bitmap_free(held_after);
        virDomainFree(vdi);
        virDomainFree(test_dom);
        virDomainFree(keep);
}

/* kvmtunectl talks to the socket from another process while the loop serves it. */
static void test_control_socket(void **state) {
        (void) state;
        char *out_path = NULL;
        assert_true(asprintf(&out_path, "%s/ctl.out", fx.d.root) > 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                char cmd[1024];
                snprintf(cmd, sizeof(cmd),
                         "%s --runtime-dir %s domains > %s 2>&1 && %s --runtime-dir %s --json status >> %s 2>&1 && "
                         "%s --runtime-dir %s explain ded-keep >> %s 2>&1",
                         KVMTUNECTL, fx.d.runtime, out_path, KVMTUNECTL, fx.d.runtime, out_path, KVMTUNECTL,
                         fx.d.runtime, out_path);
                execl("/bin/sh", "sh", "-c", cmd, (char *) NULL);
                _exit(127);
        }
        int status = -1;
        for (int i = 0; i < 1000; i++) {
                if (waitpid(pid, &status, WNOHANG) == pid)
                        break;
                sd_event_run(fx.m->event, 10000);
        }
        char *out = oracle_run("cat '%s'", out_path);
        print_message("%s", out);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_non_null(strstr(out, "ded-keep"));
        assert_non_null(strstr(out, "\"connected\":true"));
        assert_non_null(strstr(out, "ded-keep: class ded, placed"));
        free(out);
        free(out_path);
}

/* Sends one raw request on the control socket and serves it; returns the answer (malloc'd). */
static char *raw_request(const char *request) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/control", fx.d.runtime);
        assert_int_equal(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        assert_int_equal(write(fd, request, strlen(request)), (ssize_t) strlen(request));
        assert_int_equal(write(fd, "\n", 1), 1);
        char *answer = calloc(1, 4096);
        size_t len = 0;
        for (int i = 0; i < 500 && !memchr(answer, '\n', len); i++) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                if (poll(&p, 1, 0) == 1) {
                        ssize_t n = read(fd, answer + len, 4095 - len);
                        if (n <= 0)
                                break;
                        len += (size_t) n;
                } else
                        sd_event_run(fx.m->event, 10000);
        }
        close(fd);
        return answer;
}

/* Requests with fields of the wrong type (null, numbers) get an error, not a crash. */
static void test_malformed_requests(void **state) {
        (void) state;
        static const struct {
                const char *request, *error;
        } cases[] = {
                { "{\"command\": null}", "malformed request" },
                { "[1, 2]", "malformed request" },
                { "{\"command\": \"explain\", \"domain\": null}", "explain needs a domain name" },
                { "{\"command\": \"explain\", \"domain\": 7}", "explain needs a domain name" },
                { "{\"command\": \"hook\", \"domain\": null, \"op\": \"prepare\"}", "hook needs domain" },
                { "{\"command\": \"hook\", \"domain\": \"x\", \"op\": \"prepare\", \"subop\": \"begin\", "
                  "\"xml\": null}",
                  "hook needs domain" },
                /* The fuzzer's find: a request naming another domain than its XML left a refused
                 * placement behind, and the next prepare answered "out of memory". */
                { "{\"command\": \"hook\", \"domain\": \"other\", \"op\": \"prepare\", \"subop\": \"begin\", "
                  "\"xml\": \"<domain><name>x-named</name><vcpu>64</vcpu><memory>1</memory></domain>\"}",
                  "hook: the XML is of domain x-named, not other" },
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char *answer = raw_request(cases[i].request);
                print_message("%s -> %s", cases[i].request, answer);
                assert_non_null(strstr(answer, cases[i].error));
                free(answer);
        }
        assert_true(fx.m->connected); /* and the daemon goes on */
}

/* The hook request of op/subop for a 1-vCPU domain named ded-hN. */
static char *hook_request(unsigned n, const char *op, const char *subop) {
        char *request = NULL;
        assert_true(asprintf(&request,
                             "{\"command\": \"hook\", \"domain\": \"ded-h%u\", \"op\": \"%s\", "
                             "\"subop\": \"%s\", \"xml\": \"<domain type='test'><name>ded-h%u</name>"
                             "<uuid>4dea22b3-1d52-d8f3-2516-782e98ab3f%02u</uuid><memory unit='MiB'>64</memory>"
                             "<vcpu>1</vcpu></domain>\"}",
                             n, op, subop, n, n) > 0);
        char *answer = raw_request(request);
        free(request);
        return answer;
}

/* Dedicated domains admitted by the prepare hook take CPUs out of the shared pool before they
 * start: the shared domains on their node are re-pinned right after the hook has its answer,
 * and get the CPUs back when the domains are released without ever starting. */
static void test_hook_admission_repins_shared(void **state) {
        (void) state;
        virDomainPtr test = virDomainLookupByName(fx.conn, "test");
        char *before = vcpu_pins(test, 0);
        hwloc_bitmap_t floated = NULL, held = hwloc_bitmap_alloc();
        const char *why;
        assert_int_equal(cpulist_parse(before, &floated, &why), 0);
        /* Admit 1-vCPU dedicated domains until one takes a CPU "test" floats over. */
        unsigned n = 0;
        while (!hwloc_bitmap_intersects(floated, held) && n < 6) {
                char *answer = hook_request(++n, "prepare", "begin");
                assert_non_null(strstr(answer, "\"allow\":true"));
                free(answer);
                planner_held_cpus(fx.m->planner, held);
        }
        assert_true(hwloc_bitmap_intersects(floated, held));
        for (int i = 0; i < 5; i++) /* the deferred re-pin */
                sd_event_run(fx.m->event, 10000);
        char *during = vcpu_pins(test, 0), *held_list = cpulist_format(held);
        print_message("test floated on %s; %u hook-admitted domains hold %s; test now on %s\n", before, n, held_list,
                      during);
        hwloc_bitmap_t now = NULL;
        assert_int_equal(cpulist_parse(during, &now, &why), 0);
        assert_false(hwloc_bitmap_intersects(now, held));
        assert_false(hwloc_bitmap_iszero(now));

        for (unsigned i = 1; i <= n; i++)
                free(hook_request(i, "release", "end"));
        planner_held_cpus(fx.m->planner, held);
        assert_false(hwloc_bitmap_intersects(floated, held));
        for (int i = 0; i < 5; i++)
                sd_event_run(fx.m->event, 10000);
        char *after = vcpu_pins(test, 0);
        print_message("after their release without a start: test on %s\n", after);
        assert_string_equal(after, before);
        hwloc_bitmap_free(floated);
        hwloc_bitmap_free(held);
        hwloc_bitmap_free(now);
        free(before);
        free(during);
        free(held_list);
        free(after);
        virDomainFree(test);
}

/* Reloads a policy whose class ded has CacheLocality=none: every ded domain is placed again. */
static void reload_ded_without_locality(void) {
        char changed[1024], *errors = NULL;
        snprintf(changed, sizeof(changed), "%s", policy);
        char *p = strstr(changed, "CacheLocality=numa\n[Class vdi]");
        assert_non_null(p);
        memcpy(p, "CacheLocality=none", 18);
        fixture_write(fx.d.root, "policy.d/50-test.conf", changed);
        assert_int_equal(manager_reload(fx.m, &errors, NULL), 0);
        free(errors);
}

/* A reload that moves the class of a domain the hook admitted, not yet started, leaves it
 * waiting for its start: no pins on a domain that does not run, no failure. */
static void test_reload_keeps_awaiting_admission(void **state) {
        (void) state;
        free(hook_request(7, "prepare", "begin"));
        ManagedDomain *d = manager_find(fx.m, "ded-h7");
        assert_non_null(d);
        char *errors = NULL;
        reload_ded_without_locality();
        d = manager_find(fx.m, "ded-h7");
        assert_non_null(d);
        print_message("after the reload: %s (%s)\n", lifecycle_state_name(d->state), d->error ? d->error : "");
        assert_int_equal(d->state, DOMAIN_ADMITTED);
        assert_int_equal(d->attempts, 0);
        assert_int_equal(d->event_usec, 0);
        fixture_write(fx.d.root, "policy.d/50-test.conf", policy);
        assert_int_equal(manager_reload(fx.m, &errors, NULL), 0);
        free(hook_request(7, "release", "end"));
        assert_null(manager_find(fx.m, "ded-h7"));
}

/* Counts the STOPPED events of ded-s that libvirt delivers to the test's own connection, on
 * libvirt's event thread: the manager's callback ran before it in the same dispatch (it was
 * registered first), so once this one has, the manager's message is queued. */
static int count_ded_s_stopped(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque) {
        (void) conn;
        (void) detail;
        if (event == VIR_DOMAIN_EVENT_STOPPED && strcmp(virDomainGetName(dom), "ded-s") == 0)
                __atomic_add_fetch((int *) opaque, 1, __ATOMIC_RELEASE);
        return 0;
}

static bool is_positive(void *count) {
        return __atomic_load_n((int *) count, __ATOMIC_ACQUIRE) > 0;
}

/* libvirt delivers events late: the STOPPED event of a domain's previous run may come after the
 * prepare hook of its next start. It must not release the fresh admission. */
static void test_late_stopped_event_keeps_new_admission(void **state) {
        (void) state;
        virDomainPtr dom = create("ded-s", 1, NULL);
        assert_true(pump_until(is_managed, "ded-s"));
        char uuid[VIR_UUID_STRING_BUFLEN], *request = NULL;
        assert_int_equal(virDomainGetUUIDString(dom, uuid), 0);
        assert_true(asprintf(&request,
                             "{\"command\": \"hook\", \"domain\": \"ded-s\", \"op\": \"prepare\", "
                             "\"subop\": \"begin\", \"xml\": \"<domain type='test'><name>ded-s</name><uuid>%s</uuid>"
                             "<memory unit='MiB'>64</memory><vcpu>1</vcpu></domain>\"}",
                             uuid) > 0);
        free(raw_request(request));
        ManagedDomain *admitted = manager_find(fx.m, "ded-s");
        assert_non_null(admitted);
        assert_int_equal(admitted->state, DOMAIN_ADMITTED);
        int stopped = 0;
        int cb = virConnectDomainEventRegisterAny(fx.conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                                  VIR_DOMAIN_EVENT_CALLBACK(count_ded_s_stopped), &stopped, NULL);
        assert_true(cb >= 0);
        assert_int_equal(virDomainDestroy(dom), 0); /* the old run's STOPPED event */
        assert_true(pump_until(is_positive, &stopped));
        drain();
        assert_int_equal(virConnectDomainEventDeregisterAny(fx.conn, cb), 0);
        ManagedDomain *d = manager_find(fx.m, "ded-s");
        assert_non_null(d);
        assert_int_equal(d->state, DOMAIN_ADMITTED);
        assert_non_null(planner_find(fx.m->planner, "ded-s"));

        /* The release hook ends an admission whose start never came. */
        free(request);
        assert_true(asprintf(&request,
                             "{\"command\": \"hook\", \"domain\": \"ded-s\", \"op\": \"release\", "
                             "\"subop\": \"end\", \"xml\": \"<domain type='test'><name>ded-s</name><uuid>%s</uuid>"
                             "<memory unit='MiB'>64</memory><vcpu>1</vcpu></domain>\"}",
                             uuid) > 0);
        free(raw_request(request));
        assert_null(manager_find(fx.m, "ded-s"));
        assert_null(planner_find(fx.m->planner, "ded-s"));
        free(request);
        virDomainFree(dom);
}

/* Issue 11, defect 2: pins kvmtuned did not make are explicit, also in the XML of a transient
 * domain (orchestrators start domains with createXML): it is left alone, its CPUs booked. */
static void test_transient_explicit_pins_respected(void **state) {
        (void) state;
        virDomainPtr dom = create("ded-pinned", 2,
                                  "<cputune><vcpupin vcpu='0' cpuset='1'/>"
                                  "<vcpupin vcpu='1' cpuset='2'/></cputune>");
        assert_true(pump_until(is_managed, "ded-pinned"));
        drain();
        ManagedDomain *d = manager_find(fx.m, "ded-pinned");
        char *v0 = vcpu_pins(dom, 0), *v1 = vcpu_pins(dom, 1);
        print_message("ded-pinned (transient, pins 1 and 2): state %d, vCPUs on %s and %s\n", (int) d->state, v0, v1);
        assert_string_equal(v0, "1");
        assert_string_equal(v1, "2");
        assert_int_equal(d->state, DOMAIN_ADOPTED);
        free(v0);
        free(v1);
        stop_domain(dom, "ded-pinned");
}

/* A 1-vCPU domain kvmtuned placed; returns it, its vCPU's CPU in *ret_ours. */
static virDomainPtr placed_domain(const char *name, char **ret_ours) {
        virDomainPtr dom = create(name, 1, NULL);
        assert_true(pump_until(is_managed, (void *) name));
        assert_int_equal(manager_find(fx.m, name)->state, DOMAIN_PLACED);
        *ret_ours = vcpu_pins(dom, 0);
        return dom;
}

/* Pins vCPU 0 of dom, as an operator would, to a CPU other than ours; returns that CPU. */
static int repin_elsewhere(virDomainPtr dom, const char *ours) {
        int target = atoi(ours) == 3 ? 2 : 3;
        unsigned char map = (unsigned char) (1u << target);
        assert_int_equal(virDomainPinVcpu(dom, 0, &map, 1), 0);
        return target;
}

/* Issue 11, defect 2: an operator (or orchestrator) re-pins a vCPU kvmtuned placed; the next
 * reconcile leaves the operator's pin in place instead of moving the vCPU back. */
static void test_operator_live_pin_not_fought(void **state) {
        (void) state;
        char *ours = NULL;
        virDomainPtr dom = placed_domain("ded-op", &ours);
        int target = repin_elsewhere(dom, ours);
        drain();
        assert_int_equal(manager_reconcile(fx.m), 0);
        drain();
        char *now = vcpu_pins(dom, 0);
        print_message("ded-op: kvmtuned pinned vCPU 0 to %s, the operator to %d; after a reconcile: %s (state %d)\n",
                      ours, target, now, (int) manager_find(fx.m, "ded-op")->state);
        assert_int_equal(atoi(now), target);
        free(ours);
        free(now);
        stop_domain(dom, "ded-op");
}

/* Issue 11, defect 2: the same while kvmtuned is away: the restarted kvmtuned knows which pins it
 * made (its allocations file), finds the operator's instead and leaves them. */
static void test_operator_pin_while_away_not_fought(void **state) {
        (void) state;
        char *ours = NULL;
        virDomainPtr dom = placed_domain("ded-away", &ours);
        manager_free(fx.m);
        fx.m = NULL;
        int target = repin_elsewhere(dom, ours);
        fx.m = start_manager();
        drain();
        char *now = vcpu_pins(dom, 0);
        ManagedDomain *d = manager_find(fx.m, "ded-away");
        assert_non_null(d);
        print_message("ded-away: kvmtuned pinned vCPU 0 to %s, the operator to %d while it was away; after its "
                      "restart: %s (state %d)\n",
                      ours, target, now, (int) d->state);
        assert_int_equal(atoi(now), target);
        assert_int_equal(d->state, DOMAIN_ADOPTED);
        free(ours);
        free(now);
        stop_domain(dom, "ded-away");
}

static bool is_released(void *name) {
        return !manager_find(fx.m, name) && !planner_find(fx.m->planner, name);
}

/* Issue 11, defect 5: a hook admission whose start never comes (libvirt gave up after the hook,
 * or the hook's answer came too late) ends after the admission timeout on its own, also an
 * admission of a domain that pins itself: its CPUs and memory are not held forever. */
static void test_unstarted_admissions_expire(void **state) {
        (void) state;
        fx.m->opts.admission_timeout_usec = 300 * 1000;
        const char *requests[] = {
                "{\"command\": \"hook\", \"domain\": \"ded-never\", \"op\": \"prepare\", \"subop\": \"begin\", "
                "\"xml\": "
                "\"<domain type='test'><name>ded-never</name><uuid>8a5d1a3e-0000-4000-8000-000000000001</uuid>"
                "<memory unit='MiB'>64</memory><vcpu>1</vcpu></domain>\"}",
                "{\"command\": \"hook\", \"domain\": \"ded-never-pinned\", \"op\": \"prepare\", \"subop\": \"begin\", "
                "\"xml\": \"<domain type='test'><name>ded-never-pinned</name>"
                "<uuid>8a5d1a3e-0000-4000-8000-000000000002</uuid><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
                "<cputune><vcpupin vcpu='0' cpuset='6'/></cputune></domain>\"}",
        };
        for (size_t i = 0; i < 2; i++) {
                char *answer = raw_request(requests[i]);
                assert_non_null(strstr(answer, "\"allow\":true"));
                free(answer);
        }
        assert_non_null(planner_find(fx.m->planner, "ded-never"));
        assert_non_null(planner_find(fx.m->planner, "ded-never-pinned"));
        bool gone = pump_until(is_released, "ded-never") && pump_until(is_released, "ded-never-pinned");
        print_message("admissions whose start never came, after 0.3 s + up to 5 s: %s\n",
                      gone ? "released" : "still held");
        assert_true(gone);

        /* One that pins itself and starts in time is not released when its wait would have ended. */
        char *answer = raw_request(
                "{\"command\": \"hook\", \"domain\": \"ded-soon\", \"op\": \"prepare\", \"subop\": \"begin\", "
                "\"xml\": \"<domain type='test'><name>ded-soon</name><uuid>8a5d1a3e-0000-4000-8000-000000000003</uuid>"
                "<memory unit='MiB'>64</memory><vcpu>1</vcpu>"
                "<cputune><vcpupin vcpu='0' cpuset='6'/></cputune></domain>\"}");
        assert_non_null(strstr(answer, "\"allow\":true"));
        free(answer);
        virDomainPtr dom = create("ded-soon", 1,
                                  "<uuid>8a5d1a3e-0000-4000-8000-000000000003</uuid>"
                                  "<cputune><vcpupin vcpu='0' cpuset='6'/></cputune>");
        for (int i = 0; i < 60; i++)
                sd_event_run(fx.m->event, 10000);
        ManagedDomain *d = manager_find(fx.m, "ded-soon");
        assert_non_null(d);
        assert_int_equal(d->state, DOMAIN_ADOPTED);
        fx.m->opts.admission_timeout_usec = 0;
        stop_domain(dom, "ded-soon");
}

/* Issue 11, defect 3: domains started while kvmtuned was away do not take the CPUs of the
 * placements its previous run made: those are restored first, whatever order libvirt lists the
 * domains in. */
static void test_restart_keeps_saved_cpus(void **state) {
        (void) state;
        virDomainPtr a = create("ded-first", 1, NULL);
        assert_true(pump_until(is_managed, "ded-first"));
        assert_int_equal(manager_find(fx.m, "ded-first")->state, DOMAIN_PLACED);
        char *before = vcpu_pins(a, 0);
        manager_free(fx.m);
        fx.m = NULL;
        const char *late[] = { "ded-late1", "ded-late2", "ded-late3" };
        virDomainPtr doms[3];
        for (int i = 0; i < 3; i++)
                doms[i] = create(late[i], 1, NULL);
        fx.m = start_manager();
        drain();
        char *after = vcpu_pins(a, 0);
        print_message("ded-first on CPU %s before the restart, %s after it; started meanwhile:", before, after);
        hwloc_bitmap_t seen = hwloc_bitmap_alloc();
        hwloc_bitmap_set(seen, (unsigned) atoi(after));
        bool shared_cpu = false;
        for (int i = 0; i < 3; i++) {
                char *p = vcpu_pins(doms[i], 0);
                print_message(" %s on %s", late[i], p);
                if (manager_find(fx.m, late[i])->state == DOMAIN_PLACED) {
                        shared_cpu |= hwloc_bitmap_isset(seen, (unsigned) atoi(p));
                        hwloc_bitmap_set(seen, (unsigned) atoi(p));
                }
                free(p);
        }
        print_message("\n");
        assert_string_equal(before, after);
        assert_false(shared_cpu);
        for (int i = 0; i < 3; i++) {
                assert_int_equal(virDomainDestroy(doms[i]), 0);
                assert_true(pump_until(is_gone, (void *) late[i]));
                virDomainFree(doms[i]);
        }
        stop_domain(a, "ded-first");
        hwloc_bitmap_free(seen);
        free(before);
        free(after);
}

/* Issue 11, defect 7: a refused domain keeps running, but on the shared CPUs (housekeeping when
 * there are none), never on a CPU a dedicated vCPU holds. */
static void test_refused_domain_off_dedicated_cpus(void **state) {
        (void) state;
        virDomainPtr hold = create("ded-hold", 1, NULL);
        assert_true(pump_until(is_managed, "ded-hold"));
        virDomainPtr dom = create("ded-toobig", 7, NULL);
        assert_true(pump_until(is_managed, "ded-toobig"));
        drain();
        assert_int_equal(manager_find(fx.m, "ded-toobig")->state, DOMAIN_REFUSED);
        hwloc_bitmap_t held = hwloc_bitmap_alloc(), got = NULL;
        planner_held_cpus(fx.m->planner, held);
        bool clear = true;
        for (unsigned v = 0; v < 7; v++) {
                char *pins = vcpu_pins(dom, v);
                const char *why;
                assert_int_equal(cpulist_parse(pins, &got, &why), 0);
                if (v == 0) {
                        char *h = cpulist_format(held);
                        print_message("ded-toobig refused; dedicated vCPUs hold CPUs %s; its vCPU 0 is on %s\n", h,
                                      pins);
                        free(h);
                }
                clear &= !hwloc_bitmap_intersects(got, held) && !hwloc_bitmap_iszero(got);
                hwloc_bitmap_free(got);
                got = NULL;
                free(pins);
        }
        assert_true(clear);
        hwloc_bitmap_free(held);
        assert_int_equal(virDomainDestroy(dom), 0);
        assert_true(pump_until(is_gone, "ded-toobig"));
        assert_int_equal(virDomainDestroy(hold), 0);
        assert_true(pump_until(is_gone, "ded-hold"));
        virDomainFree(dom);
        virDomainFree(hold);
}

/* Issue 11, defect 10: a start that finds many running domains writes (and fsyncs) the
 * allocations file a few times, not once per domain (O(N^2) bytes and N fsyncs). */
static void test_startup_saves_allocations_once(void **state) {
        (void) state;
        enum { N = 12 };
        manager_free(fx.m);
        fx.m = NULL;
        virDomainPtr doms[N];
        for (int i = 0; i < N; i++) {
                char name[32];
                snprintf(name, sizeof(name), "vdi-many%d", i);
                doms[i] = create(name, 1, NULL);
        }
        int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        assert_true(in >= 0);
        /* The .tmp closes between two renames: the kernel does not merge them as repeats. */
        assert_true(inotify_add_watch(in, fx.d.runtime, IN_MOVED_TO | IN_CLOSE_WRITE) >= 0);
        fx.m = start_manager();
        drain();
        unsigned saves = 0;
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        ssize_t len;
        while ((len = read(in, buf, sizeof(buf))) > 0)
                for (char *p = buf; p < buf + len;) {
                        const struct inotify_event *ev = (const struct inotify_event *) p;
                        if ((ev->mask & IN_MOVED_TO) && ev->len && strcmp(ev->name, "allocations.json") == 0)
                                saves++;
                        p += sizeof(struct inotify_event) + ev->len;
                }
        close(in);
        print_message("a start with %d + 2 running domains wrote the allocations file %u times\n", N, saves);
        for (int i = 0; i < N; i++) {
                virDomainDestroy(doms[i]);
                virDomainFree(doms[i]);
        }
        drain();
        assert_true(saves >= 1 && saves <= N / 3); /* what the workers read comes back in a few turns */
}

/* Issue 11, defect 10: a clean stop with RestoreOnExit=no keeps the host settings, and the next
 * start takes them over instead of putting them back as a crashed run's and then setting them
 * again. */
static void test_restore_on_exit_no_is_not_a_crash(void **state) {
        (void) state;
        static const char base[] =
                "[Daemon]\nURI=test:///default\nMetrics=off\n[Host]\nGovernorDedicated=performance\n";
        char conf[512];
        snprintf(conf, sizeof(conf), "%sRestoreOnExit=no\nTransparentHugepages=never\n", base);
        manager_free(fx.m);
        fx.m = NULL;
        fixture_write(fx.d.root, "kvmtuned.conf", conf);
        fx.m = start_manager();
        assert_int_equal(sd_event_exit(fx.m->event, 0), 0);
        assert_int_equal(manager_run(fx.m), 0); /* the loop ends at once: a clean stop */
        manager_free(fx.m);
        fx.m = NULL;
        char *thp = NULL;
        assert_int_equal(kfile_read(fx.d.sysfs, "kernel/mm/transparent_hugepage/enabled", &thp), 0);
        print_message("THP after a clean stop with RestoreOnExit=no: %s", thp);
        assert_true(strstr(thp, "never") && !strstr(thp, "madvise")); /* a fixture file holds what was written */
        free(thp);

        int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        char *dir = NULL;
        assert_true(asprintf(&dir, "%s/kernel/mm/transparent_hugepage", fx.d.sysfs) > 0);
        assert_true(inotify_add_watch(in, dir, IN_MODIFY | IN_CLOSE_WRITE) >= 0);
        fx.m = start_manager();
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        ssize_t n = read(in, buf, sizeof(buf));
        close(in);
        free(dir);
        print_message("the next start wrote the THP file: %s\n", n > 0 ? "yes (restored, then set again)" : "no");
        assert_true(n <= 0);
        manager_free(fx.m);
        fx.m = NULL;
        fixture_write(fx.d.root, "kvmtuned.conf", base);
        fx.m = start_manager();
}

/* Issue 11, defect 10: a reload that changes what only a restart applies (DryRun, Metrics, URI)
 * says so in its answer, and the daemon keeps running with the old values. */
static void test_reload_names_restart_only_keys(void **state) {
        (void) state;
        static const char base[] =
                "[Daemon]\nURI=test:///default\nMetrics=off\n[Host]\nGovernorDedicated=performance\n";
        fixture_write(fx.d.root, "kvmtuned.conf",
                      "[Daemon]\nURI=test:///default\nMetrics=127.0.0.1:19655\nDryRun=yes\n[Host]\n"
                      "GovernorDedicated=performance\n");
        char *answer = raw_request("{\"command\": \"reload\"}");
        print_message("reload with DryRun and Metrics changed: %s", answer);
        fixture_write(fx.d.root, "kvmtuned.conf", base);
        assert_non_null(strstr(answer, "\"reloaded\":true"));
        assert_non_null(strstr(answer, "DryRun"));
        assert_non_null(strstr(answer, "Metrics"));
        assert_false(fx.m->opts.dry_run);
        assert_null(fx.m->config->daemon.metrics);
        free(answer);
        char *errors = NULL;
        assert_int_equal(manager_reload(fx.m, &errors, NULL), 0);
}

/* Issue 11, defect 10: kvmtuned_cpus counts every node's CPUs once per set on every machine of
 * the corpus; no set wraps around (a memoryless package's CPUs made "free" underflow). */
static void test_cpu_metrics_on_real_machines(void **state) {
        (void) state;
        const char *dir = oracle_corpus_dir();
        if (!dir)
                skip();
        char **paths = NULL;
        int n = oracle_list_xml(dir, &paths);
        assert_true(n > 0);
        int bad = 0;
        manager_free(fx.m); /* one Manager per process: each takes SIGTERM, SIGINT and SIGHUP */
        fx.m = NULL;
        for (int i = 0; i < n; i++) {
                DaemonFixture g;
                daemon_fixture_new(&g, "pack:1 numa:1 core:1 pu:1");
                fixture_write(g.root, "kvmtuned.conf", "[Daemon]\nURI=test:///default\nMetrics=off\n");
                fixture_write(g.root, "policy.d/50-default.conf", "[Class default]\nCPUPolicy=shared\n");
                ManagerOptions o = { .config_path = g.config,
                                     .policy_dir = g.policy_dir,
                                     .topology = paths[i],
                                     .uri = "test:///default",
                                     .runtime_dir = g.runtime,
                                     .state_dir = g.state,
                                     .sysfs = g.sysfs,
                                     .procfs = g.procfs };
                Manager *m = NULL;
                assert_int_equal(manager_new(&o, &m), 0);
                char *text = manager_metrics_text(m);
                unsigned total = 0, cpus = m->topology->n_cpus;
                bool wrapped = false;
                for (char *line = strstr(text, "\nkvmtuned_cpus{"); line; line = strstr(line + 1, "\nkvmtuned_cpus{")) {
                        unsigned long v = strtoul(strchr(line, '}') + 1, NULL, 10);
                        wrapped |= v > cpus;
                        total += (unsigned) (v > cpus ? 0 : v);
                }
                if (wrapped || total != cpus) {
                        print_message("%s: kvmtuned_cpus adds up to %u of %u CPUs%s\n", strrchr(paths[i], '/') + 1,
                                      total, cpus, wrapped ? ", a set wrapped around" : "");
                        bad++;
                }
                free(text);
                manager_free(m);
                daemon_fixture_free(&g);
        }
        fx.m = start_manager();
        print_message("%d machines, %d with kvmtuned_cpus not adding up\n", n, bad);
        for (int i = 0; i < n; i++)
                free(paths[i]);
        free(paths);
        assert_int_equal(bad, 0);
}

/* Rewrites the allocations file while kvmtuned is stopped: edit changes the entry of domain name
 * (or, name NULL, the whole file's root). */
static void edit_saved(const char *name, void (*edit)(json_object *)) {
        char *path = NULL;
        assert_true(asprintf(&path, "%s/allocations.json", fx.d.runtime) > 0);
        json_object *root = json_object_from_file(path), *list = NULL;
        assert_non_null(root);
        assert_true(json_object_object_get_ex(root, "domains", &list));
        if (!name)
                edit(root);
        for (size_t i = 0; name && i < json_object_array_length(list); i++) {
                json_object *e = json_object_array_get_idx(list, i), *n = NULL;
                if (json_object_object_get_ex(e, "name", &n) && strcmp(json_object_get_string(n), name) == 0)
                        edit(e);
        }
        assert_int_equal(json_object_to_file(path, root), 0);
        json_object_put(root);
        free(path);
}

static void drop_held(json_object *e) {
        json_object_object_add(e, "held", json_object_new_array());
}

static void drop_admitted(json_object *e) {
        json_object_object_del(e, "admitted");
}

static void same_cpu_twice(json_object *e) {
        json_object *vcpus = NULL;
        assert_true(json_object_object_get_ex(e, "vcpus", &vcpus));
        json_object *cpus0 = NULL;
        assert_true(json_object_object_get_ex(json_object_array_get_idx(vcpus, 0), "cpus", &cpus0));
        json_object_object_add(json_object_array_get_idx(vcpus, 1), "cpus", json_object_get(cpus0));
}

static void entry_twice(json_object *root) {
        json_object *list = NULL;
        assert_true(json_object_object_get_ex(root, "domains", &list));
        size_t n = json_object_array_length(list);
        for (size_t i = 0; i < n; i++)
                json_object_array_add(list, json_object_get(json_object_array_get_idx(list, i)));
}

static void future_version(json_object *root) {
        json_object_object_add(root, "version", json_object_new_int(99));
}

/* The CPU a domain's vCPU is booked on, or -1 when the planner does not hold it for it. */
static int booked_cpu(const char *name, unsigned vcpu) {
        const Placement *pl = planner_find(fx.m->planner, name);
        if (!pl || !pl->admitted || vcpu >= pl->n_vcpus)
                return -1;
        hwloc_bitmap_t held = hwloc_bitmap_alloc();
        planner_held_cpus(fx.m->planner, held);
        int cpu = placement_vcpu_cpu(pl, vcpu);
        bool ok = cpu >= 0 && hwloc_bitmap_isset(held, (unsigned) cpu) && hwloc_bitmap_isset(pl->held, (unsigned) cpu);
        hwloc_bitmap_free(held);
        return ok ? cpu : -1;
}

/* Issue 11, defect 9: the allocations file is not trusted on restore. A saved placement that
 * breaks the planner's invariants (a dedicated vCPU on CPUs it does not hold, one CPU for two
 * vCPUs, no "admitted"), or whose class changed its settings under the same name, is dropped
 * with one log line and the domain placed again; a file of an unknown format version is set
 * aside. */
static void test_restore_distrusts_the_allocations_file(void **state) {
        (void) state;
        virDomainPtr one = create("ded-one", 1, NULL), two = create("ded-two", 2, NULL);
        assert_true(pump_until(is_managed, "ded-one"));
        assert_true(pump_until(is_managed, "ded-two"));
        drain();
        const struct {
                const char *what, *name;
                void (*edit)(json_object *);
        } cases[] = {
                { "held edited out", "ded-one", drop_held },
                { "\"admitted\" removed", "ded-one", drop_admitted },
                { "one CPU for two vCPUs", "ded-two", same_cpu_twice },
                { "every entry twice", NULL, entry_twice },
        };
        int failures = 0;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                manager_free(fx.m);
                fx.m = NULL;
                edit_saved(cases[i].name, cases[i].edit);
                fx.m = start_manager();
                drain();
                int a = booked_cpu("ded-one", 0), b0 = booked_cpu("ded-two", 0), b1 = booked_cpu("ded-two", 1);
                bool ok = a >= 0 && b0 >= 0 && b1 >= 0 && a != b0 && a != b1 && b0 != b1;
                unsigned records = 0;
                for (ManagedDomain *r = fx.m->domains; r; r = r->next)
                        records += strcmp(r->name, "ded-one") == 0;
                ok &= records == 1; /* one record per domain, whatever the file says */
                print_message("%s: ded-one on %d, ded-two on %d and %d (booked; -1: not)%s\n", cases[i].what, a, b0, b1,
                              ok ? "" : ": WRONG");
                failures += !ok;
        }

        /* The class keeps its name, its settings change: placed again under them. */
        manager_free(fx.m);
        fx.m = NULL;
        fixture_write(fx.d.root, "policy.d/50-test.conf",
                      "[Class default]\nCPUPolicy=shared\nCacheLocality=numa\nMemoryPolicy=strict\n"
                      "[Class ded]\nMatchName=ded-*\nCPUPolicy=shared\nCacheLocality=numa\n"
                      "[Class vdi]\nMatchName=vdi-*\nCPUPolicy=shared\nOvercommit=2\n");
        fx.m = start_manager();
        drain();
        const Placement *pl = planner_find(fx.m->planner, "ded-one");
        bool shared_now = pl && pl->admitted && pl->n_vcpus == 1 && !pl->vcpus[0].dedicated;
        print_message("class ded turned shared while kvmtuned was away: ded-one's vCPU is %s\n",
                      shared_now ? "shared" : "still dedicated: WRONG");
        failures += !shared_now;
        fixture_write(fx.d.root, "policy.d/50-test.conf", policy);
        char *errors = NULL;
        assert_int_equal(manager_reload(fx.m, &errors, NULL), 0);
        virDomainDestroy(one);
        virDomainDestroy(two);
        assert_true(pump_until(is_gone, "ded-one"));
        assert_true(pump_until(is_gone, "ded-two"));
        virDomainFree(one);
        virDomainFree(two);
        assert_int_equal(failures, 0);
}

/* The release hook of a domain admitted by name and uuid; returns the answer. */
static char *hook_request_named(const char *name, const char *uuid) {
        char *req = NULL;
        assert_true(
                asprintf(&req,
                         "{\"command\": \"hook\", \"domain\": \"%s\", \"op\": \"release\", \"subop\": \"end\", "
                         "\"xml\": \"<domain type='test'><name>%s</name><uuid>%s</uuid><memory unit='MiB'>64</memory>"
                         "<vcpu>1</vcpu></domain>\"}",
                         name, name, uuid) > 0);
        char *answer = raw_request(req);
        free(req);
        return answer;
}

#define HUGEPAGE_ADMISSION                                                                                             \
        "{\"command\": \"hook\", \"domain\": \"%s\", \"op\": \"prepare\", \"subop\": \"begin\", \"xml\": "             \
        "\"<domain type='test'><name>%s</name><uuid>%s</uuid><memory unit='KiB'>%u</memory><vcpu>1</vcpu>"             \
        "<memoryBacking><hugepages/></memoryBacking></domain>\"}"

/* Issue 11, defect 6: two hook admissions of hugepage-backed domains close together, neither
 * started: the second counts the pages promised to the first, which are still free in the
 * kernel's figures. A pool of 10 free pages, 4 promised to the first: the second (16 pages)
 * grows the pool by 10, not by 6 (with 6 it would not start). */
static void test_close_hugepage_admissions(void **state) {
        (void) state;
        const char *dir = "devices/system/node/node0/hugepages/hugepages-2048kB";
        char rel[128];
        snprintf(rel, sizeof(rel), "%s/nr_hugepages", dir);
        fixture_write(fx.d.sysfs, rel, "10\n");
        snprintf(rel, sizeof(rel), "%s/free_hugepages", dir);
        fixture_write(fx.d.sysfs, rel, "10\n");
        /* Shared CPUs on node 0 only: both shared domains land there. */
        static const char base[] =
                "[Daemon]\nURI=test:///default\nMetrics=off\n[Host]\nGovernorDedicated=performance\n";
        char conf[256];
        snprintf(conf, sizeof(conf), "%sSharedCPUs=1-3\n", base);
        manager_free(fx.m);
        fx.m = NULL;
        fixture_write(fx.d.root, "kvmtuned.conf", conf);
        fx.m = start_manager();
        drain();
        char *req = NULL, *answer;
        assert_true(asprintf(&req, HUGEPAGE_ADMISSION, "vdi-hp1", "vdi-hp1", "8a5d1a3e-0000-4000-8000-0000000000a1",
                             4 * 2048) > 0);
        answer = raw_request(req);
        print_message("vdi-hp1 (4 pages): %s", answer);
        free(answer);
        free(req);
        assert_true(asprintf(&req, HUGEPAGE_ADMISSION, "vdi-hp2", "vdi-hp2", "8a5d1a3e-0000-4000-8000-0000000000a2",
                             16 * 2048) > 0);
        answer = raw_request(req);
        print_message("vdi-hp2 (16 pages): %s", answer);
        free(answer);
        free(req);
        char *nr = NULL;
        snprintf(rel, sizeof(rel), "%s/nr_hugepages", dir);
        assert_int_equal(kfile_read(fx.d.sysfs, rel, &nr), 0);
        print_message("node 0's 2M pool after both admissions: %s", nr);
        unsigned long pages = strtoul(nr, NULL, 10);
        free(nr);
        free(hook_request_named("vdi-hp1", "8a5d1a3e-0000-4000-8000-0000000000a1"));
        free(hook_request_named("vdi-hp2", "8a5d1a3e-0000-4000-8000-0000000000a2"));
        manager_free(fx.m);
        fx.m = NULL;
        fixture_write(fx.d.root, "kvmtuned.conf", base);
        fx.m = start_manager();
        assert_int_equal(pages, 20);
}

static bool is_placed(void *name) {
        ManagedDomain *d = manager_find(fx.m, name);
        return d && d->state == DOMAIN_PLACED;
}

static bool is_failed(void *name) {
        ManagedDomain *d = manager_find(fx.m, name);
        return d && d->state == DOMAIN_FAILED;
}

#define MEMORY_ADMISSION                                                                                               \
        "{\"command\": \"hook\", \"domain\": \"%s\", \"op\": \"prepare\", \"subop\": \"begin\", \"xml\": "             \
        "\"<domain type='test'><name>%s</name><uuid>%s</uuid><memory unit='MiB'>%u</memory><vcpu>1</vcpu>"             \
        "</domain>\"}"

/* Writes a node's meminfo into the fixture sysfs, as the kernel would show it (MiB figures). */
static void write_meminfo(unsigned node, unsigned free_mib, unsigned inactive_file_mib) {
        char rel[64], text[512];
        snprintf(rel, sizeof(rel), "devices/system/node/node%u/meminfo", node);
        snprintf(text, sizeof(text),
                 "Node %u MemTotal:       8388608 kB\nNode %u MemFree:        %u kB\nNode %u Active(file):   0 kB\n"
                 "Node %u Inactive(file): %u kB\nNode %u SReclaimable:   0 kB\n",
                 node, node, free_mib * 1024, node, node, inactive_file_mib * 1024, node);
        fixture_write(fx.d.sysfs, rel, text);
}

/* The meminfo files write_meminfo made, removed. */
static void remove_meminfo(void) {
        for (unsigned n = 0; n < 2; n++) {
                char path[PATH_MAX];
                snprintf(path, sizeof(path), "%s/devices/system/node/node%u/meminfo", fx.d.sysfs, n);
                assert_int_equal(unlink(path), 0);
        }
}

/* A running domain of 4 GiB. */
static virDomainPtr create_4g(const char *name) {
        char xml[256];
        snprintf(xml, sizeof(xml),
                 "<domain type='test'><name>%s</name><memory unit='MiB'>4096</memory><vcpu>1</vcpu>"
                 "<os><type arch='i686'>hvm</type></os></domain>",
                 name);
        virDomainPtr dom = virDomainCreateXML(fx.conn, xml, 0);
        assert_non_null(dom);
        return dom;
}

/* Sends a prepare hook for a small-page domain of mib MiB; returns whether it was admitted. */
static bool admit_memory(const char *name, const char *uuid, unsigned mib) {
        char *req = NULL;
        assert_true(asprintf(&req, MEMORY_ADMISSION, name, name, uuid, mib) > 0);
        char *answer = raw_request(req);
        print_message("%s (%u MiB): %s", name, mib, answer);
        json_object *o = json_tokener_parse(answer);
        json_object *allow = NULL;
        bool admitted = o && json_object_object_get_ex(o, "allow", &allow) && json_object_get_boolean(allow);
        json_object_put(o);
        free(answer);
        free(req);
        return admitted;
}

/* Issue 11, defect 1: memory admission follows the host's live per-node figures less what is
 * booked and not yet in use: a domain running when kvmtuned starts is booked (its memory is in
 * use, out of the live figure), and what it frees when it stops is there for the next domain;
 * reclaimable page cache counts (half of it); an admission's memory stays booked until it runs. */
static void test_memory_admission_follows_live_figures(void **state) {
        (void) state;
        manager_free(fx.m);
        fx.m = NULL;
        write_meminfo(0, 5120, 0);
        write_meminfo(1, 256, 0);
        virDomainPtr dom = create_4g("mem-run");
        write_meminfo(0, 1024, 0); /* its memory is in use now */
        fx.m = start_manager();
        assert_true(pump_until(is_managed, "mem-run"));
        /* 1 GiB free on node 0, 256 MiB on node 1: 2 GiB fits nowhere. */
        assert_false(admit_memory("mem-b", "8a5d1a3e-0000-4000-8000-0000000000b1", 2048));
        /* mem-run stops: the kernel has its 4 GiB back, and so has kvmtuned. */
        assert_int_equal(virDomainDestroy(dom), 0);
        virDomainFree(dom);
        assert_true(pump_until(is_gone, "mem-run"));
        write_meminfo(0, 5120, 0);
        assert_true(admit_memory("mem-b", "8a5d1a3e-0000-4000-8000-0000000000b1", 2048));
        free(hook_request_named("mem-b", "8a5d1a3e-0000-4000-8000-0000000000b1"));
        /* 1 GiB free and 4 GiB of page cache: 3 GiB for kvmtuned. mem-c's 2 GiB are booked until
         * it runs and the kernel shows them used: mem-d does not fit beside it. */
        write_meminfo(0, 1024, 4096);
        assert_true(admit_memory("mem-c", "8a5d1a3e-0000-4000-8000-0000000000c1", 2048));
        assert_false(admit_memory("mem-d", "8a5d1a3e-0000-4000-8000-0000000000d1", 2048));
        free(hook_request_named("mem-c", "8a5d1a3e-0000-4000-8000-0000000000c1"));
        remove_meminfo(); /* the other tests run on the model's totals */
}

/* The hook's path: an admitted domain is admitted, not running, until its start is seen; then
 * the pins it was admitted with are applied and verified (admitted -> pending -> placed). */
static void test_admitted_domain_placed_at_start(void **state) {
        (void) state;
        const char *uuid = "8a5d1a3e-0000-4000-8000-0000000000e1";
        char *req = NULL;
        assert_true(asprintf(&req, MEMORY_ADMISSION, "ded-start", "ded-start", uuid, 64) > 0);
        char *answer = raw_request(req);
        free(req);
        assert_non_null(strstr(answer, "\"allow\":true"));
        free(answer);
        ManagedDomain *d = manager_find(fx.m, "ded-start");
        assert_non_null(d);
        assert_int_equal(d->state, DOMAIN_ADMITTED);
        const Placement *pl = planner_find(fx.m->planner, "ded-start");
        assert_non_null(pl);
        char *admitted_cpus = placement_vcpu_cpulist(pl, 0);
        char extra[128];
        snprintf(extra, sizeof(extra), "<uuid>%s</uuid>", uuid);
        virDomainPtr dom = create("ded-start", 1, extra);
        assert_true(pump_until(is_placed, "ded-start"));
        char *pins = vcpu_pins(dom, 0);
        print_message("admitted on CPU %s, runs on CPU %s after its start\n", admitted_cpus, pins);
        assert_string_equal(pins, admitted_cpus);
        free(pins);
        free(admitted_cpus);
        stop_domain(dom, "ded-start");
}

/* Review of issue 11's changes: a running domain planned again (here a reload that changes its
 * class) is not checked against the memory its own guest already uses: the live figure shows
 * that memory used, and counting it again would refuse the domain it belongs to. */
static void test_replanned_running_domain_keeps_its_memory(void **state) {
        (void) state;
        write_meminfo(0, 5120, 0);
        write_meminfo(1, 256, 0);
        virDomainPtr dom = create_4g("ded-big");
        assert_true(pump_until(is_placed, "ded-big"));
        write_meminfo(0, 1024, 0); /* its guest touched its memory */
        char *errors = NULL;
        reload_ded_without_locality();
        drain();
        ManagedDomain *d = manager_find(fx.m, "ded-big");
        print_message("after a reload that places it again: %s (%s)\n", d ? lifecycle_state_name(d->state) : "gone",
                      d && d->error ? d->error : "");
        bool placed = d && d->state == DOMAIN_PLACED;
        fixture_write(fx.d.root, "policy.d/50-test.conf", policy);
        assert_int_equal(manager_reload(fx.m, &errors, NULL), 0);
        stop_domain(dom, "ded-big");
        remove_meminfo();
        assert_true(placed);
}

/* Review of issue 11's changes: a hook admission the reloaded policy would refuse still stands
 * (the hook said yes, libvirt starts it, its CPUs and hugepages stay promised), and when the
 * domain starts the new policy places it afresh: here it is refused then, and floats. */
static void test_reload_keeps_a_refused_admission_until_its_start(void **state) {
        (void) state;
        free(hook_request(8, "prepare", "begin"));
        assert_non_null(manager_find(fx.m, "ded-h8"));
        static const char base[] =
                "[Daemon]\nURI=test:///default\nMetrics=off\n[Host]\nGovernorDedicated=performance\n";
        char conf[256], changed[1024], *errors = NULL;
        snprintf(conf, sizeof(conf), "%sHousekeepingCPUs=0\nDedicatedCPUs=1\nSharedCPUs=2-7\n", base);
        const char *vdi = strstr(policy, "[Class vdi]");
        assert_non_null(vdi);
        /* class ded: two dedicated CPUs for one vCPU, and the pool has one */
        snprintf(changed, sizeof(changed), "%.*sEmulatorThreads=isolate\n%s", (int) (vdi - policy), policy, vdi);
        fixture_write(fx.d.root, "kvmtuned.conf", conf);
        fixture_write(fx.d.root, "policy.d/50-test.conf", changed);
        assert_int_equal(manager_reload(fx.m, &errors, NULL), 0);
        ManagedDomain *d = manager_find(fx.m, "ded-h8");
        print_message("an admission the reloaded policy refuses: %s\n", d ? lifecycle_state_name(d->state) : "gone");
        bool stands = d && d->state == DOMAIN_ADMITTED && d->replan_at_start;
        virDomainPtr dom = create("ded-h8", 1, "<uuid>4dea22b3-1d52-d8f3-2516-782e98ab3f08</uuid>");
        assert_true(pump_until(is_managed, "ded-h8"));
        for (int i = 0; i < 30; i++)
                sd_event_run(fx.m->event, 10000);
        d = manager_find(fx.m, "ded-h8");
        print_message("when it starts: %s (%s)\n", d ? lifecycle_state_name(d->state) : "gone",
                      d && d->error ? d->error : "");
        bool replaced = d && d->state == DOMAIN_REFUSED;
        stop_domain(dom, "ded-h8");
        fixture_write(fx.d.root, "kvmtuned.conf", base);
        fixture_write(fx.d.root, "policy.d/50-test.conf", policy);
        assert_int_equal(manager_reload(fx.m, &errors, NULL), 0);
        free(hook_request(8, "release", "end"));
        assert_true(stands && replaced);
}

/* Issue 11, defect 4: the apply retry budget is per attempt to apply, not per life: a domain
 * that needed two tries at its start gets three again when it is re-pinned later; one that gave
 * up (FAILED) is tried again later instead of never; and a given-up domain is not left
 * half-pinned on a dedicated CPU. */
static void test_apply_retries(void **state) {
        (void) state;
        fx.m->opts.failed_retry_usec = 300 * 1000;
        fail_pins = 2; /* two failures, the third try works */
        virDomainPtr dom = create("vdi-retry", 1, NULL);
        bool placed = pump_until(is_placed, "vdi-retry");
        print_message("vdi-retry with 2 failing pin calls at its start: %s\n", placed ? "placed" : "not placed");
        /* Dedicated domains start until one takes a CPU of vdi-retry's node: it is re-pinned, and
         * that fails twice. */
        fail_pins = 2;
        fail_pins_of = "vdi-retry";
        virDomainPtr ded[4];
        int n_ded = 0;
        while (fail_pins == 2 && n_ded < 4) {
                char name[32];
                snprintf(name, sizeof(name), "ded-push%d", n_ded);
                ded[n_ded++] = create(name, 1, NULL);
                assert_true(pump_until(is_managed, name));
                drain();
        }
        for (int i = 0; i < 100; i++)
                sd_event_run(fx.m->event, 10000);
        ManagedDomain *d = manager_find(fx.m, "vdi-retry");
        bool again = d && d->state == DOMAIN_PLACED && fail_pins == 0;
        fail_pins_of = NULL;
        print_message("its later re-pin with 2 failing calls: %s\n", again ? "placed" : "failed (budget spent)");

        /* Every try fails: FAILED; then libvirt takes pins again and a later try places it. */
        fail_pins = 1000;
        virDomainPtr gone = create("ded-stuck", 1, NULL);
        bool failed = pump_until(is_failed, "ded-stuck");
        fail_pins = 0;
        bool recovered = failed && pump_until(is_placed, "ded-stuck");
        print_message("ded-stuck: %s, then %s\n", failed ? "failed" : "not failed",
                      recovered ? "placed by a later try" : "never tried again");
        fx.m->opts.failed_retry_usec = 0;
        virDomainDestroy(dom);
        virDomainDestroy(gone);
        assert_true(pump_until(is_gone, "vdi-retry") && pump_until(is_gone, "ded-stuck"));
        for (int i = 0; i < n_ded; i++) {
                virDomainDestroy(ded[i]);
                virDomainFree(ded[i]);
        }
        drain();
        virDomainFree(dom);
        virDomainFree(gone);
        assert_true(placed && again && failed && recovered);
}

/* Review of issue 11's changes: after a restart, a domain that pins itself keeps its own pins and
 * stays adopted; a refused domain is still known as floated by kvmtuned (refused, not adopted);
 * a self-pinned hook admission carried over a restart is still an admission, not pending forever. */
static void test_restart_keeps_kinds_of_domains(void **state) {
        (void) state;
        virDomainPtr own = create("ded-own", 2,
                                  "<cputune><vcpupin vcpu='0' cpuset='7'/><vcpupin vcpu='1' cpuset='3'/>"
                                  "</cputune>");
        virDomainPtr hold = create("ded-hold", 1, NULL);
        assert_true(pump_until(is_managed, "ded-own") && pump_until(is_managed, "ded-hold"));
        virDomainPtr big = create("ded-toobig", 7, NULL);
        assert_true(pump_until(is_managed, "ded-toobig"));
        char *answer = raw_request(
                "{\"command\": \"hook\", \"domain\": \"ded-pa\", \"op\": \"prepare\", \"subop\": \"begin\", "
                "\"xml\": \"<domain type='test'><name>ded-pa</name><uuid>8a5d1a3e-0000-4000-8000-0000000000aa</uuid>"
                "<memory unit='MiB'>64</memory><vcpu>1</vcpu><cputune><vcpupin vcpu='0' cpuset='6'/></cputune>"
                "</domain>\"}");
        free(answer);
        drain();
        manager_free(fx.m);
        fx.m = start_manager();
        drain();
        char *a = vcpu_pins(own, 0), *b = vcpu_pins(own, 1);
        ManagedDomain *o = manager_find(fx.m, "ded-own"), *t = manager_find(fx.m, "ded-toobig"),
                      *p = manager_find(fx.m, "ded-pa");
        print_message("after a restart: ded-own (pins 7 and 3) %s on %s and %s; ded-toobig %s; ded-pa %s\n",
                      o ? lifecycle_state_name(o->state) : "gone", a, b, t ? lifecycle_state_name(t->state) : "gone",
                      p ? lifecycle_state_name(p->state) : "gone");
        /* ded-pa is still an admission (its start to come): the release hook or the timeout ends it */
        bool ok = o && o->state == DOMAIN_ADOPTED && strcmp(a, "7") == 0 && strcmp(b, "3") == 0 && t &&
                  t->state == DOMAIN_REFUSED && p && p->state == DOMAIN_ADMITTED && p->admit_usec;
        free(a);
        free(b);
        free(hook_request_named("ded-pa", "8a5d1a3e-0000-4000-8000-0000000000aa"));
        ok &= manager_find(fx.m, "ded-pa") == NULL; /* its release ends a self-pinned admission too */
        stop_domain(big, "ded-toobig");
        stop_domain(hold, "ded-hold");
        stop_domain(own, "ded-own");
        assert_true(ok);
}

/* Review of issue 11's changes: without a connection, an admission past its wait is left to the
 * reconcile after the next one; its timer does not fire again and again meanwhile. */
static void test_admission_expiry_waits_for_libvirt(void **state) {
        (void) state;
        fx.m->opts.admission_timeout_usec = 100 * 1000;
        free(raw_request("{\"command\": \"hook\", \"domain\": \"ded-dc\", \"op\": \"prepare\", \"subop\": \"begin\", "
                         "\"xml\": \"<domain type='test'><name>ded-dc</name>"
                         "<uuid>8a5d1a3e-0000-4000-8000-0000000000ab</uuid><memory unit='MiB'>64</memory>"
                         "<vcpu>1</vcpu></domain>\"}"));
        fx.m->connected = false; /* as while libvirtd restarts */
        usleep(200 * 1000);
        unsigned dispatched = 0;
        for (int i = 0; i < 2000; i++)
                dispatched += sd_event_run(fx.m->event, 0) > 0;
        print_message("2000 loop turns without a connection dispatched %u events\n", dispatched);
        fx.m->connected = true;
        assert_int_equal(manager_reconcile(fx.m), 0);
        bool released = pump_until(is_released, "ded-dc");
        fx.m->opts.admission_timeout_usec = 0;
        assert_true(dispatched < 10);
        assert_true(released);
}

/* Issue 11, defect 9: a file of a format this kvmtuned does not know is set aside, not read as its
 * own. The pins of the domains it placed then read as the domains' own: left alone, booked,
 * never given to another (adopted, for good: this test runs last). */
static void test_unknown_allocations_version(void **state) {
        (void) state;
        virDomainPtr one = create("ded-one", 1, NULL);
        assert_true(pump_until(is_managed, "ded-one"));
        drain();
        manager_free(fx.m);
        fx.m = NULL;
        edit_saved(NULL, future_version);
        fx.m = start_manager();
        drain();
        char *aside = NULL;
        assert_true(asprintf(&aside, "%s/allocations.json.unreadable", fx.d.runtime) > 0);
        bool set_aside = access(aside, F_OK) == 0;
        free(aside);
        ManagedDomain *d1 = manager_find(fx.m, "ded-one");
        print_message("format version 99: %s, ded-one %s\n", set_aside ? "set aside" : "read",
                      d1 && d1->state == DOMAIN_ADOPTED ? "adopted" : "not adopted");
        bool ok = set_aside && d1 && d1->state == DOMAIN_ADOPTED;
        stop_domain(one, "ded-one");
        assert_true(ok);
}

/* Issue 12, defect 7: the flags of pinning calls follow the connection's driver. Only the test
 * driver gets AFFECT_CURRENT; before, any invalid-argument error switched a real driver to it,
 * which writes the persistent definition of a domain that stops mid-call. */
static void test_pin_flags_by_driver(void **state) {
        (void) state;
        const char *driver = virConnectGetType(fx.conn);
        print_message("test:///default is driver %s\n", driver);
        assert_int_equal(pin_live_flags(driver), VIR_DOMAIN_AFFECT_CURRENT);
        assert_int_equal(pin_live_flags("QEMU"), VIR_DOMAIN_AFFECT_LIVE);
        assert_int_equal(pin_live_flags(NULL), VIR_DOMAIN_AFFECT_LIVE);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_existing_domain_placed_at_start),
                cmocka_unit_test(test_pin_flags_by_driver),
                cmocka_unit_test(test_second_instance_refused),
                cmocka_unit_test(test_dedicated_lifecycle),
                cmocka_unit_test(test_refusal_leaves_domain_running),
                cmocka_unit_test(test_reload),
                cmocka_unit_test(test_restart_adopts),
                cmocka_unit_test(test_control_socket),
                cmocka_unit_test(test_malformed_requests),
                cmocka_unit_test(test_hook_admission_repins_shared),
                cmocka_unit_test(test_late_stopped_event_keeps_new_admission),
                cmocka_unit_test(test_reload_keeps_awaiting_admission),
                cmocka_unit_test(test_transient_explicit_pins_respected),
                cmocka_unit_test(test_operator_live_pin_not_fought),
                cmocka_unit_test(test_operator_pin_while_away_not_fought),
                cmocka_unit_test(test_unstarted_admissions_expire),
                cmocka_unit_test(test_restart_keeps_saved_cpus),
                cmocka_unit_test(test_refused_domain_off_dedicated_cpus),
                cmocka_unit_test(test_startup_saves_allocations_once),
                cmocka_unit_test(test_restore_on_exit_no_is_not_a_crash),
                cmocka_unit_test(test_reload_names_restart_only_keys),
                cmocka_unit_test(test_cpu_metrics_on_real_machines),
                cmocka_unit_test(test_restore_distrusts_the_allocations_file),
                cmocka_unit_test(test_close_hugepage_admissions),
                cmocka_unit_test(test_apply_retries),
                cmocka_unit_test(test_restart_keeps_kinds_of_domains),
                cmocka_unit_test(test_admission_expiry_waits_for_libvirt),
                cmocka_unit_test(test_memory_admission_follows_live_figures),
                cmocka_unit_test(test_admitted_domain_placed_at_start),
                cmocka_unit_test(test_replanned_running_domain_keeps_its_memory),
                cmocka_unit_test(test_reload_keeps_a_refused_admission_until_its_start),
                cmocka_unit_test(test_unknown_allocations_version), /* last: domains stay adopted */
        };
        return cmocka_run_group_tests_name("daemon on test:///default", tests, setup, teardown);
}

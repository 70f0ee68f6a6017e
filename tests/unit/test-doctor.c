/* kvmtunectl doctor against fixture trees: every check turns from ok to warning or blocker on a
 * tree that lacks what it looks for, the kernel command line is read as the kernel reads it, the
 * exit code is 0/1/2, the JSON has its contract's shape, and the binary honours --root. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "config.h"
#include "doctor.h"
#include "fixture.h"
#include "hostfacts.h"
#include "oracle.h"
#include "topology.h"

/* 8 CPUs on 2 nodes (0-3, 4-7): housekeeping 0,4, dedicated 1-3,5-7. */
#define DESC "node:2 core:4 pu:1"
#define HOST_POOLS "[Host]\nHousekeepingCPUs=0,4\nDedicatedCPUs=1-3,5-7\n"
#define GAMING                                                                                                         \
        "[Class gaming]\nMatchName=win*\nCPUPolicy=dedicated\nMemoryPolicy=strict\nMemPageSize=1G\n"                   \
        "IdleLatency=poll\n"
#define STATUS_CONNECTED                                                                                               \
        "{\"daemon\":{\"pid\":321,\"ready\":true},\"libvirt\":{\"uri\":\"qemu:///system\",\"connected\":true,"         \
        "\"version\":\"9.0.0\"}}"

typedef struct Doc {
        DaemonFixture fx;
        char *dev, *etc;
        Topology *t;
        DoctorReport report;
} Doc;

static void write_at(Doc *d, const char *rel, const char *content) {
        fixture_write(d->fx.root, rel, content);
}

static void remove_at(Doc *d, const char *rel) {
        free(oracle_run("rm -rf '%s/%s' && echo ok", d->fx.root, rel));
}

static void chmod_at(Doc *d, const char *rel, mode_t mode) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", d->fx.root, rel);
        assert_int_equal(chmod(path, mode), 0);
}

/* Main configuration: the pools plus host_lines; the policy: the gaming class. */
static void write_config(Doc *d, const char *host_lines) {
        char text[1024];
        snprintf(text, sizeof(text), HOST_POOLS "%s", host_lines);
        fixture_write(d->fx.root, "kvmtuned.conf", text);
        fixture_write(d->fx.policy_dir, "50-gaming.conf", GAMING);
}

/* A host where every check is ok: an Intel CPU with VT-x and 1 GiB pages, KVM, an IOMMU, four
 * 1 GiB pages reserved, cgroup v2 with cpuset, systemd, cpufreq, PM QoS, the hook installed. */
static Doc *doc_new(void) {
        Doc *d = calloc(1, sizeof(Doc));
        assert_non_null(d);
        daemon_fixture_new(&d->fx, DESC);
        assert_true(asprintf(&d->dev, "%s/dev", d->fx.root) > 0 && asprintf(&d->etc, "%s/etc", d->fx.root) > 0);
        write_at(d, "proc/cpuinfo",
                 "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu vme pse vmx ept pdpe1gb\n\n"
                 "processor\t: 1\nvendor_id\t: GenuineIntel\nflags\t\t: fpu\n");
        write_at(d, "dev/kvm", "");
        write_at(d, "sys/kernel/iommu_groups/0/type", "DMA\n");
        write_at(d, "sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages", "4\n");
        write_at(d, "sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory pids\n");
        write_at(d, "proc/1/comm", "systemd\n");
        write_at(d, "proc/cmdline", "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro quiet\n");
        write_at(d, "sys/devices/system/cpu/cpu0/cpufreq/scaling_driver", "intel_pstate\n");
        write_at(d, "sys/devices/system/cpu/cpu0/cpufreq/scaling_available_governors", "performance powersave \n");
        write_at(d, "proc/sys/kernel/numa_balancing", "1\n");
        write_at(d, "sys/kernel/mm/ksm/run", "0\n");
        write_at(d, "sys/kernel/mm/ksm/merge_across_nodes", "1\n");
        write_at(d, "sys/kernel/mm/ksm/pages_shared", "0\n");
        write_at(d, "sys/devices/system/cpu/cpu0/power/pm_qos_resume_latency_us", "0\n");
        write_at(d, "sys/devices/system/cpu/cpuidle/current_driver", "intel_idle\n");
        write_at(d, "etc/libvirt/hooks/qemu.d/kvmtuned", "#!/bin/sh\nexec /usr/bin/kvmtunectl hook -- \"$@\"\n");
        chmod_at(d, "etc/libvirt/hooks/qemu.d/kvmtuned", 0755);
        write_at(d, "run/control", ""); /* the daemon answers: see judge() */
        write_config(d, "GovernorDedicated=performance\n");
        assert_int_equal(topology_load(&(TopologySource){ .xml_path = d->fx.topology }, &d->t), 0);
        return d;
}

static void doc_free(Doc *d) {
        doctor_report_clear(&d->report);
        topology_free(d->t);
        daemon_fixture_free(&d->fx);
        free(d->dev);
        free(d->etc);
        free(d);
}

/* Reads the tree and judges it (status: the daemon's reply, NULL: none; error: why asking it
 * failed). Returns the report. */
static const DoctorReport *judge_with(Doc *d, const char *status, int error) {
        doctor_report_clear(&d->report);
        HostRoots roots = { .sysfs = d->fx.sysfs,
                            .procfs = d->fx.procfs,
                            .devfs = d->dev,
                            .etc = d->etc,
                            .runtime_dir = d->fx.runtime };
        HostFacts f;
        assert_int_equal(hostfacts_read(&roots, &f), 0);
        f.daemon_errno = error;
        if (status) {
                json_object *o = json_tokener_parse(status);
                assert_non_null(o);
                assert_int_equal(doctor_read_status(o, &f), 0);
                json_object_put(o);
        }
        Config *c = NULL;
        ConfigErrors errors = { 0 };
        assert_int_equal(config_load(d->fx.config, d->fx.policy_dir, d->t, &c, &errors), 0);
        assert_int_equal(doctor_check(&f, c, d->t, &d->report), 0);
        config_free(c);
        hostfacts_done(&f);
        return &d->report;
}

static const DoctorReport *judge(Doc *d) {
        return judge_with(d, STATUS_CONNECTED, 0);
}

static void print_report(const DoctorReport *r) {
        char *text = NULL;
        assert_int_equal(doctor_render_text(r, &text), 0);
        print_message("%s", text);
        free(text);
}

/* The finding of check whose message holds want, at level. */
static void assert_finding(const DoctorReport *r, const char *check, DoctorLevel level, const char *want) {
        for (size_t i = 0; i < r->n; i++)
                if (strcmp(r->findings[i].check, check) == 0 && strstr(r->findings[i].message, want)) {
                        if (r->findings[i].level != level) {
                                print_report(r);
                                print_error("%s: level %s, wanted %s\n", check,
                                            doctor_level_to_string(r->findings[i].level),
                                            doctor_level_to_string(level));
                        }
                        assert_int_equal(r->findings[i].level, level);
                        return;
                }
        print_report(r);
        print_error("no %s finding of check %s holding \"%s\"\n", doctor_level_to_string(level), check, want);
        fail();
}

static void test_ready_host(void **state) {
        (void) state;
        Doc *d = doc_new();
        const DoctorReport *r = judge(d);
        for (size_t i = 0; i < r->n; i++)
                if (r->findings[i].level != DOCTOR_OK) {
                        print_report(r);
                        fail();
                }
        assert_finding(r, "cpu-virtualization", DOCTOR_OK, "VT-x");
        assert_finding(r, "kvm-device", DOCTOR_OK, "/dev/kvm");
        assert_finding(r, "iommu", DOCTOR_OK, "IOMMU on: 1 group in");
        assert_finding(r, "hugepages-1g", DOCTOR_OK, "4 1 GiB pages reserved for class gaming");
        assert_finding(r, "cgroup-cpuset", DOCTOR_OK, "v2");
        assert_finding(r, "systemd", DOCTOR_OK, "AllowedCPUs=");
        assert_finding(r, "kernel-cmdline", DOCTOR_OK, "no nohz_full=");
        assert_finding(r, "irqbalance", DOCTOR_OK, "not running");
        assert_finding(r, "thp", DOCTOR_OK, "madvise; TransparentHugepages=keep");
        assert_finding(r, "cpufreq", DOCTOR_OK, "intel_pstate, governors performance powersave");
        assert_finding(r, "numa-balancing", DOCTOR_OK, "is 1; NumaBalancing=off-while-strict turns it off");
        assert_finding(r, "ksm", DOCTOR_OK, "off");
        assert_finding(r, "idle-latency", DOCTOR_OK, "gaming (poll)");
        assert_finding(r, "libvirt-hook", DOCTOR_OK, "qemu.d/kvmtuned is installed");
        assert_finding(r, "daemon", DOCTOR_OK, "pid 321) answers and is connected to qemu:///system, libvirt 9.0.0");
        assert_finding(r, "policy", DOCTOR_OK, "no warnings");
        assert_int_equal(doctor_exit_code(r), 0);
        assert_string_equal(doctor_status(r), "ready");
        doc_free(d);
}

static void test_cpu_virtualization(void **state) {
        (void) state;
        Doc *d = doc_new();
        write_at(d, "proc/cpuinfo", "vendor_id\t: GenuineIntel\nflags\t\t: fpu vme pse pdpe1gb\n");
        assert_finding(judge(d), "cpu-virtualization", DOCTOR_BLOCKER, "no vmx or svm flag");
        write_at(d, "proc/cpuinfo", "vendor_id\t: AuthenticAMD\nflags\t\t: fpu svm pdpe1gb\n");
        assert_finding(judge(d), "cpu-virtualization", DOCTOR_OK, "AMD-V (svm)");
        write_at(d, "proc/cpuinfo", "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd\n"); /* arm64 */
        assert_finding(judge(d), "cpu-virtualization", DOCTOR_OK, "no x86 CPU flags in cpuinfo (another architecture)");
        doc_free(d);
}

static void test_kvm_device(void **state) {
        (void) state;
        Doc *d = doc_new();
        remove_at(d, "dev/kvm");
        const DoctorReport *r = judge(d);
        assert_finding(r, "kvm-device", DOCTOR_BLOCKER, "/dev/kvm is missing: load KVM (modprobe kvm_intel)");
        assert_int_equal(doctor_exit_code(r), 2);
        doc_free(d);
}

static void test_iommu(void **state) {
        (void) state;
        Doc *d = doc_new();
        remove_at(d, "sys/kernel/iommu_groups/0");
        assert_finding(judge(d), "iommu", DOCTOR_WARNING, "PCI passthrough (VFIO) needs the IOMMU");
        assert_finding(judge(d), "iommu", DOCTOR_WARNING, "intel_iommu=on");
        remove_at(d, "sys/kernel/iommu_groups");
        assert_finding(judge(d), "iommu", DOCTOR_WARNING, "no IOMMU groups");
        doc_free(d);
}

static void test_hugepages_1g(void **state) {
        (void) state;
        Doc *d = doc_new();
        write_at(d, "sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages", "0\n");
        assert_finding(judge(d), "hugepages-1g", DOCTOR_WARNING, "default_hugepagesz=1G hugepagesz=1G hugepages=N");
        remove_at(d, "sys/kernel/mm/hugepages/hugepages-1048576kB");
        assert_finding(judge(d), "hugepages-1g", DOCTOR_BLOCKER, "add hugepagesz=1G to the kernel command line");
        write_at(d, "proc/cpuinfo", "vendor_id\t: GenuineIntel\nflags\t\t: fpu vmx\n");
        assert_finding(judge(d), "hugepages-1g", DOCTOR_BLOCKER, "the CPU lacks pdpe1gb");
        /* no class asks for 1 GiB pages: nothing to check */
        fixture_write(d->fx.policy_dir, "50-gaming.conf", "[Class gaming]\nCPUPolicy=dedicated\nMemPageSize=2M\n");
        assert_finding(judge(d), "hugepages-1g", DOCTOR_OK, "no class asks for MemPageSize=1G");
        doc_free(d);
}

static void test_cgroup_cpuset(void **state) {
        (void) state;
        Doc *d = doc_new();
        write_at(d, "sys/fs/cgroup/cgroup.controllers", "cpu io memory pids\n");
        assert_finding(judge(d), "cgroup-cpuset", DOCTOR_BLOCKER, "cgroup.controllers lacks cpuset");
        write_at(d, "sys/fs/cgroup/cpuset/cpuset.cpus", "0-7\n");
        assert_finding(judge(d), "cgroup-cpuset", DOCTOR_OK, "v1 cpuset");
        remove_at(d, "sys/fs/cgroup");
        assert_finding(judge(d), "cgroup-cpuset", DOCTOR_BLOCKER, "no cpuset cgroup");
        doc_free(d);
}

static void test_systemd(void **state) {
        (void) state;
        Doc *d = doc_new();
        write_at(d, "proc/1/comm", "init\n");
        assert_finding(judge(d), "systemd", DOCTOR_WARNING, "PID 1 is init, not systemd: IsolateHost=when-dedicated");
        write_config(d, "IsolateHost=no\n");
        assert_finding(judge(d), "systemd", DOCTOR_OK, "IsolateHost=no");
        doc_free(d);
}

static void test_irqbalance(void **state) {
        (void) state;
        Doc *d = doc_new();
        write_at(d, "proc/4242/comm", "irqbalance\n");
        write_at(d, "proc/77/comm", "sshd\n");
        assert_finding(judge(d), "irqbalance", DOCTOR_WARNING,
                       "(pid 4242) runs and will move IRQs back onto the dedicated CPUs");
        assert_finding(judge(d), "irqbalance", DOCTOR_WARNING,
                       "set IRQBALANCE_BANNED_CPULIST=1-3,5-7 in /etc/default/irqbalance");
        /* a banned list that leaves CPU 7 out does not do */
        write_at(d, "etc/default/irqbalance",
                 "#IRQBALANCE_BANNED_CPULIST=1-3,5-7\nIRQBALANCE_BANNED_CPULIST=1-3,5-6\n");
        assert_finding(judge(d), "irqbalance", DOCTOR_WARNING, "IRQBALANCE_BANNED_CPULIST=1-3,5-7");
        write_at(d, "etc/default/irqbalance", "IRQBALANCE_BANNED_CPULIST=\"1-3,5-7\" # kvmtuned\n");
        assert_finding(judge(d), "irqbalance", DOCTOR_OK, "which covers the dedicated CPUs");
        remove_at(d, "etc/default/irqbalance");
        write_config(d, "IRQAffinity=keep\n");
        assert_finding(judge(d), "irqbalance", DOCTOR_OK, "IRQAffinity=keep leaves IRQs to it");
        doc_free(d);
}

static void test_cmdline_param(void **state) {
        (void) state;
        char *v = NULL;
        assert_int_equal(hostfacts_cmdline_param("ro isolcpus=1 quiet isolcpus=domain,2-7", "isolcpus", &v), 1);
        assert_string_equal(v, "domain,2-7"); /* the last one, as the kernel keeps it */
        free(v);
        assert_int_equal(hostfacts_cmdline_param("a=\"x y\" nohz_full=\"3-4\"\n", "nohz_full", &v), 1);
        assert_string_equal(v, "3-4");
        free(v);
        /* after "--" the words are init's; a longer name is not the same parameter */
        assert_int_equal(hostfacts_cmdline_param("ro -- isolcpus=2", "isolcpus", &v), 0);
        assert_null(v);
        assert_int_equal(hostfacts_cmdline_param("xisolcpus=2 isolcpus_x=3", "isolcpus", &v), 0);
        assert_null(v);
}

static void test_kernel_cmdline(void **state) {
        (void) state;
        Doc *d = doc_new();
        write_at(d, "proc/cmdline",
                 "ro nohz_full=1-3,5-7 isolcpus=domain,managed_irq,2-7 irqaffinity=0-3 -- isolcpus=9\n");
        const DoctorReport *r = judge(d);
        assert_finding(r, "kernel-cmdline", DOCTOR_OK, "nohz_full=1-3,5-7 matches the dedicated CPUs");
        assert_finding(r, "kernel-cmdline", DOCTOR_WARNING,
                       "isolcpus=domain,managed_irq,2-7 differs from the dedicated CPUs 1-3,5-7 (CPUs 1 are dedicated "
                       "but not in it; CPUs 4 are in it but not dedicated): set isolcpus=domain,managed_irq,1-3,5-7");
        assert_finding(r, "kernel-cmdline", DOCTOR_WARNING,
                       "irqaffinity=0-3 sends IRQs to the dedicated CPUs 1-3: set irqaffinity=0,4");
        write_at(d, "proc/cmdline", "nohz_full=1-3,5-7 isolcpus=1-3,5-7 irqaffinity=0,4\n");
        r = judge(d);
        assert_finding(r, "kernel-cmdline", DOCTOR_OK, "isolcpus=1-3,5-7 matches");
        assert_finding(r, "kernel-cmdline", DOCTOR_OK, "irqaffinity=0,4 keeps IRQs off the dedicated CPUs");
        write_at(d, "proc/cmdline", "nohz_full=5-3\n");
        assert_finding(judge(d), "kernel-cmdline", DOCTOR_WARNING, "nohz_full=5-3 is not a CPU list");
        doc_free(d);
}

static void test_thp(void **state) {
        (void) state;
        Doc *d = doc_new();
        write_config(d, "TransparentHugepages=never\n");
        assert_finding(judge(d), "thp", DOCTOR_OK,
                       "transparent hugepages: madvise; TransparentHugepages=never sets it");
        remove_at(d, "sys/kernel/mm/transparent_hugepage");
        assert_finding(judge(d), "thp", DOCTOR_WARNING, "no transparent hugepages: set TransparentHugepages=keep");
        doc_free(d);
}

static void test_cpufreq(void **state) {
        (void) state;
        Doc *d = doc_new();
        write_at(d, "sys/devices/system/cpu/cpu0/cpufreq/scaling_available_governors", "powersave\n");
        assert_finding(judge(d), "cpufreq", DOCTOR_WARNING,
                       "GovernorDedicated=performance is not offered by cpufreq driver intel_pstate (it offers: "
                       "powersave)");
        remove_at(d, "sys/devices/system/cpu/cpu0/cpufreq");
        assert_finding(judge(d), "cpufreq", DOCTOR_OK, "governors left alone, GovernorDedicated= has no effect");
        doc_free(d);
}

static void test_numa_balancing(void **state) {
        (void) state;
        Doc *d = doc_new();
        write_config(d, "NumaBalancing=keep\n");
        assert_finding(judge(d), "numa-balancing", DOCTOR_WARNING, "set NumaBalancing=off-while-strict");
        write_at(d, "proc/sys/kernel/numa_balancing", "0\n");
        assert_finding(judge(d), "numa-balancing", DOCTOR_OK, "is 0 (off)");
        doc_free(d);
}

static void test_ksm(void **state) {
        (void) state;
        Doc *d = doc_new();
        write_at(d, "sys/kernel/mm/ksm/run", "1\n");
        write_at(d, "sys/kernel/mm/ksm/pages_shared", "12\n");
        const DoctorReport *r = judge(d);
        assert_finding(r, "ksm", DOCTOR_WARNING, "merge_across_nodes=1 on a 2-node host");
        assert_finding(r, "ksm", DOCTOR_WARNING, "(it is 12); to do it now: echo 2 > /sys/kernel/mm/ksm/run");
        write_config(d, "KSM=on\n");
        assert_finding(judge(d), "ksm", DOCTOR_WARNING, "kvmtuned (KSM=on) sets merge_across_nodes=0 only");
        write_at(d, "sys/kernel/mm/ksm/pages_shared", "0\n");
        assert_finding(judge(d), "ksm", DOCTOR_OK, "KSM=on sets it to 0 while strict VMs run");
        write_at(d, "sys/kernel/mm/ksm/merge_across_nodes", "0\n");
        assert_finding(judge(d), "ksm", DOCTOR_OK, "merge_across_nodes=0");
        doc_free(d);
}

static void test_idle_latency(void **state) {
        (void) state;
        Doc *d = doc_new();
        remove_at(d, "sys/devices/system/cpu/cpu0/power");
        assert_finding(judge(d), "idle-latency", DOCTOR_WARNING, "IdleLatency= of class gaming (poll) cannot work");
        write_at(d, "sys/devices/system/cpu/cpu0/power/pm_qos_resume_latency_us", "0\n");
        write_at(d, "sys/devices/system/cpu/cpuidle/current_driver", "none\n");
        assert_finding(judge(d), "idle-latency", DOCTOR_OK, "cpuidle driver none (CPUs idle by halt only");
        doc_free(d);
}

static void test_libvirt_hook(void **state) {
        (void) state;
        Doc *d = doc_new();
        chmod_at(d, "etc/libvirt/hooks/qemu.d/kvmtuned", 0644);
        assert_finding(judge(d), "libvirt-hook", DOCTOR_WARNING, "is not executable: chmod 0755");
        remove_at(d, "etc/libvirt/hooks/qemu.d");
        assert_finding(judge(d), "libvirt-hook", DOCTOR_WARNING,
                       "install contrib/libvirt/kvmtuned as /etc/libvirt/hooks/qemu.d/kvmtuned");
        write_at(d, "etc/libvirt/hooks/qemu", "#!/bin/sh\nexec kvmtunectl hook -- \"$@\"\n");
        assert_finding(judge(d), "libvirt-hook", DOCTOR_OK, "hooks/qemu runs kvmtunectl");
        doc_free(d);
}

static void test_daemon(void **state) {
        (void) state;
        Doc *d = doc_new();
        assert_finding(judge_with(d, NULL, 0), "daemon", DOCTOR_WARNING, "does not answer");
        assert_finding(judge_with(d, "{}", 0), "daemon", DOCTOR_WARNING, "does not answer"); /* not a status reply */
        assert_finding(judge_with(d, NULL, EACCES), "daemon", DOCTOR_WARNING, "run doctor as root");
        assert_finding(judge_with(d,
                                  "{\"daemon\":{\"pid\":9},\"libvirt\":{\"uri\":\"qemu:///system\","
                                  "\"connected\":false}}",
                                  0),
                       "daemon", DOCTOR_WARNING, "(pid 9) answers but is not connected to qemu:///system");
        assert_finding(judge_with(d, "{\"daemon\":{\"pid\":9},\"libvirt\":{\"connected\":true}}", 0), "daemon",
                       DOCTOR_OK, "(pid 9) answers and is connected to libvirt");
        remove_at(d, "run/control");
        const DoctorReport *r = judge_with(d, NULL, 0);
        assert_finding(r, "daemon", DOCTOR_WARNING, "kvmtuned is not running");
        assert_int_equal(doctor_exit_code(r), 1);
        doc_free(d);
}

static void test_policy_warnings(void **state) {
        (void) state;
        Doc *d = doc_new(); /* a synthetic host has no SMT: ThreadPolicy=require loads with a warning */
        fixture_write(d->fx.policy_dir, "60-smt.conf", "[Class smt]\nCPUPolicy=dedicated\nThreadPolicy=require\n");
        assert_finding(judge(d), "policy", DOCTOR_WARNING, "60-smt.conf:3: ");
        doc_free(d);
}

static void test_exit_codes(void **state) {
        (void) state;
        DoctorReport r = { 0 };
        assert_int_equal(doctor_exit_code(&r), 0);
        assert_string_equal(doctor_status(&r), "ready");
        assert_int_equal(doctor_add(&r, DOCTOR_OK, "a", "fine"), 0);
        assert_int_equal(doctor_exit_code(&r), 0);
        assert_int_equal(doctor_add(&r, DOCTOR_WARNING, "b", "change %s", "this"), 0);
        assert_int_equal(doctor_exit_code(&r), 1);
        assert_string_equal(doctor_status(&r), "warnings");
        assert_int_equal(doctor_add(&r, DOCTOR_BLOCKER, "c", "cannot"), 0);
        assert_int_equal(doctor_add(&r, DOCTOR_WARNING, "d", "later"), 0);
        assert_int_equal(doctor_exit_code(&r), 2);
        assert_string_equal(doctor_status(&r), "blockers");
        /* text: one line per finding prefixed by its level, outside text escaped, then the summary */
        assert_int_equal(doctor_add(&r, DOCTOR_OK, "e", "PID 1 is %s", "x\ny"), 0);
        char *text = NULL;
        assert_int_equal(doctor_render_text(&r, &text), 0);
        assert_string_equal(text, "ok       a: fine\n"
                                  "warning  b: change this\n"
                                  "blocker  c: cannot\n"
                                  "warning  d: later\n"
                                  "ok       e: PID 1 is x\\ny\n"
                                  "status: blockers (2 ok, 2 warnings, 1 blockers)\n");
        free(text);
        doctor_report_clear(&r);
}

/* o is an object with exactly these keys (a NULL-terminated list). */
static void assert_keys(json_object *o, const char *const *keys) {
        assert_true(json_object_is_type(o, json_type_object));
        size_t n = 0;
        for (; keys[n]; n++)
                assert_true(json_object_object_get_ex(o, keys[n], NULL));
        assert_int_equal(json_object_object_length(o), n);
}

static void assert_json_shape(json_object *o, bool ready, const char *status) {
        assert_non_null(o);
        assert_keys(o, (const char *const[]){ "findings", "ready", "status", NULL });
        assert_true(json_object_is_type(json_object_object_get(o, "ready"), json_type_boolean));
        assert_int_equal(json_object_get_boolean(json_object_object_get(o, "ready")), ready);
        assert_string_equal(json_object_get_string(json_object_object_get(o, "status")), status);
        json_object *findings = json_object_object_get(o, "findings");
        assert_true(json_object_is_type(findings, json_type_array));
        assert_true(json_object_array_length(findings) > 0);
        for (size_t i = 0; i < json_object_array_length(findings); i++) {
                json_object *e = json_object_array_get_idx(findings, i);
                assert_keys(e, (const char *const[]){ "check", "level", "message", NULL });
                const char *level = json_object_get_string(json_object_object_get(e, "level"));
                assert_true(strcmp(level, "ok") == 0 || strcmp(level, "warning") == 0 || strcmp(level, "blocker") == 0);
        }
}

static void test_json_shape(void **state) {
        (void) state;
        Doc *d = doc_new();
        remove_at(d, "sys/kernel/iommu_groups");
        const DoctorReport *r = judge(d);
        json_object *o = NULL;
        assert_int_equal(doctor_render_json(r, &o), 0);
        assert_json_shape(o, false, "warnings");
        json_object *first = json_object_array_get_idx(json_object_object_get(o, "findings"), 0);
        assert_string_equal(json_object_get_string(json_object_object_get(first, "check")), "cpu-virtualization");
        assert_string_equal(json_object_get_string(json_object_object_get(first, "level")), "ok");
        json_object_put(o);
        doc_free(d);
}

/* Runs kvmtunectl doctor on the tree with every host option; returns its exit status and stdout. */
static int run_doctor(Doc *d, const char *extra, char **ret_out) {
        char *out = oracle_run("'%s' doctor %s --root '%s' --topology '%s' --config '%s' --policy-dir '%s' "
                               "--runtime-dir '%s/run' >'%s/out' 2>'%s/err'; echo $?",
                               KVMTUNECTL, extra, d->fx.root, d->fx.topology, d->fx.config, d->fx.policy_dir,
                               d->fx.root, d->fx.root, d->fx.root);
        assert_non_null(out);
        int status = atoi(out);
        free(out);
        *ret_out = oracle_run("cat '%s/out'", d->fx.root);
        assert_non_null(*ret_out);
        return status;
}

/* A stand-in daemon: answers one request on runtime/control with reply, in a child process. */
static pid_t fake_daemon(Doc *d, const char *reply) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/control", d->fx.runtime);
        unlink(sa.sun_path);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        assert_int_equal(listen(fd, 1), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int c = accept(fd, NULL, NULL);
                char buf[4096];
                size_t len = 0;
                ssize_t k;
                /* the whole request line: closing on unread bytes would reset the connection */
                while (c >= 0 && len < sizeof(buf) - 1 && !memchr(buf, '\n', len) &&
                       (k = recv(c, buf + len, sizeof(buf) - 1 - len, 0)) > 0)
                        len += (size_t) k;
                buf[len] = '\0';
                bool status = strstr(buf, "\"status\"") != NULL;
                if (c >= 0 && status && send(c, reply, strlen(reply), MSG_NOSIGNAL) < 0)
                        _exit(1);
                _exit(status ? 0 : 1);
        }
        close(fd);
        return pid;
}

static void test_binary(void **state) {
        (void) state;
        Doc *d = doc_new();
        char *out;
        /* warnings: no daemon answers (only the file is there) */
        int status = run_doctor(d, "", &out);
        if (status != 1)
                fprintf(stderr, "%s\n", out);
        assert_int_equal(status, 1);
        assert_non_null(strstr(out, "ok       kvm-device: /dev/kvm is there\n")); /* --root covers ROOT/dev */
        assert_non_null(strstr(out, "warning  daemon: kvmtuned does not answer on "));
        assert_non_null(strstr(out, "status: warnings (15 ok, 1 warnings, 0 blockers)\n"));
        free(out);
        /* ready: a daemon answers its status */
        pid_t pid = fake_daemon(d, STATUS_CONNECTED);
        status = run_doctor(d, "--json", &out);
        int child;
        assert_int_equal(waitpid(pid, &child, 0), pid);
        assert_true(WIFEXITED(child) && WEXITSTATUS(child) == 0);
        json_object *o = json_tokener_parse(out);
        if (status != 0)
                fprintf(stderr, "%s\n", out);
        assert_int_equal(status, 0);
        assert_json_shape(o, true, "ready");
        json_object_put(o);
        free(out);
        /* blockers: no /dev/kvm */
        remove_at(d, "dev/kvm");
        status = run_doctor(d, "--json", &out);
        assert_int_equal(status, 2);
        o = json_tokener_parse(out);
        assert_json_shape(o, false, "blockers");
        assert_non_null(strstr(out, "\"check\":\"kvm-device\",\"level\":\"blocker\""));
        json_object_put(o);
        free(out);
        /* a configuration that does not load is a blocker; the host is still judged */
        fixture_write(d->fx.policy_dir, "70-bad.conf", "[Class bad]\nCPUPolicy=sometimes\n");
        status = run_doctor(d, "", &out);
        assert_int_equal(status, 2);
        assert_non_null(strstr(out, "blocker  configuration: the configuration does not load"));
        assert_non_null(strstr(out, "ok       cgroup-cpuset: "));
        free(out);
        doc_free(d);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_ready_host),
                cmocka_unit_test(test_cpu_virtualization),
                cmocka_unit_test(test_kvm_device),
                cmocka_unit_test(test_iommu),
                cmocka_unit_test(test_hugepages_1g),
                cmocka_unit_test(test_cgroup_cpuset),
                cmocka_unit_test(test_systemd),
                cmocka_unit_test(test_irqbalance),
                cmocka_unit_test(test_cmdline_param),
                cmocka_unit_test(test_kernel_cmdline),
                cmocka_unit_test(test_thp),
                cmocka_unit_test(test_cpufreq),
                cmocka_unit_test(test_numa_balancing),
                cmocka_unit_test(test_ksm),
                cmocka_unit_test(test_idle_latency),
                cmocka_unit_test(test_libvirt_hook),
                cmocka_unit_test(test_daemon),
                cmocka_unit_test(test_policy_warnings),
                cmocka_unit_test(test_exit_codes),
                cmocka_unit_test(test_json_shape),
                cmocka_unit_test(test_binary),
        };
        return cmocka_run_group_tests_name("doctor", tests, NULL, NULL);
}

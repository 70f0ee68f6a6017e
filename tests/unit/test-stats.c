/* Statistics: schedstat, numa_maps and cgroup numa_stat parsing, vCPU thread discovery on fixture procfs trees
 * (threads vanishing mid-read included), counters across resets and restarts, and the
 * Prometheus exposition against a golden file and promtool. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "exposition.h"
#include "fixture.h"
#include "kfile.h"
#include "oracle.h"
#include "procstat.h"
#include "stats.h"

static void test_schedstat(void **state) {
        (void) state;
        ThreadStat s;
        assert_int_equal(procstat_parse_schedstat("3527618360 9631612 1234\n", &s), 0);
        assert_int_equal(s.run_ns, 3527618360ULL);
        assert_int_equal(s.delay_ns, 9631612);
        assert_int_equal(procstat_parse_schedstat("12 34\n", &s), -EINVAL);
        assert_int_equal(procstat_parse_schedstat("", &s), -EINVAL);
}

static void test_numa_maps(void **state) {
        (void) state;
        uint64_t bytes[8];
        const char *text =
                "7f0000000000 default anon=512 dirty=512 N0=500 N1=12 kernelpagesize_kB=4\n"
                "7f1000000000 bind:0 file=/dev/hugepages/libvirt/qemu/x huge anon=4 N0=4 kernelpagesize_kB=2048\n"
                "7f2000000000 default file=/usr/bin/qemu mapped=3 N1=3 kernelpagesize_kB=4\n"
                "7f3000000000 default\n";
        assert_int_equal(procstat_parse_numa_maps(text, bytes, 8), 2);
        assert_int_equal(bytes[0], 500 * 4096 + 4 * 2048 * 1024);
        assert_int_equal(bytes[1], 15 * 4096);
        assert_int_equal(procstat_parse_numa_maps("x default N9=1 kernelpagesize_kB=4\n", bytes, 8), -EINVAL);
}

/* cgroup v2's memory.numa_stat of a machine scope (bytes; lines of a 6.1 kernel, shortened). */
static const char numa_stat[] = "anon N0=1048576 N1=2097152\n"
                                "file N0=4096 N1=409600\n"
                                "kernel_stack N0=16384 N1=0\n"
                                "shmem N0=8192 N1=0\n"
                                "anon_thp N0=0 N1=2097152\n"
                                "file_thp N0=0 N1=0\n"
                                "workingset_refault_anon N0=7 N1=9\n";

static void test_memory_numa_stat(void **state) {
        (void) state;
        uint64_t bytes[8];
        assert_int_equal(procstat_parse_memory_numa_stat(numa_stat, bytes, 8), 2);
        /* anon + shmem; not file (disk-image page cache), not anon_thp (part of anon) */
        assert_int_equal(bytes[0], 1048576 + 8192);
        assert_int_equal(bytes[1], 2097152);
        assert_int_equal(procstat_parse_memory_numa_stat("anon N8=1\n", bytes, 8), -EINVAL);
        /* what does not fit is an error, never wrapped into a small figure */
        assert_int_equal(procstat_parse_memory_numa_stat("anon N4294967297=1\n", bytes, 8), -EINVAL);
        assert_int_equal(procstat_parse_memory_numa_stat("anon N0=18446744073709551616\n", bytes, 8), -EINVAL);
        assert_int_equal(procstat_parse_memory_numa_stat("anon N0=18446744073709551615\nshmem N0=5\n", bytes, 8),
                         -EINVAL);
        assert_int_equal(procstat_parse_numa_maps("x default N0=1 kernelpagesize_kB=18446744073709551615\n", bytes, 8),
                         -EINVAL);
        /* a field that is not a node count is not one: "N0x=1", "N=1" */
        assert_int_equal(procstat_parse_memory_numa_stat("anon N0x=1 N=2 N1=3\n", bytes, 8), 2);
        assert_int_equal(bytes[1], 3);
}

/* Where a QEMU's memory is counted: its machine scope, above libvirt's own subgroups. */
static void test_machine_cgroup(void **state) {
        (void) state;
        static const struct {
                const char *text, *want; /* want NULL: -ENOENT */
        } cases[] = {
                { "0::/machine.slice/machine-qemu\\x2d1\\x2dvm.scope/libvirt/emulator\n",
                  "/machine.slice/machine-qemu\\x2d1\\x2dvm.scope" },
                { "0::/machine.slice/machine-qemu\\x2d2\\x2dvm.scope/libvirt\n",
                  "/machine.slice/machine-qemu\\x2d2\\x2dvm.scope" },
                { "0::/machine.slice/libvirt/machine-qemu\\x2d5\\x2dvm.scope/libvirt/vcpu0\n",
                  "/machine.slice/libvirt/machine-qemu\\x2d5\\x2dvm.scope" }, /* the last /libvirt/ */
                { "12:cpuset:/machine/qemu-3-vm.libvirt-qemu/emulator\n1:name=systemd:/machine.slice\n"
                  "0::/machine.slice/machine-qemu\\x2d3\\x2dvm.scope\n",
                  "/machine.slice/machine-qemu\\x2d3\\x2dvm.scope" },
                { "0::/\n", NULL }, /* the root: the whole host */
                { "0::/../../machine.slice/x.scope\n", NULL }, /* outside our cgroup namespace */
                { "4:memory:/machine/qemu-4-vm.libvirt-qemu\n", NULL }, /* v1 only */
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char *proc = fixture_new(), *path = NULL;
                fixture_write(proc, "4242/cgroup", cases[i].text);
                int r = procstat_machine_cgroup(proc, 4242, &path);
                print_message("%s-> %d %s\n", cases[i].text, r, path ? path : "");
                if (cases[i].want) {
                        assert_int_equal(r, 0);
                        assert_string_equal(path, cases[i].want);
                } else
                        assert_int_equal(r, -ENOENT);
                free(path);
                fixture_free(proc);
        }
}

/* Small pages from memory.numa_stat, hugepages from every hugetlb.<size>.numa_stat beside it. */
static void test_cgroup_numa(void **state) {
        (void) state;
        char *sys = fixture_new();
        const char *scope = "fs/cgroup/machine.slice/machine-qemu\\x2d1\\x2dvm.scope";
        char rel[256];
        snprintf(rel, sizeof(rel), "%s/memory.numa_stat", scope);
        fixture_write(sys, rel, numa_stat);
        snprintf(rel, sizeof(rel), "%s/hugetlb.2MB.numa_stat", scope);
        fixture_write(sys, rel, "total=8388608 N0=0 N1=8388608\n");
        snprintf(rel, sizeof(rel), "%s/hugetlb.1GB.numa_stat", scope);
        fixture_write(sys, rel, "total=1073741824 N0=1073741824 N1=0\n");
        snprintf(rel, sizeof(rel), "%s/hugetlb.2MB.current", scope); /* not a numa_stat: ignored */
        fixture_write(sys, rel, "8388608\n");
        uint64_t bytes[8];
        assert_int_equal(procstat_read_cgroup_numa(sys, "/machine.slice/machine-qemu\\x2d1\\x2dvm.scope", bytes, 8),
                         2);
        assert_int_equal(bytes[0], 1048576 + 8192 + 1073741824ULL);
        assert_int_equal(bytes[1], 2097152 + 8388608);
        /* No memory controller in that hierarchy (a v1 host's unified mount): no figures. */
        assert_int_equal(procstat_read_cgroup_numa(sys, "/elsewhere.scope", bytes, 8), -ENOENT);
        fixture_free(sys);
}

static void write_task(const char *root, int pid, int tid, const char *comm, const char *schedstat) {
        char rel[128];
        if (comm) {
                snprintf(rel, sizeof(rel), "%d/task/%d/comm", pid, tid);
                fixture_write(root, rel, comm);
        }
        if (schedstat) {
                snprintf(rel, sizeof(rel), "%d/task/%d/schedstat", pid, tid);
                fixture_write(root, rel, schedstat);
        }
}

static void test_vcpu_threads(void **state) {
        (void) state;
        char *proc = fixture_new();
        write_task(proc, 100, 100, "qemu-system-x86\n", "1 1 1\n");
        write_task(proc, 100, 104, "CPU 1/KVM\n", "2000 300 5\n");
        write_task(proc, 100, 103, "CPU 0/KVM\n", "1000 100 5\n");
        write_task(proc, 100, 105, "IO iothread1\n", "5 5 5\n");
        write_task(proc, 100, 106, "CPU 2/TCG\n", "7 7 7\n");
        write_task(proc, 100, 107, NULL, NULL); /* a thread that vanished between readdir and read */
        char rel[64];
        snprintf(rel, sizeof(rel), "100/task/107/.keep");
        fixture_write(proc, rel, "");
        pid_t tids[4];
        assert_int_equal(procstat_vcpu_threads(proc, 100, tids, 4), 3);
        assert_int_equal(tids[0], 103);
        assert_int_equal(tids[1], 104);
        assert_int_equal(tids[2], 106);
        assert_int_equal(tids[3], 0);
        ThreadStat s;
        assert_int_equal(procstat_read_thread(proc, 100, 104, &s), 0);
        assert_int_equal(s.delay_ns, 300);
        assert_int_equal(procstat_read_thread(proc, 100, 107, &s), -ENOENT);
        assert_int_equal(procstat_vcpu_threads(proc, 999, tids, 4), -ENOENT);
        fixture_free(proc);
}

static void test_counters(void **state) {
        (void) state;
        VcpuStats v = { 0 };
        /* The first reading counts whole: totals equal the thread's counters. */
        stats_advance(&v, 10, &(ThreadStat){ .run_ns = 5000, .delay_ns = 100 }, 0);
        assert_int_equal(v.run_ns, 5000);
        assert_int_equal(v.delay_ns, 100);
        assert_true(v.steal_pct == 0); /* no rate from one reading */
        /* One second later: 0.5 s run, 0.05 s waiting. */
        stats_advance(&v, 10, &(ThreadStat){ .run_ns = 500005000, .delay_ns = 50000100 }, 1000000000);
        assert_int_equal(v.delay_ns, 50000100);
        assert_true(v.steal_pct > 4.999 && v.steal_pct < 5.001);
        assert_true(v.run_pct > 49.99 && v.run_pct < 50.01);
        /* The domain restarted: a new thread with small counters adds on, never goes back. */
        stats_advance(&v, 11, &(ThreadStat){ .run_ns = 1000, .delay_ns = 10 }, 1000000000);
        assert_int_equal(v.delay_ns, 50000110);
        assert_int_equal(v.run_ns, 500006000);
        assert_true(v.steal_pct == 0);
        /* Same TID, counters lower (a reused TID): counted whole too. */
        stats_advance(&v, 11, &(ThreadStat){ .run_ns = 500, .delay_ns = 5 }, 1000000000);
        assert_int_equal(v.delay_ns, 50000115);
        stats_advance(&v, 11, &(ThreadStat){ .run_ns = 600, .delay_ns = 25 }, 1000000000);
        assert_int_equal(v.delay_ns, 50000135);
}

static char *render_sample(void) {
        ExpoVcpu vcpus[] = {
                { "win10", "gaming", 0, 1.5, 31536000.25, "4", 4, 0, 0 }, /* a year: %.9g would print 31536000.2 */
                { "vdi-\"q\"\\x", "vdi", 1, 0.000125, 12.0, "8-15", -1, -1, 1 },
        };
        ExpoMemory mem[] = { { "win10", 0, 8589934592ULL }, { "win10", 1, 4096 } };
        ExpoNode nodes[] = { { 0, 2, 8, 6, 0, 0 }, { 1, 2, 0, 8, 6, 1.75 } };
        ExpoHugepages hp[] = { { 0, 1048576, 8, 0, 8 } };
        ExpoAction act[] = { { "pin", "ok", 12 }, { "pin", "failed", 1 } };
        ExpoSnapshot s = { vcpus, 2, mem, 2, nodes, 2, hp, 1, act, 2, true, 3 };
        char *text = NULL;
        assert_int_equal(exposition_render(&s, &text), 0);
        return text;
}

static void test_exposition_golden(void **state) {
        (void) state;
        char *text = render_sample(), *golden = NULL;
        /* KVMTUNED_UPDATE_GOLDEN=1 rewrites the golden file after a deliberate format change. */
        if (getenv("KVMTUNED_UPDATE_GOLDEN")) {
                fixture_write(KVMTUNED_FIXTURES, "metrics.golden", text);
                print_message("rewrote tests/fixtures/metrics.golden\n");
        }
        assert_int_equal(kfile_read(KVMTUNED_FIXTURES, "metrics.golden", &golden), 0);
        if (strcmp(text, golden) != 0) {
                print_error("exposition differs from tests/fixtures/metrics.golden:\n%s", text);
                fail();
        }
        free(golden);

        /* Prometheus's own checker accepts it. */
        char *dir = fixture_new();
        fixture_write(dir, "metrics.txt", text);
        char *out = oracle_run("command -v promtool >/dev/null || { echo missing; exit 0; }; "
                               "promtool check metrics < '%s/metrics.txt' 2>&1 && echo accepted",
                               dir);
        assert_non_null(out);
        print_message("promtool: %s", out);
        if (strstr(out, "missing"))
                print_message("SKIP: promtool not installed (apt-get install prometheus)\n");
        else
                assert_non_null(strstr(out, "accepted"));
        free(out);
        fixture_free(dir);
        free(text);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_schedstat),         cmocka_unit_test(test_numa_maps),
                cmocka_unit_test(test_memory_numa_stat),  cmocka_unit_test(test_machine_cgroup),
                cmocka_unit_test(test_cgroup_numa),
                cmocka_unit_test(test_vcpu_threads),      cmocka_unit_test(test_counters),
                cmocka_unit_test(test_exposition_golden),
        };
        return cmocka_run_group_tests_name("stats", tests, NULL, NULL);
}

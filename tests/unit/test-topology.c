/* The host model against hwloc's own tools on the real-machine corpus, against the shape a
 * synthetic description promises, and against the live host's sysfs. */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"
#include "oracle.h"
#include "topology.h"

static void assert_set_equal(hwloc_const_bitmap_t want, hwloc_const_bitmap_t got, const char *what) {
        if (hwloc_bitmap_isequal(want, got))
                return;
        char *w = NULL, *g = NULL;
        hwloc_bitmap_list_asprintf(&w, want);
        hwloc_bitmap_list_asprintf(&g, got);
        print_error("%s: want CPUs %s, model has %s\n", what, w, g);
        free(w);
        free(g);
        fail();
}

/* Properties every model must have, whatever machine it describes. */
static void check_invariants(const Topology *t) {
        hwloc_bitmap_t seen = hwloc_bitmap_alloc();
        unsigned threads = 0;
        for (unsigned c = 0; c < t->n_cores; c++) {
                const TopoCore *core = &t->cores[c];
                assert_int_equal(hwloc_bitmap_weight(core->cpuset), core->n_cpus);
                assert_false(hwloc_bitmap_intersects(seen, core->cpuset)); /* a CPU in two cores */
                hwloc_bitmap_or(seen, seen, core->cpuset);
                assert_true(core->n_cpus >= t->smt_min && core->n_cpus <= t->smt_max);
                threads += core->n_cpus;
        }
        assert_int_equal(threads, t->n_cpus);
        assert_true(hwloc_bitmap_isequal(seen, t->cpuset));
        assert_false(hwloc_bitmap_intersects(t->cpuset, t->unavailable));
        hwloc_bitmap_free(seen);

        for (unsigned i = 0; i < t->n_cpus; i++) {
                const TopoCpu *cpu = &t->cpus[i];
                if (i > 0)
                        assert_true(cpu->os > t->cpus[i - 1].os);
                assert_ptr_equal(topology_cpu(t, cpu->os), cpu);
                assert_true(hwloc_bitmap_isset(t->cores[cpu->core].cpuset, cpu->os));
                assert_true(hwloc_bitmap_isset(t->packages[cpu->package].cpuset, cpu->os));
                if (cpu->l3 >= 0)
                        assert_true(hwloc_bitmap_isset(t->l3s[cpu->l3].cpuset, cpu->os));
                if (cpu->node >= 0) {
                        assert_true(hwloc_bitmap_isset(t->nodes[cpu->node].cpuset, cpu->os));
                        if (cpu->l3 >= 0)
                                assert_true(hwloc_bitmap_isset(t->l3s[cpu->l3].nodes, (unsigned) cpu->node));
                }
                if (cpu->kind >= 0)
                        assert_true(hwloc_bitmap_isset(t->kinds[cpu->kind].cpuset, cpu->os));
        }
        assert_null(topology_cpu(t, t->max_os_cpu + 1));

        for (unsigned n = 0; n < t->n_nodes; n++) {
                if (n > 0)
                        assert_true(t->nodes[n].os > t->nodes[n - 1].os);
                assert_int_equal(topology_node_index(t, t->nodes[n].os), (int) n);
                if (!t->nodes[n].distances)
                        continue;
                for (unsigned m = 0; m < t->n_nodes; m++)
                        assert_true(t->nodes[n].distances[n] <= t->nodes[n].distances[m]);
        }
        /* An address may repeat in hand-assembled fixtures (hwloc's own test XML does): the lookup
         * must find a device with that address, the first one. */
        for (unsigned d = 0; d < t->n_devices; d++) {
                int found = topology_device_index(t, t->devices[d].address);
                assert_true(found >= 0 && found <= (int) d);
                assert_string_equal(t->devices[found].address, t->devices[d].address);
        }
}

static hwloc_bitmap_t calc(const char *xml, const char *args) {
        char *out = oracle_run("hwloc-calc --if xml -i '%s' %s 2>/dev/null", xml, args);
        assert_non_null(out);
        hwloc_bitmap_t set = oracle_parse_list(out);
        free(out);
        return set;
}

static void test_corpus_file(void **state) {
        const char *path = *state;
        OracleCounts want;
        assert_int_equal(oracle_counts(path, &want), 0);
        assert_true(want.pus > 0);

        Topology *t = NULL;
        assert_int_equal(topology_load(&(TopologySource){ .xml_path = path }, &t), 0);

        assert_int_equal(t->n_cpus, want.pus);
        assert_int_equal(t->n_cores, want.cores ? want.cores : want.pus);
        assert_int_equal(t->n_packages, want.packages ? want.packages : 1);
        assert_int_equal(t->n_nodes, want.numa_nodes);
        assert_int_equal(t->n_l3s, want.l3);
        assert_int_equal(t->n_devices, want.pci_devices);
        if (t->smt_min == t->smt_max)
                assert_int_equal((unsigned) want.pus, t->smt_max * t->n_cores);
        else
                assert_true((unsigned) want.pus > t->smt_min * t->n_cores &&
                            (unsigned) want.pus < t->smt_max * t->n_cores);
        check_invariants(t);

        /* Sibling sets of a few cores, spread over the machine. */
        unsigned cores[] = { 0, t->n_cores / 3, t->n_cores / 2, t->n_cores - 1 };
        for (size_t i = 0; i < sizeof(cores) / sizeof(cores[0]); i++) {
                char args[64];
                snprintf(args, sizeof(args), "--po -I pu core:%u", cores[i]);
                hwloc_bitmap_t set = calc(path, args);
                assert_set_equal(set, t->cores[cores[i]].cpuset, "core siblings");
                hwloc_bitmap_free(set);
        }

        /* Home node and L3 of a few CPUs by kernel number. */
        unsigned cpus[] = { 0, t->n_cpus / 2, t->n_cpus - 1 };
        for (size_t i = 0; i < sizeof(cpus) / sizeof(cpus[0]); i++) {
                const TopoCpu *cpu = &t->cpus[cpus[i]];
                char args[64];
                snprintf(args, sizeof(args), "--pi --po -I numa pu:%u", cpu->os);
                hwloc_bitmap_t nodes = calc(path, args);
                int n = hwloc_bitmap_weight(nodes);
                if (n == 0)
                        assert_int_equal(cpu->node, -1);
                else
                        /* Several local nodes (memory-side caches, HBM): the model picks one of them. */
                        assert_true(cpu->node >= 0 && hwloc_bitmap_isset(nodes, t->nodes[cpu->node].os));
                if (n == 1)
                        assert_int_equal(t->nodes[cpu->node].os, hwloc_bitmap_first(nodes));
                hwloc_bitmap_free(nodes);

                snprintf(args, sizeof(args), "--pi -I l3 pu:%u", cpu->os);
                hwloc_bitmap_t l3 = calc(path, args);
                assert_int_equal(cpu->l3, hwloc_bitmap_iszero(l3) ? -1 : hwloc_bitmap_first(l3));
                hwloc_bitmap_free(l3);
        }

        for (unsigned k = 0; k < t->n_kinds; k++) {
                char *out = oracle_run("hwloc-calc --if xml -i '%s' --cpukind %u --po -I pu all 2>/dev/null", path, k);
                assert_non_null(out);
                hwloc_bitmap_t set = oracle_parse_list(out);
                assert_set_equal(set, t->kinds[k].cpuset, "CPU kind");
                hwloc_bitmap_free(set);
                free(out);
        }

        for (unsigned d = 0; d < t->n_devices && d < 6; d++) {
                char args[96];
                snprintf(args, sizeof(args), "--po -I pu pci=%s", t->devices[d].address);
                hwloc_bitmap_t set = calc(path, args);
                assert_set_equal(set, t->devices[d].local_cpus, t->devices[d].address);
                hwloc_bitmap_free(set);
        }

        topology_free(t);
}

typedef struct SyntheticShape {
        unsigned packages, nodes, l3, cores, pus, smt;
} SyntheticShape;

/* Derives the counts from the description itself: each level multiplies the one above. */
static SyntheticShape shape_of(const char *desc) {
        SyntheticShape s = { .packages = 1, .nodes = 1 };
        unsigned product = 1;
        const char *p = desc;
        while (*p) {
                char type[16];
                unsigned arity;
                int used;
                if (sscanf(p, " %15[a-z0-9]:%u%n", type, &arity, &used) != 2)
                        break;
                p += used;
                if (*p == '(')
                        p = strchr(p, ')') + 1;
                product *= arity;
                if (strcmp(type, "pack") == 0)
                        s.packages = product;
                else if (strcmp(type, "numa") == 0)
                        s.nodes = product;
                else if (strcmp(type, "l3") == 0)
                        s.l3 = product;
                else if (strcmp(type, "core") == 0)
                        s.cores = product;
                else if (strcmp(type, "pu") == 0) {
                        s.pus = product;
                        s.smt = arity;
                }
        }
        return s;
}

static void test_synthetic(void **state) {
        (void) state;
        static const char *descs[] = {
                "pack:1 l3:1 core:4 pu:2",
                "pack:1 l3:2(size=32MB) core:8 pu:2",
                "pack:1 numa:1(memory=64GB) l3:1(size=36MB) core:24 pu:1",
                "pack:2 numa:1 l3:1 core:20 pu:2",
                "pack:2 numa:2 l3:2 core:8 pu:2",
                "pack:2 numa:2 l3:1 core:16 pu:1",
                "pack:2 l3:1 numa:4 core:14 pu:2",
                "pack:2 numa:4(memory=64GB) l3:2(size=32MB) core:8 pu:2",
                "pack:2 numa:1 l3:12(size=32MB) core:8 pu:2",
                "pack:8 numa:4 l3:4 core:8 pu:2",
                "pack:16 numa:8 l3:4 core:8 pu:2",
                "pack:2 core:2 pu:4",
        };
        for (size_t i = 0; i < sizeof(descs) / sizeof(descs[0]); i++) {
                SyntheticShape want = shape_of(descs[i]);
                Topology *t = NULL;
                assert_int_equal(topology_load(&(TopologySource){ .synthetic = descs[i] }, &t), 0);
                print_message("%-60s %u CPUs\n", descs[i], t->n_cpus);
                assert_int_equal(t->n_packages, want.packages);
                assert_int_equal(t->n_nodes, want.nodes);
                assert_int_equal(t->n_l3s, want.l3);
                assert_int_equal(t->n_cores, want.cores);
                assert_int_equal(t->n_cpus, want.pus);
                assert_int_equal(t->smt_min, want.smt);
                assert_int_equal(t->smt_max, want.smt);
                /* Synthetic nodes are spread evenly: each holds its share of the CPUs. */
                for (unsigned n = 0; n < t->n_nodes; n++)
                        assert_int_equal(hwloc_bitmap_weight(t->nodes[n].cpuset), want.pus / want.nodes);
                check_invariants(t);
                topology_free(t);
        }
}

static void test_errors(void **state) {
        (void) state;
        Topology *t = NULL;
        assert_int_equal(topology_load(&(TopologySource){ .xml_path = "/nonexistent/topo.xml" }, &t), -ENOENT);
        assert_int_equal(topology_load(&(TopologySource){ .synthetic = "pack:2 bogus" }, &t), -EINVAL);

        char path[] = "/tmp/kvmtuned-test-XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "<topology><object", 17), 17);
        close(fd);
        assert_int_equal(topology_load(&(TopologySource){ .xml_path = path }, &t), -EINVAL);
        unlink(path);
        assert_null(t);
}

/* The live host against what the kernel says in /sys, read here without kvmtuned's code. */
static void test_live_host(void **state) {
        (void) state;
        Topology *t = NULL;
        assert_int_equal(topology_load(&(TopologySource){ .sysfs = "/sys" }, &t), 0);

        /* The host's CPUs: online, and in the root cpuset (a container's own), whatever this
         * process's own cgroup (tests/system/test-isolation.sh runs it from a confined one). */
        char *online = oracle_run("tr -d '\\n' < /sys/devices/system/cpu/online");
        char *root = oracle_run("cat /sys/fs/cgroup/cpuset.cpus.effective 2>/dev/null ||"
                                " cat /sys/fs/cgroup/cpuset/cpuset.effective_cpus 2>/dev/null || echo 0-8191");
        hwloc_bitmap_t on = hwloc_bitmap_alloc(), in_root = hwloc_bitmap_alloc();
        assert_int_equal(hwloc_bitmap_list_sscanf(on, online), 0);
        assert_int_equal(hwloc_bitmap_list_sscanf(in_root, root), 0);
        if (!hwloc_bitmap_iszero(in_root))
                hwloc_bitmap_and(on, on, in_root);
        print_message("live host: %u CPUs, %u NUMA nodes (online and in the root cpuset: %d)\n", t->n_cpus, t->n_nodes,
                      hwloc_bitmap_weight(on));
        assert_int_equal((int) t->n_cpus, hwloc_bitmap_weight(on));
        for (int cpu = hwloc_bitmap_first(on); cpu >= 0; cpu = hwloc_bitmap_next(on, cpu))
                assert_non_null(topology_cpu(t, (unsigned) cpu));

        free(root);
        hwloc_bitmap_free(in_root);

        /* A container's root cpuset narrows the host (memory figures then come from the same tree,
         * which has none: null, not a guess). */
        char *tree = fixture_new();
        fixture_write(tree, "fs/cgroup/cpuset.cpus.effective", "0\n");
        Topology *narrow = NULL;
        assert_int_equal(topology_load(&(TopologySource){ .sysfs = tree }, &narrow), 0);
        assert_int_equal(narrow->n_cpus, 1);
        assert_non_null(topology_cpu(narrow, 0));
        topology_free(narrow);
        fixture_free(tree);

        char *nodes = oracle_run("tr -d '\\n' < /sys/devices/system/node/online");
        hwloc_bitmap_t nset = hwloc_bitmap_alloc();
        assert_int_equal(hwloc_bitmap_list_sscanf(nset, nodes), 0);
        assert_int_equal(t->n_nodes, hwloc_bitmap_weight(nset));

        for (unsigned n = 0; n < t->n_nodes; n++) {
                char *mi = oracle_run("awk '/MemFree/ {print $4}' /sys/devices/system/node/node%u/meminfo",
                                      t->nodes[n].os);
                long long free_kib = atoll(mi);
                /* Free memory moves while we look: a loose bound still catches unit mistakes. */
                assert_true(t->nodes[n].free_bytes > 0);
                assert_true(llabs(t->nodes[n].free_bytes / 1024 - free_kib) < free_kib / 4 + 65536);
                free(mi);
        }
        check_invariants(t);
        free(online);
        free(nodes);
        hwloc_bitmap_free(on);
        hwloc_bitmap_free(nset);
        topology_free(t);
}

/* A real machine that is not in the corpus: this host, exported by lstopo, checked the same way. */
static void test_live_xml_export(void **state) {
        (void) state;
        oracle_test_host_export(test_corpus_file);
}

int main(void) {
        const struct CMUnitTest fixed[] = {
                cmocka_unit_test(test_synthetic),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_live_host),
                cmocka_unit_test(test_live_xml_export),
        };
        int failed = cmocka_run_group_tests_name("topology", fixed, NULL, NULL);

        failed += oracle_run_corpus("topology corpus", test_corpus_file);
        return failed;
}

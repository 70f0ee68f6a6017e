/* Kernel-file reading and per-node memory figures against fixture sysfs trees. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"
#include "kfile.h"
#include "nodemem.h"
#include "topology.h"

static void test_parse_u64(void **state) {
        (void) state;
        uint64_t v = 0;
        assert_int_equal(kfile_parse_u64("42\n", &v), 0);
        assert_int_equal(v, 42);
        assert_int_equal(kfile_parse_u64("  7 ", &v), 0);
        assert_int_equal(v, 7);
        assert_int_equal(kfile_parse_u64("", &v), -EINVAL);
        assert_int_equal(kfile_parse_u64("-1", &v), -EINVAL);
        assert_int_equal(kfile_parse_u64("12abc", &v), -EINVAL);
        assert_int_equal(kfile_parse_u64("99999999999999999999999", &v), -ERANGE);
}

static void test_read(void **state) {
        (void) state;
        char *root = fixture_new();
        fixture_write(root, "a/b", "123\n");
        fixture_write(root, "a/bad", "x\n");

        char *s = NULL;
        assert_int_equal(kfile_read(root, "/a/b", &s), 0); /* leading slash: still below root */
        assert_string_equal(s, "123\n");
        free(s);

        uint64_t v;
        assert_int_equal(kfile_read_u64(root, "a/b", &v), 0);
        assert_int_equal(v, 123);
        assert_int_equal(kfile_read_u64(root, "a/bad", &v), -EINVAL);
        assert_int_equal(kfile_read_u64(root, "a/missing", &v), -ENOENT);

        /* Longer than the first read buffer: read until EOF, not one page. */
        char *big = malloc(20000);
        memset(big, 'x', 19999);
        big[19999] = '\0';
        fixture_write(root, "big", big);
        assert_int_equal(kfile_read(root, "big", &s), 0);
        assert_int_equal(strlen(s), 19999);
        free(s);
        free(big);
        fixture_free(root);
}

static void write_node(const char *root, unsigned node, const char *meminfo) {
        char rel[128];
        snprintf(rel, sizeof(rel), "devices/system/node/node%u/meminfo", node);
        fixture_write(root, rel, meminfo);
}

static void test_nodemem(void **state) {
        (void) state;
        char *root = fixture_new();
        write_node(root, 0,
                   "Node 0 MemTotal:       16384000 kB\n"
                   "Node 0 MemFree:         8192000 kB\n"
                   "Node 0 MemUsed:         8192000 kB\n"
                   "Node 0 Active(file):    1000000 kB\n"
                   "Node 0 Inactive(file):  3000000 kB\n"
                   "Node 0 Shmem:            500000 kB\n"
                   "Node 0 SReclaimable:     200000 kB\n"
                   "Node 0 HugePages_Total:     0\n");
        fixture_write(root, "devices/system/node/node0/hugepages/hugepages-1048576kB/nr_hugepages", "4\n");
        fixture_write(root, "devices/system/node/node0/hugepages/hugepages-1048576kB/free_hugepages", "3\n");
        fixture_write(root, "devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages", "512\n");
        fixture_write(root, "devices/system/node/node0/hugepages/hugepages-2048kB/free_hugepages", "100\n");

        NodeMemory m;
        assert_int_equal(nodemem_read(root, 0, &m), 0);
        assert_int_equal(m.total_bytes, 16384000ULL * 1024);
        assert_int_equal(m.free_bytes, 8192000ULL * 1024);
        /* Half of the file LRUs and the reclaimable slab; shared memory is not reclaimable. */
        assert_int_equal(m.available_bytes, (8192000ULL + 2100000) * 1024);
        assert_int_equal(m.n_hugepages, 2);
        assert_int_equal(m.hugepages[0].page_kib, 2048); /* sorted by size whatever readdir says */
        assert_int_equal(m.hugepages[0].total, 512);
        assert_int_equal(m.hugepages[0].free, 100);
        assert_int_equal(m.hugepages[1].page_kib, 1048576);
        assert_int_equal(m.hugepages[1].total, 4);
        assert_int_equal(m.hugepages[1].free, 3);

        assert_int_equal(nodemem_read(root, 1, &m), -ENOENT);

        /* A node without hugetlb support has no pools, which is not an error. */
        write_node(root, 2, "Node 2 MemTotal: 1024 kB\nNode 2 MemFree: 512 kB\n");
        assert_int_equal(nodemem_read(root, 2, &m), 0);
        assert_int_equal(m.n_hugepages, 0);
        assert_int_equal(m.free_bytes, 512 * 1024);
        assert_int_equal(m.available_bytes, 512 * 1024);

        write_node(root, 3, "garbage\n");
        assert_int_equal(nodemem_read(root, 3, &m), -EINVAL);

        write_node(root, 4, "Node 4 MemTotal: 1024 kB\nNode 4 MemFree: 512 kB\n");
        fixture_write(root, "devices/system/node/node4/hugepages/hugepages-2048kB/nr_hugepages", "many\n");
        fixture_write(root, "devices/system/node/node4/hugepages/hugepages-2048kB/free_hugepages", "1\n");
        assert_int_equal(nodemem_read(root, 4, &m), -EINVAL);
        fixture_free(root);
}

/* The live host's hwloc view with memory figures from a fixture sysfs: the prefix is honoured. */
static void test_topology_sysfs_prefix(void **state) {
        (void) state;
        Topology *host = NULL;
        assert_int_equal(topology_load(&(TopologySource){ .sysfs = "/sys" }, &host), 0);

        char *root = fixture_new();
        for (unsigned n = 0; n < host->n_nodes; n++) {
                char text[256], rel[128];
                snprintf(text, sizeof(text), "Node %u MemTotal: 2048000 kB\nNode %u MemFree: %u kB\n",
                         host->nodes[n].os, host->nodes[n].os, 1000 + n);
                write_node(root, host->nodes[n].os, text);
                snprintf(rel, sizeof(rel), "devices/system/node/node%u/hugepages/hugepages-2048kB/nr_hugepages",
                         host->nodes[n].os);
                fixture_write(root, rel, "77\n");
                snprintf(rel, sizeof(rel), "devices/system/node/node%u/hugepages/hugepages-2048kB/free_hugepages",
                         host->nodes[n].os);
                fixture_write(root, rel, "7\n");
        }

        Topology *t = NULL;
        assert_int_equal(topology_load(&(TopologySource){ .sysfs = root }, &t), 0);
        for (unsigned n = 0; n < t->n_nodes; n++) {
                assert_int_equal(t->nodes[n].free_bytes, (1000 + n) * 1024);
                assert_int_equal(t->nodes[n].n_hugepages, 1);
                assert_int_equal(t->nodes[n].hugepages[0].page_kib, 2048);
                assert_int_equal(t->nodes[n].hugepages[0].total, 77);
                assert_int_equal(t->nodes[n].hugepages[0].free, 7);
        }
        topology_free(t);
        topology_free(host);
        fixture_free(root);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_u64),
                cmocka_unit_test(test_read),
                cmocka_unit_test(test_nodemem),
                cmocka_unit_test(test_topology_sysfs_prefix),
        };
        return cmocka_run_group_tests_name("kfile", tests, NULL, NULL);
}

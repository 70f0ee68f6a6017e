/* The planner: targeted scenarios on synthetic hosts, and placement properties on every real
 * machine of the corpus under a mixed workload. */
#include <errno.h>
#include <math.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "cpulist.h"
#include "domain.h"
#include "fixture.h"
#include "oracle.h"
#include "persist.h"
#include "planner.h"
#include "render.h"
#include "topology.h"
#include "world.h"

/* ---- Scenarios ------------------------------------------------------------------------- */

static void test_dedicated_fills_one_l3_with_siblings(void **state) {
        (void) state;
        World *w = world_synthetic("pack:1 l3:2 core:8 pu:2", "[Host]\nHousekeepingCPUs=0-1\n");
        /* Synthetic nodes have 1 GB: small guests keep memory out of the way here. */
        const Placement *pl = place(w, "vm1", "ded", 8, 128, NULL);
        assert_true(pl->admitted);
        hwloc_bitmap_t all = vcpu_union(pl);
        assert_int_equal(count_l3(w->t, all, false), 1);
        /* prefer: 8 vCPUs fill 4 whole cores, sibling pairs on consecutive vCPUs. */
        for (unsigned v = 0; v < 8; v += 2) {
                const TopoCpu *a = topology_cpu(w->t, (unsigned) placement_vcpu_cpu(pl, v));
                const TopoCpu *b = topology_cpu(w->t, (unsigned) placement_vcpu_cpu(pl, v + 1));
                assert_int_equal(a->core, b->core);
        }
        /* The emulator goes to the housekeeping CPUs of its node. */
        char *emu = cpulist_format(pl->emulator);
        assert_string_equal(emu, "0-1");
        free(emu);
        /* A second 8-vCPU VM does not fit the rest of L3 #0 (6 CPUs) and goes whole into L3 #1. */
        const Placement *pl2 = place(w, "vm2", "ded", 8, 128, NULL);
        hwloc_bitmap_t all2 = vcpu_union(pl2);
        assert_int_equal(count_l3(w->t, all2, false), 1);
        assert_int_not_equal(topology_cpu(w->t, (unsigned) hwloc_bitmap_first(all))->l3,
                             topology_cpu(w->t, (unsigned) hwloc_bitmap_first(all2))->l3);
        check_invariants(w);
        hwloc_bitmap_free(all);
        hwloc_bitmap_free(all2);
        world_free(w);
}

static void test_isolate_and_require(void **state) {
        (void) state;
        World *w = world_synthetic("pack:1 l3:1 core:8 pu:2", "[Host]\nHousekeepingCPUs=0-1\n");
        const Placement *iso = place(w, "iso", "iso", 3, 512, NULL);
        assert_true(iso->admitted);
        assert_int_equal(hwloc_bitmap_weight(iso->held), 6); /* 3 cores, siblings left empty */
        /* 7 cores are free of housekeeping; iso took 3; require wants pairs: 8 vCPUs need 4 cores. */
        const Placement *req = place(w, "req", "req", 8, 512, NULL);
        assert_true(req->admitted);
        const Placement *more = place(w, "more", "ded", 1, 512, NULL);
        assert_false(more->admitted);
        assert_string_equal(more->reason, "host: needs 1 dedicated CPUs, 0 free");
        check_invariants(w);
        world_free(w);

        /* require on a host without SMT: refused by the config check, and by the planner if asked. */
        Topology *t = NULL;
        assert_int_equal(topology_load(&(TopologySource){ .synthetic = "pack:1 core:8 pu:1" }, &t), 0);
        w = world_new(t, NULL, "[Class req]\nCPUPolicy=dedicated\n");
        ((PolicyClass *) config_find_class(w->c, "req"))->thread_policy = THREAD_POLICY_REQUIRE;
        const Placement *pl = place(w, "r", "req", 2, 512, NULL);
        assert_false(pl->admitted);
        assert_string_equal(pl->reason, "ThreadPolicy=require: this host has no SMT");
        world_free(w);
}

static void test_overcommit_refusal(void **state) {
        (void) state;
        /* 2 nodes of 8 CPUs, 2 housekeeping each: 6 shared CPUs per node, 24 vCPUs at ratio 4. */
        World *w = world_synthetic("pack:2 numa:1 l3:1 core:4 pu:2", NULL);
        unsigned admitted = 0;
        const Placement *pl = NULL;
        for (unsigned i = 0; i < 30; i++) {
                char name[32];
                snprintf(name, sizeof(name), "vdi-%02u", i);
                pl = place(w, name, "vdi", 2, 16, NULL);
                if (!pl->admitted)
                        break;
                admitted++;
                check_invariants(w);
        }
        assert_int_equal(admitted, 24); /* 48 vCPUs = 2 nodes x 6 CPUs x 4 */
        print_message("refusal: %s\n", pl->reason);
        assert_string_equal(pl->reason, "node 0 shared ratio would be 4.33 > 4.0 (26 vCPUs / 6 CPUs)");

        /* A dedicated VM may not take shared CPUs the shared VMs need: node 0 is full at 4.0. */
        const Placement *ded = place(w, "ded", "ded", 1, 16, NULL);
        assert_false(ded->admitted);
        check_invariants(w);

        /* Releasing one 2-vCPU VM makes room for exactly one more. */
        assert_int_equal(planner_release(w->p, "vdi-00"), 0);
        assert_int_equal(planner_release(w->p, "vdi-00"), -ENOENT);
        assert_true(place(w, "vdi-new", "vdi", 2, 16, NULL)->admitted);
        assert_false(place(w, "vdi-new2", "vdi", 2, 16, NULL)->admitted);
        check_invariants(w);
        world_free(w);
}

static void test_dedicated_shrinks_shared(void **state) {
        (void) state;
        World *w = world_synthetic("pack:1 numa:1 l3:1 core:8 pu:1", "[Host]\nHousekeepingCPUs=0\n");
        const Placement *s = place(w, "loose", "loose", 2, 256, NULL);
        char *before = placement_vcpu_cpulist(s, 0);
        assert_string_equal(before, "1-7");
        const Placement *d = place(w, "ded", "ded", 3, 256, NULL);
        assert_true(d->admitted);
        assert_int_equal(planner_refresh_shared(w->p), 0);
        s = planner_find(w->p, "loose");
        char *after = placement_vcpu_cpulist(s, 0);
        hwloc_bitmap_t ded = vcpu_union(d);
        hwloc_bitmap_t floating = hwloc_bitmap_alloc();
        placement_vcpu_cpus(s, 0, floating);
        assert_false(hwloc_bitmap_intersects(floating, ded));
        assert_int_equal(hwloc_bitmap_weight(floating), 4);
        hwloc_bitmap_free(floating);
        print_message("shared before %s, after a 3-vCPU dedicated VM %s\n", before, after);
        check_invariants(w);
        free(before);
        free(after);
        hwloc_bitmap_free(ded);
        world_free(w);
}

static void test_numa_spill_by_distance(void **state) {
        (void) state;
        const char *dir = oracle_corpus_dir();
        if (!dir) {
                skip();
                return;
        }
        char path[512];
        snprintf(path, sizeof(path), "%s/amd-4s-opteron6276-8numa-distances.xml", dir);
        Topology *t = NULL;
        assert_int_equal(topology_load(&(TopologySource){ .xml_path = path }, &t), 0);
        World *w = world_new(t, NULL, NULL);
        /* 8 nodes of 8 cores, 1 housekeeping each: 7 per node. 12 vCPUs need two nodes; the pair
         * must be the closest (distance 16, the other die of the package), not 22 away. */
        const Placement *pl = place(w, "big", "numa", 12, 1024, NULL);
        assert_true(pl->admitted);
        hwloc_bitmap_t all = vcpu_union(pl);
        assert_int_equal(count_l3(t, all, true), 2);
        int a = topology_cpu(t, (unsigned) hwloc_bitmap_first(all))->node;
        int b = topology_cpu(t, (unsigned) hwloc_bitmap_last(all))->node;
        uint64_t d = t->nodes[a].distances[b], best = UINT64_MAX;
        for (unsigned m = 0; m < t->n_nodes; m++)
                if ((int) m != a && t->nodes[a].distances[m] < best)
                        best = t->nodes[a].distances[m];
        print_message("spans nodes %u and %u at distance %llu (closest from %u: %llu)\n", t->nodes[a].os,
                      t->nodes[b].os, (unsigned long long) d, t->nodes[a].os, (unsigned long long) best);
        assert_int_equal(d, best);
        char *nodes = cpulist_format(pl->memory_nodes);
        print_message("memory strict on nodes %s\n", nodes);
        assert_int_equal(hwloc_bitmap_weight(pl->memory_nodes), 2);
        free(nodes);
        hwloc_bitmap_free(all);
        check_invariants(w);
        world_free(w);
}

static void test_emulator_isolate_and_iothreads(void **state) {
        (void) state;
        World *w = world_synthetic("pack:1 l3:2 core:4 pu:2", "[Host]\nHousekeepingCPUs=0-1\n");
        const Placement *pl = place(w, "e", "emu", 4, 512, "<iothreads>2</iothreads>");
        assert_true(pl->admitted);
        assert_int_equal(hwloc_bitmap_weight(pl->emulator), 1);
        hwloc_bitmap_t all = vcpu_union(pl);
        assert_false(hwloc_bitmap_intersects(pl->emulator, all));
        /* The extra CPU is in the VM's own L3 and held by it. */
        hwloc_bitmap_t both = hwloc_bitmap_dup(all);
        hwloc_bitmap_or(both, both, pl->emulator);
        assert_int_equal(count_l3(w->t, both, false), 1);
        assert_true(hwloc_bitmap_isincluded(pl->emulator, pl->held));
        /* IOThreads=share: they float over the VM's vCPU CPUs. */
        assert_int_equal(pl->n_iothreads, 2);
        assert_true(hwloc_bitmap_isequal(pl->iothreads[1].cpus, all));
        check_invariants(w);
        hwloc_bitmap_free(all);
        hwloc_bitmap_free(both);
        world_free(w);
}

static void test_memory_and_hugepages(void **state) {
        (void) state;
        /* Page sizes as the kernel names them, arm64's 64K included (it printed "0M"). */
        char ps[16];
        planner_format_page_size(64, ps, sizeof(ps));
        assert_string_equal(ps, "64K");
        planner_format_page_size(2048, ps, sizeof(ps));
        assert_string_equal(ps, "2M");
        planner_format_page_size(1024 * 1024, ps, sizeof(ps));
        assert_string_equal(ps, "1G");
        /* 2 nodes of 4 GiB. */
        World *w = world_synthetic("pack:2 numa:1(memory=4GiB) l3:1 core:4 pu:1", NULL);
        const Placement *a = place(w, "a", "ded", 2, 3 * 1024, NULL);
        assert_true(a->admitted);
        const Placement *b = place(w, "b", "ded", 2, 3 * 1024, NULL);
        assert_true(b->admitted);
        assert_false(hwloc_bitmap_isequal(a->memory_nodes, b->memory_nodes)); /* 3 + 3 GiB do not share 4 GiB */
        const Placement *c = place(w, "c", "ded", 1, 3 * 1024, NULL);
        assert_false(c->admitted);
        print_message("refusal: %s\n", c->reason);
        assert_string_equal(c->reason, "node 0: needs 3 GiB of memory, 1 GiB free");

        /* Hugepages come out of free memory on demand: a 2M-page guest books pages per node. */
        assert_int_equal(planner_release(w->p, "a"), 0);
        const Placement *h = place(w, "h", "huge", 2, 2048, "<memoryBacking><hugepages/></memoryBacking>");
        assert_true(h->admitted);
        assert_int_equal(h->n_hugepages, 1);
        assert_int_equal(h->hugepages[0].page_kib, 2048);
        assert_int_equal(h->hugepages[0].count, 1024);
        check_invariants(w);
        world_free(w);

        /* Hugepages=off: only the existing pool counts, and a synthetic host has none listed. */
        w = world_synthetic("pack:1 numa:1(memory=4GiB) l3:1 core:4 pu:1", "[Host]\nHugepages=off\n");
        h = place(w, "h", "huge", 1, 1024, "<memoryBacking><hugepages/></memoryBacking>");
        assert_false(h->admitted);
        assert_string_equal(h->reason, "node 0: needs 1 GiB of 2M hugepages, 0 KiB free");
        world_free(w);
}

/* The allocations file read back: what persist_placement wrote parses to the same plan; a field
 * of the wrong type or sign is -EINVAL, never a crash or a wrapped number. */
static void test_persist_round_trip_and_bad_fields(void **state) {
        (void) state;
        World *w = world_synthetic("pack:2 numa:1(memory=4GiB) l3:1 core:4 pu:1", NULL);
        const Placement *h = place(w, "h", "huge", 2, 2048, "<memoryBacking><hugepages/></memoryBacking>");
        assert_true(h->admitted);
        json_object *o = persist_placement(h, "uuid-h", w->t);
        assert_non_null(o);
        Placement *spec = NULL;
        char *cls = NULL, *uuid = NULL;
        assert_int_equal(persist_parse(o, w->t, &spec, &cls, &uuid), 0);
        assert_string_equal(cls, "huge");
        assert_string_equal(uuid, "uuid-h");
        assert_int_equal(spec->n_vcpus, 2);
        assert_true(hwloc_bitmap_isequal(spec->held, h->held));
        assert_int_equal(spec->n_hugepages, 1);
        assert_int_equal(spec->hugepages[0].count, h->hugepages[0].count);
        /* Read back, each vCPU has a set; as planned, a dedicated one has its CPU's number: the two
         * pin the same way, and a vCPU moved to another CPU does not. */
        assert_null(h->vcpus[0].cpus);
        assert_non_null(spec->vcpus[0].cpus);
        assert_true(placement_pins_equal(spec, h) && placement_pins_equal(h, spec));
        hwloc_bitmap_only(spec->vcpus[0].cpus, (unsigned) placement_vcpu_cpu(h, 1));
        assert_false(placement_pins_equal(spec, h) || placement_pins_equal(h, spec));
        placement_free(spec);
        free(cls);
        free(uuid);

        static const char *const bad[] = {
                "{\"name\": null}",
                "{\"hugepages\": [{\"node\": 0, \"page_kib\": 2048, \"count\": -1}]}",
                "{\"hugepages\": [{\"node\": -1, \"page_kib\": 2048, \"count\": 1}]}",
                "{\"hugepages\": [{\"node\": 0, \"page_kib\": 0, \"count\": 1}]}",
                "{\"hugepages\": [null]}",
                "{\"vcpus\": [{\"vcpu\": -3, \"cpus\": [1]}]}",
                "{\"vcpus\": [null]}",
                "{\"explain\": [null]}",
                "{\"memory_kib\": {\"0\": -5}}",
                "{\"held\": [1, null]}",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                json_object *patch = json_tokener_parse(bad[i]), *copy = NULL;
                assert_non_null(patch);
                assert_int_equal(json_object_deep_copy(o, &copy, NULL), 0);
                json_object_object_foreach(patch, key, value) json_object_object_add(copy, key, json_object_get(value));
                spec = NULL;
                int r = persist_parse(copy, w->t, &spec, &cls, &uuid);
                print_message("%s -> %d\n", bad[i], r);
                assert_int_equal(r, -EINVAL);
                assert_null(spec);
                json_object_put(copy);
                json_object_put(patch);
        }
        json_object_put(o);
        world_free(w);
}

/* A synthetic one-node host of 4 GiB with live-looking figures: free_gib free, and a 2M pool of
 * pool_pages free pages. */
static Topology *host_with_figures(int64_t free_gib, int64_t pool_pages) {
        Topology *t = NULL;
        assert_int_equal(
                topology_load(&(TopologySource){ .synthetic = "pack:1 numa:1(memory=4GiB) l3:1 core:4 pu:1" }, &t), 0);
        t->nodes[0].free_bytes = free_gib << 30;
        free(t->nodes[0].hugepages); /* the empty list a synthetic host has */
        t->nodes[0].hugepages = calloc(1, sizeof(TopoHugepages));
        t->nodes[0].hugepages[0] = (TopoHugepages){ .page_kib = 2048, .total = pool_pages, .free = pool_pages };
        t->nodes[0].n_hugepages = 1;
        return t;
}

/* Issue 11, defect 9: a domain whose own XML pins CPUs or nodes the host does not have (a
 * definition copied from a bigger host) is adopted with what exists, and its placement reads
 * back from the allocations file. */
static void test_adopted_foreign_pins_read_back(void **state) {
        (void) state;
        World *w = world_synthetic("pack:2 numa:1(memory=4GiB) l3:1 core:4 pu:1", NULL);
        const Placement *pl = place(w, "pinned", "ded", 2, 512,
                                    "<cputune><vcpupin vcpu='0' cpuset='1'/><vcpupin vcpu='1' cpuset='99'/></cputune>"
                                    "<numatune><memory mode='strict' nodeset='0,7'/></numatune>");
        assert_true(pl->admitted && pl->adopted);
        json_object *o = persist_placement(pl, "uuid-p", w->t);
        Placement *spec = NULL;
        char *cls = NULL, *uuid = NULL;
        int r = persist_parse(o, w->t, &spec, &cls, &uuid);
        print_message("an adopted placement pinned to CPU 99 and node 7 of a 8-CPU, 2-node host reads back: %s\n",
                      r == 0 ? "yes" : "no");
        assert_int_equal(r, 0);
        placement_free(spec);
        free(cls);
        free(uuid);
        json_object_put(o);
        world_free(w);
}

/* A vCPU's CPUs in either form: a CPU number (as the planner places a dedicated vCPU), -1 for
 * none, or a set (as read back). pins_equal compares what they mean, not the form. */
static void test_vcpu_forms_compare_by_meaning(void **state) {
        (void) state;
        Placement *a = placement_new("a", 1), *b = placement_new("b", 1);
        assert_non_null(a && b);
        a->vcpus = calloc(1, sizeof(PlacedVcpu));
        b->vcpus = calloc(1, sizeof(PlacedVcpu));
        assert_non_null(a->vcpus && b->vcpus);
        a->n_vcpus = b->n_vcpus = 1;
        a->vcpus[0].cpu = -1; /* no CPU */
        b->vcpus[0].cpus = hwloc_bitmap_alloc(); /* an empty set */
        assert_true(placement_pins_equal(a, b) && placement_pins_equal(b, a));
        assert_int_equal(placement_vcpu_cpu(a, 0), -1);
        hwloc_bitmap_set(b->vcpus[0].cpus, 3);
        assert_false(placement_pins_equal(a, b) || placement_pins_equal(b, a));
        a->vcpus[0].cpu = 3;
        assert_true(placement_pins_equal(a, b) && placement_pins_equal(b, a));
        char *list = placement_vcpu_cpulist(a, 0);
        assert_string_equal(list, "3");
        free(list);
        hwloc_bitmap_set(b->vcpus[0].cpus, 5); /* two CPUs: never one CPU's number */
        assert_false(placement_pins_equal(a, b));
        assert_int_equal(placement_vcpu_cpu(b, 0), -1);
        placement_free(a);
        placement_free(b);
}

/* Issue 11, defect 10: a spec with no hugepages, vCPUs or iothreads (a refused domain's, as a
 * reload re-enters it) is copied without passing NULL to memcpy (UBSan stops the run if it is). */
static void test_restore_of_an_empty_spec(void **state) {
        (void) state;
        World *w = world_synthetic("pack:1 numa:1(memory=4GiB) l3:1 core:4 pu:1", NULL);
        Placement *spec = placement_new("refused", w->t->n_nodes);
        assert_non_null(spec);
        const Placement *pl = NULL;
        assert_int_equal(planner_restore(w->p, spec, "ded", &pl), 0);
        assert_false(pl->admitted);
        assert_int_equal(pl->n_hugepages, 0);
        placement_free(spec);
        world_free(w);
}

/* Issue 11, defect 10: MemPageSize=small takes the smallest hugepage size the host has; any the
 * largest that divides the memory (it behaved as any). */
static void test_mem_page_size_small(void **state) {
        (void) state;
        Topology *t = host_with_figures(3, 0);
        free(t->nodes[0].hugepages);
        t->nodes[0].hugepages = calloc(2, sizeof(TopoHugepages));
        t->nodes[0].hugepages[0] = (TopoHugepages){ .page_kib = 2048 };
        t->nodes[0].hugepages[1] = (TopoHugepages){ .page_kib = 1024 * 1024 };
        t->nodes[0].n_hugepages = 2;
        World *w = world_new(t, NULL,
                             "[Class small]\nCPUPolicy=shared\nMemPageSize=small\n"
                             "[Class any]\nCPUPolicy=shared\nMemPageSize=any\n");
        const char *huge = "<memoryBacking><hugepages/></memoryBacking>";
        const Placement *s = place(w, "s", "small", 1, 1024, huge), *a = place(w, "a", "any", 1, 1024, huge);
        print_message("1 GiB with hugepages on a host of 2M and 1G pages: small -> %" PRIu64 " KiB, any -> %" PRIu64
                      " KiB pages\n",
                      s->hugepage_kib, a->hugepage_kib);
        assert_true(s->admitted && a->admitted);
        assert_int_equal(s->hugepage_kib, 2048);
        assert_int_equal(a->hugepage_kib, 1024 * 1024);
        world_free(w);
}

/* Hugepages taken from the existing pool are not taken from free memory: the pool's pages never
 * were part of it. */
static void test_pool_pages_are_not_free_memory(void **state) {
        (void) state;
        World *w = world_new(host_with_figures(1, 512), "[Host]\nHugepages=off\n", NULL);
        const Placement *h = place(w, "h", "huge", 1, 1024, "<memoryBacking><hugepages/></memoryBacking>");
        assert_true(h->admitted); /* the whole 1 GiB pool */
        const Placement *s = place(w, "s", "ded", 1, 1000, NULL);
        print_message("1 GiB small pages beside a 1 GiB guest on the pool: %s\n", s->admitted ? "admitted" : s->reason);
        assert_true(s->admitted);
        const Placement *more = place(w, "more", "huge", 1, 2, "<memoryBacking><hugepages/></memoryBacking>");
        assert_false(more->admitted); /* the pool is used up, and Hugepages=off does not grow it */
        world_free(w);
}

/* A domain already running when kvmtuned looks (its first reconcile) is booked as in use: its
 * memory is out of the live figure already, so it is neither checked nor subtracted again; once
 * it stops and the figure shows that memory free, the next domain has it. */
static void test_running_domain_memory_in_use(void **state) {
        (void) state;
        World *w = world_new(host_with_figures(1, 0), NULL, NULL); /* 3 of 4 GiB used by "run" */
        DomainRequest *d = request("run", "ded", 1, 3072, NULL);
        d->memory_use = MEMORY_USE_ALL;
        const Placement *run = NULL;
        assert_int_equal(planner_place(w->p, d, &run), 0);
        domain_free(d);
        print_message("a running 3 GiB domain on a node with 1 GiB free: %s\n", run->admitted ? "placed" : run->reason);
        assert_true(run->admitted);
        assert_int_equal(run->in_use_kib[0], 3072 * 1024);
        assert_true(place(w, "new", "ded", 1, 1000, NULL)->admitted); /* the 1 GiB is still free */
        assert_int_equal(planner_release(w->p, "run"), 0);
        assert_false(place(w, "new2", "ded", 1, 1000, NULL)->admitted); /* the figure is not read again yet */
        w->t->nodes[0].free_bytes = 4LL << 30; /* read again: run's memory is back */
        assert_true(place(w, "new3", "ded", 1, 2000, NULL)->admitted);
        world_free(w);
}

/* Memory booked and not in use yet is taken from the live figure; what a started domain has
 * touched (as measured) is in the figure already and counts once. */
static void test_booked_memory_counts_until_in_use(void **state) {
        (void) state;
        World *w = world_new(host_with_figures(4, 0), NULL, NULL);
        assert_true(place(w, "a", "ded", 1, 2048, NULL)->admitted); /* admitted, not started */
        assert_false(place(w, "b", "ded", 1, 3072, NULL)->admitted);
        uint64_t measured[1] = { 2048 * 1024 };
        assert_int_equal(planner_memory_use(w->p, "a", MEMORY_USE_STARTED, measured), 0);
        w->t->nodes[0].free_bytes = 2LL << 30; /* the kernel shows a's 2 GiB used */
        const Placement *c = place(w, "c", "ded", 1, 2048, NULL);
        print_message("2 GiB beside a started 2 GiB domain that touched all of it, 2 GiB free: %s\n",
                      c->admitted ? "admitted" : c->reason);
        assert_true(c->admitted);
        assert_int_equal(planner_memory_use(w->p, "nobody", MEMORY_USE_ALL, NULL), -ENOENT);
        world_free(w);
}

/* Review of issue 11's changes: a domain whose start was just seen (no hook admission) has its
 * hugepages already (libvirt preallocates them: the pool shows them taken), so they are not
 * checked again; its small pages are. */
static void test_started_domain_hugepages_taken(void **state) {
        (void) state;
        World *w = world_new(host_with_figures(1, 0), "[Host]\nHugepages=off\n", NULL); /* pool: 0 free */
        DomainRequest *d = request("h", "huge", 1, 1024, "<memoryBacking><hugepages/></memoryBacking>");
        d->memory_use = MEMORY_USE_STARTED;
        const Placement *h = NULL;
        assert_int_equal(planner_place(w->p, d, &h), 0);
        domain_free(d);
        print_message("a started 1 GiB hugepage domain, its pages out of the pool already: %s\n",
                      h->admitted ? "placed" : h->reason);
        assert_true(h->admitted && h->pages_in_use);
        d = request("s", "ded", 1, 2048, NULL); /* small pages: checked, 1 GiB free */
        d->memory_use = MEMORY_USE_STARTED;
        const Placement *sp = NULL;
        assert_int_equal(planner_place(w->p, d, &sp), 0);
        domain_free(d);
        assert_false(sp->admitted);
        world_free(w);
}

/* A restart restores the running domains' placements. The live free figure was read with them
 * running: their memory is in use, out of it already, and must not be subtracted again, nor
 * given back when they stop before the figure shows it. */
static void test_restored_memory_not_booked_twice(void **state) {
        (void) state;
        World *w = world_new(host_with_figures(4, 0), NULL, NULL);
        const Placement *a = place(w, "a", "ded", 1, 2048, NULL);
        assert_true(a->admitted);
        json_object *saved = persist_placement(a, NULL, w->t);
        world_free(w);

        w = world_new(host_with_figures(2, 0), NULL, NULL); /* a runs: 2 GiB free */
        Placement *spec = NULL;
        char *cls = NULL, *uuid = NULL;
        assert_int_equal(persist_parse(saved, w->t, &spec, &cls, &uuid), 0);
        const Placement *restored = NULL;
        assert_int_equal(planner_restore(w->p, spec, cls, &restored), 0);
        assert_int_equal(planner_memory_use(w->p, "a", MEMORY_USE_ALL, NULL), 0); /* as the daemon says */
        const Placement *b = place(w, "b", "ded", 1, 2000, NULL);
        print_message("2 GiB beside the restored 2 GiB guest on a node with 2 GiB free: %s\n",
                      b->admitted ? "admitted" : b->reason);
        assert_true(b->admitted);
        assert_int_equal(planner_release(w->p, "a"), 0);
        const Placement *c = place(w, "c", "ded", 1, 1024, NULL);
        assert_false(c->admitted); /* a's memory was in use: free only once the figure shows it */
        placement_free(spec);
        free(cls);
        free(uuid);
        world_free(w);

        /* A recorded machine's figure is its total memory: a restored placement is booked. */
        w = world_synthetic("pack:1 numa:1(memory=4GiB) l3:1 core:4 pu:1", NULL);
        a = place(w, "a", "ded", 1, 3072, NULL);
        assert_true(a->admitted);
        json_object_put(saved);
        saved = persist_placement(a, NULL, w->t);
        world_free(w);
        w = world_synthetic("pack:1 numa:1(memory=4GiB) l3:1 core:4 pu:1", NULL);
        assert_int_equal(persist_parse(saved, w->t, &spec, &cls, &uuid), 0);
        assert_int_equal(planner_restore(w->p, spec, cls, &restored), 0);
        b = place(w, "b", "ded", 1, 3072, NULL);
        assert_false(b->admitted);
        placement_free(spec);
        free(cls);
        free(uuid);
        json_object_put(saved);
        world_free(w);
}

/* A restored spec's per-node shared vCPU counts must be the nodes its shared vCPUs float on (the
 * fuzzer found an edited allocations file with {"0": 4294967295, "1": 3} accepted: the sum
 * wrapped, and node 1 was booked for vCPUs that run on node 0). */
static void test_restore_checks_shared_counts(void **state) {
        (void) state;
        World *w = world_synthetic("pack:2 numa:1(memory=8GiB) l3:1 core:4 pu:1", NULL);
        const Placement *a = place(w, "s", "vdi", 2, 256, NULL);
        assert_true(a->admitted);
        json_object *saved = persist_placement(a, NULL, w->t);
        unsigned node = a->shared_vcpus[0] ? 0 : 1;
        world_free(w);
        w = world_synthetic("pack:2 numa:1(memory=8GiB) l3:1 core:4 pu:1", NULL);
        Placement *spec = NULL;
        char *cls = NULL, *uuid = NULL;
        const Placement *restored = NULL;
        assert_int_equal(persist_parse(saved, w->t, &spec, &cls, &uuid), 0);
        spec->shared_vcpus[node] = UINT_MAX; /* with the other, sums to 2 in unsigned arithmetic */
        spec->shared_vcpus[1 - node] = 3;
        assert_int_equal(planner_restore(w->p, spec, cls, &restored), -EINVAL);
        spec->shared_vcpus[node] = 0; /* the right sum on the wrong node */
        spec->shared_vcpus[1 - node] = 2;
        assert_int_equal(planner_restore(w->p, spec, cls, &restored), -EINVAL);
        spec->shared_vcpus[node] = 2;
        spec->shared_vcpus[1 - node] = 0;
        assert_int_equal(planner_restore(w->p, spec, cls, &restored), 0);
        placement_free(spec);
        free(cls);
        free(uuid);
        json_object_put(saved);
        world_free(w);
}

/* A shared VM over two nodes reads back with its vCPU groups, and the counts per node must
 * cover the vCPUs pinned there; a file of an earlier version (every shared vCPU over all its
 * nodes) reads back too and is regrouped by the next refresh. */
static void test_restore_grouped_span(void **state) {
        (void) state;
        const char *shape = "pack:1 numa:2(memory=64GiB) core:8 pu:1";
        World *w = world_synthetic(shape, NULL);
        assert_true(place(w, "d", "numa", 6, 1024, NULL)->admitted);
        assert_true(place(w, "s1", "vdi", 24, 1024, NULL)->admitted);
        const Placement *a = place(w, "s2", "vdi", 8, 1024, NULL);
        assert_true(a->admitted && a->shared_vcpus[0] == 4 && a->shared_vcpus[1] == 4);
        json_object *saved = persist_placement(a, NULL, w->t);
        world_free(w);
        w = world_synthetic(shape, NULL);
        Placement *spec = NULL;
        char *cls = NULL, *uuid = NULL;
        const Placement *restored = NULL;
        assert_int_equal(persist_parse(saved, w->t, &spec, &cls, &uuid), 0);
        spec->shared_vcpus[0] = 2; /* four vCPUs are pinned to node 0 alone */
        spec->shared_vcpus[1] = 6;
        assert_int_equal(planner_restore(w->p, spec, cls, &restored), -EINVAL);
        spec->shared_vcpus[0] = 0;
        spec->shared_vcpus[1] = 8;
        assert_int_equal(planner_restore(w->p, spec, cls, &restored), -EINVAL);
        spec->shared_vcpus[0] = 4;
        spec->shared_vcpus[1] = 4;
        assert_int_equal(planner_restore(w->p, spec, cls, &restored), 0);
        assert_int_equal(planner_release(w->p, "s2"), 0);
        /* The earlier form: every shared vCPU over the CPUs of both nodes. */
        _cleanup_bitmap_ hwloc_bitmap_t all = hwloc_bitmap_alloc();
        assert_int_equal(hwloc_bitmap_list_sscanf(all, "7,9-15"), 0);
        for (unsigned v = 0; v < spec->n_vcpus; v++)
                hwloc_bitmap_copy(spec->vcpus[v].cpus, all);
        assert_int_equal(planner_restore(w->p, spec, cls, &restored), 0);
        assert_int_equal(planner_refresh_shared(w->p), 0);
        char *first = placement_vcpu_cpulist(restored, 0), *last = placement_vcpu_cpulist(restored, 7);
        print_message("an earlier file's span regrouped: vCPU 0 on %s, vCPU 7 on %s\n", first, last);
        assert_string_equal(first, "1-7");
        assert_string_equal(last, "9-15");
        free(first);
        free(last);
        check_invariants(w);
        placement_free(spec);
        free(cls);
        free(uuid);
        json_object_put(saved);
        world_free(w);
}

static void test_explicit_pins_count_as_taken(void **state) {
        (void) state;
        World *w = world_synthetic("pack:1 l3:1 core:4 pu:1", "[Host]\nHousekeepingCPUs=0\n");
        const Placement *nova = place(w, "nova", "ded", 2, 256,
                                      "<cputune><vcpupin vcpu='0' cpuset='1'/>"
                                      "<vcpupin vcpu='1' cpuset='2'/></cputune>");
        assert_true(nova->adopted);
        const Placement *d = place(w, "d", "ded", 1, 256, NULL);
        char *cpus = placement_vcpu_cpulist(d, 0);
        assert_string_equal(cpus, "3");
        free(cpus);
        assert_false(place(w, "d2", "ded", 1, 256, NULL)->admitted);
        /* Released, its CPUs are free again. */
        assert_int_equal(planner_release(w->p, "nova"), 0);
        assert_true(place(w, "d3", "ded", 2, 256, NULL)->admitted);
        check_invariants(w);
        world_free(w);

        /* RespectExplicitPins=no: kvmtuned places it like any other domain. */
        w = world_synthetic("pack:1 l3:1 core:4 pu:1",
                            "[Daemon]\nRespectExplicitPins=no\n[Host]\nHousekeepingCPUs=0\n");
        nova = place(w, "nova", "ded", 2, 256, "<cputune><vcpupin vcpu='0' cpuset='1'/></cputune>");
        assert_false(nova->adopted);
        assert_true(nova->admitted);
        world_free(w);
}

static void test_mixed(void **state) {
        (void) state;
        World *w = world_synthetic("pack:2 numa:1 l3:1 core:4 pu:2", NULL);
        const Placement *pl = place(w, "m", "mix", 4, 512,
                                    "<cputune><vcpusched vcpus='0-1' scheduler='fifo' priority='1'/></cputune>");
        assert_true(pl->admitted);
        assert_true(pl->vcpus[0].dedicated && pl->vcpus[1].dedicated);
        assert_false(pl->vcpus[2].dedicated || pl->vcpus[3].dedicated);
        /* Shared vCPUs float on the same node as the dedicated ones, off the dedicated CPUs. */
        hwloc_bitmap_t ded = hwloc_bitmap_alloc(), floating = hwloc_bitmap_alloc();
        placement_vcpu_add(pl, 0, ded);
        placement_vcpu_add(pl, 1, ded);
        placement_vcpu_cpus(pl, 2, floating);
        assert_false(hwloc_bitmap_intersects(ded, floating));
        hwloc_bitmap_free(floating);
        hwloc_bitmap_t all = vcpu_union(pl);
        assert_int_equal(count_l3(w->t, all, true), 1);
        /* Without named dedicated vCPUs, a mixed class refuses with the reason. */
        const Placement *bad = place(w, "m2", "mix", 4, 512, NULL);
        assert_false(bad->admitted);
        assert_non_null(strstr(bad->reason, "names no dedicated vCPUs"));
        /* Overcommit=4 binds the shared part too: 30 shared vCPUs on a node with 4 shared CPUs left. */
        const Placement *over = place(w, "m3", "mix", 32, 512,
                                      "<cputune><vcpusched vcpus='0-1' scheduler='fifo' priority='1'/></cputune>");
        print_message("mixed over its Overcommit: %s\n", over->admitted ? "admitted" : over->reason);
        assert_false(over->admitted);
        assert_non_null(strstr(over->reason, "shared ratio would be"));
        assert_non_null(strstr(over->reason, "> 4.0"));
        check_invariants(w);
        hwloc_bitmap_free(ded);
        hwloc_bitmap_free(all);
        world_free(w);
}

static Topology *corpus(const char *file) {
        const char *dir = oracle_corpus_dir();
        if (!dir)
                return NULL;
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", dir, file);
        Topology *t = NULL;
        assert_int_equal(topology_load(&(TopologySource){ .xml_path = path }, &t), 0);
        return t;
}

static void test_core_kinds_and_devices(void **state) {
        (void) state;
        Topology *t = corpus("intel-hybrid-i7-1370p-6p8e-cpukinds.xml");
        if (!t) {
                skip();
                return;
        }
        World *w = world_new(t, NULL, NULL);
        /* P-cores are CPUs 0-11; automatic housekeeping takes an E-core (CPU 12), so all 12
         * performance CPUs are left. */
        assert_false(hwloc_bitmap_intersects(w->c->host.housekeeping, t->kinds[t->n_kinds - 1].cpuset));
        const Placement *pl = place(w, "game", "perf", 12, 1024, NULL);
        assert_true(pl->admitted);
        hwloc_bitmap_t all = vcpu_union(pl);
        assert_true(hwloc_bitmap_isincluded(all, t->kinds[t->n_kinds - 1].cpuset));
        hwloc_bitmap_free(all);
        const Placement *more = place(w, "game2", "perf", 1, 1024, NULL);
        assert_false(more->admitted);
        assert_string_equal(more->reason, "host: needs 1 dedicated CPUs, 0 free of the wanted core kind");
        world_free(w);

        t = corpus("amd-ryzen-ai9-hx370-zen5-asym-l3.xml");
        w = world_new(t, NULL, NULL);
        pl = place(w, "game", "perf", 4, 1024, NULL);
        all = vcpu_union(pl);
        int l3 = topology_cpu(t, (unsigned) hwloc_bitmap_first(all))->l3;
        print_message("asymmetric L3: placed on L3 #%d of %llu MiB\n", l3,
                      (unsigned long long) (t->l3s[l3].size_bytes >> 20));
        assert_int_equal(t->l3s[l3].size_bytes, 16ULL << 20);
        assert_int_equal(count_l3(t, all, false), 1);
        hwloc_bitmap_free(all);
        world_free(w);

        /* NearDevices: a domain with the T4 at 0000:e7:00.0 (node 1 of the g4dn) lands on node 1. */
        t = corpus("intel-2s-xeon-8259cl-smt-2numa-8xT4-aws-g4dn.xml");
        w = world_new(t, NULL, NULL);
        int dev = topology_device_index(t, "0000:e7:00.0");
        assert_true(dev >= 0);
        pl = place(w, "gpu", "ded", 4, 1024,
                   "<devices><hostdev mode='subsystem' type='pci'><source><address domain='0' bus='0xe7' slot='0' "
                   "function='0'/></source></hostdev></devices>");
        all = vcpu_union(pl);
        assert_int_equal(topology_cpu(t, (unsigned) hwloc_bitmap_first(all))->node, t->devices[dev].node);
        assert_int_equal(t->nodes[t->devices[dev].node].os, 1);
        hwloc_bitmap_free(all);
        world_free(w);
}

/* Same inputs, same plan; place then release gives back the state exactly. */
static void test_deterministic_and_release_exact(void **state) {
        (void) state;
        World *a = world_synthetic("pack:2 numa:2 l3:2 core:4 pu:2", NULL);
        World *b = world_synthetic("pack:2 numa:2 l3:2 core:4 pu:2", NULL);
        const char *classes[] = { "ded", "iso", "vdi", "emu", "numa", "loose" };
        for (unsigned i = 0; i < 12; i++) {
                char name[16];
                snprintf(name, sizeof(name), "vm%u", i);
                place(a, name, classes[i % 6], 1 + i % 5, 256, NULL);
                place(b, name, classes[i % 6], 1 + i % 5, 256, NULL);
        }
        char *ja = plan_json(a), *jb = plan_json(b);
        assert_string_equal(ja, jb);

        place(a, "extra", "ded", 6, 256, NULL);
        assert_int_equal(planner_release(a->p, "extra"), 0);
        char *after = plan_json(a);
        assert_string_equal(ja, after);
        check_invariants(a);
        free(ja);
        free(jb);
        free(after);
        world_free(a);
        world_free(b);
}

/* ---- Properties on every real machine ------------------------------------------------------ */

typedef struct Units {
        unsigned host; /* units free on the host */
        unsigned best_l3; /* the most units one (L3, node) group has */
        unsigned best_node;
} Units;

/* Free dedicated units for a thread policy, counted from the pools and held CPUs alone. */
static Units free_units(World *w, ThreadPolicy tp) {
        const Topology *t = w->t;
        Units u = { 0 };
        hwloc_bitmap_t held = hwloc_bitmap_alloc(), free_set = hwloc_bitmap_alloc();
        planner_held_cpus(w->p, held);
        hwloc_bitmap_andnot(free_set, w->c->host.dedicated, held);
        unsigned *per_l3 = calloc((t->n_l3s + 1) * (t->n_nodes + 1), sizeof(unsigned));
        unsigned *per_node = calloc(t->n_nodes + 1, sizeof(unsigned));
        for (unsigned k = 0; k < t->n_cores; k++) {
                const TopoCore *core = &t->cores[k];
                hwloc_bitmap_t f = hwloc_bitmap_alloc();
                hwloc_bitmap_and(f, core->cpuset, free_set);
                unsigned fr = (unsigned) hwloc_bitmap_weight(f), units;
                hwloc_bitmap_free(f);
                if (tp == THREAD_POLICY_PREFER)
                        units = fr;
                else if (tp == THREAD_POLICY_ISOLATE)
                        units = fr == core->n_cpus;
                else
                        units = fr == core->n_cpus && core->n_cpus >= 2 ? fr : 0;
                u.host += units;
                unsigned node = (unsigned) (core->node + 1);
                per_l3[(unsigned) (core->l3 + 1) * (t->n_nodes + 1) + node] += units;
                per_node[node] += units;
        }
        for (unsigned i = 0; i < (t->n_l3s + 1) * (t->n_nodes + 1); i++)
                if (per_l3[i] > u.best_l3 && i % (t->n_nodes + 1) != 0 && i >= t->n_nodes + 1)
                        u.best_l3 = per_l3[i];
        for (unsigned i = 1; i <= t->n_nodes; i++)
                if (per_node[i] > u.best_node)
                        u.best_node = per_node[i];
        free(per_l3);
        free(per_node);
        hwloc_bitmap_free(held);
        hwloc_bitmap_free(free_set);
        return u;
}

/* Units the shared domains let a prefer-class dedicated domain take from each node, counted
 * from the planner's public state: free units capped by what Overcommit=4 leaves spare. */
static unsigned budgeted_units(World *w) {
        const Topology *t = w->t;
        hwloc_bitmap_t held = hwloc_bitmap_alloc(), shared = hwloc_bitmap_alloc(), f = hwloc_bitmap_alloc();
        planner_held_cpus(w->p, held);
        unsigned total = 0;
        for (unsigned n = 0; n < t->n_nodes; n++) {
                hwloc_bitmap_andnot(f, t->nodes[n].cpuset, held);
                hwloc_bitmap_and(f, f, w->c->host.dedicated);
                unsigned units = (unsigned) hwloc_bitmap_weight(f);
                unsigned vcpus = planner_shared_vcpus(w->p, n);
                planner_shared_cpus(w->p, n, shared);
                unsigned cpus = (unsigned) hwloc_bitmap_weight(shared), keep = (vcpus + 3) / 4;
                unsigned spare = vcpus == 0 ? units : cpus > keep ? cpus - keep : 0;
                total += units < spare ? units : spare;
        }
        hwloc_bitmap_free(held);
        hwloc_bitmap_free(shared);
        hwloc_bitmap_free(f);
        return total;
}

static void test_corpus_properties(void **state) {
        const char *path = *state;
        Topology *t = NULL;
        assert_int_equal(topology_load(&(TopologySource){ .xml_path = path }, &t), 0);
        World *w = world_new(t, NULL, NULL);
        bool smt = t->smt_max >= 2;
        static const unsigned sizes[] = { 2, 4, 8, 16, 32, 3, 6, 12 };
        static const struct {
                const char *cls;
                ThreadPolicy tp;
                bool locality; /* CacheLocality=l3 */
        } kinds[] = { { "ded", THREAD_POLICY_PREFER, true },  { "iso", THREAD_POLICY_ISOLATE, true },
                      { "req", THREAD_POLICY_REQUIRE, true }, { "numa", THREAD_POLICY_PREFER, false },
                      { "emu", THREAD_POLICY_PREFER, true },  { "huge", THREAD_POLICY_PREFER, true } };
        unsigned placed = 0, refused = 0, l3_checked = 0, node_checked = 0;
        unsigned initial = free_units(w, THREAD_POLICY_PREFER).host;

        /* Phase 1: dedicated domains of every thread policy until half the host is taken. Memory
         * never binds (small guests), so the locality rules can be checked exactly. */
        for (unsigned i = 0; i < 80 && refused < 6 && free_units(w, THREAD_POLICY_PREFER).host * 2 > initial; i++) {
                unsigned kind = i % 6, vcpus = sizes[i % 8];
                if (kind == 2 && !smt)
                        kind = 0;
                Units before = free_units(w, kinds[kind].tp);
                unsigned need = kinds[kind].tp == THREAD_POLICY_REQUIRE ? vcpus + vcpus % 2 : vcpus;
                need += kind == 4; /* the isolated emulator CPU */
                char name[32];
                snprintf(name, sizeof(name), "d%02u-%s-%u", i, kinds[kind].cls, vcpus);
                const char *extra = kind == 5 ? "<memoryBacking><hugepages/></memoryBacking>" : NULL;
                const Placement *pl = place(w, name, kinds[kind].cls, vcpus, 256, extra);
                if (!pl->admitted) {
                        /* Refused only when the host truly lacks the CPUs. */
                        if (before.host >= need)
                                print_error("%s refused with %u free: %s\n", name, before.host, pl->reason);
                        assert_true(before.host < need);
                        refused++;
                        continue;
                }
                placed++;
                hwloc_bitmap_t all = vcpu_union(pl);
                if (kind == 4)
                        hwloc_bitmap_or(all, all, pl->emulator);
                if (kinds[kind].locality && before.best_l3 >= need) {
                        assert_int_equal(count_l3(t, all, false), 1);
                        assert_int_equal(count_l3(t, all, true), 1);
                        l3_checked++;
                }
                if (before.best_node >= need) {
                        assert_int_equal(count_l3(t, all, true), 1);
                        node_checked++;
                }
                hwloc_bitmap_free(all);
                check_invariants(w);
        }

        /* Phase 2: shared domains under Overcommit=4 until one is refused. */
        unsigned shared_ok = 0;
        const Placement *last = NULL;
        for (unsigned i = 0; i < 400; i++) {
                char name[32];
                snprintf(name, sizeof(name), "vdi-%03u", i);
                last = place(w, name, "vdi", 1 + i % 4, 64, NULL);
                if (!last->admitted)
                        break;
                shared_ok++;
        }
        check_invariants(w);
        if (last && !last->admitted)
                assert_true(strstr(last->reason, "shared ratio would be") || strstr(last->reason, "0 free") ||
                            strstr(last->reason, "within its ratio"));

        /* Phase 3: dedicated domains on top: the shared domains' ratio must hold, and a refusal
         * must be explained by the CPUs the ratio leaves. */
        for (unsigned i = 0; i < 20; i++) {
                char name[32];
                snprintf(name, sizeof(name), "late-%02u", i);
                unsigned budget = budgeted_units(w);
                const Placement *pl = place(w, name, "ded", 1 + i % 3, 256, NULL);
                if (!pl->admitted && budget >= 1 + i % 3)
                        print_error("%s refused with %u budgeted units: %s\n", name, budget, pl->reason);
                assert_true(pl->admitted || budget < 1 + i % 3);
                check_invariants(w);
        }

        /* place -> release -> place reproduces the plan. */
        char *before = plan_json(w);
        const Placement *x = place(w, "probe", "ded", 2, 256, NULL);
        char *first = x->admitted ? strdup("admitted") : strdup(x->reason);
        assert_int_equal(planner_release(w->p, "probe"), 0);
        char *after = plan_json(w);
        assert_string_equal(before, after);
        x = place(w, "probe", "ded", 2, 256, NULL);
        assert_string_equal(first, x->admitted ? "admitted" : x->reason);

        print_message("%-50s %2u placed %u refused; locality checks: %2u l3, %2u node; %3u shared until: %s\n",
                      strrchr(path, '/') + 1, placed, refused, l3_checked, node_checked, shared_ok,
                      last && !last->admitted ? last->reason : "-");
        assert_true(placed > 0);
        free(first);
        free(before);
        free(after);
        world_free(w);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_dedicated_fills_one_l3_with_siblings),
                cmocka_unit_test(test_isolate_and_require),
                cmocka_unit_test(test_overcommit_refusal),
                cmocka_unit_test(test_dedicated_shrinks_shared),
                cmocka_unit_test(test_numa_spill_by_distance),
                cmocka_unit_test(test_emulator_isolate_and_iothreads),
                cmocka_unit_test(test_memory_and_hugepages),
                cmocka_unit_test(test_persist_round_trip_and_bad_fields),
                cmocka_unit_test(test_vcpu_forms_compare_by_meaning),
                cmocka_unit_test(test_pool_pages_are_not_free_memory),
                cmocka_unit_test(test_mem_page_size_small),
                cmocka_unit_test(test_restore_of_an_empty_spec),
                cmocka_unit_test(test_adopted_foreign_pins_read_back),
                cmocka_unit_test(test_restored_memory_not_booked_twice),
                cmocka_unit_test(test_restore_checks_shared_counts),
                cmocka_unit_test(test_restore_grouped_span),
                cmocka_unit_test(test_running_domain_memory_in_use),
                cmocka_unit_test(test_booked_memory_counts_until_in_use),
                cmocka_unit_test(test_started_domain_hugepages_taken),
                cmocka_unit_test(test_explicit_pins_count_as_taken),
                cmocka_unit_test(test_mixed),
                cmocka_unit_test(test_core_kinds_and_devices),
                cmocka_unit_test(test_deterministic_and_release_exact),
        };
        int failed = cmocka_run_group_tests_name("planner", tests, NULL, NULL);

        failed += oracle_run_corpus("planner corpus properties", test_corpus_properties);
        return failed;
}

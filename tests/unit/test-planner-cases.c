/* Issue 13's placement cases: refusals that name the true reason, domains that pin themselves
 * booked in full, running domains, guest SMT, devices, core kinds (spans: test-planner-spans.c).
 * Each checks the plan JSON (render_plan_json), not only the words. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "oracle.h"
#include "persist.h"
#include "world.h"

/* Case 2: a dedicated VM refused because the shared vCPUs keep the remaining CPUs says so. */
static void test_refusal_names_the_shared_reserve(void **state) {
        (void) state;
        World *w = world_synthetic("pack:1 numa:1(memory=64GiB) core:8 pu:1", NULL);
        assert_true(place(w, "s", "vdi", 16, 1024, NULL)->admitted); /* keeps 4 of the 7 CPUs */
        const Placement *pl = place(w, "d", "numa", 4, 1024, NULL);
        assert_false(pl->admitted);
        print_message("%s\n", pl->reason);
        assert_string_equal(pl->reason, "host: needs 4 dedicated CPUs, 3 free: 4 more are free but kept as shared "
                                        "CPUs for the shared vCPUs at their Overcommit");
        json_object *d = world_domain_json(w, "d");
        assert_false(json_object_get_boolean(json_object_object_get(d, "admitted")));
        json_object_put(d);
        world_free(w);
}

/* Case 2: a shared VM short of memory names the node that is short (the one with room for its
 * vCPUs), not the node with the most free memory. */
static void test_memory_refusal_names_the_short_node(void **state) {
        (void) state;
        Topology *t = NULL;
        assert_int_equal(topology_load(&(TopologySource){ .synthetic = "pack:1 numa:2(memory=16GiB) core:4 pu:1" }, &t),
                         0);
        t->nodes[0].free_bytes = 12LL << 30;
        t->nodes[1].free_bytes = 2LL << 30;
        World *w = world_new(t, NULL, NULL);
        assert_true(place(w, "d", "numa", 3, 512, NULL)->admitted); /* node 0 has no shared CPU left */
        const Placement *pl = place(w, "s", "vdi", 2, 8192, NULL);
        assert_false(pl->admitted);
        print_message("%s\n", pl->reason);
        assert_string_equal(pl->reason, "node 1: needs 8 GiB of memory, 2 GiB free");
        world_free(w);
}

/* Case 1: a domain that pins itself books its memory on the node it binds strictly, so a placed
 * domain goes to the other node. */
static void test_pinned_domain_memory_booked(void **state) {
        (void) state;
        Topology *t = NULL;
        assert_int_equal(topology_load(&(TopologySource){ .synthetic = "pack:1 numa:2(memory=32GiB) core:8 pu:1" }, &t),
                         0);
        t->nodes[0].free_bytes = 31LL << 30;
        t->nodes[1].free_bytes = 31LL << 30;
        World *w = world_new(t, NULL, NULL);
        const Placement *pinned =
                place(w, "pinned", "numa", 2, 24 * 1024,
                      "<cputune><vcpupin vcpu='0' cpuset='1'/><vcpupin vcpu='1' cpuset='2'/></cputune>"
                      "<numatune><memory mode='strict' nodeset='0'/></numatune>");
        assert_true(pinned->adopted);
        assert_int_equal(pinned->memory_kib[0], 24 * 1024 * 1024);
        assert_true(place(w, "placed", "numa", 2, 18 * 1024, NULL)->admitted);
        char *nodes = world_field_text(w, "placed", "memory", "nodes");
        print_message("18 GiB after a 24 GiB domain pinned to node 0: memory on %s\n", nodes);
        assert_string_equal(nodes, "[1]");
        free(nodes);
        /* Released, it gives its memory back: the next 18 GiB fits node 0 again. */
        assert_int_equal(planner_release(w->p, "pinned"), 0);
        assert_true(place(w, "again", "numa", 2, 18 * 1024, NULL)->admitted);
        nodes = world_field_text(w, "again", "memory", "nodes");
        assert_string_equal(nodes, "[0]");
        free(nodes);
        world_free(w);
}

/* Case 1: a domain with only <emulatorpin> (VFIO guides) is placed by its class; its emulator
 * keeps its own pin and no CPU is taken for it. A <numatune mode='preferred'> of a domain that
 * pins itself is shown as preferred, not strict. */
static void test_emulatorpin_only_and_preferred(void **state) {
        (void) state;
        World *w = world_synthetic("pack:1 numa:1(memory=64GiB) core:8 pu:1", NULL);
        const Placement *pl = place(w, "vfio", "emu", 4, 1024, "<cputune><emulatorpin cpuset='0'/></cputune>");
        assert_true(pl->admitted && !pl->adopted && pl->own_emulator);
        assert_int_equal(hwloc_bitmap_weight(pl->held), 4); /* EmulatorThreads=isolate took no fifth CPU */
        char *emu = world_field_text(w, "vfio", "emulator", NULL);
        assert_string_equal(emu, "[0]");
        free(emu);
        const Placement *pref = place(w, "pref", "numa", 1, 512,
                                      "<cputune><vcpupin vcpu='0' cpuset='7'/></cputune>"
                                      "<numatune><memory mode='preferred' nodeset='0'/></numatune>");
        assert_true(pref->adopted);
        char *mode = world_field_text(w, "pref", "memory", "mode");
        assert_string_equal(mode, "\"preferred\"");
        free(mode);
        check_invariants(w);
        world_free(w);
}

/* Case 8: under MemoryPolicy=strict a ballooned domain books <memory>, not <currentMemory>; a
 * class without strict binding books what it has now. */
static void test_strict_books_maximum_memory(void **state) {
        (void) state;
        World *w = world_synthetic("pack:1 numa:1(memory=64GiB) core:8 pu:1", NULL);
        const char *balloon = "<currentMemory unit='GiB'>2</currentMemory>";
        const Placement *strict = place(w, "strict", "numa", 1, 8192, balloon);
        const Placement *loose = place(w, "loose", "loose", 1, 8192, balloon);
        assert_true(strict->admitted && loose->admitted);
        assert_int_equal(strict->memory_kib[0], 8 * 1024 * 1024);
        assert_int_equal(loose->memory_kib[0], 2 * 1024 * 1024); /* not bound: what it holds now */
        world_free(w);
}

/* Case 10: pins to CPUs or nodes the host does not have are said, not accepted silently. */
static void test_foreign_pins_explained(void **state) {
        (void) state;
        World *w = world_synthetic("pack:1 numa:1(memory=64GiB) core:8 pu:1", NULL);
        const Placement *pl = place(w, "copied", "numa", 1, 512,
                                    "<cputune><vcpupin vcpu='0' cpuset='3,64-65'/></cputune>"
                                    "<numatune><memory mode='strict' nodeset='0,5'/></numatune>");
        assert_true(pl->adopted);
        assert_true(world_explains(pl, "its pins name CPUs 64-65, which this host does not have"));
        assert_true(world_explains(pl, "its numatune names nodes 5, which this host does not have"));
        world_free(w);
}

/* Case 12: the shipped default class holds new domains to Overcommit=4.0 (a 16384-vCPU domain
 * on a 190-CPU host was admitted at ratio 86); a domain that runs already above it (an upgraded
 * host) is kept as it is, and says so. */
static void test_default_overcommit_and_running_above_it(void **state) {
        (void) state;
        Topology *t = NULL;
        assert_int_equal(
                topology_load(&(TopologySource){ .synthetic = "pack:2 numa:1(memory=512GiB) core:48 pu:2" }, &t), 0);
        World *w = world_new(t, NULL, NULL);
        config_free(w->c); /* the shipped policy instead of the scenarios' */
        planner_free(w->p);
        ConfigErrors errors = { 0 };
        assert_int_equal(config_load(NULL, KVMTUNED_ETC "/policy.d", t, &w->c, &errors), 0);
        assert_int_equal(planner_new(t, w->c, &w->p), 0);

        DomainRequest *huge = request("unclassified", "none", 16384, 1024, NULL);
        const Placement *pl = NULL;
        assert_int_equal(planner_place(w->p, huge, &pl), 0);
        print_message("16384 vCPUs, default class: %s\n", pl->admitted ? "admitted" : pl->reason);
        assert_false(pl->admitted);
        json_object *d = world_domain_json(w, "unclassified");
        assert_false(json_object_get_boolean(json_object_object_get(d, "admitted")));
        json_object_put(d);

        huge->memory_use = MEMORY_USE_ALL; /* found running after an upgrade */
        assert_int_equal(planner_release(w->p, "unclassified"), 0);
        assert_int_equal(planner_place(w->p, huge, &pl), 0);
        assert_true(pl->admitted && pl->over_ratio);
        assert_true(world_explains(pl, "runs already: kept on node"));
        domain_free(huge);
        /* New starts are held to the ratio: not on the node it overfills, on the other one. */
        const Placement *next = place(w, "next", "none", 1, 512, NULL);
        assert_true(next->admitted);
        assert_int_equal(next->shared_vcpus[0], 0);
        assert_int_equal(next->shared_vcpus[1], 1);
        world_free(w);
}

/* Case 12, the rest: a running domain that fits is placed normally, never marked over. */
static void test_running_within_ratio_not_marked(void **state) {
        (void) state;
        World *w = world_synthetic("pack:1 numa:1(memory=64GiB) core:8 pu:1", NULL);
        DomainRequest *d = request("run", "vdi", 4, 512, NULL);
        d->memory_use = MEMORY_USE_ALL;
        const Placement *pl = NULL;
        assert_int_equal(planner_place(w->p, d, &pl), 0);
        assert_true(pl->admitted && !pl->over_ratio);
        domain_free(d);
        world_free(w);
}

/* Case 5: a guest with <topology threads='2'> gets each sibling pair of vCPUs on one host core.
 * The L3 taken first has an odd number of free threads (a CPU pinned by another domain); the
 * rest comes from the other L3: thread by thread, pairs (6,7) and (8,9) split over cores. */
static void test_guest_smt_pairs_on_host_siblings(void **state) {
        (void) state;
        World *w = world_synthetic("pack:1 numa:1(memory=64GiB) l3:2 core:4 pu:2", NULL);
        /* Core k has CPUs 2k and 2k+1; core 0 is housekeeping; the second L3 has cores 4-7. */
        assert_true(place(w, "p", "numa", 1, 256, "<cputune><vcpupin vcpu='0' cpuset='8'/></cputune>")->adopted);
        const Placement *pl =
                place(w, "smt", "ded", 10, 1024, "<cpu><topology sockets='1' dies='1' cores='5' threads='2'/></cpu>");
        assert_true(pl->admitted);
        for (unsigned v = 0; v < 10; v += 2) {
                unsigned a = (unsigned) placement_vcpu_cpu(pl, v);
                unsigned b = (unsigned) placement_vcpu_cpu(pl, v + 1);
                print_message("vCPUs %u,%u on CPUs %u,%u\n", v, v + 1, a, b);
                assert_int_equal(a / 2, b / 2);
        }
        assert_true(world_explains(pl, "guest threads=2: each of its 5 sibling groups on one host core"));
        check_invariants(w);
        world_free(w);
        /* Across nodes (review of this change): each node's whole groups first, the two single
         * threads last, so only the last pair is split (it was 3 of 5, every group after the
         * first node's single off by one). */
        w = world_synthetic("pack:2 numa:1(memory=64GiB) core:4 pu:2", NULL);
        assert_true(place(w, "p0", "numa", 1, 256, "<cputune><vcpupin vcpu='0' cpuset='2'/></cputune>")->adopted);
        assert_true(place(w, "p1", "numa", 1, 256, "<cputune><vcpupin vcpu='0' cpuset='10'/></cputune>")->adopted);
        pl = place(w, "span", "numa", 10, 1024, "<cpu><topology sockets='1' dies='1' cores='5' threads='2'/></cpu>");
        assert_true(pl->admitted);
        assert_true(world_explains(pl, "guest threads=2: 4 of 5 sibling groups on one host core"));
        world_free(w);
        /* Under isolate a pair cannot share a core: said, not silently split. */
        w = world_synthetic("pack:1 numa:1(memory=64GiB) l3:2 core:4 pu:2", NULL);
        const Placement *iso =
                place(w, "iso", "iso", 2, 256, "<cpu><topology sockets='1' cores='1' threads='2'/></cpu>");
        assert_true(iso->admitted);
        assert_true(world_explains(
                iso, "0 of 1 sibling groups on one host core: ThreadPolicy=isolate keeps one vCPU per core"));
        world_free(w);
}

/* Case 6: NearDevices on a host whose dies without memory count as the node of their package:
 * on the Threadripper 2990WX the GPU's die (L3 #0 and #1) keeps fewer than 12 free CPUs, the
 * memoryless dies 8 per L3. A 12-vCPU VM takes all the GPU die has first, then the rest
 * elsewhere (it took 8 on a memoryless die first, and only the remainder by the GPU). */
static void test_near_devices_memoryless_dies(void **state) {
        (void) state;
        const char *dir = oracle_corpus_dir();
        if (!dir)
                skip();
        char path[512];
        snprintf(path, sizeof(path), "%s/amd-threadripper-2990wx-4die-2numa-gpus.xml", dir);
        Topology *t = NULL;
        assert_int_equal(topology_load(&(TopologySource){ .xml_path = path }, &t), 0);
        World *w = world_new(t, NULL,
                             "[Class gaming]\nCPUPolicy=dedicated\nThreadPolicy=prefer\nCacheLocality=l3\n"
                             "NearDevices=yes\nMemoryPolicy=preferred\n"
                             "[Class numa]\nCPUPolicy=dedicated\nCacheLocality=numa\n");
        /* L3 #1 (CPUs 4-7,36-39) is another domain's; L3 #0 keeps 6 (core 0 is housekeeping). */
        assert_true(
                place(w, "p", "numa", 1, 256, "<cputune><vcpupin vcpu='0' cpuset='4-7,36-39'/></cputune>")->adopted);
        const Placement *pl = place(w, "game", "gaming", 12, 4096,
                                    "<devices><hostdev mode='subsystem' type='pci' managed='yes'><source>"
                                    "<address domain='0x0000' bus='0x08' slot='0x00' function='0x0'/>"
                                    "</source></hostdev></devices>");
        assert_true(pl->admitted);
        hwloc_bitmap_t near = hwloc_bitmap_alloc(), cpus = vcpu_union(pl), free_near = hwloc_bitmap_alloc();
        hwloc_bitmap_list_sscanf(near, "0-7,32-39");
        /* What the GPU's die had free: the dedicated CPUs of its L3 #0 (L3 #1 is pinned). */
        hwloc_bitmap_list_sscanf(free_near, "0-3,32-35");
        hwloc_bitmap_and(free_near, free_near, w->c->host.dedicated);
        hwloc_bitmap_and(near, near, cpus);
        char *list = NULL;
        hwloc_bitmap_list_asprintf(&list, cpus);
        print_message("12 vCPUs by the GPU on 0000:08:00.0: CPUs %s, %d of them on the GPU's die (%d free there)\n",
                      list, hwloc_bitmap_weight(near), hwloc_bitmap_weight(free_near));
        assert_true(hwloc_bitmap_weight(free_near) < 12);
        assert_int_equal(hwloc_bitmap_weight(near), hwloc_bitmap_weight(free_near));
        hwloc_bitmap_free(free_near);
        free(list);
        hwloc_bitmap_free(near);
        hwloc_bitmap_free(cpus);
        check_invariants(w);
        world_free(w);
}

/* A running domain bound strictly (kvmtuned's own binding, read back from its live XML) is planned
 * again on the same nodes: libvirt refuses to change a strict nodeset while the domain runs. The
 * best fit alone would move it to node 1 here. */
static void test_running_strict_domain_stays(void **state) {
        (void) state;
        World *w = world_synthetic("pack:2 numa:1(memory=64GiB) core:8 pu:1", NULL);
        assert_true(place(w, "other", "numa", 3, 512, NULL)->admitted); /* node 0: 4 of 7 left */
        DomainRequest *d = request("running", "numa", 4, 1024, NULL);
        d->memory_use = MEMORY_USE_ALL;
        hwloc_bitmap_set(d->stay_nodes, 1);
        const Placement *pl = NULL;
        assert_int_equal(planner_place(w->p, d, &pl), 0);
        char *nodes = world_field_text(w, "running", "memory", "nodes");
        print_message("best fit node 0, bound to node 1: memory on %s\n", nodes);
        assert_string_equal(nodes, "[1]");
        free(nodes);
        assert_true(world_explains(pl, "runs with its memory bound strictly to nodes 1: kept there"));
        /* Too large for its node: refused with the reason, not moved. */
        assert_int_equal(planner_release(w->p, "running"), 0);
        DomainRequest *big = request("big", "numa", 9, 1024, NULL);
        big->memory_use = MEMORY_USE_ALL;
        hwloc_bitmap_set(big->stay_nodes, 1);
        assert_int_equal(planner_place(w->p, big, &pl), 0);
        assert_false(pl->admitted);
        print_message("%s\n", pl->reason);
        assert_non_null(
                strstr(pl->reason, "runs bound strictly to nodes 1, which libvirt cannot change while it runs"));
        domain_free(d);
        domain_free(big);
        world_free(w);
}

/* Review of this change: a running domain bound strictly to two nodes keeps exactly that
 * binding (it was narrowed to one), also when a reload gave it a class that does not bind
 * strictly; above its ratio it stays within its nodes. */
static void test_running_strict_binding_kept_exactly(void **state) {
        (void) state;
        World *w = world_synthetic("pack:2 numa:1(memory=64GiB) core:8 pu:1", NULL);
        DomainRequest *d = request("two", "loose", 4, 1024, NULL); /* MemoryPolicy=none, shared */
        d->memory_use = MEMORY_USE_ALL;
        hwloc_bitmap_set_range(d->stay_nodes, 0, 1);
        const Placement *pl = NULL;
        assert_int_equal(planner_place(w->p, d, &pl), 0);
        assert_true(pl->admitted);
        char *mode = world_field_text(w, "two", "memory", "mode"),
             *nodes = world_field_text(w, "two", "memory", "nodes");
        assert_string_equal(mode, "\"strict\"");
        assert_string_equal(nodes, "[0,1]");
        free(mode);
        free(nodes);
        domain_free(d);
        /* Node 0 full at its ratio: a running shared domain bound to node 0 stays there, above it. */
        assert_int_equal(planner_release(w->p, "two"), 0);
        assert_true(place(w, "fill", "vdi", 28, 512, NULL)->admitted);
        DomainRequest *r = request("run", "vdi", 8, 512, NULL);
        r->memory_use = MEMORY_USE_ALL;
        hwloc_bitmap_set(r->stay_nodes, 0);
        assert_int_equal(planner_place(w->p, r, &pl), 0);
        assert_true(pl->admitted && pl->over_ratio);
        assert_int_equal(pl->shared_vcpus[0], 8);
        domain_free(r);
        world_free(w);
}

/* A class of any core kind leaves the performance L3 to the classes that ask for it: on the Ryzen
 * AI 9 HX 370 (one 16 MiB L3, one 8 MiB) a 4-vCPU domain of class ded took the larger L3 by
 * best fit, and the next CoreKind=performance domain was refused (bench-placement-quality). */
static void test_any_kind_spares_the_fast_l3(void **state) {
        (void) state;
        const char *dir = oracle_corpus_dir();
        if (!dir)
                skip();
        char path[512];
        snprintf(path, sizeof(path), "%s/amd-ryzen-ai9-hx370-zen5-asym-l3.xml", dir);
        Topology *t = NULL;
        assert_int_equal(topology_load(&(TopologySource){ .xml_path = path }, &t), 0);
        World *w = world_new(t, NULL, NULL);
        unsigned large = 0;
        for (unsigned l = 1; l < t->n_l3s; l++)
                if (t->l3s[l].size_bytes > t->l3s[large].size_bytes)
                        large = l;
        const Placement *any = place(w, "any", "ded", 4, 512, NULL);
        assert_true(any->admitted);
        hwloc_bitmap_t cpus = vcpu_union(any);
        assert_false(hwloc_bitmap_intersects(cpus, t->l3s[large].cpuset));
        hwloc_bitmap_free(cpus);
        const Placement *fast = place(w, "fast", "perf", 4, 512, NULL);
        assert_true(fast->admitted);
        cpus = vcpu_union(fast);
        assert_true(hwloc_bitmap_isincluded(cpus, t->l3s[large].cpuset));
        hwloc_bitmap_free(cpus);
        world_free(w);
}

/* Case 7: CacheLocality=l3 on a shared class floats a VM over the shared CPUs of one L3 group
 * (it floated over the whole node: 190 CPUs across 12 CCDs); Overcommit then holds per group
 * as well as per node, also when dedicated VMs take CPUs of the group; the placement reads back
 * from the allocations file. */
static void test_shared_in_one_l3(void **state) {
        (void) state;
        Topology *t = NULL;
        assert_int_equal(
                topology_load(&(TopologySource){ .synthetic = "pack:1 numa:1(memory=256GiB) l3:4 core:4 pu:2" }, &t),
                0);
        World *w = world_new(t, NULL,
                             "[Class desk]\nCPUPolicy=shared\nCacheLocality=l3\nOvercommit=2\n"
                             "[Class ded]\nCPUPolicy=dedicated\nCacheLocality=l3\n");
        const Placement *a = place(w, "a", "desk", 8, 512, NULL);
        assert_true(a->admitted);
        assert_true(a->shared_l3 >= 0);
        hwloc_bitmap_t cpus = vcpu_union(a);
        assert_true(hwloc_bitmap_isincluded(cpus, t->l3s[a->shared_l3].cpuset));
        assert_true(world_explains(a, "CacheLocality=l3: floats over the shared CPUs of L3 #"));
        hwloc_bitmap_free(cpus);
        /* Each L3 group takes 2 vCPUs per shared CPU: 4 more desktops of 8 spread over the groups. */
        for (unsigned i = 0; i < 4; i++) {
                char name[16];
                snprintf(name, sizeof(name), "d%u", i);
                assert_true(place(w, name, "desk", 8, 512, NULL)->admitted);
        }
        /* A dedicated VM takes whole free CPUs of a group only while its desktops stay within 2:1. */
        const Placement *d = place(w, "ded", "ded", 6, 512, NULL);
        print_message("dedicated beside the desktops: %s\n", d->admitted ? "admitted" : d->reason);
        assert_int_equal(planner_refresh_shared(w->p), 0);
        unsigned n;
        const Placement *const *pls = planner_placements(w->p, &n);
        for (unsigned l = 0; l < t->n_l3s; l++) {
                hwloc_bitmap_t shared = hwloc_bitmap_alloc();
                planner_shared_cpus(w->p, 0, shared);
                hwloc_bitmap_and(shared, shared, t->l3s[l].cpuset);
                unsigned vcpus = 0;
                for (unsigned i = 0; i < n; i++)
                        if (pls[i]->admitted && pls[i]->shared_l3 == (int) l)
                                vcpus += pls[i]->shared_vcpus[0];
                print_message("L3 #%u: %u shared vCPUs on %d shared CPUs\n", l, vcpus, hwloc_bitmap_weight(shared));
                assert_true(vcpus <= 2 * (unsigned) hwloc_bitmap_weight(shared));
                hwloc_bitmap_free(shared);
        }
        /* Read back from the allocations file: the same group. */
        json_object *saved = persist_placement(a, "uuid-a", t);
        Placement *spec = NULL;
        char *cls = NULL, *uuid = NULL;
        assert_int_equal(persist_parse(saved, t, &spec, &cls, &uuid), 0);
        assert_int_equal(spec->shared_l3, a->shared_l3);
        int l3 = a->shared_l3;
        assert_int_equal(planner_release(w->p, "a"), 0);
        const Placement *back = NULL;
        assert_int_equal(planner_restore(w->p, spec, cls, &back), 0);
        assert_int_equal(back->shared_l3, l3);
        json_object_put(saved);
        placement_free(spec);
        free(cls);
        free(uuid);
        check_invariants(w);
        world_free(w);

        /* An edited allocations file that puts a VM floating over two nodes in one L3 group is
         * refused, not booked in a group it does not float in. */
        w = world_synthetic("pack:1 numa:2(memory=64GiB) l3:1 core:8 pu:1", NULL);
        const Placement *span = place(w, "span", "vdi", 40, 1024, NULL);
        assert_true(span->admitted && span->shared_vcpus[0] && span->shared_vcpus[1]);
        saved = persist_placement(span, "uuid-s", w->t);
        assert_int_equal(persist_parse(saved, w->t, &spec, &cls, &uuid), 0);
        spec->shared_l3 = 0;
        assert_int_equal(planner_release(w->p, "span"), 0);
        assert_int_equal(planner_restore(w->p, spec, cls, &back), -EINVAL);
        json_object_put(saved);
        placement_free(spec);
        free(cls);
        free(uuid);
        world_free(w);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_refusal_names_the_shared_reserve),
                cmocka_unit_test(test_memory_refusal_names_the_short_node),
                cmocka_unit_test(test_pinned_domain_memory_booked),
                cmocka_unit_test(test_emulatorpin_only_and_preferred),
                cmocka_unit_test(test_strict_books_maximum_memory),
                cmocka_unit_test(test_foreign_pins_explained),
                cmocka_unit_test(test_default_overcommit_and_running_above_it),
                cmocka_unit_test(test_running_within_ratio_not_marked),
                cmocka_unit_test(test_guest_smt_pairs_on_host_siblings),
                cmocka_unit_test(test_near_devices_memoryless_dies),
                cmocka_unit_test(test_any_kind_spares_the_fast_l3),
                cmocka_unit_test(test_shared_in_one_l3),
                cmocka_unit_test(test_running_strict_domain_stays),
                cmocka_unit_test(test_running_strict_binding_kept_exactly),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Planner test worlds: see world.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "fixture.h"
#include "render.h"
#include "world.h"

/* Policy classes every scenario can use; domains pick one by metadata. */
static const char policy_smt[] = "[Class req]\nCPUPolicy=dedicated\nThreadPolicy=require\nCacheLocality=l3\n";
const char world_policy[] = "[Class ded]\nCPUPolicy=dedicated\nThreadPolicy=prefer\nCacheLocality=l3\n"
                            "[Class iso]\nCPUPolicy=dedicated\nThreadPolicy=isolate\nCacheLocality=l3\n"
                            "[Class numa]\nCPUPolicy=dedicated\nCacheLocality=numa\n"
                            "[Class emu]\nCPUPolicy=dedicated\nEmulatorThreads=isolate\nIOThreads=share\n"
                            "[Class perf]\nCPUPolicy=dedicated\nCoreKind=performance\n"
                            "[Class mix]\nCPUPolicy=mixed\nOvercommit=4\n"
                            "[Class vdi]\nCPUPolicy=shared\nCacheLocality=numa\nOvercommit=4\n"
                            "[Class huge]\nCPUPolicy=dedicated\nMemPageSize=2M\n"
                            "[Class loose]\nCPUPolicy=shared\nMemoryPolicy=none\n";

World *world_new(Topology *t, const char *main_conf, const char *policy_text) {
        World *w = calloc(1, sizeof(World));
        w->t = t;
        w->root = fixture_new();
        fixture_write(w->root, "kvmtuned.conf", main_conf ? main_conf : "");
        fixture_write(w->root, "policy.d/50-test.conf", policy_text ? policy_text : world_policy);
        /* ThreadPolicy=require is a configuration error on a host without SMT. */
        if (!policy_text && t->smt_max >= 2)
                fixture_write(w->root, "policy.d/60-smt.conf", policy_smt);
        char conf[512], dir[512];
        snprintf(conf, sizeof(conf), "%s/kvmtuned.conf", w->root);
        snprintf(dir, sizeof(dir), "%s/policy.d", w->root);
        ConfigErrors errors = { 0 };
        int r = config_load(conf, dir, t, &w->c, &errors);
        if (r < 0) {
                char *text = config_errors_format(&errors);
                print_error("%s", text);
                free(text);
        }
        assert_int_equal(r, 0);
        assert_int_equal(planner_new(t, w->c, &w->p), 0);
        return w;
}

World *world_synthetic(const char *desc, const char *main_conf) {
        Topology *t = NULL;
        assert_int_equal(topology_load(&(TopologySource){ .synthetic = desc }, &t), 0);
        return world_new(t, main_conf, NULL);
}

void world_free(World *w) {
        planner_free(w->p);
        config_free(w->c);
        topology_free(w->t);
        fixture_free(w->root);
        free(w);
}

/* A domain of class cls with vcpus vCPUs and mem_mib of memory; extra goes inside <domain>. */
DomainRequest *request(const char *name, const char *cls, unsigned vcpus, unsigned mem_mib, const char *extra) {
        char xml[2048];
        snprintf(xml, sizeof(xml),
                 "<domain type='kvm'><name>%s</name><vcpu>%u</vcpu><memory unit='MiB'>%u</memory>"
                 "<metadata><k:policy xmlns:k='urn:kvmtuned:policy:1' class='%s'/></metadata>%s</domain>",
                 name, vcpus, mem_mib, cls, extra ? extra : "");
        DomainRequest *d = NULL;
        char *error = NULL;
        int r = domain_parse(xml, strlen(xml), &d, &error);
        if (r < 0)
                print_error("%s\n", error);
        assert_int_equal(r, 0);
        return d;
}

const Placement *place(World *w, const char *name, const char *cls, unsigned vcpus, unsigned mem_mib,
                       const char *extra) {
        DomainRequest *d = request(name, cls, vcpus, mem_mib, extra);
        const Placement *pl = NULL;
        assert_int_equal(planner_place(w->p, d, &pl), 0);
        domain_free(d);
        return pl;
}

hwloc_bitmap_t vcpu_union(const Placement *pl) {
        hwloc_bitmap_t set = hwloc_bitmap_alloc();
        for (unsigned i = 0; i < pl->n_vcpus; i++)
                placement_vcpu_add(pl, i, set);
        return set;
}

char *plan_json(World *w) {
        json_object *o = NULL;
        assert_int_equal(planner_refresh_shared(w->p), 0);
        assert_int_equal(render_plan_json(w->p, &o), 0);
        char *s = strdup(json_object_to_json_string(o));
        json_object_put(o);
        return s;
}

/* Every L3 index, then node, a set of CPUs touches. */
unsigned count_l3(const Topology *t, hwloc_const_bitmap_t set, bool nodes) {
        hwloc_bitmap_t seen = hwloc_bitmap_alloc();
        int cpu;
        hwloc_bitmap_foreach_begin(cpu, set) {
                const TopoCpu *c = topology_cpu(t, (unsigned) cpu);
                int v = nodes ? c->node : c->l3;
                hwloc_bitmap_set(seen, (unsigned) (v + 1));
        }
        hwloc_bitmap_foreach_end();
        unsigned n = (unsigned) hwloc_bitmap_weight(seen);
        hwloc_bitmap_free(seen);
        return n;
}

/* ---- The plan JSON of a world ------------------------------------------------------------ */

/* The plan JSON of one domain (a reference the caller puts). */
json_object *world_domain_json(World *w, const char *name) {
        json_object *root = NULL, *found = NULL;
        assert_int_equal(planner_refresh_shared(w->p), 0);
        assert_int_equal(render_plan_json(w->p, &root), 0);
        json_object *domains = json_object_object_get(root, "domains");
        for (size_t i = 0; i < json_object_array_length(domains); i++) {
                json_object *d = json_object_array_get_idx(domains, i);
                if (strcmp(json_object_get_string(json_object_object_get(d, "name")), name) == 0)
                        found = json_object_get(d);
        }
        json_object_put(root);
        assert_non_null(found);
        return found;
}

/* A field of a domain's plan JSON as JSON text ("[ 1, 3 ]"), for comparing. */
char *world_field_text(World *w, const char *name, const char *outer, const char *inner) {
        json_object *d = world_domain_json(w, name), *v = json_object_object_get(d, outer);
        if (inner)
                v = json_object_object_get(v, inner);
        char *s = strdup(v ? json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN) : "null");
        json_object_put(d);
        return s;
}

/* Whether a line of pl's explanation holds text. */
bool world_explains(const Placement *pl, const char *text) {
        for (unsigned i = 0; i < pl->n_explain; i++)
                if (strstr(pl->explain[i], text))
                        return true;
        return false;
}

/* ---- Invariants of any planner state ---------------------------------------------------- */

/* Each shared vCPU counts on the nodes its CPUs are on, by its share of them and as an equal
 * split over them (a vCPU pinned to one node counts 1 there either way); neither may push a node
 * over the strictest ratio of the shared VMs there. */
static void check_ratios(World *w, const Placement *const *pls, unsigned n) {
        const Topology *t = w->t;
        unsigned n_nodes = t->n_nodes;
        double *prop = calloc(n_nodes, sizeof(double)), *equal = calloc(n_nodes, sizeof(double));
        double *limit = calloc(n_nodes, sizeof(double));
        hwloc_bitmap_t shared = hwloc_bitmap_alloc(), vcpu_cpus = hwloc_bitmap_alloc(), part = hwloc_bitmap_alloc();
        unsigned *booked = calloc(n_nodes, sizeof(unsigned));
        assert_true(prop && equal && limit && shared && vcpu_cpus && part && booked);
        for (unsigned i = 0; i < n; i++) {
                const Placement *pl = pls[i];
                if (!pl->admitted || pl->adopted)
                        continue;
                for (unsigned node = 0; node < n_nodes; node++)
                        booked[node] += pl->shared_vcpus[node];
                for (unsigned v = 0; v < pl->n_vcpus; v++) {
                        if (pl->vcpus[v].dedicated)
                                continue;
                        placement_vcpu_cpus(pl, v, vcpu_cpus);
                        double all = hwloc_bitmap_weight(vcpu_cpus);
                        unsigned touched = 0;
                        for (unsigned node = 0; node < n_nodes; node++) {
                                planner_node_cpus(w->p, node, shared);
                                touched += hwloc_bitmap_intersects(vcpu_cpus, shared);
                        }
                        assert_true(touched > 0);
                        for (unsigned node = 0; node < n_nodes; node++) {
                                planner_node_cpus(w->p, node, shared);
                                hwloc_bitmap_and(part, vcpu_cpus, shared);
                                if (hwloc_bitmap_iszero(part))
                                        continue;
                                prop[node] += hwloc_bitmap_weight(part) / all;
                                equal[node] += 1.0 / touched;
                                if (pl->cls->overcommit > 0 && (limit[node] == 0 || pl->cls->overcommit < limit[node]))
                                        limit[node] = pl->cls->overcommit;
                        }
                }
        }
        for (unsigned node = 0; node < n_nodes; node++) {
                assert_int_equal(planner_shared_vcpus(w->p, node), booked[node]);
                planner_shared_cpus(w->p, node, shared);
                double cpus = hwloc_bitmap_weight(shared), most = prop[node] > equal[node] ? prop[node] : equal[node];
                if (most > 0)
                        assert_true(cpus > 0);
                if (limit[node] > 0 && most > 0 && most / cpus > limit[node] + 1e-9) {
                        print_error("node %u: %.2f shared vCPUs (by share %.2f, equal split %.2f) on %.0f CPUs "
                                    "exceeds %.2f\n",
                                    t->nodes[node].os, most, prop[node], equal[node], cpus, limit[node]);
                        fail();
                }
        }
        hwloc_bitmap_free(shared);
        hwloc_bitmap_free(vcpu_cpus);
        hwloc_bitmap_free(part);
        free(booked);
        free(prop);
        free(equal);
        free(limit);
}

void check_invariants(World *w) {
        const Topology *t = w->t;
        assert_int_equal(planner_refresh_shared(w->p), 0);
        unsigned n;
        const Placement *const *pls = planner_placements(w->p, &n);
        hwloc_bitmap_t dedicated = hwloc_bitmap_alloc(), held = hwloc_bitmap_alloc(), pinned = hwloc_bitmap_alloc();
        hwloc_bitmap_t cpus = hwloc_bitmap_alloc();
        for (unsigned i = 0; i < n; i++)
                if (pls[i]->admitted && pls[i]->adopted)
                        hwloc_bitmap_or(pinned, pinned, pls[i]->held);

        for (unsigned i = 0; i < n; i++) {
                const Placement *pl = pls[i];
                if (!pl->admitted) {
                        assert_non_null(pl->reason);
                        assert_true(hwloc_bitmap_iszero(pl->held));
                        continue;
                }
                if (pl->adopted)
                        continue;
                assert_false(hwloc_bitmap_intersects(held, pl->held)); /* a CPU held twice */
                hwloc_bitmap_or(held, held, pl->held);
                for (unsigned v = 0; v < pl->n_vcpus; v++) {
                        placement_vcpu_cpus(pl, v, cpus);
                        if (!pl->vcpus[v].dedicated) {
                                assert_false(hwloc_bitmap_iszero(cpus));
                                assert_true(hwloc_bitmap_isincluded(cpus, w->c->host.shared));
                                continue;
                        }
                        assert_int_equal(hwloc_bitmap_weight(cpus), 1);
                        assert_false(hwloc_bitmap_intersects(dedicated, cpus)); /* two dedicated vCPUs, one CPU */
                        hwloc_bitmap_or(dedicated, dedicated, cpus);
                        assert_false(hwloc_bitmap_intersects(cpus, w->c->host.housekeeping));
                        assert_true(hwloc_bitmap_isincluded(cpus, w->c->host.dedicated));
                        assert_true(hwloc_bitmap_isincluded(cpus, pl->held));
                        assert_false(hwloc_bitmap_intersects(cpus, pinned));
                        if (pl->cls->thread_policy == THREAD_POLICY_ISOLATE) {
                                /* Its siblings are held by it and carry no vCPU of anyone. */
                                const TopoCpu *c = topology_cpu(t, (unsigned) hwloc_bitmap_first(cpus));
                                assert_true(hwloc_bitmap_isincluded(t->cores[c->core].cpuset, pl->held));
                        }
                }
        }
        /* No shared vCPU floats over a CPU someone holds, and overcommit holds per node. */
        for (unsigned i = 0; i < n; i++)
                for (unsigned v = 0; pls[i]->admitted && !pls[i]->adopted && v < pls[i]->n_vcpus; v++)
                        if (!pls[i]->vcpus[v].dedicated) {
                                placement_vcpu_cpus(pls[i], v, cpus);
                                assert_false(hwloc_bitmap_intersects(cpus, held));
                        }
        check_ratios(w, pls, n);
        hwloc_bitmap_free(dedicated);
        hwloc_bitmap_free(held);
        hwloc_bitmap_free(pinned);
        hwloc_bitmap_free(cpus);
}

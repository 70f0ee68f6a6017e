/* Dedicated CPUs: the units each core offers under the thread policy, and the L3 / node that holds them. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpulist.h"
#include "macro.h"
#include "planner-internal.h"

/* CPUs a dedicated unit consumes under the thread policy: one thread (prefer), a whole core
 * (isolate), or a whole core that yields all its threads (require). Fills core_units with
 * the units each core offers, and eligible[] with the usable CPUs. */
static void count_units(Planner *p, const PolicyClass *cls) {
        const Topology *t = p->t;
        const uint8_t *kind = cls->core_kind == CORE_KIND_PERFORMANCE  ? p->perf_kind
                              : cls->core_kind == CORE_KIND_EFFICIENCY ? p->eff_kind
                                                                       : NULL;
        if (kind)
                for (unsigned i = 0; i < t->n_cpus; i++)
                        p->eligible[i] = p->cpu_free[i] & kind[i];
        else
                memcpy(p->eligible, p->cpu_free, t->n_cpus);

        for (unsigned k = 0; k < t->n_cores; k++) {
                unsigned free = p->core_free[k], size = p->core_cpu0[k + 1] - p->core_cpu0[k];
                if (kind && p->kinds_split_cores) {
                        free = 0;
                        for (unsigned j = p->core_cpu0[k]; j < p->core_cpu0[k + 1]; j++)
                                free += p->eligible[p->core_cpus[j]];
                } else if (kind && size > 0 && !kind[p->core_cpus[p->core_cpu0[k]]])
                        free = 0;
                switch (cls->thread_policy) {
                case THREAD_POLICY_PREFER:
                        p->core_units[k] = free;
                        break;
                case THREAD_POLICY_ISOLATE:
                        p->core_units[k] = free == size;
                        break;
                case THREAD_POLICY_REQUIRE:
                        p->core_units[k] = free == size && size >= 2 ? size : 0;
                        break;
                }
        }
}

/* How many dedicated units node n may give without pushing its shared vCPUs over the strictest
 * Overcommit there. */
static unsigned node_budget(Planner *p, unsigned n, const PolicyClass *cls) {
        unsigned spare = shared_spare_cpus(p, n);
        if (spare == UINT32_MAX)
                return UINT32_MAX;
        /* A unit costs one CPU, except under isolate, where it costs a whole core. */
        unsigned per_unit = cls->thread_policy == THREAD_POLICY_ISOLATE && p->t->smt_max ? p->t->smt_max : 1;
        return spare / per_unit;
}

/* How many dedicated units a pair may give without pushing the shared vCPUs floating in it
 * alone (CacheLocality=l3) over the strictest Overcommit of its node. */
static unsigned pair_budget(Planner *p, unsigned pair, const PolicyClass *cls) {
        unsigned vcpus = p->pair_shared_vcpus[pair];
        if (vcpus == 0)
                return UINT32_MAX;
        double limit = shared_node_limit(p, (unsigned) p->pairs[pair].node);
        unsigned keep = limit > 0 ? (unsigned) ceil((double) vcpus / limit - 1e-9) : 1;
        unsigned shared = shared_pair_cpus(p, pair), spare = shared > keep ? shared - keep : 0;
        unsigned per_unit = cls->thread_policy == THREAD_POLICY_ISOLATE && p->t->smt_max ? p->t->smt_max : 1;
        return spare / per_unit;
}

/* Units per pair and node, and each node's cap: its units within its budget, none on a node a
 * running strictly bound domain cannot move to (stay: kernel node numbers, NULL for any). */
static void sum_units(Planner *p, const PolicyClass *cls, hwloc_const_bitmap_t stay) {
        const Topology *t = p->t;
        memset(p->node_units, 0, t->n_nodes * sizeof(unsigned));
        for (unsigned i = 0; i < p->n_pairs; i++) {
                p->pair_units[i] = 0;
                for (unsigned j = 0; j < p->pairs[i].n_cores; j++)
                        p->pair_units[i] += p->core_units[p->pairs[i].cores[j]];
                unsigned budget = pair_budget(p, i, cls);
                p->pair_units[i] = p->pair_units[i] < budget ? p->pair_units[i] : budget;
                p->node_units[p->pairs[i].node] += p->pair_units[i];
        }
        for (unsigned n = 0; n < t->n_nodes; n++) {
                unsigned budget = node_budget(p, n, cls);
                p->node_cap[n] = p->node_units[n] < budget ? p->node_units[n] : budget;
                if (stay && !hwloc_bitmap_isset(stay, t->nodes[n].os))
                        p->node_cap[n] = 0;
        }
}

static unsigned pair_cap(const Planner *p, unsigned pair) {
        unsigned node_cap = p->node_cap[p->pairs[pair].node];
        return p->pair_units[pair] < node_cap ? p->pair_units[pair] : node_cap;
}

/* Cores of a pair in the order the thread policy wants them: prefer fills the cores with the
 * most free threads first, so siblings go to the same VM; index order breaks ties. */
static unsigned ordered_cores(Planner *p, const Pair *pair) {
        unsigned m = 0;
        for (unsigned j = 0; j < pair->n_cores; j++) {
                unsigned k = pair->cores[j];
                if (p->core_units[k] == 0)
                        continue;
                unsigned i = m++;
                while (i > 0 && p->core_units[p->order[i - 1]] < p->core_units[k]) {
                        p->order[i] = p->order[i - 1];
                        i--;
                }
                p->order[i] = k;
        }
        return m;
}

/* Holds CPU index i for the placement being made: no later take offers it. */
static void hold(Planner *p, hwloc_bitmap_t held, unsigned i) {
        hwloc_bitmap_set(held, p->t->cpus[i].os);
        p->eligible[i] = 0;
}

/* Guest SMT: whole groups of need->group sibling vCPUs on one core each, while cores have room
 * for a group (cores come most free threads first). Returns the CPUs taken. */
static unsigned take_groups(Planner *p, unsigned m, unsigned group, unsigned want, unsigned *cpus, unsigned *n_cpus,
                            hwloc_bitmap_t held) {
        unsigned got = 0;
        for (unsigned o = 0; o < m && want - got >= group; o++) {
                unsigned k = p->order[o], free = 0;
                for (unsigned j = p->core_cpu0[k]; j < p->core_cpu0[k + 1]; j++)
                        free += p->eligible[p->core_cpus[j]];
                unsigned take = (free < want - got ? free : want - got) / group * group;
                for (unsigned j = p->core_cpu0[k]; j < p->core_cpu0[k + 1] && take > 0; j++) {
                        unsigned i = p->core_cpus[j];
                        if (!p->eligible[i])
                                continue;
                        cpus[(*n_cpus)++] = i;
                        hold(p, held, i);
                        got++;
                        take--;
                }
        }
        return got;
}

/* Takes up to want units from a pair: appends the CPUs given to vCPUs to cpus[], holds every
 * CPU it uses (isolate and require also the idle siblings of their cores). Returns the units
 * taken. */
static unsigned take_from_pair(Planner *p, const PolicyClass *cls, unsigned pair, unsigned want, unsigned *cpus,
                               unsigned *n_cpus, hwloc_bitmap_t held, bool groups_only) {
        bool whole_cores = cls->thread_policy == THREAD_POLICY_ISOLATE || cls->thread_policy == THREAD_POLICY_REQUIRE;
        unsigned got = 0, m = ordered_cores(p, &p->pairs[pair]);
        if (p->group > 1)
                got = take_groups(p, m, p->group, want, cpus, n_cpus, held);
        if (groups_only)
                return got;
        for (unsigned o = 0; o < m && got < want; o++) {
                unsigned k = p->order[o];
                bool first = true;
                for (unsigned j = p->core_cpu0[k]; j < p->core_cpu0[k + 1] && got < want; j++) {
                        unsigned i = p->core_cpus[j];
                        if (!p->eligible[i] || (cls->thread_policy == THREAD_POLICY_ISOLATE && !first))
                                continue;
                        cpus[(*n_cpus)++] = i;
                        hold(p, held, i);
                        got++;
                        first = false;
                }
                for (unsigned j = p->core_cpu0[k]; whole_cores && j < p->core_cpu0[k + 1]; j++)
                        hold(p, held, p->core_cpus[j]); /* the idle siblings (an odd count under require) */
        }
        return got;
}

/* Pairs of node n sorted by capacity, largest first (fewest L3 domains), index breaking ties. */
static unsigned node_pairs_by_cap(Planner *p, unsigned n, unsigned *out) {
        unsigned m = 0;
        for (unsigned j = p->node_pair0[n]; j < p->node_pair0[n + 1]; j++) {
                unsigned pair = p->node_pairs[j];
                if (p->pair_units[pair] == 0)
                        continue;
                unsigned i = m++;
                while (i > 0 && p->pair_units[out[i - 1]] < p->pair_units[pair]) {
                        out[i] = out[i - 1];
                        i--;
                }
                out[i] = pair;
        }
        return m;
}

const char *dedicated_unit_name(const PolicyClass *cls) {
        switch (cls->thread_policy) {
        case THREAD_POLICY_ISOLATE:
                return "whole cores, one vCPU each";
        case THREAD_POLICY_REQUIRE:
                return "threads of whole cores, in sibling pairs";
        default:
                return "CPUs";
        }
}

/* Memory of each node of a set for its share of the units; memory follows the takes, so when a
 * node cannot hold the share of all it could give, it gives less and the others more. */
static bool set_fits(Planner *p, const Need *need, const unsigned *nodes, unsigned *take, unsigned count,
                     unsigned units) {
        bool all = true;
        for (unsigned i = 0; i < count && all; i++)
                all = memory_fits(p, need, nodes[i], memory_share(need, take[i], units));
        if (all)
                return true;
        unsigned got = 0;
        for (unsigned i = 0; i < count; i++)
                got += take[i] = memory_units(p, need, nodes[i], units, p->node_cap[nodes[i]]);
        for (unsigned i = count; i-- > 0 && got > units;) {
                unsigned cut = take[i] < got - units ? take[i] : got - units;
                take[i] -= cut;
                got -= cut;
        }
        for (unsigned i = 0; i < count; i++)
                if (take[i] == 0)
                        return false; /* a member that gives nothing: not this set */
        return got == units;
}

/* Marks the pairs with a CPU local to the passthrough device (a die of a node may have none, its
 * memory being another die's). */
static void mark_near_pairs(Planner *p, hwloc_const_bitmap_t near) {
        for (unsigned i = 0; i < p->n_pairs; i++) {
                p->pair_near[i] = 0;
                for (unsigned c = 0; near && c < p->pairs[i].n_cores && !p->pair_near[i]; c++)
                        p->pair_near[i] = hwloc_bitmap_intersects(p->t->cores[p->pairs[i].cores[c]].cpuset, near);
        }
}

/* CacheLocality=l3: the (L3, node) pair that holds everything, best fit, near devices first;
 * -1 for none. */
static int one_pair(Planner *p, const Need *need, unsigned units) {
        /* A class of any core kind leaves the performance L3 domains to those that ask for them. */
        bool spare_fast = need->cls->core_kind == CORE_KIND_ANY && p->kinds_differ;
        int best = -1;
        for (unsigned i = 0; i < p->n_pairs; i++) {
                unsigned n = (unsigned) p->pairs[i].node;
                if (pair_cap(p, i) < units || !memory_fits(p, need, n, need->memory_kib))
                        continue;
                if (best < 0) {
                        best = (int) i;
                        continue;
                }
                bool near = need->near_cpus ? p->pair_near[i] : (int) n == need->prefer_node;
                bool best_near = need->near_cpus ? p->pair_near[best] : p->pairs[best].node == need->prefer_node;
                bool fast = spare_fast && p->pair_fast[i], best_fast = spare_fast && p->pair_fast[best];
                if (near != best_near   ? near
                    : fast != best_fast ? !fast
                                        : pair_cap(p, i) < pair_cap(p, (unsigned) best))
                        best = (int) i;
        }
        return best;
}

/* Takes a pair's units and counts the L3 domain once in used. Returns the units taken. */
static unsigned take_counted(Planner *p, const PolicyClass *cls, unsigned pair, unsigned want, unsigned *cpus,
                             unsigned *n_cpus, hwloc_bitmap_t held, bool groups_only, hwloc_bitmap_t used) {
        if (want > p->pair_units[pair]) /* what the pair may give: its budget too */
                want = p->pair_units[pair];
        unsigned got = take_from_pair(p, cls, pair, want, cpus, n_cpus, held, groups_only);
        p->pair_units[pair] -= got;
        if (got && p->pairs[pair].l3 >= 0)
                hwloc_bitmap_set(used, pair);
        return got;
}

/* Takes up to want units from node n, the L3 domains in the passthrough device's locality
 * first: groups_only takes whole guest sibling groups only (from every L3 of the node); else the
 * fewest L3 domains (largest first) and the last one by best fit (the smallest that holds the
 * rest), so little is stranded. L3 domains used are added to used. Returns the units taken. */
static unsigned take_from_node(Planner *p, const PolicyClass *cls, unsigned n, unsigned want, bool groups_only,
                               unsigned *pairs, unsigned *cpus, unsigned *n_cpus, hwloc_bitmap_t held,
                               hwloc_bitmap_t used) {
        unsigned left = want, m = node_pairs_by_cap(p, n, pairs);
        /* Pass 0: the device's L3 domains; pass 1 (groups only): every L3 domain. */
        for (unsigned pass = 0; pass < (groups_only ? 2u : 1u); pass++)
                for (unsigned j = 0; j < m && left >= (groups_only ? p->group : 1); j++)
                        if (pass == 1 || p->pair_near[pairs[j]])
                                left -= take_counted(p, cls, pairs[j], left, cpus, n_cpus, held, groups_only, used);
        while (!groups_only && left > 0) {
                m = node_pairs_by_cap(p, n, pairs);
                if (m == 0)
                        break;
                unsigned pick = pairs[0];
                for (unsigned j = 0; j < m && p->pair_units[pairs[j]] >= left; j++)
                        pick = pairs[j]; /* largest first: the last that holds it is the best fit */
                unsigned got = take_counted(p, cls, pick, left, cpus, n_cpus, held, false, used);
                left -= got;
                if (got == 0)
                        break;
        }
        return want - left;
}

/* No locality wanted: the whole host is one pool, lowest node first. Returns the nodes used. */
static unsigned host_pool(Planner *p, const Need *need, unsigned units, unsigned *nodes) {
        unsigned count = 0, got = 0;
        for (unsigned n = 0; n < p->t->n_nodes && got < units; n++)
                if (p->node_cap[n]) {
                        p->node_take[n] = p->node_cap[n] < units - got ? p->node_cap[n] : units - got;
                        got += p->node_take[n];
                        nodes[count] = n;
                        p->order[count] = p->node_take[n];
                        count++;
                }
        return set_fits(p, need, nodes, p->order, count, units) ? count : 0;
}

/* The explanation of where it went, true to why. */
static int explain_nodes(Planner *p, Placement *pl, const PolicyClass *cls, unsigned units, const unsigned *nodes,
                         unsigned count, unsigned l3_used, unsigned most, int most_node) {
        const Topology *t = p->t;
        _cleanup_bitmap_ hwloc_bitmap_t ns = hwloc_bitmap_alloc();
        for (unsigned i = 0; ns && i < count; i++)
                hwloc_bitmap_set(ns, t->nodes[nodes[i]].os);
        _cleanup_free_ char *list = ns ? cpulist_format(ns) : NULL;
        if (!list)
                return -ENOMEM;
        if (count == 1 && l3_used == 0)
                return placement_explain(pl, "fits in node %s (no L3 domains there)", list);
        if (count == 1)
                return placement_explain(pl, "fits in node %s across %u L3 domain%s", list, l3_used,
                                         l3_used == 1 ? "" : "s");
        if (cls->cache_locality == CACHE_LOCALITY_NONE)
                return placement_explain(pl, "CacheLocality=none: spans nodes %s, lowest first", list);
        return placement_explain(pl,
                                 "no node has %u %s free (the most: %u, node %u): spans nodes %s, the fewest "
                                 "that hold it and the closest of those by NUMA distance",
                                 units, dedicated_unit_name(cls), most, most_node >= 0 ? t->nodes[most_node].os : 0,
                                 list);
}

/* Chooses and takes the dedicated CPUs. Returns 1 placed, 0 refused (pl->reason), or -ENOMEM. */
int dedicated_place(Planner *p, const Need *need, Placement *pl, unsigned *cpus, unsigned *n_cpus,
                    hwloc_bitmap_t held) {
        const Topology *t = p->t;
        const PolicyClass *cls = need->cls;
        unsigned units = need->n_dedicated;
        if (cls->thread_policy == THREAD_POLICY_REQUIRE && t->smt_max < 2)
                return placement_refuse(pl, "ThreadPolicy=require: this host has no SMT");

        count_units(p, cls);
        sum_units(p, cls, need->stay);
        p->group = need->group;
        mark_near_pairs(p, need->near_cpus);
        unsigned total = 0, unbudgeted = 0, most = 0;
        int most_node = -1;
        for (unsigned n = 0; n < t->n_nodes; n++) {
                total += p->node_cap[n];
                if (!need->stay || hwloc_bitmap_isset(need->stay, t->nodes[n].os))
                        unbudgeted += p->node_units[n];
                if (most_node < 0 || p->node_cap[n] > most) {
                        most = p->node_cap[n];
                        most_node = (int) n;
                }
        }
        if (total < units)
                return refuse_dedicated(p, need, pl, units, total, unbudgeted);

        if (cls->cache_locality == CACHE_LOCALITY_L3) {
                int best = one_pair(p, need, units);
                if (best >= 0) {
                        const Pair *pair = &p->pairs[best];
                        unsigned cap = pair_cap(p, (unsigned) best);
                        take_from_pair(p, cls, (unsigned) best, units, cpus, n_cpus, held, false);
                        p->node_take[pair->node] = units;
                        if (pair->l3 >= 0)
                                return placement_explain(pl, "fits in L3 #%d of node %u (%u %s free there)", pair->l3,
                                                         t->nodes[pair->node].os, cap, dedicated_unit_name(cls)) < 0
                                               ? -ENOMEM
                                               : 1;
                        return placement_explain(pl, "fits in node %u, which has no L3 domain",
                                                 t->nodes[pair->node].os) < 0
                                       ? -ENOMEM
                                       : 1;
                }
        }

        /* One node (fewest L3 domains inside it), else the fewest closest nodes. */
        _cleanup_free_ unsigned *nodes = calloc(t->n_nodes ? t->n_nodes : 1, sizeof(unsigned));
        _cleanup_free_ unsigned *pairs = malloc((p->n_pairs ? p->n_pairs : 1) * sizeof(unsigned));
        if (!nodes || !pairs)
                return -ENOMEM;
        unsigned count = cls->cache_locality == CACHE_LOCALITY_NONE
                                 ? host_pool(p, need, units, nodes)
                                 : search_nodes(p, need, units, p->node_cap, false, set_fits, nodes);
        if (count == 0)
                return refuse_memory(p, need, pl, p->node_cap, units);
        /* Under guest SMT whole sibling groups come first from every node, singles after: a single
         * taken in between would put every later group across two cores. */
        _cleanup_free_ unsigned *left = malloc(count * sizeof(unsigned));
        _cleanup_bitmap_ hwloc_bitmap_t used = hwloc_bitmap_alloc();
        if (!left || !used)
                return -ENOMEM;
        for (unsigned i = 0; i < count; i++)
                left[i] = p->node_take[nodes[i]];
        for (int groups = p->group > 1; groups >= 0; groups--)
                for (unsigned i = 0; i < count; i++)
                        left[i] -= take_from_node(p, cls, nodes[i], left[i], groups, pairs, cpus, n_cpus, held, used);
        unsigned l3_used = (unsigned) hwloc_bitmap_weight(used);
        return explain_nodes(p, pl, cls, units, nodes, count, l3_used, most, most_node) < 0 ? -ENOMEM : 1;
}

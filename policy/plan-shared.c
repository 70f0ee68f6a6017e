/* The shared pool: which CPUs shared vCPUs float over, Overcommit per node, and placing shared vCPUs. */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpulist.h"
#include "macro.h"
#include "planner-internal.h"

bool shared_cpu_free(const Planner *p, unsigned i) {
        return p->shared_pool[i] && !p->held[i] && !p->pinned[i];
}

/* Adds the shared CPUs of core k to set. */
static void add_core_shared_cpus(const Planner *p, unsigned k, hwloc_bitmap_t set) {
        for (unsigned j = p->core_cpu0[k]; j < p->core_cpu0[k + 1]; j++)
                if (shared_cpu_free(p, p->core_cpus[j]))
                        hwloc_bitmap_set(set, p->t->cpus[p->core_cpus[j]].os);
}

void planner_shared_cpus(const Planner *p, unsigned node, hwloc_bitmap_t set) {
        hwloc_bitmap_zero(set);
        for (unsigned c = p->node_core0[node]; c < p->node_core0[node + 1]; c++)
                add_core_shared_cpus(p, p->node_cores[c], set);
}

unsigned shared_cpu_count(const Planner *p, unsigned node) {
        return p->node_shared_cpus[node];
}

int shared_pair_of(const Planner *p, const Placement *pl) {
        for (unsigned n = 0; pl->shared_l3 >= 0 && n < p->t->n_nodes; n++)
                for (unsigned j = p->node_pair0[n]; pl->shared_vcpus[n] && j < p->node_pair0[n + 1]; j++)
                        if (p->pairs[p->node_pairs[j]].l3 == pl->shared_l3)
                                return (int) p->node_pairs[j];
        return -1;
}

unsigned shared_pair_cpus(const Planner *p, unsigned pair) {
        unsigned n = 0;
        for (unsigned c = 0; c < p->pairs[pair].n_cores; c++) {
                unsigned k = p->pairs[pair].cores[c];
                for (unsigned j = p->core_cpu0[k]; j < p->core_cpu0[k + 1]; j++)
                        n += shared_cpu_free(p, p->core_cpus[j]);
        }
        return n;
}

void shared_float_cpus(const Planner *p, const Placement *pl, hwloc_bitmap_t set) {
        /* Set bit by bit, with no set of its own per node: at 8192 CPUs each would be 1 KiB. */
        hwloc_bitmap_zero(set);
        int pair = shared_pair_of(p, pl);
        if (pair >= 0) { /* only the pair's own CPUs, on the one node its vCPUs float on */
                for (unsigned c = 0; c < p->pairs[pair].n_cores; c++)
                        add_core_shared_cpus(p, p->pairs[pair].cores[c], set);
                return;
        }
        for (unsigned n = 0; n < p->t->n_nodes; n++)
                for (unsigned c = p->node_core0[n]; pl->shared_vcpus[n] && c < p->node_core0[n + 1]; c++)
                        add_core_shared_cpus(p, p->node_cores[c], set);
}

bool shared_vcpus_grouped(const Planner *p, const Placement *pl) {
        unsigned nodes = 0;
        for (unsigned n = 0; n < p->t->n_nodes; n++)
                nodes += pl->shared_vcpus[n] > 0;
        return nodes > 1;
}

/* The CPUs of the group on node n (-1: not grouped): that node's shared CPUs, or, when it has
 * none left (domains that pin themselves took them all), the VM's float set, since a vCPU with
 * no CPU fails to pin. */
static void group_cpus(const Planner *p, const Placement *pl, int n, hwloc_bitmap_t set) {
        if (n >= 0) {
                planner_shared_cpus(p, (unsigned) n, set);
                if (!hwloc_bitmap_iszero(set))
                        return;
        }
        shared_float_cpus(p, pl, set);
}

void shared_vcpu_sets(const Planner *p, Placement *pl) {
        bool grouped = shared_vcpus_grouped(p, pl);
        hwloc_bitmap_t first = NULL; /* the set of its group's first vCPU: the others copy it */
        int node = -1;
        unsigned left = 0; /* vCPUs still to come in node's group (counts add up: placed so, or
                            * checked on restore) */
        for (unsigned v = 0; v < pl->n_vcpus; v++) {
                hwloc_bitmap_t set = pl->vcpus[v].cpus;
                if (pl->vcpus[v].dedicated)
                        continue;
                if (grouped && left == 0) {
                        while (++node < (int) p->t->n_nodes && !pl->shared_vcpus[node])
                                ;
                        assert(node < (int) p->t->n_nodes);
                        left = pl->shared_vcpus[node];
                        first = NULL;
                }
                left -= grouped;
                if (first)
                        hwloc_bitmap_copy(set, first);
                else
                        group_cpus(p, pl, node, first = set);
        }
}

unsigned planner_shared_vcpus(const Planner *p, unsigned node) {
        return p->node_shared_vcpus[node];
}

double shared_node_limit(const Planner *p, unsigned n) {
        return p->node_limit[n];
}

/* The strictest Overcommit of the shared placements on node n other than skip, 0 for none. */
static double limit_without(const Planner *p, unsigned n, const Placement *skip) {
        double limit = 0;
        for (unsigned i = 0; i < p->n_placements; i++) {
                const Placement *pl = p->placements[i];
                if (pl != skip && pl->admitted && pl->shared_vcpus && pl->shared_vcpus[n] && pl->cls->overcommit > 0 &&
                    (limit == 0 || pl->cls->overcommit < limit))
                        limit = pl->cls->overcommit;
        }
        return limit;
}

void shared_update_limits(Planner *p, const Placement *pl, int sign) {
        double ratio = pl->cls->overcommit;
        for (unsigned n = 0; n < p->t->n_nodes; n++) {
                if (!pl->shared_vcpus[n])
                        continue;
                if (sign < 0)
                        p->node_limit[n] = limit_without(p, n, pl); /* releasing: others may be laxer */
                else if (ratio > 0 && (p->node_limit[n] == 0 || ratio < p->node_limit[n]))
                        p->node_limit[n] = ratio;
        }
}

/* A VM over several nodes has its shared vCPUs pinned per node, so what a node carries is
 * exactly what was booked there. */
unsigned shared_node_load(const Planner *p, unsigned n) {
        return p->node_shared_vcpus[n];
}

unsigned shared_spare_cpus(const Planner *p, unsigned n) {
        unsigned vcpus = shared_node_load(p, n), shared = shared_cpu_count(p, n);
        if (vcpus == 0)
                return UINT32_MAX;
        double limit = shared_node_limit(p, n);
        unsigned keep = limit > 0 ? (unsigned) ceil((double) vcpus / limit - 1e-9) : 1;
        return shared > keep ? shared - keep : 0;
}

/* Ratio of shared vCPUs to shared CPUs on node n if add more vCPUs came (and take CPUs left). */
static double shared_ratio_after(const Planner *p, unsigned n, unsigned add, unsigned *ret_vcpus, unsigned *ret_cpus) {
        unsigned cpus = shared_cpu_count(p, n), vcpus = shared_node_load(p, n) + add;
        *ret_vcpus = vcpus;
        *ret_cpus = cpus;
        return cpus ? (double) vcpus / cpus : INFINITY;
}

/* The ratio a new domain of class cls must respect on node n: the strictest of its Overcommit
 * and those of the shared domains already there; 0 for none. */
static double shared_ratio_limit(const Planner *p, unsigned n, const PolicyClass *cls) {
        double limit = shared_node_limit(p, n);
        if (cls->overcommit > 0 && (limit == 0 || cls->overcommit < limit))
                limit = cls->overcommit;
        return limit;
}

/* How many more shared vCPUs node n takes under shared_ratio_limit(). */
static unsigned shared_capacity(const Planner *p, unsigned n, const PolicyClass *cls) {
        unsigned cpus = shared_cpu_count(p, n);
        if (cpus == 0)
                return 0;
        double limit = shared_ratio_limit(p, n, cls);
        if (limit == 0)
                return UINT32_MAX / 2;
        double room = floor(limit * cpus + 1e-9) - shared_node_load(p, n);
        return room > 0 ? (unsigned) room : 0;
}

/* Spreads units over a set of nodes in proportion to their shared CPUs, each within its room in
 * p->set_room[] (a node's group of vCPUs is pinned there, so it carries exactly its take); what
 * a node cannot take goes first to a member with none yet, then to the most room left. Returns
 * whether the rooms hold them all. */
static bool spread_over(Planner *p, const unsigned *nodes, unsigned *take, unsigned count, unsigned units) {
        const unsigned *room = p->set_room;
        unsigned given = 0;
        uint64_t total = 0, rooms = 0;
        for (unsigned i = 0; i < count; i++) {
                total += shared_cpu_count(p, nodes[i]);
                rooms += room[i];
        }
        if (total == 0 || rooms < units) /* the search tries many sets: fail those before spreading */
                return false;
        for (unsigned i = 0; i < count; i++) {
                take[i] = (unsigned) ((uint64_t) units * shared_cpu_count(p, nodes[i]) / total);
                take[i] = take[i] < room[i] ? take[i] : room[i];
                given += take[i];
        }
        for (; given < units; given++) {
                unsigned best = 0;
                for (unsigned i = 1; i < count; i++) {
                        bool empty = take[i] == 0 && room[i] > 0, best_empty = take[best] == 0 && room[best] > 0;
                        if ((empty && !best_empty) ||
                            (empty == best_empty && room[i] - take[i] > room[best] - take[best]))
                                best = i;
                }
                if (take[best] >= room[best])
                        return false;
                take[best]++;
        }
        return true;
}

/* A set of nodes the search proposes: each member's room is what its ratio allows and its
 * memory holds the share of, so the spread gives no node more memory than it has; every member
 * must get vCPUs, or a smaller set is the one to take. */
static bool spread_fits(Planner *p, const Need *need, const unsigned *nodes, unsigned *take, unsigned count,
                        unsigned units) {
        for (unsigned i = 0; i < count; i++)
                p->set_room[i] = memory_units(p, need, nodes[i], units, shared_capacity(p, nodes[i], need->cls));
        if (!spread_over(p, nodes, take, count, units))
                return false;
        for (unsigned i = 0; i < count; i++)
                if (take[i] == 0)
                        return false;
        return true;
}

/* The refusal when no set of nodes takes the shared vCPUs: the ratio of the node with the most
 * room when all of them together have too little, else the memory. */
static int refuse_ratio(Planner *p, const Need *need, Placement *pl, const unsigned *cap) {
        const Topology *t = p->t;
        unsigned units = need->n_shared, room = 0;
        uint64_t together = 0;
        int closest = -1;
        for (unsigned n = 0; n < t->n_nodes; n++) {
                together += cap[n];
                if (closest < 0 || cap[n] > room) {
                        closest = (int) n;
                        room = cap[n];
                }
        }
        unsigned v, c;
        double r = shared_ratio_after(p, (unsigned) closest, units, &v, &c);
        double limit = shared_ratio_limit(p, (unsigned) closest, need->cls);
        if (c == 0)
                return placement_refuse(pl, "node %u: needs shared CPUs for %u vCPUs, 0 free", t->nodes[closest].os,
                                        units);
        /* Nodes with room together take any spread that fits their rooms: then it was memory. */
        if (limit > 0 && together < units)
                return placement_refuse(pl, "node %u shared ratio would be %.2f > %.1f (%u vCPUs / %u CPUs)",
                                        t->nodes[closest].os, r, limit, v, c);
        return refuse_memory(p, need, pl, cap, units);
}

/* A domain that runs already and no longer fits the ratio (a policy that became stricter, an
 * upgrade that brought a default Overcommit): kept as it is on the node with the most room; only
 * new starts are held to the ratio. Returns 1, or -ENOMEM. */
static int keep_running(Planner *p, const Need *need, Placement *pl, unsigned *nodes) {
        const Topology *t = p->t;
        int best = -1;
        double best_ratio = INFINITY;
        for (unsigned n = 0; n < t->n_nodes; n++) {
                unsigned v, c;
                double ratio = shared_ratio_after(p, n, need->n_shared, &v, &c);
                if (c > 0 && ratio < best_ratio && (!need->stay || hwloc_bitmap_isset(need->stay, t->nodes[n].os))) {
                        best = (int) n;
                        best_ratio = ratio;
                }
        }
        if (best < 0)
                return placement_refuse(pl, "%s: no shared CPU left for its %u shared vCPUs",
                                        need->stay ? "its nodes" : "host", need->n_shared);
        nodes[0] = (unsigned) best;
        memset(p->node_take, 0, t->n_nodes * sizeof(unsigned));
        p->node_take[best] = need->n_shared;
        double limit = shared_ratio_limit(p, (unsigned) best, need->cls);
        if (limit <= 0 || best_ratio <= limit + 1e-9)
                return 1; /* within the ratio on one node: nothing to say */
        pl->over_ratio = true;
        return placement_explain(pl,
                                 "runs already: kept on node %u above Overcommit %.1f (ratio %.2f there); only new "
                                 "starts are held to it",
                                 t->nodes[best].os, limit, best_ratio) < 0
                       ? -ENOMEM
                       : 1;
}

/* Mixed: shared vCPUs run on the shared CPUs of the dedicated vCPUs' nodes, spread in
 * proportion to those CPUs within each node's room; the nodes are fixed, so too little room
 * refuses. */
static int place_mixed(Planner *p, const Need *need, Placement *pl) {
        const Topology *t = p->t;
        _cleanup_free_ unsigned *nodes = calloc(2 * (size_t) t->n_nodes, sizeof(unsigned));
        if (!nodes)
                return -ENOMEM;
        unsigned count = 0, *take = nodes + t->n_nodes;
        for (unsigned n = 0; n < t->n_nodes; n++)
                if (p->node_take[n])
                        nodes[count++] = n;
        /* Its memory goes with the dedicated vCPUs (memory_split()), checked when they were placed. */
        for (unsigned i = 0; i < count; i++)
                p->set_room[i] = shared_capacity(p, nodes[i], need->cls);
        if (spread_over(p, nodes, take, count, need->n_shared)) {
                for (unsigned i = 0; i < count; i++)
                        pl->shared_vcpus[nodes[i]] = take[i];
                return 1;
        }
        uint64_t room = 0, cpus = 0;
        for (unsigned i = 0; i < count; i++) {
                room += shared_capacity(p, nodes[i], need->cls);
                cpus += shared_cpu_count(p, nodes[i]);
        }
        if (cpus == 0)
                return placement_refuse(pl,
                                        "no shared CPU free for its %u shared vCPUs on the node%s of its dedicated "
                                        "vCPUs",
                                        need->n_shared, count == 1 ? "" : "s");
        if (count == 1) {
                unsigned v, c;
                double r = shared_ratio_after(p, nodes[0], need->n_shared, &v, &c);
                return placement_refuse(pl, "node %u shared ratio would be %.2f > %.1f (%u vCPUs / %u CPUs)",
                                        t->nodes[nodes[0]].os, r, shared_ratio_limit(p, nodes[0], need->cls), v, c);
        }
        return placement_refuse(pl,
                                "the nodes of its dedicated vCPUs have room for %" PRIu64 " of its %u shared vCPUs "
                                "within their ratios",
                                room, need->n_shared);
}

/* CacheLocality=l3: the L3 group of one node whose shared CPUs take the vCPUs within the ratio
 * (counted in the group and on its node), the lowest resulting ratio first, near devices first.
 * Returns 1 placed, 0 none takes it, -ENOMEM. */
static int place_in_l3(Planner *p, const Need *need, Placement *pl) {
        const Topology *t = p->t;
        int best = -1;
        double best_ratio = INFINITY;
        for (unsigned i = 0; i < p->n_pairs; i++) {
                unsigned n = (unsigned) p->pairs[i].node, cpus = shared_pair_cpus(p, i);
                double limit = shared_ratio_limit(p, n, need->cls);
                if (p->pairs[i].l3 < 0 || cpus == 0 || (need->stay && !hwloc_bitmap_isset(need->stay, t->nodes[n].os)))
                        continue;
                double ratio = (double) (p->pair_shared_vcpus[i] + need->n_shared) / cpus;
                if ((limit > 0 && ratio > limit + 1e-9) || shared_capacity(p, n, need->cls) < need->n_shared ||
                    !memory_fits(p, need, n, need->memory_kib))
                        continue;
                bool near = need->near_cpus ? p->pair_near[i] : (int) n == need->prefer_node;
                bool best_near =
                        best >= 0 && (need->near_cpus ? p->pair_near[best] : p->pairs[best].node == need->prefer_node);
                if (best < 0 || (near && !best_near) || (near == best_near && ratio < best_ratio - 1e-12)) {
                        best = (int) i;
                        best_ratio = ratio;
                }
        }
        if (best < 0)
                return 0;
        const Pair *pair = &p->pairs[best];
        memset(p->node_take, 0, t->n_nodes * sizeof(unsigned));
        p->node_take[pair->node] = need->n_shared;
        pl->shared_vcpus[pair->node] = need->n_shared;
        pl->shared_l3 = pair->l3;
        return placement_explain(pl,
                                 "CacheLocality=l3: floats over the shared CPUs of L3 #%d of node %u: ratio %.2f there",
                                 pair->l3, t->nodes[pair->node].os, best_ratio) < 0
                       ? -ENOMEM
                       : 1;
}

/* Why a shared VM spans nodes (no node has the room, or none with the room has the memory), and
 * how. Returns 1 or -ENOMEM. */
static int explain_span(Planner *p, const Need *need, Placement *pl, const unsigned *cap) {
        const Topology *t = p->t;
        unsigned most = 0;
        for (unsigned n = 1; n < t->n_nodes; n++)
                if (cap[n] > cap[most])
                        most = n;
        _cleanup_bitmap_ hwloc_bitmap_t ns = hwloc_bitmap_alloc();
        for (unsigned n = 0; ns && n < t->n_nodes; n++)
                if (pl->shared_vcpus[n])
                        hwloc_bitmap_set(ns, t->nodes[n].os);
        _cleanup_free_ char *list = ns ? cpulist_format(ns) : NULL;
        char why[128];
        if (!list)
                return -ENOMEM;
        if (cap[most] >= need->n_shared)
                snprintf(why, sizeof(why), "no node with room for its %u shared vCPUs has the memory for them",
                         need->n_shared);
        else
                snprintf(why, sizeof(why),
                         "no node takes %u shared vCPUs within its ratio (the most room: %u, node %u)", need->n_shared,
                         cap[most], t->nodes[most].os);
        return placement_explain(pl,
                                 "%s: spans nodes %s, the fewest that have the room and the memory, and the closest "
                                 "of those by NUMA distance; each node's vCPUs float over its own shared CPUs",
                                 why, list) < 0
                       ? -ENOMEM
                       : 1;
}

/* One node, the lowest resulting ratio (shared vCPUs spread out), near devices first; else the
 * fewest closest nodes; a domain that runs already and fits nowhere is kept. Returns 1, 0
 * refused (the reason in pl->reason), or -ENOMEM. */
static int place_on_nodes(Planner *p, const Need *need, Placement *pl) {
        const Topology *t = p->t;
        const PolicyClass *cls = need->cls;
        int r;
        _cleanup_free_ unsigned *cap = malloc(t->n_nodes * sizeof(unsigned));
        _cleanup_free_ unsigned *nodes = calloc(t->n_nodes, sizeof(unsigned));
        if (!cap || !nodes)
                return -ENOMEM;
        for (unsigned n = 0; n < t->n_nodes; n++)
                cap[n] = need->stay && !hwloc_bitmap_isset(need->stay, t->nodes[n].os) ? 0 : shared_capacity(p, n, cls);
        /* One node: the lowest resulting ratio (shared vCPUs spread out), near devices first. */
        int best = -1;
        double best_ratio = INFINITY;
        for (unsigned n = 0; n < t->n_nodes; n++) {
                unsigned v, c, take = need->n_shared;
                if (cap[n] < need->n_shared || !spread_fits(p, need, &n, &take, 1, need->n_shared))
                        continue;
                double ratio = shared_ratio_after(p, n, need->n_shared, &v, &c);
                bool near = (int) n == need->prefer_node, best_near = best >= 0 && best == need->prefer_node;
                if (best < 0 || (near && !best_near) || (near == best_near && ratio < best_ratio - 1e-12)) {
                        best = (int) n;
                        best_ratio = ratio;
                }
        }
        unsigned count = 1;
        if (best >= 0) {
                nodes[0] = (unsigned) best;
                memset(p->node_take, 0, t->n_nodes * sizeof(unsigned));
                p->node_take[best] = need->n_shared;
        } else if ((count = search_span(p, need, need->n_shared, cap, spread_fits, nodes)) == 0) {
                if (!need->running)
                        return refuse_ratio(p, need, pl, cap);
                if ((r = keep_running(p, need, pl, nodes)) <= 0)
                        return r;
                count = 1;
        }
        for (unsigned i = 0; i < count; i++)
                pl->shared_vcpus[nodes[i]] = p->node_take[nodes[i]];
        return count > 1 ? explain_span(p, need, pl, cap) : 1;
}

/* Places the shared vCPUs: on the nodes of the dedicated ones (mixed), else in one L3 group
 * (CacheLocality=l3), else on one node, else on the fewest closest nodes. Returns 1, 0 refused
 * (the reason in pl->reason), or -ENOMEM. */
int shared_place(Planner *p, const Need *need, Placement *pl, unsigned dedicated_nodes) {
        const Topology *t = p->t;
        const PolicyClass *cls = need->cls;
        bool in_l3 = cls->cache_locality == CACHE_LOCALITY_L3 && t->n_l3s > 0; /* a host without L3: its nodes */
        int r;
        if (dedicated_nodes > 0)
                r = place_mixed(p, need, pl);
        else if (!in_l3 || (r = place_in_l3(p, need, pl)) == 0) {
                if (in_l3 && placement_explain(pl, "CacheLocality=l3: no L3 group takes it within the ratio; its "
                                                   "node does") < 0)
                        return -ENOMEM;
                r = place_on_nodes(p, need, pl);
        }
        if (r <= 0)
                return r;
        for (unsigned n = 0; n < t->n_nodes; n++) {
                if (!pl->shared_vcpus[n])
                        continue;
                unsigned v, c;
                double ratio = shared_ratio_after(p, n, pl->shared_vcpus[n], &v, &c);
                int e = placement_explain(pl, "%u shared vCPU%s on node %u: ratio %.2f (%u vCPUs / %u CPUs)%s",
                                          pl->shared_vcpus[n], pl->shared_vcpus[n] == 1 ? "" : "s", t->nodes[n].os,
                                          ratio, v, c, cls->overcommit > 0 ? "" : ", no Overcommit limit");
                if (e < 0)
                        return e;
        }
        return 1;
}

int planner_refresh_shared(Planner *p) {
        for (unsigned i = 0; i < p->n_placements; i++) {
                Placement *pl = p->placements[i];
                if (!pl->admitted || pl->adopted)
                        continue;
                if (pl->floating)
                        shared_float_cpus(p, pl, pl->floating);
                else
                        shared_vcpu_sets(p, pl);
                /* Helpers that float over the VM's own CPUs follow them. */
                if (pl->cls->emulator_threads == HELPER_SHARE) {
                        hwloc_bitmap_zero(pl->emulator);
                        for (unsigned v = 0; v < pl->n_vcpus; v++)
                                placement_vcpu_add(pl, v, pl->emulator);
                }
                if (pl->cls->io_threads == HELPER_SHARE)
                        for (unsigned k = 0; k < pl->n_iothreads; k++) {
                                hwloc_bitmap_zero(pl->iothreads[k].cpus);
                                for (unsigned v = 0; v < pl->n_vcpus; v++)
                                        placement_vcpu_add(pl, v, pl->iothreads[k].cpus);
                        }
        }
        return 0;
}

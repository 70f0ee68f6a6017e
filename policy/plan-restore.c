/* Restore: a placement read back from the allocations file, checked and booked exactly as it was. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpulist.h"
#include "macro.h"
#include "planner-internal.h"

/* Whether a spec read back from disk could have come from this planner: an admitted placement
 * of its own holds exactly the CPUs its dedicated vCPUs run on (one vCPU per CPU) plus its
 * isolated helpers', its shared vCPUs run on none of them and are counted per node; a refused
 * one holds nothing. The file is not trusted: an edit must not book less than runs. */
static bool spec_valid(const Planner *p, const Placement *spec) {
        if (!spec->admitted)
                return hwloc_bitmap_iszero(spec->held);
        if (spec->adopted)
                return true; /* its own pins: what they name is booked as it is */
        _cleanup_bitmap_ hwloc_bitmap_t used = hwloc_bitmap_alloc(), cpus = hwloc_bitmap_alloc();
        if (!used || !cpus)
                return false;
        unsigned shared = 0;
        uint64_t counted = 0;
        for (unsigned i = 0; i < spec->n_vcpus; i++) {
                placement_vcpu_cpus(spec, i, cpus);
                if (hwloc_bitmap_iszero(cpus))
                        return false;
                if (!spec->vcpus[i].dedicated) {
                        shared++;
                        if (hwloc_bitmap_intersects(cpus, spec->held))
                                return false;
                        continue;
                }
                if (!hwloc_bitmap_isincluded(cpus, spec->held) || hwloc_bitmap_intersects(cpus, used))
                        return false;
                hwloc_bitmap_or(used, used, cpus);
        }
        /* The per-node counts add up to the shared vCPUs (each at most that: a sum must not wrap),
         * every shared vCPU floats within the CPUs of the nodes counted, and each node counts at
         * least the vCPUs pinned to it alone and at most those that may run there: groups pinned
         * per node (this version) or one set over all the nodes (earlier ones). */
        _cleanup_bitmap_ hwloc_bitmap_t counted_cpus = hwloc_bitmap_alloc(), node_cpus = hwloc_bitmap_alloc();
        if (!counted_cpus || !node_cpus)
                return false;
        for (unsigned n = 0; n < (p->t->n_nodes ? p->t->n_nodes : 1); n++) {
                unsigned alone = 0, touching = 0;
                planner_node_cpus(p, n, node_cpus);
                for (unsigned i = 0; i < spec->n_vcpus; i++) {
                        if (spec->vcpus[i].dedicated)
                                continue;
                        placement_vcpu_cpus(spec, i, cpus);
                        alone += hwloc_bitmap_isincluded(cpus, node_cpus);
                        touching += hwloc_bitmap_intersects(cpus, node_cpus);
                }
                if (spec->shared_vcpus[n] > shared || spec->shared_vcpus[n] < alone || spec->shared_vcpus[n] > touching)
                        return false;
                counted += spec->shared_vcpus[n];
                if (spec->shared_vcpus[n])
                        hwloc_bitmap_or(counted_cpus, counted_cpus, node_cpus);
        }
        for (unsigned i = 0; i < spec->n_vcpus; i++) {
                if (spec->vcpus[i].dedicated)
                        continue;
                placement_vcpu_cpus(spec, i, cpus);
                if (!hwloc_bitmap_isincluded(cpus, counted_cpus))
                        return false;
        }
        return counted == shared;
}

int planner_restore(Planner *p, const Placement *spec, const char *class_name, const Placement **ret_placement) {
        const Topology *t = p->t;
        if (planner_find(p, spec->name))
                return -EEXIST;
        const PolicyClass *cls = config_find_class(p->c, class_name);
        if (!cls)
                return -ENOENT;
        /* shared_l3: an L3 group of the one node its vCPUs float on */
        if (!spec_valid(p, spec) ||
            (spec->shared_l3 >= 0 && (shared_vcpus_grouped(p, spec) || shared_pair_of(p, spec) < 0)))
                return -EINVAL;
        for (unsigned i = 0; i < t->n_cpus && spec->admitted && !spec->adopted; i++)
                if (hwloc_bitmap_isset(spec->held, t->cpus[i].os) && (p->held[i] || p->pinned[i]))
                        return -EBUSY;

        unsigned n_nodes = t->n_nodes ? t->n_nodes : 1;
        _cleanup_(placement_freep) Placement *pl = placement_copy(spec, n_nodes);
        if (!pl)
                return -ENOMEM;
        pl->cls = cls;
        int r = book_enter(p, pl);
        if (r < 0)
                return r;

        book_placement(p, pl, 1);
        *ret_placement = TAKE_PTR(pl);
        return 0;
}

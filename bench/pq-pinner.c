/* bench/placement-quality: the locality-blind sequential pinner the planner is measured against. */

#include "macro.h"
#include "placement-quality.h"

/* Takes the lowest-numbered free CPUs of the dedicated pool (isolate: whole free cores), of the
 * performance kind when the class asks for it, into take. Returns whether there were enough. */
static bool pinner_take(const Host *h, const PolicyClass *cls, hwloc_const_bitmap_t held, unsigned want,
                        hwloc_bitmap_t take) {
        _cleanup_bitmap_ hwloc_bitmap_t free_set = hwloc_bitmap_alloc();
        hwloc_bitmap_zero(take);
        if (!free_set)
                return false;
        hwloc_bitmap_andnot(free_set, h->dedicated, held);
        if (cls->core_kind == CORE_KIND_PERFORMANCE)
                hwloc_bitmap_and(free_set, free_set, h->perf);
        unsigned got = 0;
        if (cls->thread_policy == THREAD_POLICY_ISOLATE) {
                for (unsigned k = 0; k < h->n_cores && got < want; k++)
                        if (hwloc_bitmap_isincluded(h->core_cpus[k], free_set)) {
                                hwloc_bitmap_or(take, take, h->core_cpus[k]);
                                got++;
                        }
                return got == want;
        }
        int cpu;
        hwloc_bitmap_foreach_begin(cpu, free_set) {
                if (got == want)
                        break;
                hwloc_bitmap_set(take, (unsigned) cpu);
                got++;
        }
        hwloc_bitmap_foreach_end();
        return got == want;
}

/* vCPUs the pinner admits over the whole sequence: a shared domain while host-wide shared vCPUs
 * / shared CPUs stay within its ratio, a dedicated one while those vCPUs still fit the
 * strictest ratio on the shared CPUs it leaves. */
unsigned pinner_run(const Host *h, const Job *jobs, unsigned n, unsigned *ret_shared, double *ret_cpus,
                    unsigned *ret_isolated) {
        _cleanup_bitmap_ hwloc_bitmap_t held = hwloc_bitmap_alloc(), take = hwloc_bitmap_alloc();
        _cleanup_bitmap_ hwloc_bitmap_t left = hwloc_bitmap_alloc();
        if (!held || !take || !left)
                return 0;
        unsigned admitted = 0, shared_vcpus = 0;
        double strictest = 0;
        for (unsigned i = 0; i < n; i++) {
                const PolicyClass *cls = jobs[i].cls;
                unsigned v = jobs[i].vcpus;
                if (cls->cpu_policy == CPU_POLICY_SHARED) {
                        hwloc_bitmap_andnot(left, h->shared, held);
                        double cpus = hwloc_bitmap_weight(left);
                        if (cpus == 0 || (cls->overcommit > 0 && (shared_vcpus + v) / cpus > cls->overcommit + EPS))
                                continue;
                        shared_vcpus += v;
                        *ret_shared += v;
                        *ret_cpus += cls->overcommit > 0 ? v / cls->overcommit : v;
                        admitted += v;
                        if (cls->overcommit > 0 && (strictest == 0 || cls->overcommit < strictest))
                                strictest = cls->overcommit;
                        continue;
                }
                if (!pinner_take(h, cls, held, v, take))
                        continue;
                hwloc_bitmap_or(left, held, take);
                hwloc_bitmap_andnot(left, h->shared, left);
                double cpus = hwloc_bitmap_weight(left);
                if (shared_vcpus > 0 && (cpus == 0 || (strictest > 0 && shared_vcpus / cpus > strictest + EPS)))
                        continue;
                hwloc_bitmap_or(held, held, take);
                admitted += v;
                *ret_cpus += hwloc_bitmap_weight(take);
                *ret_isolated += cls->thread_policy == THREAD_POLICY_ISOLATE ? v : 0;
        }
        return admitted;
}

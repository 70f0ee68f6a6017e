/* bench/placement-quality: the planner's result as hwloc's own objects show it (held CPUs, shared
 * vCPUs and memory per node, double bookings) and what could have held a domain whole. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "macro.h"
#include "placement-quality.h"

void state_clear(State *s) {
        hwloc_bitmap_free(s->held);
        free(s->shared_cpus);
        free(s->prop);
        free(s->equal);
        free(s->limit);
        free(s->mem_kib);
        *s = (State){ 0 };
}

int state_init(State *s, unsigned n_nodes) {
        s->held = hwloc_bitmap_alloc();
        s->shared_cpus = calloc(n_nodes, sizeof(unsigned));
        s->prop = calloc(n_nodes, sizeof(double));
        s->equal = calloc(n_nodes, sizeof(double));
        s->limit = calloc(n_nodes, sizeof(double));
        s->mem_kib = calloc(n_nodes, sizeof(double));
        return s->held && s->shared_cpus && s->prop && s->equal && s->limit && s->mem_kib ? 0 : -ENOMEM;
}

void state_vcpu_sets(const Placement *pl, hwloc_bitmap_t dedicated, hwloc_bitmap_t floating) {
        hwloc_bitmap_zero(dedicated);
        hwloc_bitmap_zero(floating);
        for (unsigned v = 0; v < pl->n_vcpus; v++)
                placement_vcpu_add(pl, v, pl->vcpus[v].dedicated ? dedicated : floating);
}

/* Dedicated CPUs held by more than one vCPU, isolated siblings someone else uses, and dedicated
 * vCPUs outside the dedicated pool: every such CPU counts once over the whole run. */
static void state_book_dedicated(const Host *h, const Placement *pl, hwloc_bitmap_t cpus, State *s, Counts *k,
                                 const char *name) {
        hwloc_bitmap_t claim = hwloc_bitmap_dup(cpus);
        if (!claim)
                return;
        if (pl->cls->thread_policy != THREAD_POLICY_PREFER) {
                int cpu;
                hwloc_bitmap_foreach_begin(cpu, cpus) {
                        int core = host_core_of(h, (unsigned) cpu);
                        if (core >= 0)
                                hwloc_bitmap_or(claim, claim, h->core_cpus[core]);
                }
                hwloc_bitmap_foreach_end();
        }
        if (pl->cls->emulator_threads == HELPER_ISOLATE)
                hwloc_bitmap_or(claim, claim, pl->emulator);
        unsigned n_ded = 0;
        for (unsigned v = 0; v < pl->n_vcpus; v++)
                n_ded += pl->vcpus[v].dedicated;
        _cleanup_bitmap_ hwloc_bitmap_t bad = hwloc_bitmap_alloc();
        if (bad) {
                hwloc_bitmap_and(bad, claim, s->held);
                hwloc_bitmap_or(s->held, s->held, claim);
                _cleanup_bitmap_ hwloc_bitmap_t out = hwloc_bitmap_dup(cpus);
                if (out) {
                        hwloc_bitmap_andnot(out, out, h->dedicated);
                        hwloc_bitmap_or(bad, bad, out);
                }
                if ((unsigned) hwloc_bitmap_weight(cpus) != n_ded) /* two vCPUs of its own on one CPU */
                        hwloc_bitmap_or(bad, bad, cpus);
                hwloc_bitmap_andnot(bad, bad, k->bad_cpus);
                if (!hwloc_bitmap_iszero(bad)) {
                        k->double_bookings += (unsigned) hwloc_bitmap_weight(bad);
                        hwloc_bitmap_or(k->bad_cpus, k->bad_cpus, bad);
                        if (k->verbose) {
                                char list[256];
                                hwloc_bitmap_list_snprintf(list, sizeof(list), bad);
                                printf("    double booking: %s (%s) holds CPUs %s held by another, shared by its own "
                                       "vCPUs or outside the dedicated pool\n",
                                       name, pl->cls->name, list);
                        }
                }
        }
        hwloc_bitmap_free(claim);
}

/* Shared vCPUs of one domain per node, two ways, and the ratio it imposes there: each vCPU
 * counts on the nodes its own CPUs are on, by its share of them and as an equal split over them
 * (a vCPU pinned to one node counts 1 there either way). */
static void state_book_shared(const Host *h, const Placement *pl, State *s) {
        _cleanup_bitmap_ hwloc_bitmap_t part = hwloc_bitmap_alloc(), cpus = hwloc_bitmap_alloc();
        if (!part || !cpus)
                return;
        for (unsigned v = 0; v < pl->n_vcpus; v++) {
                if (pl->vcpus[v].dedicated)
                        continue;
                placement_vcpu_cpus(pl, v, cpus);
                double total = hwloc_bitmap_weight(cpus);
                unsigned touched = 0;
                for (unsigned n = 0; n < h->n_nodes; n++)
                        touched += hwloc_bitmap_intersects(h->node_cpus[n], cpus);
                for (unsigned n = 0; n < h->n_nodes; n++) {
                        hwloc_bitmap_and(part, h->node_cpus[n], cpus);
                        double w = hwloc_bitmap_weight(part);
                        /* An empty set has nowhere to run: it counts on its memory nodes. */
                        bool on = touched ? w > 0 : hwloc_bitmap_isset(pl->memory_nodes, h->node_os[n]);
                        if (!on)
                                continue;
                        s->prop[n] += touched ? w / total : 1;
                        s->equal[n] += touched ? 1.0 / touched : 1;
                        if (pl->cls->overcommit > 0 && (s->limit[n] == 0 || pl->cls->overcommit < s->limit[n]))
                                s->limit[n] = pl->cls->overcommit;
                }
        }
}

/* Memory of one domain per node, in proportion to its dedicated CPUs there; a shared domain's
 * in equal parts per vCPU, each split equally over the nodes that vCPU runs on. */
static void state_book_memory(const Host *h, const Job *job, const Placement *pl, hwloc_const_bitmap_t dedicated,
                              State *s) {
        _cleanup_bitmap_ hwloc_bitmap_t part = hwloc_bitmap_alloc(), cpus = hwloc_bitmap_alloc();
        if (!part || !cpus)
                return;
        bool shared = hwloc_bitmap_iszero(dedicated);
        double whole = (double) job->req->memory_kib;
        for (unsigned v = 0; v < (shared ? pl->n_vcpus : 1); v++) {
                if (shared)
                        placement_vcpu_cpus(pl, v, cpus);
                else
                        hwloc_bitmap_copy(cpus, dedicated);
                unsigned touched = 0;
                for (unsigned n = 0; n < h->n_nodes; n++)
                        touched += hwloc_bitmap_intersects(h->node_cpus[n], cpus);
                if (touched == 0)
                        continue;
                double weight = hwloc_bitmap_weight(cpus), kib = shared ? whole / pl->n_vcpus : whole;
                for (unsigned n = 0; n < h->n_nodes; n++) {
                        hwloc_bitmap_and(part, h->node_cpus[n], cpus);
                        double w = hwloc_bitmap_weight(part);
                        if (w > 0)
                                s->mem_kib[n] += kib * (shared ? 1.0 / touched : w / weight);
                }
        }
}

/* The state after the first n placements (as the planner left them, float sets refreshed), with
 * the double bookings found on the way added to k. */
void state_compute(const Host *h, const Job *jobs, const Placement *const *pls, unsigned n, State *s, Counts *k) {
        hwloc_bitmap_zero(s->held);
        for (unsigned i = 0; i < h->n_nodes; i++)
                s->prop[i] = s->equal[i] = s->limit[i] = s->mem_kib[i] = 0;
        _cleanup_bitmap_ hwloc_bitmap_t ded = hwloc_bitmap_alloc(), flt = hwloc_bitmap_alloc();
        _cleanup_bitmap_ hwloc_bitmap_t part = hwloc_bitmap_alloc();
        if (!ded || !flt || !part)
                return;
        for (unsigned i = 0; i < n; i++)
                if (pls[i]->admitted && !pls[i]->adopted) {
                        state_vcpu_sets(pls[i], ded, flt);
                        state_book_dedicated(h, pls[i], ded, s, k, pls[i]->name);
                        state_book_memory(h, &jobs[i], pls[i], ded, s);
                }
        for (unsigned i = 0; i < n; i++) {
                if (!pls[i]->admitted || pls[i]->adopted)
                        continue;
                bool shared = false;
                for (unsigned v = 0; v < pls[i]->n_vcpus; v++)
                        shared |= !pls[i]->vcpus[v].dedicated;
                if (!shared)
                        continue;
                state_vcpu_sets(pls[i], ded, flt);
                state_book_shared(h, pls[i], s);
                if (hwloc_bitmap_intersects(flt, s->held) && !k->bad_float[i]) {
                        k->bad_float[i] = true;
                        k->double_bookings++;
                        if (k->verbose)
                                printf("    double booking: shared %s floats over CPUs a dedicated vCPU holds\n",
                                       pls[i]->name);
                }
        }
        for (unsigned i = 0; i < h->n_nodes; i++) {
                hwloc_bitmap_and(part, h->node_cpus[i], h->shared);
                hwloc_bitmap_andnot(part, part, s->held);
                s->shared_cpus[i] = (unsigned) hwloc_bitmap_weight(part);
        }
}

/* ---- What could have held a domain whole ------------------------------------------------------ */

/* Dedicated units the class could take inside scope right now: free eligible CPUs (prefer), or
 * whole free cores (isolate), of the right kind. */
static unsigned state_scope_units(const Host *h, const State *s, const PolicyClass *cls, hwloc_const_bitmap_t scope) {
        _cleanup_bitmap_ hwloc_bitmap_t eligible = hwloc_bitmap_alloc();
        if (!eligible)
                return 0;
        hwloc_bitmap_and(eligible, scope, h->dedicated);
        hwloc_bitmap_andnot(eligible, eligible, s->held);
        if (cls->core_kind == CORE_KIND_PERFORMANCE)
                hwloc_bitmap_and(eligible, eligible, h->perf);
        if (cls->thread_policy == THREAD_POLICY_PREFER)
                return (unsigned) hwloc_bitmap_weight(eligible);
        unsigned units = 0;
        for (unsigned k = 0; k < h->n_cores; k++)
                units += hwloc_bitmap_intersects(h->core_cpus[k], scope) &&
                         hwloc_bitmap_isincluded(h->core_cpus[k], eligible);
        return units;
}

/* Units node n may give and still leave its shared vCPUs (counted the stricter way) within the
 * strictest ratio there; an isolated core costs as many shared CPUs as the widest core has. */
static unsigned state_node_budget(const Host *h, const State *s, unsigned n, const PolicyClass *cls) {
        double v = s->prop[n] > s->equal[n] ? s->prop[n] : s->equal[n];
        if (v <= EPS)
                return UINT32_MAX;
        unsigned keep = s->limit[n] > 0 ? (unsigned) ceil(v / s->limit[n] - EPS) : 1;
        unsigned spare = s->shared_cpus[n] > keep ? s->shared_cpus[n] - keep : 0;
        return spare / (cls->thread_policy == THREAD_POLICY_PREFER ? 1 : h->smt_max);
}

static bool state_memory_fits(const Host *h, const State *s, unsigned n, const Job *job) {
        return h->node_mem_kib[n] == 0 || s->mem_kib[n] + (double) job->req->memory_kib <= (double) h->node_mem_kib[n];
}

/* The first group that could have held the dedicated domain whole: an (L3, node) part when l3
 * is true, else a node. Returns its index (part: l3 * n_nodes + node), -1 for none. */
int state_dedicated_room(const Host *h, const State *s, const Job *job, bool l3, unsigned *ret_units) {
        _cleanup_bitmap_ hwloc_bitmap_t scope = hwloc_bitmap_alloc();
        if (!scope)
                return -1;
        unsigned n_groups = l3 ? h->n_l3s * h->n_nodes : h->n_nodes;
        for (unsigned g = 0; g < n_groups; g++) {
                unsigned n = g % h->n_nodes;
                if (l3)
                        hwloc_bitmap_and(scope, h->l3_cpus[g / h->n_nodes], h->node_cpus[n]);
                else
                        hwloc_bitmap_copy(scope, h->node_cpus[n]);
                unsigned units = state_scope_units(h, s, job->cls, scope),
                         budget = state_node_budget(h, s, n, job->cls);
                units = units < budget ? units : budget;
                if (units >= job->vcpus && state_memory_fits(h, s, n, job)) {
                        *ret_units = units;
                        return (int) g;
                }
        }
        return -1;
}

/* A node whose shared CPUs could have taken the shared domain within every ratio there. */
int state_shared_room(const Host *h, const State *s, const Job *job) {
        for (unsigned n = 0; n < h->n_nodes; n++) {
                double v = s->prop[n] > s->equal[n] ? s->prop[n] : s->equal[n], limit = job->cls->overcommit;
                if (s->limit[n] > 0 && (limit == 0 || s->limit[n] < limit))
                        limit = s->limit[n];
                if (s->shared_cpus[n] > 0 && (limit == 0 || v + job->vcpus <= limit * s->shared_cpus[n] + EPS) &&
                    state_memory_fits(h, s, n, job))
                        return (int) n;
        }
        return -1;
}

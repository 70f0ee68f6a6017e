/* The placement planner: pure, deterministic placement of domains on the host model (the pipeline
 * of one placement, release and lookup; the rooms are the plan-*.c files). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpulist.h"
#include "macro.h"
#include "planner-internal.h"

int planner_new(const Topology *t, const Config *c, Planner **ret_planner) {
        _cleanup_(planner_freep) Planner *p = calloc(1, sizeof(Planner));
        if (!p)
                return -ENOMEM;
        p->t = t;
        p->c = c;
        unsigned n_nodes = t->n_nodes ? t->n_nodes : 1;

        p->dedicated_pool = calloc(t->n_cpus, 1);
        p->shared_pool = calloc(t->n_cpus, 1);
        p->perf_kind = calloc(t->n_cpus, 1);
        p->eff_kind = calloc(t->n_cpus, 1);
        p->held = calloc(t->n_cpus, 1);
        p->pinned = calloc(t->n_cpus, sizeof(uint16_t));
        p->eligible = calloc(t->n_cpus, 1);
        p->cpu_free = calloc(t->n_cpus, 1);
        p->core_free = calloc(t->n_cores ? t->n_cores : 1, sizeof(unsigned));
        p->held_set = hwloc_bitmap_alloc();
        p->node_shared_vcpus = calloc(n_nodes, sizeof(unsigned));
        p->node_shared_cpus = calloc(n_nodes, sizeof(unsigned));
        p->node_limit = calloc(n_nodes, sizeof(double));
        p->node_small_kib = calloc(n_nodes, sizeof(uint64_t));
        p->node_in_use_kib = calloc(n_nodes, sizeof(uint64_t));
        p->node_pages = calloc((size_t) n_nodes * MAX_PAGE_SIZES, sizeof(PageUse));
        p->core_units = calloc(t->n_cores, sizeof(unsigned));
        p->pair_units = calloc(t->n_cores, sizeof(unsigned));
        p->node_units = calloc(n_nodes, sizeof(unsigned));
        p->node_cap = calloc(n_nodes, sizeof(unsigned));
        p->node_take = calloc(n_nodes, sizeof(unsigned));
        p->set_room = calloc(n_nodes, sizeof(unsigned));
        p->order = calloc(t->n_cores > n_nodes ? t->n_cores : n_nodes, sizeof(unsigned));
        if (!p->dedicated_pool || !p->shared_pool || !p->perf_kind || !p->eff_kind || !p->held || !p->pinned ||
            !p->eligible || !p->cpu_free || !p->core_free || !p->held_set || !p->node_shared_vcpus ||
            !p->node_shared_cpus || !p->node_limit || !p->node_small_kib || !p->node_in_use_kib || !p->node_pages ||
            !p->core_units || !p->pair_units || !p->node_units || !p->node_cap || !p->node_take || !p->set_room ||
            !p->order)
                return -ENOMEM;

        for (unsigned i = 0; i < t->n_cpus; i++) {
                p->dedicated_pool[i] = hwloc_bitmap_isset(c->host.dedicated, t->cpus[i].os);
                p->shared_pool[i] = hwloc_bitmap_isset(c->host.shared, t->cpus[i].os);
                p->cpu_free[i] = p->dedicated_pool[i];
                p->core_free[t->cpus[i].core] += p->cpu_free[i];
        }
        int r = setup_host(p);
        if (r < 0)
                return r;
        for (unsigned i = 0; i < t->n_cpus; i++)
                p->node_shared_cpus[p->core_home[t->cpus[i].core]] += shared_cpu_free(p, i);
        *ret_planner = TAKE_PTR(p);
        return 0;
}

void planner_free(Planner *p) {
        if (!p)
                return;
        for (unsigned i = 0; i < p->n_placements; i++)
                placement_free(p->placements[i]);
        free(p->placements);
        free(p->name_hashes);
        for (unsigned i = 0; i < p->n_pairs; i++)
                free(p->pairs[i].cores);
        free(p->pairs);
        free(p->pair_near);
        free(p->pair_fast);
        free(p->pair_shared_vcpus);
        free(p->core_home);
        free(p->core_cpu0);
        free(p->core_cpus);
        free(p->node_pair0);
        free(p->node_pairs);
        free(p->node_core0);
        free(p->node_cores);
        free(p->distance);
        free(p->dedicated_pool);
        free(p->shared_pool);
        free(p->perf_kind);
        free(p->eff_kind);
        free(p->held);
        free(p->cpu_free);
        free(p->core_free);
        free(p->pinned);
        free(p->eligible);
        hwloc_bitmap_free(p->held_set);
        free(p->node_shared_vcpus);
        free(p->node_shared_cpus);
        free(p->node_limit);
        free(p->node_small_kib);
        free(p->node_in_use_kib);
        free(p->node_pages);
        free(p->core_units);
        free(p->pair_units);
        free(p->node_units);
        free(p->node_cap);
        free(p->node_take);
        free(p->set_room);
        free(p->order);
        free(p);
}

void planner_node_cpus(const Planner *p, unsigned node, hwloc_bitmap_t set) {
        hwloc_bitmap_zero(set);
        if (node >= (p->t->n_nodes ? p->t->n_nodes : 1))
                return;
        for (unsigned c = p->node_core0[node]; c < p->node_core0[node + 1]; c++) {
                unsigned k = p->node_cores[c];
                for (unsigned j = p->core_cpu0[k]; j < p->core_cpu0[k + 1]; j++)
                        hwloc_bitmap_set(set, p->t->cpus[p->core_cpus[j]].os);
        }
}

void planner_held_cpus(const Planner *p, hwloc_bitmap_t set) {
        hwloc_bitmap_copy(set, p->held_set);
}

static int build_need(Planner *p, const DomainRequest *req, const PolicyClass *cls, Placement *pl, Need *need) {
        /* Only a live free figure leaves out memory in use; a total (a recorded machine) does not. */
        /* Strictly bound memory cannot spill: a balloon may grow it back to <memory> there. */
        *need = (Need){ .cls = cls,
                        .memory_kib = cls->memory_policy == MEMORY_STRICT ? req->max_memory_kib : req->memory_kib,
                        .balloon_kib = cls->memory_policy == MEMORY_STRICT ? req->max_memory_kib - req->memory_kib : 0,
                        .memory_use = memory_live_figures(p->t) ? req->memory_use : MEMORY_USE_NONE,
                        .running = req->memory_use == MEMORY_USE_ALL,
                        .stay = hwloc_bitmap_iszero(req->stay_nodes) ? NULL : req->stay_nodes,
                        .prefer_node = -1 };
        switch (cls->cpu_policy) {
        case CPU_POLICY_DEDICATED:
                need->n_dedicated = req->vcpus;
                break;
        case CPU_POLICY_SHARED:
                need->n_shared = req->vcpus;
                break;
        case CPU_POLICY_MIXED: {
                if (!req->dedicated_vcpus)
                        return placement_refuse(pl,
                                                "class %s is mixed, but the domain names no dedicated vCPUs "
                                                "(metadata dedicated-vcpus= or <vcpusched scheduler='fifo'>)",
                                                cls->name);
                unsigned d = (unsigned) hwloc_bitmap_weight(req->dedicated_vcpus);
                need->n_dedicated = d;
                need->n_shared = req->vcpus - d;
                break;
        }
        }
        if (cls->emulator_threads == HELPER_ISOLATE && hwloc_bitmap_iszero(req->emulator_pins))
                need->n_extra++; /* an emulator the domain pins itself needs no CPU of kvmtuned's */
        if (cls->io_threads == HELPER_ISOLATE && req->n_iothreads > 0)
                need->n_extra++;
        need->n_dedicated += need->n_extra;
        need->group = 1;
        if (cls->cpu_policy == CPU_POLICY_DEDICATED && cls->thread_policy == THREAD_POLICY_PREFER &&
            req->guest_threads > 1 && p->t->smt_max >= req->guest_threads)
                need->group = req->guest_threads;

        int r = memory_pick_page_size(p, req, cls, pl, &need->page_kib);
        if (r < 0)
                return r;

        if (cls->near_devices && req->n_hostdevs > 0) {
                for (unsigned i = 0; i < req->n_hostdevs && need->prefer_node < 0; i++) {
                        int d = topology_device_index(p->t, req->hostdevs[i]);
                        if (d >= 0 && p->t->devices[d].node >= 0) {
                                need->prefer_node = p->t->devices[d].node;
                                need->near_cpus = p->t->devices[d].local_cpus;
                                r = placement_explain(pl, "NearDevices: %s is on node %u", req->hostdevs[i],
                                                      p->t->nodes[need->prefer_node].os);
                        } else
                                r = placement_explain(pl, "NearDevices: %s has no single node on this host",
                                                      req->hostdevs[i]);
                        if (r < 0)
                                return r;
                }
        }
        return 1;
}

static void helper_cpus(Planner *p, const Placement *pl, HelperPlacement how, const unsigned *extra,
                        hwloc_bitmap_t out) {
        const Topology *t = p->t;
        hwloc_bitmap_zero(out);
        switch (how) {
        case HELPER_ISOLATE:
                hwloc_bitmap_set(out, t->cpus[*extra].os);
                return;
        case HELPER_SHARE:
                for (unsigned i = 0; i < pl->n_vcpus; i++)
                        placement_vcpu_add(pl, i, out);
                return;
        case HELPER_HOUSEKEEPING:
                /* The housekeeping CPUs of its nodes, as the planner counts a node's CPUs. */
                for (unsigned n = 0; n < t->n_nodes; n++)
                        for (unsigned c = p->node_core0[n]; p->node_take[n] && c < p->node_core0[n + 1]; c++) {
                                unsigned k = p->node_cores[c];
                                for (unsigned j = p->core_cpu0[k]; j < p->core_cpu0[k + 1]; j++)
                                        if (hwloc_bitmap_isset(p->c->host.housekeeping, t->cpus[p->core_cpus[j]].os))
                                                hwloc_bitmap_set(out, t->cpus[p->core_cpus[j]].os);
                        }
                if (hwloc_bitmap_iszero(out)) /* no housekeeping CPU on its nodes */
                        hwloc_bitmap_copy(out, p->c->host.housekeeping);
                return;
        }
}

static int fill_vcpus(Planner *p, const DomainRequest *req, Placement *pl, const unsigned *cpus) {
        const Topology *t = p->t;
        pl->vcpus = calloc(req->vcpus ? req->vcpus : 1, sizeof(PlacedVcpu));
        if (!pl->vcpus)
                return -ENOMEM;
        pl->n_vcpus = req->vcpus;
        /* Shared vCPUs on one node share one set (a set each would be 1 KiB per vCPU at 8192
         * CPUs); over several nodes each group has its node's CPUs, so each vCPU owns its set. */
        bool grouped = shared_vcpus_grouped(p, pl);
        if (pl->cls->cpu_policy != CPU_POLICY_DEDICATED && !grouped) {
                if (!(pl->floating = hwloc_bitmap_alloc()))
                        return -ENOMEM;
                shared_float_cpus(p, pl, pl->floating);
        }
        unsigned next = 0;
        for (unsigned v = 0; v < req->vcpus; v++) {
                PlacedVcpu *pv = &pl->vcpus[v];
                pv->vcpu = v;
                pv->dedicated =
                        pl->cls->cpu_policy == CPU_POLICY_DEDICATED ||
                        (pl->cls->cpu_policy == CPU_POLICY_MIXED && hwloc_bitmap_isset(req->dedicated_vcpus, v));
                pv->cpu = -1;
                if (pv->dedicated)
                        pv->cpu = (int) t->cpus[cpus[next++]].os;
                else if (!grouped)
                        pv->cpus = pl->floating;
                else if (!(pv->cpus = hwloc_bitmap_alloc()))
                        return -ENOMEM;
        }
        if (grouped)
                shared_vcpu_sets(p, pl);
        return 0;
}

/* A domain that pins itself is left alone but counted: its CPUs as pinned (several such domains
 * may name one CPU), its memory on the nodes it binds to, else on the nodes of the CPUs it pins
 * (where first touch puts it). */
static int explain_result(Planner *p, const Need *need, Placement *pl) {
        const PolicyClass *cls = need->cls;
        if (need->n_dedicated > 0 &&
            placement_explain(pl, "CPUPolicy=%s ThreadPolicy=%s CacheLocality=%s CoreKind=%s",
                              cpu_policy_to_string(cls->cpu_policy), thread_policy_to_string(cls->thread_policy),
                              cache_locality_to_string(cls->cache_locality), core_kind_to_string(cls->core_kind)) < 0)
                return -ENOMEM;
        if (cls->core_kind != CORE_KIND_ANY && !p->kinds_differ &&
            placement_explain(pl, "CoreKind=%s: every CPU of this host is of one kind",
                              core_kind_to_string(cls->core_kind)) < 0)
                return -ENOMEM;
        if (!memory_known(p) &&
            placement_explain(pl, "the host model has no memory figures: memory does not limit placement") < 0)
                return -ENOMEM;
        if (need->memory_use == MEMORY_USE_ALL &&
            placement_explain(pl, "running already: its memory is in use, not checked against the free figures") < 0)
                return -ENOMEM;
        if (need->n_extra && placement_explain(pl, "%u extra dedicated CPU%s for isolated emulator/iothreads",
                                               need->n_extra, need->n_extra == 1 ? "" : "s") < 0)
                return -ENOMEM;
        if (pl->memory_mode == MEMORY_NONE)
                return 0;
        _cleanup_free_ char *nodes = cpulist_format(pl->memory_nodes);
        char size[32], page[64] = "";
        memory_format_kib(need->memory_kib, size, sizeof(size));
        if (need->page_kib) {
                char ps[32];
                planner_format_page_size(need->page_kib, ps, sizeof(ps));
                snprintf(page, sizeof(page), " of %s hugepages", ps);
        }
        if (!nodes || placement_explain(pl, "memory %s on nodes %s: %s%s", memory_policy_to_string(pl->memory_mode),
                                        nodes, size, page) < 0)
                return -ENOMEM;
        return 0;
}

/* Why sibling vCPUs of the guest could not all share a host core. */
static const char *smt_shortfall(const Planner *p, const DomainRequest *req, const PolicyClass *cls) {
        if (cls->cpu_policy != CPU_POLICY_DEDICATED)
                return "only dedicated vCPUs have host cores of their own";
        if (cls->thread_policy == THREAD_POLICY_ISOLATE)
                return "ThreadPolicy=isolate keeps one vCPU per core";
        if (p->t->smt_max < req->guest_threads)
                return "the host's cores have fewer threads";
        return "not enough cores with that many free threads";
}

/* Guest SMT (<topology threads=N>): how many groups of N sibling vCPUs share one host core each,
 * and why not all. Returns 0 or -ENOMEM. */
static int explain_guest_smt(Planner *p, const DomainRequest *req, Placement *pl) {
        unsigned g = req->guest_threads, groups = 0, whole = 0;
        if (g < 2)
                return 0;
        for (unsigned v = 0; v + g <= pl->n_vcpus; v += g) {
                int core = -1;
                bool one = true;
                for (unsigned i = v; i < v + g && one; i++) {
                        int cpu = placement_vcpu_cpu(pl, i);
                        int c = pl->vcpus[i].dedicated && cpu >= 0 ? topology_cpu(p->t, (unsigned) cpu)->core : -1;
                        one = c >= 0 && (core < 0 || c == core);
                        core = c;
                }
                groups++;
                whole += one;
        }
        if (whole == groups)
                return placement_explain(pl, "guest threads=%u: each of its %u sibling groups on one host core", g,
                                         groups);
        return placement_explain(pl, "guest threads=%u: %u of %u sibling groups on one host core: %s", g, whole, groups,
                                 smt_shortfall(p, req, pl->cls));
}

/* Fills the placement once CPUs and nodes are chosen; dedicated CPUs are marked held already. */
static int fill(Planner *p, const DomainRequest *req, const Need *need, Placement *pl, const unsigned *cpus,
                unsigned n_cpus) {
        const Topology *t = p->t;
        int r = fill_vcpus(p, req, pl, cpus);
        if (r >= 0)
                r = explain_guest_smt(p, req, pl);
        if (r < 0)
                return r;

        /* Isolated helpers got the last dedicated CPUs taken. */
        const unsigned *extra = cpus + (n_cpus - need->n_extra);
        if (!hwloc_bitmap_iszero(req->emulator_pins)) {
                _cleanup_free_ char *own = cpulist_format(req->emulator_pins);
                hwloc_bitmap_copy(pl->emulator, req->emulator_pins);
                pl->own_emulator = true;
                if (!own || placement_explain(pl, "the domain pins its emulator itself (CPUs %s): kept", own) < 0)
                        return -ENOMEM;
        } else {
                helper_cpus(p, pl, pl->cls->emulator_threads, extra, pl->emulator);
                extra += pl->cls->emulator_threads == HELPER_ISOLATE;
        }
        pl->n_iothreads = req->n_iothreads;
        pl->iothreads = calloc(req->n_iothreads ? req->n_iothreads : 1, sizeof(PlacedIOThread));
        if (!pl->iothreads)
                return -ENOMEM;
        for (unsigned i = 0; i < req->n_iothreads; i++) {
                pl->iothreads[i].id = req->iothread_ids[i];
                if (!(pl->iothreads[i].cpus = hwloc_bitmap_alloc()))
                        return -ENOMEM;
                helper_cpus(p, pl, pl->cls->io_threads, extra, pl->iothreads[i].cpus);
        }

        pl->memory_mode = pl->cls->memory_policy;
        if (need->stay) { /* its live strict binding stays exactly as it is, whatever the class says */
                pl->memory_mode = MEMORY_STRICT;
                hwloc_bitmap_copy(pl->memory_nodes, need->stay);
        } else if (pl->memory_mode != MEMORY_NONE)
                for (unsigned n = 0; n < t->n_nodes; n++)
                        if (p->node_take[n])
                                hwloc_bitmap_set(pl->memory_nodes, t->nodes[n].os);
        r = memory_reserve_pages(p, need, pl);
        return r < 0 ? r : explain_result(p, need, pl);
}

/* Says that a running domain bound strictly stays on its nodes: in the refusal when it does not
 * fit there, else in the explanation. Returns 0 or -ENOMEM. */
static int explain_stay(Placement *pl, hwloc_const_bitmap_t stay) {
        _cleanup_free_ char *nodes = cpulist_format(stay);
        if (!nodes)
                return -ENOMEM;
        if (!pl->reason)
                return placement_explain(pl,
                                         "runs with its memory bound strictly to nodes %s: kept there, its "
                                         "binding as it is (libvirt cannot change a strict binding while the "
                                         "domain runs; its class's memory policy applies at its next start)",
                                         nodes);
        char *why = NULL;
        if (asprintf(&why, "runs bound strictly to nodes %s, which libvirt cannot change while it runs: %s", nodes,
                     pl->reason) < 0)
                return -ENOMEM;
        free(pl->reason);
        pl->reason = why;
        return 0;
}

/* Chooses the dedicated CPUs, then the shared vCPUs' nodes. Returns 1, 0 refused, or -ENOMEM;
 * the dedicated CPUs are marked held when it returns 1. */
static int place_cpus(Planner *p, Need *need, Placement *pl, unsigned *cpus, unsigned *n_cpus) {
        const Topology *t = p->t;
        unsigned dedicated_nodes = 0;
        memset(p->node_take, 0, t->n_nodes * sizeof(unsigned));
        if (need->n_dedicated > 0) {
                int r = dedicated_place(p, need, pl, cpus, n_cpus, pl->held);
                if (r <= 0)
                        return r;
                for (unsigned n = 0; n < t->n_nodes; n++)
                        dedicated_nodes += p->node_take[n] > 0;
        }
        /* The dedicated CPUs are held before shared vCPUs are counted against what is left. */
        book_mark_held(p, pl->held, 1);
        if (need->n_shared > 0) {
                int r = shared_place(p, need, pl, dedicated_nodes);
                if (r <= 0) {
                        book_mark_held(p, pl->held, 0);
                        return r;
                }
        }
        return 1;
}

static int place(Planner *p, const DomainRequest *req, Placement *pl) {
        Need need;
        int r = build_need(p, req, pl->cls, pl, &need);
        if (r <= 0)
                return r;
        _cleanup_free_ unsigned *cpus = malloc((need.n_dedicated + 1) * sizeof(unsigned));
        if (!cpus)
                return -ENOMEM;
        unsigned n_cpus = 0;
        r = place_cpus(p, &need, pl, cpus, &n_cpus);
        if (r >= 0 && need.stay && explain_stay(pl, need.stay) < 0)
                r = -ENOMEM;
        if (r <= 0) {
                if (r < 0 && !pl->reason)
                        book_mark_held(p, pl->held, 0);
                return r;
        }
        /* Everything from here to the end is undone on failure. */
        r = fill(p, req, &need, pl, cpus, n_cpus);
        if (r < 0) {
                book_mark_held(p, pl->held, 0);
                return r;
        }
        /* Nothing below can fail; planner_place books it. */
        memory_split(p, &need, pl);
        pl->admitted = true;
        return 0;
}

int planner_place(Planner *p, const DomainRequest *req, const Placement **ret_placement) {
        if (planner_find(p, req->name))
                return -EEXIST;
        unsigned n_nodes = p->t->n_nodes ? p->t->n_nodes : 1;
        _cleanup_(placement_freep) Placement *pl = placement_new(req->name, n_nodes);
        if (!pl)
                return -ENOMEM;

        _cleanup_free_ char *why = NULL;
        pl->cls = config_match_class(p->c, req->name, req->metadata_class, &why);
        if (!why || placement_explain(pl, "%s", why) < 0)
                return -ENOMEM;

        int r;
        if (req->explicit_pins && p->c->daemon.respect_explicit_pins)
                r = adopt_place(p, req, pl);
        else
                r = place(p, req, pl);
        if (r < 0)
                return r; /* nothing booked: place() undoes its marks, adopt() books nothing */
        if (!pl->admitted) {
                hwloc_bitmap_zero(pl->held);
                memset(pl->shared_vcpus, 0, n_nodes * sizeof(unsigned));
        }
        r = book_enter(p, pl); /* first: it makes the room booking needs */
        if (r < 0) {
                if (pl->admitted && !pl->adopted) /* place() held its CPUs as it took them */
                        book_mark_held(p, pl->held, 0);
                return r;
        }
        book_placement(p, pl, 1);
        *ret_placement = TAKE_PTR(pl);
        return 0;
}

int planner_release(Planner *p, const char *name) {
        int i = book_find(p, name);
        if (i < 0)
                return i;
        Placement *pl = p->placements[i];
        book_placement(p, pl, -1);
        book_leave(p, (unsigned) i);
        placement_free(pl);
        return 0;
}

const Placement *planner_find(const Planner *p, const char *name) {
        int i = book_find(p, name);
        return i < 0 ? NULL : p->placements[i];
}

const Placement *const *planner_placements(const Planner *p, unsigned *ret_n) {
        *ret_n = p->n_placements;
        return (const Placement *const *) p->placements;
}

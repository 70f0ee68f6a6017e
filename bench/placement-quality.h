/* bench/placement-quality: what its files share (the machine as hwloc shows it, the workload's
 * jobs, the planner's result as hwloc shows it, the sequential pinner). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <hwloc.h>

#include "config.h"
#include "domain.h"
#include "planner.h"
#include "topology.h"

#define EPS 1e-9

typedef struct Host {
        const Topology *t; /* for verbose diagnostics only: the planner's node numbering */
        hwloc_topology_t topo; /* borrowed from the Topology */
        hwloc_bitmap_t usable, dedicated, shared, perf;
        unsigned n_nodes, n_l3s, n_cores, smt_max;
        hwloc_bitmap_t *node_cpus; /* local CPUs; memoryless ones go to the first node of their package */
        unsigned *node_os;
        uint64_t *node_mem_kib; /* 0: unknown, no limit */
        hwloc_bitmap_t *l3_cpus;
        hwloc_bitmap_t *core_cpus; /* in order of their first CPU */
} Host;

typedef struct Job {
        DomainRequest *req;
        const PolicyClass *cls;
        unsigned vcpus;
} Job;

/* pq-host.c: the machine from hwloc's own objects, not the planner's model. */

/* Fills h from t's hwloc topology and c's CPU pools. Returns 0, -EINVAL (no node), -ENOMEM. */
int host_load(const Topology *t, const Config *c, Host *h);
/* Frees what host_load() filled and zeroes h. */
void host_clear(Host *h);
/* Returns the index of the core holding CPU cpu (kernel number), or -1. */
int host_core_of(const Host *h, unsigned cpu);
/* Returns how many of the n groups (nodes, L3s) set touches; their labels (or indexes) into buf. */
unsigned host_groups_touched(hwloc_bitmap_t *groups, unsigned n, hwloc_const_bitmap_t set, char *buf, size_t len,
                             const unsigned *label);

/* pq-pinner.c: the locality-blind sequential pinner of issue 13. */

/* Returns the vCPUs it admits over the n jobs in order; of them, shared ones in *ret_shared,
 * the CPUs they occupy in *ret_cpus and isolated ones in *ret_isolated. */
unsigned pinner_run(const Host *h, const Job *jobs, unsigned n, unsigned *ret_shared, double *ret_cpus,
                    unsigned *ret_isolated);

/* pq-state.c: the planner's result as hwloc's own objects show it, and what could have held a
 * domain whole. */

typedef struct State {
        hwloc_bitmap_t held; /* dedicated vCPU CPUs, and the idle siblings of isolated cores */
        unsigned *shared_cpus; /* per node: shared-pool CPUs no dedicated placement holds */
        double *prop,
                *equal; /* shared vCPUs per node, each by its share of its own CPUs / an equal split over their nodes */
        double *limit; /* strictest Overcommit of the shared domains on the node, 0: none */
        double *mem_kib; /* memory booked per node */
} State;

typedef struct Counts {
        unsigned planner_vcpus, pinner_vcpus, violations, l3_splits, numa_splits, double_bookings;
        unsigned planner_shared, pinner_shared; /* of the vCPUs admitted, shared ones (verbose) */
        unsigned planner_isolated, pinner_isolated; /* of the vCPUs admitted, isolated ones */
        double planner_cpus, pinner_cpus; /* CPUs the admitted vCPUs use: held + shared vCPUs / ratio */
        unsigned refused_memory; /* planner refusals for memory: the workload means CPUs to decide */
        unsigned l3_spans, numa_spans; /* splits of any kind, avoidable or not (verbose) */
        hwloc_bitmap_t violated_nodes, bad_cpus; /* counted once each */
        bool *bad_float; /* per job: its float set touched a held CPU */
        bool verbose; /* print each finding as it is made */
} Counts;

/* Allocates s's per-node arrays. Returns 0 or -ENOMEM. */
int state_init(State *s, unsigned n_nodes);
/* Frees what state_init() allocated and zeroes s. */
void state_clear(State *s);
/* Splits pl's vCPU CPUs into its dedicated and its shared (floating) ones. */
void state_vcpu_sets(const Placement *pl, hwloc_bitmap_t dedicated, hwloc_bitmap_t floating);
/* s after the first n placements, with the double bookings found on the way added to k. */
void state_compute(const Host *h, const Job *jobs, const Placement *const *pls, unsigned n, State *s, Counts *k);
/* Returns the first group (an L3 part of a node when l3, else a node: its index, an L3 part as
 * l3 * n_nodes + node) that could have held the dedicated job whole, its units in *ret_units;
 * -1 for none. */
int state_dedicated_room(const Host *h, const State *s, const Job *job, bool l3, unsigned *ret_units);
/* Returns a node whose shared CPUs could have taken the shared job within every ratio, or -1. */
int state_shared_room(const Host *h, const State *s, const Job *job);

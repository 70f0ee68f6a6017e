/* bench/placement-quality: what its files share (the machine as hwloc shows it, the workload's
 * jobs, the sequential pinner). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <hwloc.h>

#include "config.h"
#include "domain.h"
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

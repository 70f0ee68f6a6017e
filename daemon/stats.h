/* Per-vCPU run and steal counters of a domain, folded from schedstat readings so they stay
 * monotonic across vanished threads and restarted domains, with the steal rate of the last
 * interval. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "procstat.h"

typedef struct VcpuStats {
        pid_t tid;
        bool seen;
        ThreadStat last; /* the last reading */
        uint64_t run_ns, delay_ns; /* exported totals */
        double run_pct, steal_pct; /* share of the last interval's wall time */
        unsigned over; /* consecutive intervals above StealWarnPercent */
} VcpuStats;

typedef struct DomainStats {
        pid_t pid;
        unsigned n_vcpus;
        VcpuStats *vcpus;
        uint64_t *node_bytes; /* guest memory by node index, from numa_maps */
        unsigned n_nodes;
        uint64_t last_usec; /* CLOCK_MONOTONIC of the last pass */
        unsigned passes;
        bool rescan; /* a vCPU thread vanished: look the threads up again next pass */
        bool memory_warned;
} DomainStats;

/* Folds a reading of thread tid into v. The first reading counts whole (the totals then equal
 * the thread's own counters); later ones add their delta; a reading from another thread, or
 * lower than the last (the thread was replaced), counts whole again, so totals never go back.
 * interval_ns (0: unknown) turns the deltas into rates. */
void stats_advance(VcpuStats *v, pid_t tid, const ThreadStat *now, uint64_t interval_ns);

/* A new DomainStats for n_vcpus vCPUs and n_nodes nodes; NULL on ENOMEM. */
DomainStats *stats_new(unsigned n_vcpus, unsigned n_nodes);
void stats_free(DomainStats *s);

/* The QEMU process of a domain of the system QEMU driver, from run_dir/NAME.pid; 0 if none. */
pid_t stats_qemu_pid(const char *run_dir, const char *name);

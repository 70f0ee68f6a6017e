/* Per-vCPU run and steal counters folded from schedstat readings. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "kfile.h"
#include "macro.h"
#include "stats.h"

void stats_advance(VcpuStats *v, pid_t tid, const ThreadStat *now, uint64_t interval_ns) {
        uint64_t run, delay;
        bool same = v->seen && v->tid == tid && now->run_ns >= v->last.run_ns && now->delay_ns >= v->last.delay_ns;
        if (same) {
                run = now->run_ns - v->last.run_ns;
                delay = now->delay_ns - v->last.delay_ns;
        } else {
                run = now->run_ns;
                delay = now->delay_ns;
        }
        v->run_ns += run;
        v->delay_ns += delay;
        /* A rate needs two readings of the same thread. */
        v->run_pct = same && interval_ns ? 100.0 * (double) run / (double) interval_ns : 0;
        v->steal_pct = same && interval_ns ? 100.0 * (double) delay / (double) interval_ns : 0;
        v->last = *now;
        v->tid = tid;
        v->seen = true;
}

DomainStats *stats_new(unsigned n_vcpus, unsigned n_nodes) {
        DomainStats *s = calloc(1, sizeof(DomainStats));
        if (!s)
                return NULL;
        s->vcpus = calloc(n_vcpus ? n_vcpus : 1, sizeof(VcpuStats));
        s->node_bytes = calloc(n_nodes ? n_nodes : 1, sizeof(uint64_t));
        if (!s->vcpus || !s->node_bytes) {
                stats_free(s);
                return NULL;
        }
        s->n_vcpus = n_vcpus;
        s->n_nodes = n_nodes;
        return s;
}

void stats_free(DomainStats *s) {
        if (!s)
                return;
        free(s->vcpus);
        free(s->node_bytes);
        free(s);
}

pid_t stats_qemu_pid(const char *run_dir, const char *name) {
        char rel[512];
        snprintf(rel, sizeof(rel), "%s.pid", name);
        uint64_t pid = 0;
        if (kfile_read_u64(run_dir, rel, &pid) < 0 || pid == 0 || pid > INT32_MAX)
                return 0;
        return (pid_t) pid;
}

/* Per-thread scheduler statistics and per-process NUMA memory from procfs. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kfile.h"
#include "macro.h"
#include "procstat.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(DIR *, closedir)

int procstat_parse_schedstat(const char *text, ThreadStat *ret_stat) {
        uint64_t run, delay, slices;
        if (sscanf(text, "%" SCNu64 " %" SCNu64 " %" SCNu64, &run, &delay, &slices) != 3)
                return -EINVAL;
        *ret_stat = (ThreadStat){ .run_ns = run, .delay_ns = delay };
        return 0;
}

int procstat_read_thread(const char *procfs, pid_t pid, pid_t tid, ThreadStat *ret_stat) {
        char rel[64];
        snprintf(rel, sizeof(rel), "%d/task/%d/schedstat", (int) pid, (int) tid);
        _cleanup_free_ char *text = NULL;
        int r = kfile_read(procfs, rel, &text);
        if (r < 0)
                return r == -ESRCH ? -ENOENT : r;
        return procstat_parse_schedstat(text, ret_stat);
}

int procstat_vcpu_threads(const char *procfs, pid_t pid, pid_t *ret_tids, unsigned max) {
        char rel[64];
        snprintf(rel, sizeof(rel), "%d/task", (int) pid);
        _cleanup_free_ char *dir = NULL;
        if (kfile_path(procfs, rel, &dir) < 0)
                return -ENOMEM;
        _cleanup_(closedirp) DIR *d = opendir(dir);
        if (!d)
                return -errno;
        memset(ret_tids, 0, max * sizeof(pid_t));
        int found = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                long tid = strtol(de->d_name, NULL, 10);
                if (tid <= 0)
                        continue;
                char comm_rel[96];
                snprintf(comm_rel, sizeof(comm_rel), "%d/task/%ld/comm", (int) pid, tid);
                _cleanup_free_ char *comm = NULL;
                unsigned vcpu;
                char kind[16];
                /* QEMU names them "CPU 0/KVM"; a thread that exits meanwhile is skipped. */
                if (kfile_read(procfs, comm_rel, &comm) < 0 || sscanf(comm, "CPU %u/%15s", &vcpu, kind) != 2 ||
                    vcpu >= max)
                        continue;
                if (!ret_tids[vcpu])
                        found++;
                ret_tids[vcpu] = (pid_t) tid;
        }
        return found;
}

int procstat_parse_numa_maps(const char *text, uint64_t *ret_bytes, unsigned max_nodes) {
        memset(ret_bytes, 0, max_nodes * sizeof(uint64_t));
        int highest = 0;
        for (const char *line = text; *line;) {
                const char *end = strchr(line, '\n');
                size_t len = end ? (size_t) (end - line) : strlen(line);
                uint64_t page_kib = 4;
                const char *ps = memmem(line, len, "kernelpagesize_kB=", 18);
                if (ps)
                        page_kib = strtoull(ps + 18, NULL, 10);
                /* " N<node>=<pages>" fields; everything else on the line is ignored. */
                for (const char *p = line; p < line + len; p++) {
                        unsigned node;
                        uint64_t pages;
                        if (p[0] == ' ' && p[1] == 'N' && sscanf(p + 2, "%u=%" SCNu64, &node, &pages) == 2) {
                                if (node >= max_nodes)
                                        return -EINVAL;
                                ret_bytes[node] += pages * page_kib * 1024;
                                if ((int) node + 1 > highest)
                                        highest = (int) node + 1;
                        }
                }
                line += len + (end ? 1 : 0);
        }
        return highest;
}

int procstat_read_numa_maps(const char *procfs, pid_t pid, uint64_t *ret_bytes, unsigned max_nodes) {
        char rel[64];
        snprintf(rel, sizeof(rel), "%d/numa_maps", (int) pid);
        _cleanup_free_ char *text = NULL;
        int r = kfile_read(procfs, rel, &text);
        if (r < 0)
                return r;
        return procstat_parse_numa_maps(text, ret_bytes, max_nodes);
}

/* Per-thread scheduler statistics from procfs, per-machine NUMA memory from procfs or cgroups. */
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

/* Adds the " N<node>=<count>" fields of one line, times unit bytes, to ret_bytes; raises
 * *highest to the highest node seen plus one. Returns 0, or -EINVAL for a node >= max_nodes. */
static int add_node_fields(const char *line, size_t len, uint64_t unit, uint64_t *ret_bytes, unsigned max_nodes,
                           int *highest) {
        for (const char *p = line; p + 2 < line + len; p++) {
                if (p[0] != ' ' || p[1] != 'N' || p[2] < '0' || p[2] > '9')
                        continue;
                /* strtoull, not sscanf: a number that does not fit is an error, not wrapped */
                char *end;
                errno = 0;
                unsigned long long node = strtoull(p + 2, &end, 10);
                if (*end != '=' || end[1] < '0' || end[1] > '9')
                        continue;
                unsigned long long count = strtoull(end + 1, &end, 10);
                uint64_t bytes;
                if (errno == ERANGE || node >= max_nodes || __builtin_mul_overflow(count, unit, &bytes) ||
                    __builtin_add_overflow(ret_bytes[node], bytes, &ret_bytes[node]))
                        return -EINVAL;
                if ((int) node + 1 > *highest)
                        *highest = (int) node + 1;
        }
        return 0;
}

/* Calls add_node_fields for every line whose first word is key (NULL: every line), in unit
 * bytes, or for numa_maps (unit 0) in pages of the line's kernelpagesize_kB. */
static int add_lines(const char *text, const char *key, uint64_t unit, uint64_t *ret_bytes, unsigned max_nodes,
                     int *highest) {
        size_t klen = key ? strlen(key) : 0;
        for (const char *line = text; *line;) {
                const char *end = strchr(line, '\n');
                size_t len = end ? (size_t) (end - line) : strlen(line);
                uint64_t bytes = unit;
                if (!unit) {
                        const char *ps = memmem(line, len, "kernelpagesize_kB=", 18);
                        uint64_t kib = ps ? strtoull(ps + 18, NULL, 10) : 4;
                        if (kib == 0 || __builtin_mul_overflow(kib, 1024, &bytes))
                                return -EINVAL;
                }
                if ((!key || (len > klen && strncmp(line, key, klen) == 0 && line[klen] == ' ')) &&
                    add_node_fields(line, len, bytes, ret_bytes, max_nodes, highest) < 0)
                        return -EINVAL;
                line += len + (end ? 1 : 0);
        }
        return 0;
}

int procstat_parse_numa_maps(const char *text, uint64_t *ret_bytes, unsigned max_nodes) {
        memset(ret_bytes, 0, max_nodes * sizeof(uint64_t));
        int highest = 0;
        if (add_lines(text, NULL, 0, ret_bytes, max_nodes, &highest) < 0)
                return -EINVAL;
        return highest;
}

int procstat_parse_memory_numa_stat(const char *text, uint64_t *ret_bytes, unsigned max_nodes) {
        memset(ret_bytes, 0, max_nodes * sizeof(uint64_t));
        int highest = 0;
        /* Guest RAM is anonymous memory, or shmem when shared (memfd); "file" would also count the
         * page cache of disk images, which is not guest RAM. The other lines are parts of these
         * or kernel memory. */
        if (add_lines(text, "anon", 1, ret_bytes, max_nodes, &highest) < 0 ||
            add_lines(text, "shmem", 1, ret_bytes, max_nodes, &highest) < 0)
                return -EINVAL;
        return highest;
}

/* PROCFS/PID/NAME into *ret_text. Returns 0 or negative errno. */
static int read_pid_file(const char *procfs, pid_t pid, const char *name, char **ret_text) {
        char rel[64];
        snprintf(rel, sizeof(rel), "%d/%s", (int) pid, name);
        return kfile_read(procfs, rel, ret_text);
}

int procstat_machine_cgroup(const char *procfs, pid_t pid, char **ret_path) {
        _cleanup_free_ char *text = NULL;
        int r = read_pid_file(procfs, pid, "cgroup", &text);
        if (r < 0)
                return r;
        const char *v2 = strncmp(text, "0::/", 4) == 0 ? text : strstr(text, "\n0::/");
        if (!v2)
                return -ENOENT;
        v2 += v2 == text ? 3 : 4;
        size_t len = strcspn(v2, "\n");
        /* libvirt's own subgroups (libvirt/emulator, libvirt/vcpuN) split the machine's threads;
         * its memory is counted where they meet: above the last "/libvirt/". */
        const char *sub = NULL;
        for (const char *p = v2; (p = memmem(p, len - (size_t) (p - v2), "/libvirt/", 9)); p++)
                sub = p;
        if (sub)
                len = (size_t) (sub - v2);
        else if (len >= 8 && memcmp(v2 + len - 8, "/libvirt", 8) == 0)
                len -= 8;
        /* The root group holds the whole host, not a machine; ".." is a group outside our
         * cgroup namespace. */
        if (len <= 1 || memmem(v2, len, "/../", 4) || (len >= 3 && memcmp(v2 + len - 3, "/..", 3) == 0))
                return -ENOENT;
        *ret_path = strndup(v2, len);
        return *ret_path ? 0 : -ENOMEM;
}

/* Adds every hugetlb.<size>.numa_stat of the group ("total=B N0=B ...", bytes) to ret_bytes. */
static int add_hugetlb(const char *sysfs, const char *dir, uint64_t *ret_bytes, unsigned max_nodes, int *highest) {
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "%s/%s", sysfs, dir) < 0)
                return -ENOMEM;
        DIR *d = opendir(path);
        if (!d)
                return 0;
        struct dirent *e;
        int r = 0;
        while (r == 0 && (e = readdir(d))) {
                size_t n = strlen(e->d_name);
                if (strncmp(e->d_name, "hugetlb.", 8) != 0 || n < 18 || strcmp(e->d_name + n - 10, ".numa_stat") != 0)
                        continue;
                _cleanup_free_ char *rel = NULL, *text = NULL;
                if (asprintf(&rel, "%s/%s", dir, e->d_name) < 0) {
                        r = -ENOMEM;
                        break;
                }
                if (kfile_read(sysfs, rel, &text) == 0)
                        r = add_lines(text, NULL, 1, ret_bytes, max_nodes, highest);
        }
        closedir(d);
        return r;
}

int procstat_read_cgroup_numa(const char *sysfs, const char *cgroup, uint64_t *ret_bytes, unsigned max_nodes) {
        _cleanup_free_ char *dir = NULL, *rel = NULL, *text = NULL;
        if (asprintf(&dir, "fs/cgroup%s", cgroup) < 0 || asprintf(&rel, "%s/memory.numa_stat", dir) < 0)
                return -ENOMEM;
        int r = kfile_read(sysfs, rel, &text);
        if (r < 0)
                return r;
        int highest = procstat_parse_memory_numa_stat(text, ret_bytes, max_nodes);
        if (highest < 0)
                return highest;
        r = add_hugetlb(sysfs, dir, ret_bytes, max_nodes, &highest);
        return r < 0 ? r : highest;
}

int procstat_read_numa_maps(const char *procfs, pid_t pid, uint64_t *ret_bytes, unsigned max_nodes) {
        _cleanup_free_ char *text = NULL;
        int r = read_pid_file(procfs, pid, "numa_maps", &text);
        if (r < 0)
                return r;
        return procstat_parse_numa_maps(text, ret_bytes, max_nodes);
}

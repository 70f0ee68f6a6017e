/* Per-thread scheduler statistics and per-process NUMA memory from procfs: where a guest's
 * vCPU threads are, how long they ran and waited, and on which nodes its memory sits. */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#define PROCSTAT_MAX_VCPUS 1024
#define PROCSTAT_MAX_NODES 1024

typedef struct ThreadStat {
        uint64_t run_ns; /* time on a CPU */
        uint64_t delay_ns; /* time runnable but waiting for a CPU (steal as the guest sees it) */
} ThreadStat;

/* Parses the three numbers of a schedstat file. Returns 0 or -EINVAL. */
int procstat_parse_schedstat(const char *text, ThreadStat *ret_stat);

/* Reads PROCFS/PID/task/TID/schedstat. Returns 0, -ENOENT when the thread is gone, -EINVAL. */
int procstat_read_thread(const char *procfs, pid_t pid, pid_t tid, ThreadStat *ret_stat);

/* Finds QEMU's vCPU threads, named "CPU N/KVM" (or "/TCG", "/HVF"...): ret_tids[N] = TID for
 * N < max, 0 where none. Returns the number found, or negative errno (-ENOENT: no process). */
int procstat_vcpu_threads(const char *procfs, pid_t pid, pid_t *ret_tids, unsigned max);

/* Sums a numa_maps text into bytes per node: ret_bytes[node] for node < max_nodes. Returns the
 * highest node seen plus one, or -EINVAL. */
int procstat_parse_numa_maps(const char *text, uint64_t *ret_bytes, unsigned max_nodes);

/* Reads PROCFS/PID/numa_maps into bytes per node, as procstat_parse_numa_maps. */
int procstat_read_numa_maps(const char *procfs, pid_t pid, uint64_t *ret_bytes, unsigned max_nodes);

/* Sums the anon and shmem lines of a cgroup v2 memory.numa_stat text ("anon N0=<bytes> ...")
 * into bytes per node: guest RAM, not the page cache of its disk images. Returns the highest
 * node seen plus one, or -EINVAL (also for a figure that does not fit in 64 bits). */
int procstat_parse_memory_numa_stat(const char *text, uint64_t *ret_bytes, unsigned max_nodes);

/* The cgroup v2 group of PID's machine (libvirt's scope, above its own libvirt/... subgroups),
 * from PROCFS/PID/cgroup, as a malloc'd path starting with "/". Returns 0, -ENOENT when PID is
 * in no v2 group but the root, or negative errno. */
int procstat_machine_cgroup(const char *procfs, pid_t pid, char **ret_path);

/* Memory per node of the v2 group at SYSFS/fs/cgroup/CGROUP: its memory.numa_stat (anon and
 * shmem) plus its hugetlb.<size>.numa_stat pages. Needs no access to the process itself, which
 * numa_maps does (ptrace: CAP_SYS_PTRACE for a QEMU of another user). Returns the highest node
 * seen plus one, or negative errno (-ENOENT: no memory controller there). */
int procstat_read_cgroup_numa(const char *sysfs, const char *cgroup, uint64_t *ret_bytes, unsigned max_nodes);

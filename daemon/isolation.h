/* Host isolation: keeps host tasks off the CPUs dedicated vCPUs hold, with a cpuset cgroup
 * ("kvmtuned.housekeeping") in the v1 cpuset hierarchy that every user-space process of the
 * root cpuset is moved into. VM threads (libvirt's /machine groups) and kernel threads stay
 * where they are. Undo moves the processes back and removes the group. */
#pragma once

#include <stdbool.h>

#include <hwloc.h>

typedef struct Isolation {
        const char *sysfs; /* "/sys" or a fixture: the hierarchy is SYSFS/fs/cgroup/cpuset */
        const char *procfs; /* "/proc" or a fixture: tells kernel threads apart */
        bool active; /* the group exists and holds the host's processes */
} Isolation;

/* Whether a v1 cpuset hierarchy is mounted. */
bool isolation_available(const Isolation *iso);

/* Confines host processes to allowed (kernel CPU numbers). Returns the number of processes
 * moved, or negative errno with *ret_error (malloc'd). */
int isolation_apply(Isolation *iso, hwloc_const_bitmap_t allowed, char **ret_error);

/* Moves every process back to the root cpuset and removes the group (also one a crashed run
 * left behind). Returns the number moved back, or negative errno with *ret_error. */
int isolation_undo(Isolation *iso, char **ret_error);

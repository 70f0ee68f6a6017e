/* Host isolation: keeps host tasks off the CPUs dedicated vCPUs hold. Where systemd runs the
 * host: AllowedCPUs= on system.slice, user.slice and init.scope over D-Bus, runtime only, the
 * original values journaled. Without systemd: a cpuset cgroup ("kvmtuned.housekeeping") in the
 * v1 cpuset hierarchy, or in a v2 hierarchy offering cpuset, that every user-space process of
 * the root cgroup is moved into. VM
 * threads (libvirt's machine slice or /machine groups) and kernel threads stay where they
 * are. Undo puts the originals back (systemd) or moves the processes back (cgroup). */
#pragma once

#include <stdbool.h>

#include <hwloc.h>
#include <systemd/sd-bus.h>

#include "journal.h"

typedef struct Isolation {
        const char *sysfs; /* "/sys" or a fixture: the hierarchy is SYSFS/fs/cgroup/cpuset */
        const char *procfs; /* "/proc" or a fixture: tells kernel threads apart */
        bool active; /* host processes are confined now */
        bool systemd; /* systemd runs the host: use its units, not a cgroup of our own */
        Journal *journal; /* originals of the units' AllowedCPUs (systemd) */
        sd_bus *bus; /* the system bus, opened on first use (tests pass their own) */
} Isolation;

/* Whether isolation can work here: systemd reachable on the bus, or a v1 cpuset hierarchy. */
bool isolation_available(const Isolation *iso);

/* Confines host processes to allowed (kernel CPU numbers). Returns the number of units set
 * (systemd) or processes moved (cgroup), or negative errno with *ret_error (malloc'd): then
 * whatever isolation was in place, this one's part included, is undone. */
int isolation_apply(Isolation *iso, hwloc_const_bitmap_t allowed, char **ret_error);

/* Undoes isolation, also what a crashed run left behind: the units' journaled AllowedCPUs
 * (systemd), or every process back to the root cpuset and the group removed (cgroup).
 * Returns the number of units or processes restored, or negative errno with *ret_error. */
int isolation_undo(Isolation *iso, char **ret_error);

void isolation_done(Isolation *iso);

/* Whether key is one of isolation's journal keys ("systemd:UNIT:AllowedCPUs" of the units it sets). */
bool isolation_owns_key(const char *key);

/* Host isolation through a v1 cpuset cgroup. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cpulist.h"
#include "isolation.h"
#include "actuator.h"
#include "kfile.h"
#include "macro.h"

#define ROOT "fs/cgroup/cpuset"
#define GROUP ROOT "/kvmtuned.housekeeping"
#define PF_KTHREAD 0x00200000

bool isolation_available(const Isolation *iso) {
        _cleanup_free_ char *text = NULL;
        return kfile_read(iso->sysfs, ROOT "/cpuset.cpus", &text) == 0;
}

/* Kernel threads cannot be moved and must not be: /proc/PID/stat field 9 carries PF_KTHREAD. */
static bool is_kernel_thread(const Isolation *iso, long pid) {
        char rel[64];
        snprintf(rel, sizeof(rel), "%ld/stat", pid);
        _cleanup_free_ char *stat = NULL;
        if (kfile_read(iso->procfs, rel, &stat) < 0)
                return true; /* gone, or unreadable: leave it */
        const char *p = strrchr(stat, ')'); /* the name may hold spaces and parentheses */
        unsigned long flags = 0;
        if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %lu", &flags) != 1)
                return true;
        return flags & PF_KTHREAD;
}

/* Moves the processes listed in from/cgroup.procs to to/cgroup.procs; kernel threads and
 * processes that exit meanwhile are skipped. Returns how many moved. */
static int move_all(const Isolation *iso, const char *from, const char *to, bool skip_kernel) {
        char rel[128];
        snprintf(rel, sizeof(rel), "%s/cgroup.procs", from);
        _cleanup_free_ char *procs = NULL;
        if (kfile_read(iso->sysfs, rel, &procs) < 0)
                return 0;
        snprintf(rel, sizeof(rel), "%s/cgroup.procs", to);
        int moved = 0;
        for (char *line = strtok(procs, "\n"); line; line = strtok(NULL, "\n")) {
                long pid = strtol(line, NULL, 10);
                if (pid <= 0 || (skip_kernel && is_kernel_thread(iso, pid)))
                        continue;
                if (actuator_write(iso->sysfs, rel, line) == 0)
                        moved++;
        }
        return moved;
}

int isolation_apply(Isolation *iso, hwloc_const_bitmap_t allowed, char **ret_error) {
        *ret_error = NULL;
        _cleanup_free_ char *cpus = cpulist_format(allowed), *mems = NULL, *path = NULL;
        if (!cpus || kfile_path(iso->sysfs, GROUP, &path) < 0)
                return -ENOMEM;
        if (!*cpus)
                return actuator_error(ret_error, -EINVAL, "host isolation would leave the host no CPU");
        if (kfile_read(iso->sysfs, ROOT "/cpuset.mems", &mems) < 0)
                return actuator_error(ret_error, -ENOENT, "no v1 cpuset hierarchy at %s/" ROOT, iso->sysfs);
        mems[strcspn(mems, "\n")] = '\0';
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
                return actuator_error(ret_error, -errno, "cannot create %s: %m", path);
        /* mems first: a v1 cpuset takes no task until both are set. */
        int r = actuator_write(iso->sysfs, GROUP "/cpuset.mems", mems);
        if (r == 0)
                r = actuator_write(iso->sysfs, GROUP "/cpuset.cpus", cpus);
        if (r < 0)
                return actuator_error(ret_error, r, "cannot set %s/cpuset.cpus to %s: %s", path, cpus, strerror(-r));
        _cleanup_free_ char *back = NULL;
        if (kfile_read(iso->sysfs, GROUP "/cpuset.cpus", &back) < 0 ||
            (back[strcspn(back, "\n")] = '\0', strcmp(back, cpus)))
                return actuator_error(ret_error, -EIO, "%s/cpuset.cpus reads back %s, not %s", path,
                                      back ? back : "nothing", cpus);
        iso->active = true;
        return move_all(iso, ROOT, GROUP, true);
}

int isolation_undo(Isolation *iso, char **ret_error) {
        *ret_error = NULL;
        _cleanup_free_ char *path = NULL;
        if (kfile_path(iso->sysfs, GROUP, &path) < 0)
                return -ENOMEM;
        struct stat st;
        if (stat(path, &st) < 0) {
                iso->active = false;
                return 0;
        }
        int moved = move_all(iso, GROUP, ROOT, false);
        if (rmdir(path) < 0)
                return actuator_error(ret_error, -errno, "cannot remove %s: %m", path);
        iso->active = false;
        return moved;
}

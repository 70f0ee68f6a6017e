/* The isolation actuator: IsolateHost= keeps host tasks off the CPUs dedicated vCPUs hold
 * (when-dedicated) or off the whole dedicated pool (always); applied when that set changes. */
#include <errno.h>
#include <string.h>

#include "actuator.h"
#include "actuators.h"
#include "cpulist.h"
#include "macro.h"

/* The CPUs host tasks may use under want, into allowed; false when isolation is not wanted. */
static bool target(const HostWant *want, hwloc_bitmap_t allowed) {
        IsolateHost mode = want->config->host.isolate_host;
        hwloc_bitmap_copy(allowed, want->topology->cpuset);
        hwloc_bitmap_andnot(allowed, allowed, mode == ISOLATE_ALWAYS ? want->config->host.dedicated : want->held);
        return mode == ISOLATE_ALWAYS || (mode == ISOLATE_WHEN_DEDICATED && !hwloc_bitmap_iszero(want->held));
}

/* Isolation is no longer wanted: host tasks back on every CPU. */
static int end_isolation(ActuatorHost *h, ActuatorMemo *memo, char **ret_message) {
        _cleanup_free_ char *error = NULL;
        int n = isolation_undo(h->isolation, &error);
        actuator_memo_clear(memo); /* the next need tries afresh */
        if (n < 0)
                return actuator_error(ret_message, n, "%s", error ? error : strerror(-n));
        return actuator_error(ret_message, 1, "host isolation ended: %d processes may use every CPU again", n);
}

static int isolation_act(ActuatorHost *h, const HostWant *want, ActuatorMemo *memo, char **ret_message) {
        if (!h->isolation)
                return actuator_error(ret_message, -EOPNOTSUPP, "no isolation back end");
        _cleanup_bitmap_ hwloc_bitmap_t allowed = hwloc_bitmap_alloc();
        if (!target(want, allowed)) {
                if (memo->applied_for || h->isolation->active)
                        return end_isolation(h, memo, ret_message);
                actuator_memo_clear(memo);
                return 0;
        }
        if (memo->applied_for && hwloc_bitmap_isequal(memo->applied_for, allowed))
                return 0;
        if (memo->failed_for && hwloc_bitmap_isequal(memo->failed_for, allowed))
                return 0; /* said once; tried again when the target changes */
        if (!isolation_available(h->isolation))
                return actuator_error(ret_message, -EOPNOTSUPP,
                                      "IsolateHost needs systemd or a cpuset hierarchy (v1 %s/fs/cgroup/cpuset, or v2 "
                                      "with the cpuset controller); host tasks are not isolated",
                                      h->isolation->sysfs);
        _cleanup_free_ char *error = NULL;
        int n = isolation_apply(h->isolation, allowed, &error);
        actuator_memo_clear(memo);
        if (n < 0) { /* undone by isolation_apply: nothing is confined now */
                memo->failed_for = hwloc_bitmap_dup(allowed);
                return actuator_error(ret_message, n, "%s; host isolation undone", error ? error : strerror(-n));
        }
        memo->applied_for = hwloc_bitmap_dup(allowed);
        _cleanup_free_ char *cpus = cpulist_format(allowed);
        return actuator_error(ret_message, n > 0 ? n : 1, "host processes confined to CPUs %s (%d moved)",
                              cpus ? cpus : "?", n);
}

static int isolation_unset(ActuatorHost *h, ActuatorMemo *memo, char **ret_message) {
        bool was = (h->isolation && h->isolation->active) || (memo && memo->applied_for);
        if (memo)
                actuator_memo_clear(memo);
        if (!h->isolation)
                return 0;
        _cleanup_free_ char *error = NULL;
        int n = isolation_undo(h->isolation, &error);
        if (n < 0)
                return actuator_error(ret_message, n, "%s", error ? error : strerror(-n));
        if (was || n > 0)
                actuator_error(ret_message, 0, "host isolation undone, %d processes back on every CPU", n);
        return 0; /* units and processes, not journaled files: the message says how many */
}

const Actuator actuator_isolation = {
        .name = "isolate",
        .journal_namespace = "systemd:UNIT:AllowedCPUs",
        .owns_key = isolation_owns_key,
        .apply = isolation_act,
        .undo = isolation_unset,
};

/* The NUMA balancing actuator: NumaBalancing=off-while-strict turns kernel.numa_balancing off while
 * a domain bound strictly runs (the kernel would otherwise keep sampling and migrating its pages
 * within the nodes it is bound to, for nothing) and puts it back after the last one. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "actuator.h"
#include "actuators.h"

#define NUMA_KEY TUNING_PROCFS "sys/kernel/numa_balancing"

bool numa_balancing_is_key(const char *key) {
        return strcmp(key, NUMA_KEY) == 0;
}

static bool wants_off(const HostWant *want) {
        return want->config->host.numa_balancing == NUMA_BALANCING_OFF_WHILE_STRICT && want->strict_running;
}

static int numa_apply(ActuatorHost *h, const HostWant *want, ActuatorMemo *memo, char **ret_message) {
        char before[32];
        int r = tuning_read(h->tuning, NUMA_KEY, before, sizeof(before));
        if (!wants_off(want)) {
                const char *original = journal_original(h->tuning->journal, NUMA_KEY);
                free(memo->summary);
                memo->summary = NULL;
                if (!original)
                        return 0;
                r = tuning_restore(h->tuning, NUMA_KEY, ret_message);
                if (r < 0)
                        return r;
                char now[32] = "?";
                (void) tuning_read(h->tuning, NUMA_KEY, now, sizeof(now));
                return actuator_error(ret_message, 1, "automatic NUMA balancing back to %s: no strictly bound VM runs",
                                      now);
        }
        if (r == -ENOENT)
                return actuator_error(ret_message, -EOPNOTSUPP,
                                      "this kernel has no automatic NUMA balancing (no /proc/sys/kernel/numa_balancing)");
        if (r < 0)
                return actuator_error(ret_message, r, "kernel.numa_balancing: cannot read: %s", strerror(-r));
        if (strcmp(before, "0") != 0) {
                r = tuning_set(h->tuning, NUMA_KEY, "0", ret_message);
                if (r == -EPERM || r == -EACCES) { /* said once, not at every change */
                        free(*ret_message);
                        return actuator_error(ret_message, -EOPNOTSUPP,
                                              "cannot write kernel.numa_balancing (%s: it needs CAP_SYS_ADMIN): left "
                                              "alone",
                                              strerror(-r));
                }
                if (r < 0)
                        return r;
        }
        if (!memo->summary)
                memo->summary = strdup("automatic NUMA balancing off while strictly bound VMs run");
        if (strcmp(before, "0") == 0)
                return 0;
        return actuator_error(ret_message, 1, "automatic NUMA balancing off while strictly bound VMs run (was %s)",
                              before);
}

static int numa_verify(ActuatorHost *h, const HostWant *want, char **ret_message) {
        char now[32];
        if (!wants_off(want) || tuning_read(h->tuning, NUMA_KEY, now, sizeof(now)) < 0 || strcmp(now, "0") == 0)
                return 0;
        return actuator_error(ret_message, -ESTALE, "kernel.numa_balancing is %s, not 0", now);
}

static int numa_undo(ActuatorHost *h, ActuatorMemo *memo, char **ret_message) {
        if (memo)
                actuator_memo_clear(memo);
        return tuning_restore_owned(h->tuning, numa_balancing_is_key, NULL, ret_message);
}

const Actuator actuator_numa_balancing = {
        .name = "numa-balancing",
        .journal_namespace = NUMA_KEY,
        .owns_key = numa_balancing_is_key,
        .apply = numa_apply,
        .verify = numa_verify,
        .undo = numa_undo,
};

/* The governor actuator: GovernorDedicated= on CPUs dedicated vCPUs hold, GovernorIdle= on the
 * rest ("keep": the original), in each CPU's cpufreq/scaling_governor. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "actuator.h"
#include "actuators.h"
#include "macro.h"

static const char *wanted(const HostWant *want, unsigned cpu) {
        const HostConfig *h = &want->config->host;
        return hwloc_bitmap_isset(want->held, cpu) ? h->governor_dedicated : h->governor_idle;
}

static int governor_apply(ActuatorHost *h, const HostWant *want, ActuatorMemo *memo, char **ret_message) {
        /* Most events leave the held CPUs as they were: one file per CPU is not read again. */
        if (!memo->stale && memo->applied_for && hwloc_bitmap_isequal(memo->applied_for, want->held))
                return 0;
        hwloc_bitmap_free(memo->applied_for);
        memo->applied_for = hwloc_bitmap_dup(want->held);
        int changed = 0, first = 0;
        for (unsigned i = 0; i < want->topology->n_cpus; i++) {
                unsigned cpu = want->topology->cpus[i].os;
                const char *governor = wanted(want, cpu);
                _cleanup_free_ char *error = NULL;
                int r = tuning_governor(h->tuning, cpu, governor, &error);
                if (r == -ENOENT && governor)
                        return actuator_error(ret_message, -EOPNOTSUPP,
                                              "cpufreq is not available on this host: CPU governors are left alone");
                if (r < 0 && r != -ENOENT && first == 0) {
                        first = r;
                        *ret_message = TAKE_PTR(error);
                }
                changed += r == 0 && governor; /* CPUs that run the wanted governor now */
        }
        return first < 0 ? first : changed;
}

static int governor_verify(ActuatorHost *h, const HostWant *want, char **ret_message) {
        for (unsigned i = 0; i < want->topology->n_cpus; i++) {
                unsigned cpu = want->topology->cpus[i].os;
                const char *governor = wanted(want, cpu);
                char rel[96], now[64];
                snprintf(rel, sizeof(rel), "devices/system/cpu/cpu%u/cpufreq/scaling_governor", cpu);
                if (!governor || tuning_read(h->tuning, rel, now, sizeof(now)) < 0)
                        continue; /* kept, or no cpufreq on that CPU */
                if (strcmp(now, governor) != 0)
                        return actuator_error(ret_message, -ESTALE, "CPU %u runs governor %s, not %s", cpu, now,
                                              governor);
        }
        return 0;
}

static int governor_undo(ActuatorHost *h, ActuatorMemo *memo, char **ret_message) {
        if (memo) /* restored: set again when next asked */
                actuator_memo_clear(memo);
        return tuning_restore_owned(h->tuning, tuning_is_governor_key, NULL, ret_message);
}

const Actuator actuator_governor = {
        .name = "governor",
        .journal_namespace = "devices/system/cpu/cpuN/cpufreq/scaling_governor",
        .owns_key = tuning_is_governor_key,
        .apply = governor_apply,
        .verify = governor_verify,
        .undo = governor_undo,
};

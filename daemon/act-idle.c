/* The idle-latency actuator: IdleLatency= of a class bounds the wake-up latency of the CPUs its
 * dedicated vCPUs hold, through each CPU's power/pm_qos_resume_latency_us, given back on release. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actuator.h"
#include "actuators.h"
#include "macro.h"

#define IDLE_KEY "devices/system/cpu/cpu%u/power/pm_qos_resume_latency_us"

bool idle_is_key(const char *key) {
        unsigned cpu;
        int end = -1;
        return sscanf(key, IDLE_KEY "%n", &cpu, &end) == 1 && end >= 0 && key[end] == '\0';
}

/* The file's word for a bound: "n/a" forbids every idle state (0 would mean no bound). */
static const char *latency_value(int us, char *buf, size_t len) {
        if (us == IDLE_LATENCY_POLL)
                return "n/a";
        snprintf(buf, len, "%d", us);
        return buf;
}

/* The bound wanted on the CPU a key names: IDLE_LATENCY_KEEP for none (or a CPU not known). */
static int wanted_for_key(const HostWant *want, const char *key) {
        unsigned cpu;
        if (!want->idle_latency_us || sscanf(key, IDLE_KEY, &cpu) != 1 || cpu > want->topology->max_os_cpu ||
            want->topology->cpu_by_os[cpu] < 0)
                return IDLE_LATENCY_KEEP;
        return want->idle_latency_us[want->topology->cpu_by_os[cpu]];
}

/* A journaled bound whose CPU wants none now: tuning_restore_if's choice. */
static bool unwanted(const char *key, void *userdata) {
        return idle_is_key(key) && wanted_for_key(userdata, key) == IDLE_LATENCY_KEEP;
}

/* Bounds kernel CPU os. Returns 1 when it wrote, 0 when the bound was there, -errno (-ENOENT:
 * the CPU has no PM QoS file). */
static int bound_cpu(Tuning *t, unsigned os, int us, char **ret_message) {
        char key[128], buf[32], now[32];
        snprintf(key, sizeof(key), IDLE_KEY, os);
        const char *value = latency_value(us, buf, sizeof(buf));
        if (tuning_read(t, key, now, sizeof(now)) == 0 && strcmp(now, value) == 0)
                return 0;
        int r = tuning_set(t, key, value, ret_message);
        return r < 0 ? r : 1;
}

static int idle_apply(ActuatorHost *h, const HostWant *want, ActuatorMemo *memo, char **ret_message) {
        const Topology *t = want->topology;
        unsigned bounded = 0, changed = 0, missing = 0;
        int first = 0, missing_cpu = -1;
        for (unsigned i = 0; want->idle_latency_us && i < t->n_cpus; i++) {
                if (want->idle_latency_us[i] == IDLE_LATENCY_KEEP)
                        continue;
                _cleanup_free_ char *error = NULL;
                int r = bound_cpu(h->tuning, t->cpus[i].os, want->idle_latency_us[i], &error);
                if (r == -ENOENT && missing++ == 0) /* this CPU only: the others are still bounded */
                        missing_cpu = (int) t->cpus[i].os;
                else if (r < 0 && first == 0) {
                        first = r;
                        *ret_message = TAKE_PTR(error);
                }
                bounded += r >= 0;
                changed += r > 0;
        }
        /* CPUs released are given back whatever happened to the others. */
        _cleanup_free_ char *release_error = NULL;
        int restored = tuning_restore_if(h->tuning, unwanted, (void *) want, &release_error);
        if (first < 0)
                return first;
        if (restored < 0) {
                *ret_message = TAKE_PTR(release_error);
                return restored;
        }
        if (missing > 0 && bounded == 0 && restored == 0)
                return actuator_error(ret_message, -EOPNOTSUPP,
                                      "CPU %d has no PM QoS resume latency (power/pm_qos_resume_latency_us): "
                                      "IdleLatency= left alone",
                                      missing_cpu);
        free(memo->summary);
        memo->summary = NULL;
        if (bounded > 0 &&
            asprintf(&memo->summary, "%u CPU%s with a wake-up latency bound", bounded, bounded == 1 ? "" : "s") < 0)
                memo->summary = NULL;
        char note[128] = "";
        if (missing > 0 && !memo->said) { /* said once: the file will not appear */
                memo->said = 1;
                snprintf(note, sizeof(note), "; %u CPU%s without a PM QoS file (CPU %d) left alone", missing,
                         missing == 1 ? "" : "s", missing_cpu);
        }
        if (changed == 0 && restored == 0)
                return note[0] ? actuator_error(ret_message, 0, "idle wake-up latency%s", note) : 0;
        return actuator_error(ret_message, 1, "idle wake-up latency bounded on %u more CPU%s, given back on %d%s",
                              changed, changed == 1 ? "" : "s", restored, note);
}

static int idle_verify(ActuatorHost *h, const HostWant *want, char **ret_message) {
        const Topology *t = want->topology;
        for (unsigned i = 0; want->idle_latency_us && i < t->n_cpus; i++) {
                int us = want->idle_latency_us[i];
                char key[128], buf[32], now[32];
                if (us == IDLE_LATENCY_KEEP)
                        continue;
                snprintf(key, sizeof(key), IDLE_KEY, t->cpus[i].os);
                const char *value = latency_value(us, buf, sizeof(buf));
                if (tuning_read(h->tuning, key, now, sizeof(now)) == 0 && strcmp(now, value) != 0)
                        return actuator_error(ret_message, -ESTALE, "CPU %u: resume latency is %s, not %s",
                                              t->cpus[i].os, now, value);
        }
        return 0;
}

static int idle_undo(ActuatorHost *h, ActuatorMemo *memo, char **ret_message) {
        if (memo)
                actuator_memo_clear(memo);
        return tuning_restore_owned(h->tuning, idle_is_key, NULL, ret_message);
}

const Actuator actuator_idle = {
        .name = "idle-latency",
        .journal_namespace = "devices/system/cpu/cpuN/power/pm_qos_resume_latency_us",
        .owns_key = idle_is_key,
        .apply = idle_apply,
        .verify = idle_verify,
        .undo = idle_undo,
};

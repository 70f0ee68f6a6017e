/* The actuator interface: every host setting kvmtuned changes is one Actuator (tuned's apply /
 * verify / undo, the original journaled before the first write), and the table of them. The
 * Manager computes a HostWant from the plan and runs the table; a new host setting is one new
 * act-*.c file and one line in the table. */
#pragma once

#include <stdbool.h>

#include <hwloc.h>

#include "config.h"
#include "isolation.h"
#include "topology.h"
#include "tuning.h"

/* What the host should look like now: the input of every actuator's apply and verify. */
typedef struct HostWant {
        const Config *config;
        const Topology *topology;
        hwloc_const_bitmap_t held; /* CPUs dedicated vCPUs hold */
        /* Per topology CPU index: the IdleLatency= of the class whose dedicated vCPU holds it
         * (IDLE_LATENCY_KEEP where none asks); NULL: keep everywhere. */
        const int *idle_latency_us;
        bool strict_running; /* an admitted domain's memory is bound strictly */
} HostWant;

/* The host the actuators act on (Tuning's sysfs/procfs roots and journal, and the isolation
 * back end; isolation NULL: none). */
typedef struct ActuatorHost {
        Tuning *tuning;
        Isolation *isolation;
} ActuatorHost;

/* What the Manager keeps for each actuator between runs. */
typedef struct ActuatorMemo {
        bool stale; /* the configuration is new (start, reload), or the last apply failed: THP and
                     * governors apply even what looks unchanged (isolation compares its target) */
        bool unavailable; /* the host lacks it: said once, then left alone */
        hwloc_bitmap_t applied_for; /* the CPU set last applied (NULL: nothing applied) */
        hwloc_bitmap_t failed_for; /* the CPU set a failed apply was for: not tried again until it changes */
        int said; /* a standing condition already logged (its actuator's own code; 0: none) */
        hwloc_bitmap_t refused; /* items the kernel refused for applied_for (IRQ numbers): not
                                 * tried again until applied_for changes */
        char *summary; /* what it holds now in one line, for explain (malloc'd; NULL: nothing) */
} ActuatorMemo;

typedef struct Actuator {
        const char *name; /* the log's ACTION= */
        const char *journal_namespace; /* its journal keys, as people read them */
        /* Whether a journal key is one of its own: the only keys an undo writes back. */
        bool (*owns_key)(const char *key);
        /* Brings the host to want: reads, journals the original, writes, reads back. Returns > 0
         * when it acted (0: nothing to do), -EOPNOTSUPP when the host lacks it, or -errno; a
         * one-line *ret_message (malloc'd or NULL) says what changed or why not. NULL: it acts
         * per domain instead (hugepage pools, at admission). */
        int (*apply)(ActuatorHost *h, const HostWant *want, ActuatorMemo *memo, char **ret_message);
        /* Whether the host still holds what want asks: 0, -ESTALE with *ret_message naming what
         * drifted, or -errno. NULL: apply's read-back is the check. */
        int (*verify)(ActuatorHost *h, const HostWant *want, char **ret_message);
        /* Puts back every original it journaled (also a crashed run's). Returns the number of
         * journaled settings restored, or -errno; *ret_message says what else it did or why not. */
        int (*undo)(ActuatorHost *h, ActuatorMemo *memo, char **ret_message);
        /* Applied every StatsInterval too: what it acts on appears without an event (new IRQs). */
        bool rescan;
} Actuator;

typedef enum ActuatorId {
        ACTUATOR_THP,
        ACTUATOR_HUGEPAGES,
        ACTUATOR_GOVERNOR,
        ACTUATOR_ISOLATION,
        ACTUATOR_IRQ,
        ACTUATOR_IDLE,
        ACTUATOR_NUMA_BALANCING,
        ACTUATOR_KSM,
        ACTUATOR_COUNT,
} ActuatorId;

extern const Actuator actuator_thp, actuator_hugepages, actuator_governor, actuator_isolation, actuator_irq,
        actuator_idle, actuator_numa_balancing, actuator_ksm;

/* Whether key is one of these actuators' journal keys: an IRQ's smp_affinity_list, a CPU's PM QoS
 * resume latency, kernel.numa_balancing, KSM's run or merge_across_nodes. */
bool irq_is_key(const char *key);
bool idle_is_key(const char *key);
bool numa_balancing_is_key(const char *key);
bool ksm_is_key(const char *key);

/* The actuators, in the order they apply; undo runs in reverse. */
const Actuator *actuator_get(ActuatorId id);

/* The actuator whose journal key this is, or NULL (a tampered journal). */
const Actuator *actuator_owner(const char *key);

/* Told each actuator's undo result r and its message (NULL: none). */
typedef void (*ActuatorReport)(void *userdata, const Actuator *a, int r, const char *message);

/* Undoes every actuator (reverse order) after dropping the journal keys none owns; report (may
 * be NULL) hears each one. memos may be NULL. Returns the number of settings restored, or the
 * first -errno (the rest are still tried) with *ret_error; a tampered key is -EPERM. */
int actuator_undo_all(ActuatorHost *h, ActuatorMemo *memos, ActuatorReport report, void *userdata,
                      char **ret_error);

/* Forgets what was applied (a stop, an undo). */
void actuator_memo_clear(ActuatorMemo *memo);

/* A new configuration (start, reload): the next apply acts even where its input looks the same,
 * and a target that failed is tried again; what is applied stays known (for its undo). */
void actuator_memo_renew(ActuatorMemo *memo);

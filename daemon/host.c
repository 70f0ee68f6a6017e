/* Host settings: the actuator table run towards what the plan wants, and undone. */
#include <errno.h>
#include <string.h>

#include "macro.h"
#include "manager-internal.h"

/* What the plan wants of the host now: the held CPUs, the IdleLatency= of the class holding
 * each CPU (into idle, one per topology CPU), and whether a strictly bound domain is admitted. */
static void host_want(Manager *m, hwloc_bitmap_t held, int *idle, HostWant *ret_want) {
        const Topology *t = m->topology;
        planner_held_cpus(m->planner, held);
        bool strict = false;
        for (unsigned i = 0; idle && i < t->n_cpus; i++)
                idle[i] = IDLE_LATENCY_KEEP;
        unsigned n;
        const Placement *const *pls = planner_placements(m->planner, &n);
        for (unsigned i = 0; i < n; i++) {
                const Placement *pl = pls[i];
                if (!pl->admitted)
                        continue;
                strict |= pl->memory_mode == MEMORY_STRICT;
                for (unsigned v = 0; idle && !pl->adopted && v < pl->n_vcpus; v++) {
                        int cpu = pl->vcpus[v].dedicated ? placement_vcpu_cpu(pl, v) : -1;
                        if (cpu >= 0 && (unsigned) cpu <= t->max_os_cpu && t->cpu_by_os[cpu] >= 0)
                                idle[t->cpu_by_os[cpu]] = pl->cls->idle_latency_us;
                }
        }
        *ret_want = (HostWant){
                .config = m->config, .topology = t, .held = held, .idle_latency_us = idle, .strict_running = strict
        };
}

/* Runs one actuator's apply and says what came of it (the journal, kvmtuned_actions_total). */
static void host_apply_one(Manager *m, ActuatorId id, const HostWant *want) {
        const Actuator *a = actuator_get(id);
        ActuatorMemo *memo = &m->memos[id];
        if (!a->apply || memo->unavailable)
                return;
        _cleanup_free_ char *message = NULL, *drift = NULL;
        int r = a->apply(&m->host, want, memo, &message);
        if (r >= 0 || r == -EOPNOTSUPP) /* a failed write is tried again at the next change */
                memo->stale = false;
        m->host_ok[id] += r > 0;
        m->host_failed[id] += r < 0 && r != -EOPNOTSUPP;
        if (r > 0 && a->verify && a->verify(&m->host, want, &drift) < 0)
                log_emit(&m->log, LOG_WARNING, &(LogFields){ .action = a->name, .result = "failed", .vcpu = -1 },
                         "applied, but the host reads back otherwise: %s", drift ? drift : "?");
        if (r == -EOPNOTSUPP)
                memo->unavailable = true; /* said once, then left alone */
        if (r < 0 || message)
                log_emit(&m->log, r == -EOPNOTSUPP ? LOG_NOTICE : r < 0 ? LOG_WARNING : LOG_INFO,
                         &(LogFields){ .action = a->name,
                                       .result = r == -EOPNOTSUPP ? "unavailable" : r < 0 ? "failed" : "ok",
                                       .vcpu = -1 },
                         "%s", message ? message : strerror(-r));
}

/* Runs every actuator's apply towards what the plan wants now (governors, isolation, IRQs and
 * idle latency follow the held CPUs; THP and KSM follow the configuration; NUMA balancing and
 * KSM's merging follow the strictly bound domains). force: forget what was applied (start,
 * reload). rescan_only: only those that look again every StatsInterval. A dry run changes
 * nothing on the host. */
static void host_run(Manager *m, bool force, bool rescan_only) {
        if (m->opts.dry_run)
                return;
        _cleanup_bitmap_ hwloc_bitmap_t held = hwloc_bitmap_alloc();
        _cleanup_free_ int *idle = calloc(m->topology->n_cpus ? m->topology->n_cpus : 1, sizeof(int));
        if (!held)
                return;
        HostWant want;
        host_want(m, held, idle, &want);
        for (unsigned i = 0; i < ACTUATOR_COUNT; i++) {
                if (rescan_only && !actuator_get((ActuatorId) i)->rescan)
                        continue;
                if (force)
                        actuator_memo_renew(&m->memos[i]);
                host_apply_one(m, (ActuatorId) i, &want);
        }
}

void host_run_actuators(Manager *m, bool force) {
        host_run(m, force, false);
}

void host_rescan_actuators(Manager *m) {
        host_run(m, false, true);
}

/* What the host settings do for pl, one line each into lines (explain). */
void host_explain(Manager *m, const Placement *pl, json_object *lines) {
        static const ActuatorId ids[] = { ACTUATOR_IRQ, ACTUATOR_IDLE, ACTUATOR_NUMA_BALANCING, ACTUATOR_KSM };
        /* An adopted domain's pins are its own choice, not CPUs kvmtuned dedicated to it. */
        bool dedicated = !pl->adopted && !hwloc_bitmap_iszero(pl->held), strict = pl->memory_mode == MEMORY_STRICT;
        for (size_t i = 0; pl->admitted && i < ELEMENTSOF(ids); i++) {
                const char *summary = m->memos[ids[i]].summary;
                bool mine = ids[i] == ACTUATOR_IRQ ? dedicated
                            : ids[i] == ACTUATOR_IDLE ? dedicated && pl->cls->idle_latency_us != IDLE_LATENCY_KEEP
                                                      : strict;
                if (!summary || !mine)
                        continue;
                char line[512];
                if (ids[i] == ACTUATOR_IDLE) {
                        char us[32];
                        snprintf(line, sizeof(line), "host: IdleLatency=%s on its dedicated CPUs (%s)",
                                 idle_latency_to_string(pl->cls->idle_latency_us, us, sizeof(us)), summary);
                } else
                        snprintf(line, sizeof(line), "host: %s", summary);
                json_object_array_add(lines, json_object_new_string(line));
        }
}

typedef struct UndoReport {
        Manager *m;
        const char *why;
} UndoReport;

static void host_report_undo(void *userdata, const Actuator *a, int r, const char *message) {
        UndoReport *u = userdata;
        if (r < 0)
                log_emit(&u->m->log, LOG_ERR, &(LogFields){ .action = a->name, .result = "failed", .vcpu = -1 }, "%s",
                         message ? message : strerror(-r));
        else if (message)
                log_emit(&u->m->log, LOG_INFO, &(LogFields){ .action = a->name, .vcpu = -1 }, "%s: %s", u->why, message);
}

/* Every actuator undone: the journal's originals back, host isolation ended. */
void host_restore(Manager *m, const char *why) {
        _cleanup_free_ char *error = NULL;
        UndoReport u = { m, why };
        int n = actuator_undo_all(&m->host, m->memos, host_report_undo, &u, &error);
        if (n < 0 && error)
                log_emit(&m->log, LOG_ERR, &(LogFields){ .action = "restore", .result = "failed", .vcpu = -1 }, "%s",
                         error);
        else if (n > 0)
                log_emit(&m->log, LOG_INFO, &(LogFields){ .action = "restore", .result = "ok", .vcpu = -1 },
                         "%s: restored %d host setting%s from the journal", why, n, n == 1 ? "" : "s");
}

/* Hugepage reservations whose domain is no longer managed are given back. */
void host_release_orphan_reservations(Manager *m) {
        JournalReservation res;
        for (size_t i = 0; journal_reservation(m->journal, i, &res);) {
                bool live = false;
                for (ManagedDomain *d = m->domains; d; d = d->next)
                        live |= strcmp(d->uuid, res.owner) == 0;
                if (live) {
                        i++;
                        continue;
                }
                /* A copy: releasing removes the entry res.owner points into. */
                _cleanup_free_ char *owner = strdup(res.owner), *error = NULL;
                if (!owner)
                        return;
                log_emit(&m->log, LOG_INFO, &(LogFields){ .action = "hugepages", .vcpu = -1 },
                         "giving back hugepages reserved for %s, which is not running", owner);
                if (tuning_hugepages_release(&m->tuning, owner, &error) < 0)
                        log_emit(&m->log, LOG_WARNING,
                                 &(LogFields){ .action = "hugepages", .result = "failed", .vcpu = -1 }, "%s", error);
                /* Either way the owner's entries are gone (a pool that could not shrink keeps its
                 * journaled original for the restore): index i now holds the next one. */
        }
}

/* Host settings: the actuator table run towards what the plan wants, and undone. */
#include <errno.h>
#include <string.h>

#include "macro.h"
#include "manager-internal.h"

/* Runs every actuator's apply towards what the plan wants now (governors and isolation follow
 * the held CPUs; THP follows the configuration). force: forget what was applied (start, reload).
 * A dry run changes nothing on the host. */
void host_run_actuators(Manager *m, bool force) {
        if (m->opts.dry_run)
                return;
        _cleanup_bitmap_ hwloc_bitmap_t held = hwloc_bitmap_alloc();
        planner_held_cpus(m->planner, held);
        HostWant want = { .config = m->config, .topology = m->topology, .held = held };
        for (unsigned i = 0; i < ACTUATOR_COUNT; i++) {
                const Actuator *a = actuator_get((ActuatorId) i);
                ActuatorMemo *memo = &m->memos[i];
                if (force)
                        actuator_memo_renew(memo);
                if (!a->apply || memo->unavailable)
                        continue;
                _cleanup_free_ char *message = NULL, *drift = NULL;
                int r = a->apply(&m->host, &want, memo, &message);
                if (r >= 0 || r == -EOPNOTSUPP) /* a failed write is tried again at the next change */
                        memo->stale = false;
                if (r > 0 && a->verify && a->verify(&m->host, &want, &drift) < 0)
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

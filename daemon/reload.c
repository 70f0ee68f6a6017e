/* Reload: configuration and policy read again; what changed is placed again. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "cli.h"
#include "macro.h"
#include "manager-internal.h"

static bool reload_same_text(const char *a, const char *b) {
        return a == b || (a && b && strcmp(a, b) == 0);
}

/* Settings only a restart applies keep their running values in the new configuration c; the
 * names of those that changed are returned ("DryRun, Metrics"), NULL if none (or ENOMEM). */
static char *reload_keep_restart_only(const Config *running, Config *c) {
        char names[64] = "";
        if (c->daemon.dry_run != running->daemon.dry_run) {
                strcat(names, ", DryRun");
                c->daemon.dry_run = running->daemon.dry_run;
        }
        const struct {
                const char *name;
                char **now;
                const char *before;
        } texts[] = { { "Metrics", &c->daemon.metrics, running->daemon.metrics },
                      { "URI", &c->daemon.uri, running->daemon.uri } };
        for (size_t i = 0; i < ELEMENTSOF(texts); i++) {
                if (reload_same_text(*texts[i].now, texts[i].before))
                        continue;
                strcat(strcat(names, ", "), texts[i].name);
                free(*texts[i].now);
                *texts[i].now = texts[i].before ? strdup(texts[i].before) : NULL;
        }
        return names[0] ? strdup(names + 2) : NULL;
}

/* Plans the new configuration c into p: domains whose class (and the pools) did not change keep
 * their placement as it is; the others (moved[i] set) are placed again, in the order they were
 * first placed. Returns 0 or -ENOMEM. */
static int reload_plan(Manager *m, const Config *c, Planner *p, const Placement *const *old, unsigned n, bool *moved) {
        bool pools_same = config_pools_equal(c, m->config);
        for (unsigned i = 0; i < n; i++) {
                ManagedDomain *d = manager_find(m, old[i]->name);
                char *why = NULL;
                /* A restored placement has no request yet: it keeps its class if that is unchanged,
                 * and the first reconcile matches it against the domain. */
                const PolicyClass *now = !d       ? NULL
                                         : d->req ? config_match_class(c, d->req->name, d->req->metadata_class, &why)
                                                  : config_find_class(c, old[i]->cls->name);
                free(why);
                const Placement *pl;
                if (pools_same && now && strcmp(now->name, old[i]->cls->name) == 0 &&
                    config_class_equal(now, old[i]->cls) && planner_restore(p, old[i], now->name, &pl) == 0)
                        continue;
                moved[i] = true;
        }
        for (unsigned i = 0; i < n; i++) {
                ManagedDomain *d = moved[i] ? manager_find(m, old[i]->name) : NULL;
                const Placement *pl;
                if (!d)
                        continue;
                bool waiting = domains_admitted_unstarted(d);
                if (waiting && (!d->req || (planner_place(p, d->req, &pl) == 0 && !pl->admitted))) {
                        /* The hook said yes and libvirt starts it: its admission stands as it was
                         * (its CPUs and hugepages stay promised), and the new policy places it
                         * when it starts. */
                        planner_release(p, d->name);
                        (void) planner_restore(p, old[i], old[i]->cls->name, &pl); /* its class may be gone */
                        d->replan_at_start = true;
                        continue;
                }
                if (!d->req || waiting)
                        continue; /* a restored placement without its request: the reconcile decides */
                d->req->memory_use = MEMORY_USE_ALL; /* it runs: what it uses is in the live figures */
                if (old[i]->memory_mode == MEMORY_STRICT && !old[i]->adopted) /* libvirt cannot move it */
                        hwloc_bitmap_copy(d->req->stay_nodes, old[i]->memory_nodes);
                if (planner_place(p, d->req, &pl) < 0)
                        return -ENOMEM;
        }
        return 0;
}

/* After the swap: restored placements the new policy dropped are forgotten, and every moved
 * domain goes where its new placement says. Returns how many moved. */
static unsigned reload_apply_moved(Manager *m, const Planner *old_planner, const Placement *const *old, unsigned n,
                                   const bool *moved) {
        unsigned moved_count = 0;
        for (ManagedDomain *d = m->domains, *next; d; d = next) {
                next = d->next;
                const Placement *pl = planner_find(m->planner, d->name);
                if (!pl && d->state == DOMAIN_RESTORED) {
                        if (planner_find(old_planner, d->name))
                                log_emit(&m->log, LOG_INFO,
                                         &(LogFields){ .domain = d->name, .action = "adopt", .vcpu = -1 },
                                         "%s: the previous run's placement does not fit the new policy: it is placed "
                                         "again if it runs",
                                         d->name);
                        if (!d->applied) /* else kept: it says which of the domain's live pins are kvmtuned's */
                                manager_forget(m, d);
                        continue;
                }
                bool was_moved = false;
                for (unsigned i = 0; i < n; i++)
                        was_moved |= moved[i] && strcmp(old[i]->name, d->name) == 0;
                if (!pl || !was_moved)
                        continue;
                moved_count++;
                d->attempts = 0;
                if (d->replan_at_start)
                        log_emit(&m->log, LOG_NOTICE, &(LogFields){ .domain = d->name, .action = "admit", .vcpu = -1 },
                                 "%s: the new policy does not take its admission as it is; the admission stands "
                                 "and the domain is placed again when it starts",
                                 d->name);
                if (!pl->admitted)
                        manager_transition(m, d, EVENT_REFUSE, pl->reason);
                else if (domains_admitted_unstarted(d)) /* not running yet: its start applies */
                        manager_transition(m, d, EVENT_ADMIT, ADMITTED_NOTE);
                else if (pl->adopted)
                        manager_transition(m, d, EVENT_PINS_ITSELF, NULL);
                else {
                        d->event_usec = manager_now_usec();
                        apply_domain(m, d);
                }
        }
        return moved_count;
}

/* The reload itself (manager_reload tells systemd around it): reads the configuration and
 * policy again, plans them into a new planner, swaps it in and settles. On errors the running
 * policy stays (-EINVAL with *ret_errors). */
static int reload_policy(Manager *m, char **ret_errors, char **ret_restart) {
        CliHost host = { .topology = m->opts.topology,
                         .sysfs = m->opts.sysfs,
                         .config = m->opts.config_path,
                         .policy_dir = m->opts.policy_dir };
        ConfigErrors errors = { 0 };
        _cleanup_(config_freep) Config *c = NULL;
        int r = cli_config_paths_load(&host, m->topology, &c, &errors);
        if (r < 0) {
                *ret_errors = errors.n ? config_errors_format(&errors) : strdup(strerror(-r));
                const LogFields f = { .action = "reload", .result = "failed", .vcpu = -1 };
                log_emit(&m->log, LOG_ERR, &f, "reload failed, the running policy stays: %s",
                         errors.n ? "errors follow" : strerror(-r));
                for (size_t i = 0; i < errors.n; i++) /* one entry each: messages are one line */
                        log_emit(&m->log, LOG_ERR, &f, "%s:%u: %s", errors.items[i].file ? errors.items[i].file : "",
                                 errors.items[i].line, errors.items[i].message);
                config_errors_clear(&errors);
                return -EINVAL;
        }
        manager_log_config_warnings(m, c, "reload");
        *ret_restart = reload_keep_restart_only(m->config, c);
        domains_refresh_memory(m);
        _cleanup_(planner_freep) Planner *p = NULL;
        r = planner_new(m->topology, c, &p);
        if (r < 0)
                return r;

        unsigned n;
        const Placement *const *old = planner_placements(m->planner, &n);
        _cleanup_free_ bool *moved = calloc(n + 1, sizeof(bool));
        if (!moved)
                return -ENOMEM;
        r = reload_plan(m, c, p, old, n, moved);
        if (r < 0)
                return r;

        /* Swap, then apply what moved; shared domains follow their nodes' shared CPUs. */
        _cleanup_(apply_free_snapshotp) hwloc_bitmap_t *before = apply_snapshot_shared(m);
        Planner *old_planner = m->planner;
        Config *old_config = m->config;
        m->planner = TAKE_PTR(p);
        m->config = TAKE_PTR(c);
        unsigned moved_count = reload_apply_moved(m, old_planner, old, n, moved);
        planner_free(old_planner);
        config_free(old_config);
        apply_settle(m, before, SETTLE_RESET_HOST); /* governors or the isolation mode may have changed */
        log_emit(&m->log, LOG_INFO, &(LogFields){ .action = "reload", .result = "ok", .vcpu = -1 },
                 "configuration reloaded; %u domain%s placed again, the others left as they were%s%s%s", moved_count,
                 moved_count == 1 ? "" : "s", *ret_restart ? "; changed, applied at the next restart: " : "",
                 *ret_restart ? *ret_restart : "", *ret_restart ? " (running with the old values)" : "");
        return 0;
}
int manager_reload(Manager *m, char **ret_errors, char **ret_restart) {
        _cleanup_free_ char *restart = NULL;
        *ret_errors = NULL;
        sd_notify(0, "RELOADING=1");
        int r = reload_policy(m, ret_errors, &restart);
        if (ret_restart)
                *ret_restart = TAKE_PTR(restart);
        sd_notify(0, "READY=1"); /* the running policy (old or new) is in force either way */
        if (r == 0)
                connection_notify_status(m);
        return r;
}

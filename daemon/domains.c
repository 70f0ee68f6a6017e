/* Domains coming and going: planning, starts, adoption after a restart, release, re-planning. */
#include <errno.h>
#include <string.h>

#include <libvirt/virterror.h>

#include "crash.h"
#include "macro.h"
#include "manager-internal.h"
#include "pin.h"

#define ADMISSION_TIMEOUT_USEC (600ULL * 1000 * 1000) /* a start slower than this is a lost hook */

/* Reads the host's memory figures again before a placement: what stopped domains gave back and
 * what page cache came and went since. A node without figures keeps the ones it has. */
void domains_refresh_memory(Manager *m) {
        (void) topology_refresh_memory(m->topology, m->tuning.sysfs); /* ENOMEM: the last figures stay */
}

/* The request of a running domain, from the live XML a worker read (also a transient domain's:
 * orchestrators start domains with createXML). Its pins are the user's, explicit, unless
 * pins_ours says they are the ones kvmtuned applied: then they are dropped, all but an emulator
 * pin that was the domain's own (own_emulator: kvmtuned kept it, so it is still the user's). */
static int domains_read_request(const VirtFetch *f, bool pins_ours, bool own_emulator, DomainRequest **ret_req,
                                char **ret_error) {
        if (!f->xml) {
                *ret_error = strdup(f->error ? f->error : "cannot read its XML");
                return -EIO;
        }
        _cleanup_(domain_freep) DomainRequest *req = NULL;
        int r = domain_parse(f->xml, strlen(f->xml), &req, ret_error);
        if (r < 0)
                return r;
        if (pins_ours) {
                /* kvmtuned's own strict binding: libvirt cannot move it while the domain runs. */
                if (req->numatune_mode && strcmp(req->numatune_mode, "preferred") != 0 &&
                    strcmp(req->numatune_mode, "interleave") != 0)
                        hwloc_bitmap_copy(req->stay_nodes, req->pinned_nodes);
                req->explicit_pins = false;
                hwloc_bitmap_zero(req->pinned_cpus);
                hwloc_bitmap_zero(req->pinned_nodes);
                if (!own_emulator)
                        hwloc_bitmap_zero(req->emulator_pins);
                free(req->numatune_mode);
                req->numatune_mode = NULL;
        }
        *ret_req = TAKE_PTR(req);
        return 0;
}

/* Whether the live pins of d are kvmtuned's: it applied them (or began to) in this run or, as
 * its allocations file says, in the previous one. */
static bool domains_pins_ours(const ManagedDomain *d) {
        return d->applied || d->attempts > 0 || d->pinning;
}

/* Whether the live pins the worker read differ from what kvmtuned applied last: only a
 * difference libvirt showed counts, not a call that failed (the domain busy with a job), and
 * not one a pin job of kvmtuned's made since the read began. */
static bool domains_pins_differ(const ManagedDomain *d, const VirtFetch *f) {
        return f->applied_differs == 1 && f->seq == d->pin_seq && !d->pinning;
}

/* Whether the live pins the worker read are pl's (pl as it is now, not only as when asked). */
static bool domains_pins_match(const VirtFetch *f, const Placement *pl) {
        return f->plan_matches == 1 && f->plan && placement_pins_equal(f->plan, pl);
}

/* Pins that changed after kvmtuned verified its own were set by an operator or an orchestrator:
 * kvmtuned does not fight them, the domain counts as pinning itself from now on. */
static void domains_log_foreign_pins(Manager *m, const ManagedDomain *d) {
        log_emit(&m->log, LOG_NOTICE, &(LogFields){ .domain = d->name, .action = "respect", .vcpu = -1 },
                 "%s: its pins were changed outside kvmtuned: left alone, its CPUs count as taken", d->name);
}

/* A restored placement whose domain runs: kept when it still describes the domain under the
 * current policy (same vCPU count, same class); its pins are applied again when they were never
 * finished. Returns 1 when adopted, 0 when it does not fit (the caller places the domain afresh;
 * *ret_pins_ours: whether its live pins are kvmtuned's, not someone else's), or negative errno
 * when the domain's XML cannot be read: its booking stays (the domain still runs on those CPUs)
 * and the next reconcile tries again. */
static int domains_adopt_restored(Manager *m, ManagedDomain *d, const VirtFetch *f, bool *ret_pins_ours) {
        _cleanup_free_ char *error = NULL, *why = NULL;
        const Placement *pl = planner_find(m->planner, d->name);
        bool self = pl && pl->adopted; /* it pinned itself: its live pins are its own */
        *ret_pins_ours = !self;
        int r = domains_read_request(f, !self, pl && pl->own_emulator, &d->req, &error);
        if (r < 0) {
                log_emit(&m->log, LOG_WARNING, &(LogFields){ .domain = d->name, .action = "adopt", .vcpu = -1 },
                         "%s: cannot read its XML (%s); its previous placement stays booked", d->name,
                         error ? error : strerror(-r));
                return r;
        }
        d->req->memory_use = MEMORY_USE_ALL; /* running since before this run */
        if (d->applied && !m->opts.dry_run && domains_pins_differ(d, f)) {
                domains_log_foreign_pins(m, d); /* verified before the restart, changed since: not by kvmtuned */
                *ret_pins_ours = false;
                return 0;
        }
        const PolicyClass *now = config_match_class(m->config, d->req->name, d->req->metadata_class, &why);
        if (!pl || (!self && pl->n_vcpus != d->req->vcpus) || !now || strcmp(now->name, pl->cls->name) != 0) {
                if (pl) /* else said when it was restored */
                        log_emit(&m->log, LOG_INFO, &(LogFields){ .domain = d->name, .action = "adopt", .vcpu = -1 },
                                 "%s: the previous run's placement (class %s) does not fit the current policy: "
                                 "placing it again",
                                 d->name, pl->cls->name);
                return 0;
        }
        if (!pl->adopted && !m->opts.dry_run && !domains_pins_match(f, pl))
                apply_domain(m, d); /* never finished, or the plan moved on (a smaller shared pool) */
        else {
                manager_transition(m, d, pl->adopted ? EVENT_PINS_ITSELF : EVENT_VERIFIED, NULL);
                if (!pl->adopted && !d->applied) /* the plan's pins are live: kvmtuned's own */
                        d->applied = placement_copy(pl, m->topology->n_nodes);
        }
        log_emit(&m->log, LOG_INFO, &(LogFields){ .domain = d->name, .action = "adopt", .vcpu = -1 },
                 "%s: adopted the placement of the previous run (class %s)", d->name, pl->cls->name);
        return 1;
}

/* Plans a domain whose request is read: refused, adopted (it pins itself) or applied. */
static void domains_plan(Manager *m, ManagedDomain *d) {
        const Placement *pl;
        domains_refresh_memory(m);
        if (planner_place(m->planner, d->req, &pl) < 0) {
                manager_transition(m, d, EVENT_GIVE_UP, "out of memory while planning");
                return;
        }
        crash_point("planned");
        if (!pl->admitted) {
                manager_transition(m, d, EVENT_REFUSE, pl->reason);
                log_emit(&m->log, LOG_WARNING, &(LogFields){ .domain = d->name, .action = "refuse", .vcpu = -1 },
                         "%s refused: %s (left running, on the shared CPUs)", d->name, pl->reason);
                apply_float(m, d);
        } else if (pl->adopted) {
                manager_transition(m, d, EVENT_PINS_ITSELF, NULL);
                log_emit(&m->log, LOG_INFO, &(LogFields){ .domain = d->name, .action = "respect", .vcpu = -1 },
                         "%s pins itself: left alone, its CPUs count as taken", d->name);
        } else {
                if (pl->over_ratio) /* an upgrade or a stricter policy: once, when it is planned */
                        log_emit(&m->log, LOG_NOTICE, &(LogFields){ .domain = d->name, .action = "place", .vcpu = -1 },
                                 "%s runs above its class's Overcommit: kept as it is; new starts are held to it",
                                 d->name);
                apply_domain(m, d);
        }
}

/* An admitted domain started (or a pending one is there again): its pins follow, unless it
 * pins itself. */
static void domains_start(Manager *m, ManagedDomain *d, const VirtFetch *f, uint64_t event_usec) {
        const Placement *pl = planner_find(m->planner, d->name);
        d->event_usec = event_usec; /* the admission's wait is over */
        if (d->state == DOMAIN_ADMITTED) {
                manager_transition(m, d, pl && pl->adopted ? EVENT_PINS_ITSELF : EVENT_START, NULL);
                /* Its hugepages are taken now (libvirt preallocates them); the statistics pass
                 * measures the small pages it touches. */
                (void) planner_memory_use(m->planner, d->name, MEMORY_USE_STARTED, NULL);
        }
        if (!pl || pl->adopted)
                return;
        _cleanup_free_ char *error = NULL;
        if (!d->req && domains_read_request(f, false, false, &d->req, &error) < 0) /* admitted before a restart */
                log_emit(&m->log, LOG_WARNING, &(LogFields){ .domain = d->name, .action = "read", .vcpu = -1 },
                         "%s: cannot read its XML (%s); its admitted placement is applied as saved", d->name,
                         error ? error : "unknown error");
        apply_domain(m, d);
        apply_settle(m, NULL, 0); /* re-pins its admission noted, if not done yet */
}

/* Places a running domain a worker read, seen at event_usec. found_running: a reconcile found it
 * (it may have run for long: its memory counts as in use), else its start was just seen
 * (hugepages taken, small pages still to come: those are checked). */
static void domains_place(Manager *m, const VirtFetch *f, uint64_t event_usec, bool found_running) {
        const char *name = f->name, *uuid = f->uuid;
        ManagedDomain *d = manager_find(m, name);
        bool same = d && strcmp(d->uuid, uuid) == 0;
        if (same && d->state == DOMAIN_ADMITTED && (d->replan_at_start || !planner_find(m->planner, name))) {
                manager_forget(m, d); /* a reload changed its policy while it waited: placed afresh */
                d = NULL;
                same = false;
        }
        if (same && d->state != DOMAIN_RESTORED) {
                /* Admitted by the prepare hook: its start is here. A placement whose apply found no
                 * domain (no retry due) is applied again. Else already managed (RESUMED, or a
                 * reconcile after a reconnect). */
                if (d->state == DOMAIN_ADMITTED || (d->state == DOMAIN_PENDING && !d->attempts))
                        domains_start(m, d, f, event_usec);
                return;
        }
        _cleanup_(apply_free_snapshotp) hwloc_bitmap_t *before = apply_snapshot_shared(m);
        bool ours = false, own_emulator = false; /* a domain kvmtuned never pinned: its pins are the user's */
        if (same) { /* restored from the previous run */
                const Placement *old = planner_find(m->planner, d->name);
                own_emulator = old && old->own_emulator;
                d->event_usec = event_usec;
                int r = domains_adopt_restored(m, d, f, &ours);
                if (r != 0) {
                        apply_settle(m, before, 0);
                        return;
                }
                found_running = true;
        }
        if (d) { /* a placement that no longer fits, or another domain of the same name */
                manager_forget(m, d);
        }
        d = manager_new_record(m, name, uuid, event_usec);
        if (!d)
                return;
        _cleanup_free_ char *error = NULL;
        if (domains_read_request(f, ours, own_emulator, &d->req, &error) < 0) {
                manager_transition(m, d, EVENT_GIVE_UP, error ? error : "cannot read its XML");
                log_emit(&m->log, LOG_ERR, &(LogFields){ .domain = name, .action = "read", .vcpu = -1 }, "%s: %s", name,
                         d->error);
        } else {
                d->req->memory_use = found_running ? MEMORY_USE_ALL : MEMORY_USE_STARTED;
                domains_plan(m, d);
        }
        apply_settle(m, before, 0);
}

/* Refused domains are tried again whenever something is released: what they needed may be
 * free now. */
static void domains_retry_refused(Manager *m) {
        domains_refresh_memory(m);
        for (ManagedDomain *d = m->domains; d; d = d->next) {
                if (d->state != DOMAIN_REFUSED || !d->req)
                        continue;
                planner_release(m->planner, d->name);
                d->req->memory_use = MEMORY_USE_ALL; /* it runs: what it uses is in the live figures */
                const Placement *pl;
                if (planner_place(m->planner, d->req, &pl) < 0 || !pl->admitted)
                        continue;
                log_emit(&m->log, LOG_INFO, &(LogFields){ .domain = d->name, .action = "place", .vcpu = -1 },
                         "%s fits now that resources were released", d->name);
                d->event_usec = manager_now_usec();
                d->attempts = 0;
                if (pl->adopted)
                        manager_transition(m, d, EVENT_PINS_ITSELF, NULL);
                else
                        apply_domain(m, d);
        }
}

/* Admitted by the prepare hook, its start not yet seen (pins to follow, or it pins itself): a
 * STOPPED event or a reconcile that does not list it belongs to an earlier run of the domain. The
 * release hook ends it; should that never come (libvirt gave up after the hook, or the hook's
 * answer came too late), domains_on_admission_expiry does after the admission timeout. */
static uint64_t domains_admission_timeout(const Manager *m) {
        return m->opts.admission_timeout_usec ? m->opts.admission_timeout_usec : ADMISSION_TIMEOUT_USEC;
}

bool domains_admitted_unstarted(const ManagedDomain *d) {
        return d->state == DOMAIN_ADMITTED;
}

bool domains_awaiting_start(const Manager *m, const ManagedDomain *d) {
        return domains_admitted_unstarted(d) && !d->start_seen &&
               manager_now_usec() - d->admit_usec < domains_admission_timeout(m);
}

void domains_release(Manager *m, ManagedDomain *d, const char *why) {
        log_emit(&m->log, LOG_INFO, &(LogFields){ .domain = d->name, .action = "release", .vcpu = -1 },
                 "%s %s: released", d->name, why);
        _cleanup_(apply_free_snapshotp) hwloc_bitmap_t *before = apply_snapshot_shared(m);
        _cleanup_free_ char *error = NULL;
        if (tuning_hugepages_release(&m->tuning, d->uuid, &error) < 0)
                log_emit(&m->log, LOG_WARNING, &(LogFields){ .domain = d->name, .action = "hugepages", .vcpu = -1 },
                         "%s", error);
        manager_forget(m, d);
        domains_retry_refused(m);
        apply_settle(m, before, 0);
}

/* Admissions whose start never came are released at the end of their wait; without a
 * connection, the reconcile after the next one decides (the domain may have started unseen). */
static int domains_on_admission_expiry(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        (void) usec;
        if (!m->connected) { /* the reconcile after the next connection looks again */
                sd_event_source_set_enabled(s, SD_EVENT_OFF);
                return 0;
        }
        for (ManagedDomain *d = m->domains, *next; d; d = next) {
                next = d->next; /* domains_release frees d (and nothing else) */
                if (domains_admitted_unstarted(d) && !domains_awaiting_start(m, d))
                        domains_release(m, d, "was admitted by the prepare hook but never started");
        }
        domains_schedule_admission_expiry(m);
        return 0;
}

/* Arms the timer for the earliest end of an admission's wait, or disarms it. */
void domains_schedule_admission_expiry(Manager *m) {
        uint64_t first = 0;
        for (ManagedDomain *d = m->domains; d; d = d->next)
                if (domains_admitted_unstarted(d) && (!first || d->admit_usec < first))
                        first = d->admit_usec;
        if (!first) {
                sd_event_source_set_enabled(m->admission_source, SD_EVENT_OFF);
                return;
        }
        if (!m->admission_source && sd_event_add_time(m->event, &m->admission_source, CLOCK_MONOTONIC, 0, 1000,
                                                      domains_on_admission_expiry, m) < 0)
                return;
        sd_event_source_set_time(m->admission_source, first + domains_admission_timeout(m));
        sd_event_source_set_enabled(m->admission_source, SD_EVENT_ONESHOT);
}

/* Plans d again for the request now (its old placement released first), and settles. */
static void domains_replan(Manager *m, ManagedDomain *d, DomainRequest *now) {
        _cleanup_(apply_free_snapshotp) hwloc_bitmap_t *before = apply_snapshot_shared(m);
        now->memory_use = MEMORY_USE_ALL; /* it runs: its memory is out of the free figure */
        planner_release(m->planner, d->name);
        domain_free(d->req);
        d->req = now;
        d->attempts = 0;
        placement_free(d->applied); /* the new plan's pins replace them (or they were not ours) */
        d->applied = NULL;
        d->event_usec = manager_now_usec();
        domains_plan(m, d);
        apply_settle(m, before, 0);
}

/* Devices, vCPUs or iothreads changed: re-place when the shape it was planned for changed. */
static void domains_refresh(Manager *m, const VirtFetch *f) {
        ManagedDomain *d = manager_find(m, f->name);
        if (!d || !d->req || d->state == DOMAIN_ADMITTED) /* not started: nothing runs to re-place */
                return;
        _cleanup_(domain_freep) DomainRequest *now = NULL;
        _cleanup_free_ char *error = NULL;
        if (domains_read_request(f, domains_pins_ours(d), d->applied && d->applied->own_emulator, &now, &error) < 0)
                return;
        bool same = now->vcpus == d->req->vcpus && now->n_iothreads == d->req->n_iothreads &&
                    now->n_hostdevs == d->req->n_hostdevs &&
                    (now->n_iothreads == 0 ||
                     memcmp(now->iothread_ids, d->req->iothread_ids, now->n_iothreads * sizeof(unsigned)) == 0);
        if (same)
                return;
        log_emit(&m->log, LOG_INFO, &(LogFields){ .domain = d->name, .action = "replan", .vcpu = -1 },
                 "%s changed (vCPUs, iothreads or devices): placing it again", d->name);
        domains_replan(m, d, TAKE_PTR(now));
}

/* A placed domain whose live pins are no longer kvmtuned's: planned again as pinning itself. */
static void domains_respect_foreign_pins(Manager *m, ManagedDomain *d, const VirtFetch *f) {
        _cleanup_(domain_freep) DomainRequest *now = NULL;
        _cleanup_free_ char *error = NULL;
        domains_log_foreign_pins(m, d);
        if (domains_read_request(f, false, false, &now, &error) < 0)
                return; /* kept as it is; the next reconcile looks again */
        domains_replan(m, d, TAKE_PTR(now));
}

static void domains_on_fetched(void *userdata, WorkerJob *job, bool ran);

/* An admitted domain's start, before its XML is read: said in the allocations file at once, so
 * that a restart after a kill does not wait for a start that came (holding its CPUs and pages
 * for the admission timeout when the domain stopped meanwhile). */
void domains_note_start(Manager *m, virDomainPtr dom, uint64_t usec) {
        char uuid[VIR_UUID_STRING_BUFLEN];
        const char *name = virDomainGetName(dom);
        ManagedDomain *d = name ? manager_find(m, name) : NULL;
        if (!d || !domains_admitted_unstarted(d) || d->start_seen || virDomainGetUUIDString(dom, uuid) < 0 ||
            strcmp(uuid, d->uuid) != 0)
                return;
        d->start_seen = true;
        d->event_usec = usec;
        allocations_save(m);
        allocations_flush(m);
}

void domains_note_stop(Manager *m, virDomainPtr dom, uint64_t usec) {
        char uuid[VIR_UUID_STRING_BUFLEN];
        if (virDomainGetUUIDString(dom, uuid) < 0)
                return;
        unsigned i = m->stopped_next++ % MANAGER_STOPS_KEPT;
        snprintf(m->stopped[i].uuid, sizeof(m->stopped[i].uuid), "%s", uuid);
        m->stopped[i].usec = usec;
}

/* Whether the domain's STOPPED event came after usec: a read begun before it may have found it
 * running, and its end came after the event. */
static bool domains_stopped_since(const Manager *m, const char *uuid, uint64_t usec) {
        for (unsigned i = 0; i < MANAGER_STOPS_KEPT; i++)
                if (m->stopped[i].usec > usec && strcmp(m->stopped[i].uuid, uuid) == 0)
                        return true;
        return false;
}

/* Asks a worker to read the running domain dom (its XML, and whether its live pins are still
 * what kvmtuned applied and what the plan says); the answer comes in domains_on_fetched. */
void domains_fetch(Manager *m, virDomainPtr dom, FetchPurpose purpose, uint64_t event_usec) {
        const char *name = virDomainGetName(dom);
        ManagedDomain *d = name ? manager_find(m, name) : NULL;
        const Placement *plan = d && !m->opts.dry_run ? planner_find(m->planner, d->name) : NULL;
        VirtFetch *f = virt_fetch_new(dom, d && !m->opts.dry_run ? d->applied : NULL, plan, m->topology->n_nodes,
                                      m->topology->max_os_cpu + 1);
        if (!f)
                return; /* ENOMEM: the next reconcile looks again */
        f->gen = m->conn_gen;
        f->event_usec = event_usec;
        f->purpose = (int) purpose;
        f->seq = d ? d->pin_seq : 0;
        worker_submit(m->worker, &f->job, f->uuid, virt_fetch_run, domains_on_fetched, m);
}

/* A reconcile found d placed: its pins changed by someone else are respected, pins that lag
 * behind the plan (a re-pin that has not run yet) are applied. */
static void domains_check(Manager *m, const VirtFetch *f) {
        ManagedDomain *d = manager_find(m, f->name);
        if (!d || strcmp(d->uuid, f->uuid) != 0 || d->state != DOMAIN_PLACED || m->opts.dry_run)
                return;
        const Placement *pl = planner_find(m->planner, d->name);
        if (d->applied && domains_pins_differ(d, f))
                domains_respect_foreign_pins(m, d, f);
        else if (pl && f->plan_matches == 0 && !d->pinning)
                apply_domain(m, d);
}

static void domains_on_fetched(void *userdata, WorkerJob *job, bool ran) {
        Manager *m = userdata;
        _cleanup_(virt_fetch_freep) VirtFetch *f = (VirtFetch *) job;
        /* Not for a connection that is gone (the reconcile after the new one reads again), nor for
         * a domain that stopped meanwhile (its STOPPED event releases it). */
        if (!ran || f->gen != m->conn_gen || !m->connected)
                return;
        if (f->purpose == FETCH_CRASHED) {
                ManagedDomain *d = manager_find(m, f->name);
                if (f->active == 0 && d && strcmp(d->uuid, f->uuid) == 0 && !domains_awaiting_start(m, d))
                        domains_release(m, d, "crashed");
                return;
        }
        if (f->active == 0 || domains_stopped_since(m, f->uuid, f->event_usec))
                return;
        switch ((FetchPurpose) f->purpose) {
        case FETCH_STARTED:
        case FETCH_FOUND:
                domains_place(m, f, f->event_usec, f->purpose == FETCH_FOUND);
                break;
        case FETCH_CHECK:
                domains_check(m, f);
                apply_settle(m, NULL, 0);
                break;
        case FETCH_REFRESH:
                domains_refresh(m, f);
                break;
        default:
                break;
        }
}

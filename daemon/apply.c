/* The apply step: pins through libvirt (on a worker) and read back, retries, floats, re-pins,
 * apply_settle(). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cpulist.h"
#include "crash.h"
#include "macro.h"
#include "manager-internal.h"
#include "pin.h"

#define APPLY_ATTEMPTS 3
#define APPLY_RETRY_USEC (200 * 1000)
#define FAILED_RETRY_USEC (60ULL * 1000 * 1000) /* doubling per failed try, up to 16 times this */

static void apply_schedule_failed_retry(Manager *m, ManagedDomain *d);
static void apply_schedule_retry(Manager *m);

static void apply_log_placement(Manager *m, const ManagedDomain *d, const Placement *pl) {
        for (unsigned i = 0; i < pl->n_vcpus; i++) {
                _cleanup_free_ char *cpus = placement_vcpu_cpulist(pl, i);
                log_emit(&m->log, LOG_DEBUG,
                         &(LogFields){ .domain = d->name,
                                       .action = "pin-vcpu",
                                       .vcpu = (int) pl->vcpus[i].vcpu,
                                       .cpus = cpus },
                         "%s vCPU %u -> CPUs %s%s", d->name, pl->vcpus[i].vcpu, cpus ? cpus : "?",
                         m->opts.dry_run ? " (dry run)" : "");
        }
        _cleanup_free_ char *emu = cpulist_format(pl->emulator), *nodes = cpulist_format(pl->memory_nodes);
        _cleanup_bitmap_ hwloc_bitmap_t all = hwloc_bitmap_alloc();
        for (unsigned i = 0; i < pl->n_vcpus; i++)
                placement_vcpu_add(pl, i, all);
        _cleanup_free_ char *cpus = cpulist_format(all);
        log_emit(&m->log, LOG_INFO, &(LogFields){ .domain = d->name, .action = "place", .vcpu = -1, .cpus = cpus },
                 "%s%s: class %s, vCPUs on CPUs %s, emulator on %s, memory %s on nodes %s",
                 m->opts.dry_run ? "dry run: " : "", d->name, pl->cls->name, cpus ? cpus : "?", emu ? emu : "?",
                 memory_policy_to_string(pl->memory_mode), nodes && *nodes ? nodes : "-");
}

/* Where domains without a placement of their own (refused, failed) run: the shared CPUs of all
 * nodes, or housekeeping when there are none; never a CPU a dedicated vCPU holds. */
static void apply_float_cpus(Manager *m, hwloc_bitmap_t ret_set) {
        _cleanup_bitmap_ hwloc_bitmap_t node = hwloc_bitmap_alloc();
        hwloc_bitmap_zero(ret_set);
        for (unsigned n = 0; n < m->topology->n_nodes; n++) {
                planner_shared_cpus(m->planner, n, node);
                hwloc_bitmap_or(ret_set, ret_set, node);
        }
        if (hwloc_bitmap_iszero(ret_set))
                hwloc_bitmap_copy(ret_set, m->config->host.housekeeping);
}

/* A placement that puts every vCPU, the emulator and every iothread of d on set; NULL on ENOMEM. */
static Placement *apply_float_placement(Manager *m, const ManagedDomain *d, hwloc_const_bitmap_t set) {
        _cleanup_(placement_freep) Placement *pl = placement_new(d->name, m->topology->n_nodes);
        if (!pl || !(pl->vcpus = calloc(d->req->vcpus ? d->req->vcpus : 1, sizeof(PlacedVcpu))) ||
            !(pl->iothreads = calloc(d->req->n_iothreads ? d->req->n_iothreads : 1, sizeof(PlacedIOThread))))
                return NULL;
        pl->memory_mode = MEMORY_NONE; /* its memory stays where libvirt put it */
        hwloc_bitmap_copy(pl->emulator, set);
        for (; pl->n_vcpus < d->req->vcpus; pl->n_vcpus++) {
                pl->vcpus[pl->n_vcpus].vcpu = pl->n_vcpus;
                pl->vcpus[pl->n_vcpus].cpu = -1;
                if (!(pl->vcpus[pl->n_vcpus].cpus = hwloc_bitmap_dup(set)))
                        return NULL;
        }
        for (; pl->n_iothreads < d->req->n_iothreads; pl->n_iothreads++) {
                pl->iothreads[pl->n_iothreads].id = d->req->iothread_ids[pl->n_iothreads];
                if (!(pl->iothreads[pl->n_iothreads].cpus = hwloc_bitmap_dup(set)))
                        return NULL;
        }
        return TAKE_PTR(pl);
}

/* Whether what kvmtuned applied to d last puts all of it on set (vCPUs, emulator, iothreads). */
static bool apply_floats_on(const ManagedDomain *d, hwloc_const_bitmap_t set) {
        const Placement *a = d->applied;
        if (!a || a->n_vcpus != d->req->vcpus || a->n_iothreads != d->req->n_iothreads ||
            !hwloc_bitmap_isequal(a->emulator, set))
                return false;
        _cleanup_bitmap_ hwloc_bitmap_t cpus = hwloc_bitmap_alloc();
        if (!cpus)
                return false;
        for (unsigned i = 0; i < a->n_vcpus; i++) {
                placement_vcpu_cpus(a, i, cpus);
                if (!hwloc_bitmap_isequal(cpus, set))
                        return false;
        }
        for (unsigned i = 0; i < a->n_iothreads; i++)
                if (!hwloc_bitmap_isequal(a->iothreads[i].cpus, set))
                        return false;
        return true;
}

static void apply_on_pinned(void *userdata, WorkerJob *job, bool ran);

/* Hands pl (taken) to a worker to pin d with; the end comes in apply_on_pinned. One pin job per
 * domain at a time: a request meanwhile is decided afresh when it ends. */
static void apply_submit(Manager *m, ManagedDomain *d, Placement *pl, bool floating) {
        if (d->pinning) {
                d->pin_again = true;
                placement_free(pl);
                return;
        }
        VirtApply *a = pl && m->conn ? virt_apply_new(m->conn, d->uuid, pl, m->topology->max_os_cpu + 1) : NULL;
        if (!a) { /* not connected (the reconcile after the connection settles it) or ENOMEM */
                if (!m->conn)
                        placement_free(pl);
                return;
        }
        a->gen = m->conn_gen;
        a->serial = d->serial;
        a->floating = floating;
        d->pinning = true;
        d->pin_seq++;
        /* Written ahead: the allocations file says "applying" before the job starts, so a restart
         * after a kill knows these pins as its own. One write for all the jobs of a loop turn. */
        VirtApply **tail = &m->pin_queue;
        while (*tail)
                tail = (VirtApply **) &(*tail)->job.next;
        *tail = a;
        allocations_save(m);
}

void apply_start_queued(Manager *m) {
        while (m->pin_queue) {
                VirtApply *a = m->pin_queue;
                m->pin_queue = (VirtApply *) a->job.next;
                worker_submit(m->worker, &a->job, a->uuid, virt_apply_run, apply_on_pinned, m);
                crash_point("pinning");
        }
}

/* The record a pin job is for, if it is still there (not another of the same UUID since). */
static ManagedDomain *apply_record(Manager *m, const VirtApply *a) {
        ManagedDomain *d = manager_find_uuid(m, a->uuid);
        return d && d->serial == a->serial ? d : NULL;
}

void apply_drop_queued(Manager *m) {
        while (m->pin_queue) {
                VirtApply *a = m->pin_queue;
                m->pin_queue = (VirtApply *) a->job.next;
                ManagedDomain *d = apply_record(m, a);
                if (d) /* never started: nothing half made (the allocations file must not say so) */
                        d->pinning = false;
                virt_apply_free(a);
        }
}

void apply_drop_queued_of(Manager *m, const ManagedDomain *d) {
        for (VirtApply **pp = &m->pin_queue; *pp;) {
                VirtApply *a = *pp;
                if (a->serial == d->serial) {
                        *pp = (VirtApply *) a->job.next;
                        virt_apply_free(a);
                } else
                        pp = (VirtApply **) &a->job.next;
        }
}

/* Moves a refused or failed domain onto the floating CPUs, unless it is there already. Its pins
 * are recorded as kvmtuned's when they are verified. */
void apply_float(Manager *m, ManagedDomain *d) {
        _cleanup_bitmap_ hwloc_bitmap_t set = hwloc_bitmap_alloc();
        apply_float_cpus(m, set);
        if (m->opts.dry_run || !d->req || apply_floats_on(d, set))
                return;
        if (d->pinning) {
                d->pin_again = true;
                return;
        }
        apply_submit(m, d, apply_float_placement(m, d, set), true);
}

static void apply_floated(Manager *m, ManagedDomain *d, const VirtApply *a) {
        _cleanup_free_ char *cpus = cpulist_format(a->pl ? a->pl->emulator : d->applied->emulator);
        log_emit(&m->log, a->r < 0 ? LOG_WARNING : LOG_INFO,
                 &(LogFields){ .domain = d->name, .action = "float", .result = a->r < 0 ? "failed" : "ok",
                               .cpus = cpus, .vcpu = -1 },
                 a->r < 0 ? "%s: cannot move it onto the shared CPUs %s: %s" : "%s runs on the shared CPUs %s%s",
                 d->name, cpus ? cpus : "?", a->r < 0 ? (a->error ? a->error : strerror(-a->r)) : "");
}

/* Applies the domain's placement through libvirt, on a worker, and verifies it; retries later on
 * failure (apply_applied). */
void apply_domain(Manager *m, ManagedDomain *d) {
        const Placement *pl = planner_find(m->planner, d->name);
        if (!pl || !pl->admitted || pl->adopted)
                return;
        if (m->opts.dry_run) {
                apply_log_placement(m, d, pl);
                manager_transition(m, d, EVENT_DRY_RUN, "dry run: nothing applied");
                return;
        }
        if (d->state != DOMAIN_PENDING)
                manager_transition(m, d, EVENT_PLAN, NULL);
        if (d->pinning) {
                d->pin_again = true;
                return;
        }
        apply_log_placement(m, d, pl);
        if (!m->conn) { /* the reconcile after the next connection applies it (no attempt made) */
                manager_set_error(d, "not connected to libvirt");
                d->attempts = 0;
                return;
        }
        if (pl->memory_mode != MEMORY_STRICT && pl->memory_mode != MEMORY_NONE && d->attempts == 0)
                log_emit(&m->log, LOG_NOTICE, &(LogFields){ .domain = d->name, .action = "numatune", .vcpu = -1 },
                         "%s: MemoryPolicy=%s cannot be changed on a running domain; only strict binds live", d->name,
                         memory_policy_to_string(pl->memory_mode));
        d->attempts++;
        apply_submit(m, d, placement_copy(pl, m->topology->n_nodes), false);
}

/* The end of apply_domain's job. */
static void apply_applied(Manager *m, ManagedDomain *d, const VirtApply *a) {
        if (a->r == -ENOENT) { /* a reconnect's reconcile or its STOPPED event settles it */
                manager_set_error(d, "domain not found");
                return;
        }
        if (a->r == 0) {
                m->actions_ok++;
                manager_transition(m, d, EVENT_VERIFIED, NULL);
                d->attempts = 0; /* the next re-pin has the whole budget again */
                d->failed_tries = 0;
                d->pin_usec = manager_now_usec() - d->event_usec;
                log_emit(&m->log, LOG_DEBUG,
                         &(LogFields){ .domain = d->name, .action = "verify", .result = "ok", .vcpu = -1 },
                         "%s: pins verified %.1f ms after its start was seen", d->name, (double) d->pin_usec / 1000);
                return;
        }
        m->actions_failed++;
        const char *error = a->error ? a->error : strerror(-a->r);
        /* Tried again unless it is known to have stopped (unknown: libvirt or the connection
         * failed; its end, if it is one, brings the reconcile that decides). */
        bool again = d->attempts < APPLY_ATTEMPTS && a->active != 0;
        manager_transition(m, d, again ? EVENT_APPLY_FAILED : EVENT_GIVE_UP, error);
        log_emit(&m->log, again ? LOG_NOTICE : LOG_ERR,
                 &(LogFields){ .domain = d->name, .action = "apply", .result = "failed", .vcpu = -1 }, "%s: %s%s",
                 d->name, d->error ? d->error : "?", again ? "; retrying" : "; giving up its placement");
        if (again)
                apply_schedule_retry(m);
        else {
                apply_float(m, d); /* off the dedicated CPUs it may have half taken */
                apply_schedule_failed_retry(m, d);
        }
}

/* Pins asked for while a job ran: what the domain's state wants now. */
static void apply_again(Manager *m, ManagedDomain *d) {
        if (d->state == DOMAIN_PENDING)
                apply_domain(m, d);
        else if (d->state == DOMAIN_REFUSED || d->state == DOMAIN_FAILED)
                apply_float(m, d);
}

static void apply_on_pinned(void *userdata, WorkerJob *job, bool ran) {
        Manager *m = userdata;
        VirtApply *a = (VirtApply *) job;
        ManagedDomain *d = apply_record(m, a);
        if (!ran) { /* the pool stopped: a job that began may have left pins half made */
                if (d && !a->started)
                        d->pinning = false; /* never began: the allocations file must not say so */
                else if (d && a->r == 0) {
                        placement_free(d->applied); /* it did them all: kvmtuned's own */
                        d->applied = TAKE_PTR(a->pl);
                        d->pinning = false;
                }
                virt_apply_free(a);
                return;
        }
        if (d)
                d->pinning = false;
        if (d && (a->gen != m->conn_gen || !m->connected)) {
                /* Its connection is gone, and what it did says nothing about the next one: not an
                 * attempt. Connected again already, the domain's state says what is due now;
                 * else the reconcile after the next connection applies it. */
                d->attempts = 0;
                d->pin_again = false;
                if (m->connected) {
                        apply_again(m, d);
                        apply_settle(m, NULL, 0);
                }
        } else if (d) {
                crash_point("pinned");
                if (a->r == 0) { /* live now, whatever comes next */
                        placement_free(d->applied);
                        d->applied = TAKE_PTR(a->pl);
                }
                if (d->pin_again) {
                        d->pin_again = false;
                        apply_again(m, d);
                } else if (a->floating)
                        apply_floated(m, d, a);
                else
                        apply_applied(m, d, a);
                apply_settle(m, NULL, 0);
        }
        virt_apply_free(a);
}

static int apply_on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        (void) s;
        (void) usec;
        for (ManagedDomain *d = m->domains; d; d = d->next)
                if (d->state == DOMAIN_PENDING && !domains_awaiting_start(m, d) && !m->opts.dry_run)
                        apply_domain(m, d); /* an admission waits for its start: nothing runs to pin */
        apply_settle(m, NULL, 0);
        return 0;
}

/* FAILED domains are tried again later with a fresh budget (a domain job that held them may be
 * over): after failed_retry_usec, doubling with every try that fails again. */
static int apply_on_failed_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        (void) s;
        uint64_t next = UINT64_MAX;
        for (ManagedDomain *d = m->domains; d; d = d->next) {
                const Placement *pl = planner_find(m->planner, d->name);
                /* Only a failed apply is tried again (not one that failed planning: nothing to apply). */
                if (d->state != DOMAIN_FAILED || !d->req || !d->retry_at_usec || !pl || !pl->admitted || pl->adopted)
                        continue;
                if (d->retry_at_usec <= usec) {
                        d->attempts = 0;
                        apply_domain(m, d); /* PLACED, or PENDING on its retries, or FAILED again */
                }
                if (d->state == DOMAIN_FAILED && d->retry_at_usec < next)
                        next = d->retry_at_usec;
        }
        if (next != UINT64_MAX) {
                sd_event_source_set_time(m->failed_source, next);
                sd_event_source_set_enabled(m->failed_source, SD_EVENT_ONESHOT);
        }
        apply_settle(m, NULL, 0);
        return 0;
}

static void apply_schedule_failed_retry(Manager *m, ManagedDomain *d) {
        uint64_t base = m->opts.failed_retry_usec ? m->opts.failed_retry_usec : FAILED_RETRY_USEC;
        d->retry_at_usec = manager_now_usec() + (base << (d->failed_tries < 4 ? d->failed_tries : 4));
        d->failed_tries++;
        uint64_t at = 0;
        if (m->failed_source && sd_event_source_get_time(m->failed_source, &at) >= 0) {
                int enabled = SD_EVENT_OFF;
                sd_event_source_get_enabled(m->failed_source, &enabled);
                if (enabled != SD_EVENT_OFF && at <= d->retry_at_usec)
                        return; /* an earlier wake-up comes first and re-arms for this one */
        }
        if (!m->failed_source && sd_event_add_time(m->event, &m->failed_source, CLOCK_MONOTONIC, 0, 1000,
                                                   apply_on_failed_retry, m) < 0)
                return;
        sd_event_source_set_time(m->failed_source, d->retry_at_usec);
        sd_event_source_set_enabled(m->failed_source, SD_EVENT_ONESHOT);
}

static void apply_schedule_retry(Manager *m) {
        if (!m->retry_source &&
            sd_event_add_time(m->event, &m->retry_source, CLOCK_MONOTONIC, 0, 1000, apply_on_retry, m) < 0)
                return;
        sd_event_source_set_time(m->retry_source, manager_now_usec() + APPLY_RETRY_USEC);
        sd_event_source_set_enabled(m->retry_source, SD_EVENT_ONESHOT);
}

/* Each node's shared CPUs before a change (NULL-terminated), to tell afterwards which changed. */
hwloc_bitmap_t *apply_snapshot_shared(Manager *m) {
        hwloc_bitmap_t *sets = calloc(m->topology->n_nodes + 1, sizeof(hwloc_bitmap_t));
        for (unsigned n = 0; sets && n < m->topology->n_nodes; n++) {
                sets[n] = hwloc_bitmap_alloc();
                planner_shared_cpus(m->planner, n, sets[n]);
        }
        return sets;
}

void apply_free_snapshot(hwloc_bitmap_t *sets) {
        for (hwloc_bitmap_t *s = sets; s && *s; s++)
                hwloc_bitmap_free(*s);
        free(sets);
}

/* Shared vCPUs float over what dedicated ones leave: notes the nodes whose shared CPUs differ
 * from the snapshot, for apply_repin_shared. */
static void apply_note_shared_changes(Manager *m, hwloc_bitmap_t *before) {
        if (!before)
                return;
        planner_refresh_shared(m->planner);
        _cleanup_bitmap_ hwloc_bitmap_t now = hwloc_bitmap_alloc();
        for (unsigned n = 0; n < m->topology->n_nodes; n++) {
                planner_shared_cpus(m->planner, n, now);
                if (!hwloc_bitmap_isequal(now, before[n]))
                        hwloc_bitmap_set(m->repin_nodes, n);
        }
}

/* Whether a re-pin of d's shared vCPUs is due (its pins lag behind the plan for a moment). */
static bool apply_repin_due(const Manager *m, const Placement *pl) {
        for (unsigned n = 0; n < m->topology->n_nodes; n++)
                if (pl->shared_vcpus[n] && hwloc_bitmap_isset(m->repin_nodes, n))
                        return true;
        return false;
}

/* Re-pins each placed shared domain with vCPUs on a noted node, once. */
static void apply_repin_shared(Manager *m) {
        for (ManagedDomain *d = m->domains; d && !hwloc_bitmap_iszero(m->repin_nodes); d = d->next) {
                const Placement *pl = planner_find(m->planner, d->name);
                if (!pl || !pl->admitted || pl->adopted || d->state != DOMAIN_PLACED)
                        continue;
                if (apply_repin_due(m, pl))
                        apply_domain(m, d);
        }
        for (ManagedDomain *d = m->domains; d && !hwloc_bitmap_iszero(m->repin_nodes); d = d->next)
                if (d->state == DOMAIN_REFUSED || d->state == DOMAIN_FAILED)
                        apply_float(m, d); /* the shared CPUs changed: it follows them */
        hwloc_bitmap_zero(m->repin_nodes);
}

/* The hook must answer before anything calls libvirt: the re-pinning its admission or release
 * makes necessary runs on the next loop iteration, after the reply is out. */
static int apply_on_repin(sd_event_source *s, void *userdata) {
        Manager *m = userdata;
        (void) s;
        apply_settle(m, NULL, 0);
        return 0;
}

static void apply_schedule_repin(Manager *m) {
        if (hwloc_bitmap_iszero(m->repin_nodes))
                return;
        if (!m->repin_source && sd_event_add_defer(m->event, &m->repin_source, apply_on_repin, m) < 0)
                return;
        sd_event_source_set_enabled(m->repin_source, SD_EVENT_ONESHOT);
}

/* What follows every change of placements, whatever triggered it: shared domains follow their
 * nodes' shared CPUs (before: the snapshot taken before the change; NULL: what was noted
 * already), the host actuators follow the plan, and the allocations file is written. */
void apply_settle(Manager *m, hwloc_bitmap_t *before, SettleFlags flags) {
        if (before)
                apply_note_shared_changes(m, before);
        if (flags & SETTLE_FROM_HOOK)
                apply_schedule_repin(m);
        else
                apply_repin_shared(m);
        host_run_actuators(m, flags & SETTLE_RESET_HOST);
        allocations_save(m);
        if (flags & SETTLE_FROM_HOOK)
                allocations_flush(m); /* on disk before libvirt starts it: a restart must know the admission */
}

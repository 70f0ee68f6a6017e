/* The daemon's Manager: event loop, libvirt connection, lifecycle events, reconcile, reload. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libvirt/virterror.h>
#include <systemd/sd-daemon.h>

#include "cli.h"
#include "cpulist.h"
#include "json-field.h"
#include "kfile.h"
#include "libvirt-loop.h"
#include "macro.h"
#include "manager.h"
#include "persist.h"
#include "pin.h"
#include "render.h"

#define APPLY_ATTEMPTS 3
#define APPLY_RETRY_USEC (200 * 1000)
#define FAILED_RETRY_USEC (60ULL * 1000 * 1000) /* doubling per failed try, up to 16 times this */
#define ALLOCATIONS_VERSION 1 /* the allocations file's format; a file without one is version 1 */
#define ADMISSION_TIMEOUT_USEC (600ULL * 1000 * 1000) /* a start slower than this is a lost hook */
#define BACKOFF_MIN_MS 500
/* How settle() ends a change. */
typedef enum SettleFlags {
        SETTLE_FROM_HOOK = 1 << 0, /* libvirt holds the domain: re-pins wait for the next loop turn,
                                    * the allocations are on disk before the hook answers */
        SETTLE_RESET_HOST = 1 << 1, /* the configuration changed: every actuator applies afresh */
} SettleFlags;
static void settle(Manager *m, hwloc_bitmap_t *before, SettleFlags flags);
#define ADMITTED_NOTE "admitted by the prepare hook; its pins follow when it starts"
#define BACKOFF_MAX_MS 30000

DEFINE_TRIVIAL_CLEANUP_FUNC(virDomainPtr, virDomainFree)

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

/* libvirt prints every error to stderr by default; the daemon reports them itself. */
static void quiet_libvirt(void *userdata, virErrorPtr error) {
        (void) userdata;
        (void) error;
}

/* ---- Managed domains -------------------------------------------------------------------- */

ManagedDomain *manager_find(Manager *m, const char *name) {
        for (ManagedDomain *d = m->domains; d; d = d->next)
                if (strcmp(d->name, name) == 0)
                        return d;
        return NULL;
}

static void domain_entry_free(ManagedDomain *d) {
        stats_free(d->stats);
        free(d->name);
        free(d->error);
        domain_free(d->req);
        placement_free(d->applied);
        free(d);
}

static void forget(Manager *m, ManagedDomain *d) {
        for (ManagedDomain **pp = &m->domains; *pp; pp = &(*pp)->next)
                if (*pp == d) {
                        *pp = d->next;
                        break;
                }
        domain_entry_free(d);
}

static void set_error(ManagedDomain *d, const char *error) {
        free(d->error);
        d->error = error ? strdup(error) : NULL;
}

/* The one place a domain's state changes: the state table says where event leads from here, and
 * error (NULL: none) says why, for kvmtunectl. An event the table refuses is a bug: logged and
 * counted, the state stays. */
static void transition(Manager *m, ManagedDomain *d, DomainEvent event, const char *error) {
        DomainState to;
        if (lifecycle_next(d->state, event, &to) < 0) {
                m->bad_transitions++;
                log_emit(&m->log, LOG_CRIT, &(LogFields){ .domain = d->name, .action = "state", .vcpu = -1 },
                         "%s: event %s cannot happen in state %s (a bug): state kept", d->name,
                         lifecycle_event_name(event), lifecycle_state_name(d->state));
                return;
        }
        if (to != d->state)
                log_emit(&m->log, LOG_DEBUG, &(LogFields){ .domain = d->name, .action = "state", .vcpu = -1 },
                         "%s: %s -> %s (%s)", d->name, lifecycle_state_name(d->state), lifecycle_state_name(to),
                         lifecycle_event_name(event));
        d->state = to;
        set_error(d, error);
}

/* ---- The allocations file --------------------------------------------------------------- */

static bool awaiting_start(const Manager *m, const ManagedDomain *d);
static bool admitted_unstarted(const ManagedDomain *d);

/* Reads the host's memory figures again before a placement: what stopped domains gave back and
 * what page cache came and went since. A node without figures keeps the ones it has. */
static void refresh_memory(Manager *m) {
        (void) topology_refresh_memory(m->topology, m->tuning.sysfs); /* ENOMEM: the last figures stay */
}

/* Tells the planner how much of a running domain's memory the live figures show used: all of it
 * for one that ran before kvmtuned looked, its hugepages (preallocated) for one that just started;
 * the statistics pass measures the rest. */
static void note_running(Manager *m, const ManagedDomain *d) {
        if (admitted_unstarted(d))
                return;
        (void) planner_memory_use(m->planner, d->name,
                                  d->req && d->req->memory_in_use ? MEMORY_USE_ALL : MEMORY_USE_STARTED, NULL);
}
static void schedule_admission_expiry(Manager *m);

/* Writes what is placed to runtime_dir/allocations.json (write, fsync, rename), so a restarted
 * kvmtuned adopts exactly this instead of planning again. */
static void write_allocations(Manager *m) {
        _cleanup_(json_object_putp) json_object *root = json_object_new_object();
        json_object *list = json_object_new_array();
        if (!root || !list) {
                json_object_put(list);
                return;
        }
        json_object_object_add(root, "version", json_object_new_int(ALLOCATIONS_VERSION));
        json_object_object_add(root, "domains", list);
        for (ManagedDomain *d = m->domains; d; d = d->next) {
                const Placement *pl = planner_find(m->planner, d->name);
                json_object *o = pl && pl->admitted ? persist_placement(pl, d->uuid, m->topology) : NULL;
                if (!o && d->applied && (o = json_object_new_object())) {
                        /* Refused or failed, floated by kvmtuned: only which pins are its own. */
                        json_object_object_add(o, "name", json_object_new_string(d->name));
                        json_object_object_add(o, "uuid", json_object_new_string(d->uuid));
                        json_object_object_add(o, "floating", json_object_new_boolean(true));
                }
                /* A hook admission whose start has not come: a restart must wait for it too. */
                if (o && awaiting_start(m, d))
                        json_object_object_add(o, "awaiting_start", json_object_new_boolean(true));
                if (o && d->applied) /* what kvmtuned pinned, not what the domain's XML did */
                        json_object_object_add(o, "applied", persist_placement(d->applied, NULL, m->topology));
                if (o)
                        json_object_array_add(list, o);
        }
        _cleanup_free_ char *tmp = NULL;
        if (asprintf(&tmp, "%s.tmp", m->allocations_path) < 0)
                return;
        FILE *f = fopen(tmp, "we");
        if (!f) {
                log_emit(&m->log, LOG_WARNING, LOG_NO_FIELDS, "cannot write %s: %m", tmp);
                return;
        }
        fputs(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN), f);
        fputc('\n', f);
        fflush(f);
        fsync(fileno(f));
        if (fclose(f) != 0 || rename(tmp, m->allocations_path) < 0)
                log_emit(&m->log, LOG_WARNING, LOG_NO_FIELDS, "cannot write %s: %m", m->allocations_path);
}

static int on_save(sd_event_source *s, void *userdata) {
        (void) s;
        write_allocations(userdata);
        return 0;
}

/* The allocations file is written once the changes of this loop iteration are done: a start
 * that places N domains writes it once, not N times (N fsyncs of up to N entries). */
static void save_allocations(Manager *m) {
        if (!m->save_source && sd_event_add_defer(m->event, &m->save_source, on_save, m) < 0) {
                write_allocations(m);
                return;
        }
        sd_event_source_set_enabled(m->save_source, SD_EVENT_ONESHOT);
}

/* Writes a save still pending now (before a reply that depends on it, or at exit). */
static void flush_allocations(Manager *m) {
        int enabled = SD_EVENT_OFF;
        if (m->save_source && sd_event_source_get_enabled(m->save_source, &enabled) >= 0 && enabled != SD_EVENT_OFF) {
                sd_event_source_set_enabled(m->save_source, SD_EVENT_OFF);
                write_allocations(m);
        }
}

static void load_allocations(Manager *m) {
        _cleanup_free_ char *text = NULL;
        if (kfile_read("/", m->allocations_path, &text) < 0)
                return;
        json_object *root = json_tokener_parse(text), *list = json_field(root, "domains", json_type_array);
        json_object *version = json_field(root, "version", json_type_int);
        if (!list || (version && json_object_get_int(version) != ALLOCATIONS_VERSION)) {
                /* Set aside, not overwritten: a newer kvmtuned's file is for it to read again. */
                _cleanup_free_ char *aside = NULL;
                bool moved = asprintf(&aside, "%s.unreadable", m->allocations_path) >= 0 &&
                             rename(m->allocations_path, aside) == 0;
                log_emit(&m->log, LOG_WARNING, LOG_NO_FIELDS, "%s is %s: %s; every running domain is placed again",
                         m->allocations_path, list ? "of an unknown format version" : "malformed",
                         moved ? aside : "left where it is");
                json_object_put(root);
                return;
        }
        m->saved = json_object_get(list);
        json_object_put(root);
}

/* ---- Applying ---------------------------------------------------------------------------- */

static void log_placement(Manager *m, const ManagedDomain *d, const Placement *pl) {
        for (unsigned i = 0; i < pl->n_vcpus; i++) {
                _cleanup_free_ char *cpus = cpulist_format(pl->vcpus[i].cpus);
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
                hwloc_bitmap_or(all, all, pl->vcpus[i].cpus);
        _cleanup_free_ char *cpus = cpulist_format(all);
        log_emit(&m->log, LOG_INFO, &(LogFields){ .domain = d->name, .action = "place", .vcpu = -1, .cpus = cpus },
                 "%s%s: class %s, vCPUs on CPUs %s, emulator on %s, memory %s on nodes %s",
                 m->opts.dry_run ? "dry run: " : "", d->name, pl->cls->name, cpus ? cpus : "?", emu ? emu : "?",
                 memory_policy_to_string(pl->memory_mode), nodes && *nodes ? nodes : "-");
}

static void schedule_retry(Manager *m);
static void schedule_failed_retry(Manager *m, ManagedDomain *d);

/* Where domains without a placement of their own (refused, failed) run: the shared CPUs of all
 * nodes, or housekeeping when there are none; never a CPU a dedicated vCPU holds. */
static void float_cpus(Manager *m, hwloc_bitmap_t ret_set) {
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
static Placement *float_placement(Manager *m, const ManagedDomain *d, hwloc_const_bitmap_t set) {
        _cleanup_(placement_freep) Placement *pl = placement_new(d->name, m->topology->n_nodes);
        if (!pl || !(pl->vcpus = calloc(d->req->vcpus ? d->req->vcpus : 1, sizeof(PlacedVcpu))) ||
            !(pl->iothreads = calloc(d->req->n_iothreads ? d->req->n_iothreads : 1, sizeof(PlacedIOThread))))
                return NULL;
        pl->memory_mode = MEMORY_NONE; /* its memory stays where libvirt put it */
        hwloc_bitmap_copy(pl->emulator, set);
        for (; pl->n_vcpus < d->req->vcpus; pl->n_vcpus++) {
                pl->vcpus[pl->n_vcpus].vcpu = pl->n_vcpus;
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
static bool floats_on(const ManagedDomain *d, hwloc_const_bitmap_t set) {
        const Placement *a = d->applied;
        if (!a || a->n_vcpus != d->req->vcpus || a->n_iothreads != d->req->n_iothreads ||
            !hwloc_bitmap_isequal(a->emulator, set))
                return false;
        for (unsigned i = 0; i < a->n_vcpus; i++)
                if (!hwloc_bitmap_isequal(a->vcpus[i].cpus, set))
                        return false;
        for (unsigned i = 0; i < a->n_iothreads; i++)
                if (!hwloc_bitmap_isequal(a->iothreads[i].cpus, set))
                        return false;
        return true;
}

/* Moves a refused or failed domain onto the floating CPUs, unless it is there already. Its pins
 * are recorded as kvmtuned's. Returns 0 or negative errno (reason in d->error's log line). */
static int float_domain(Manager *m, ManagedDomain *d) {
        _cleanup_bitmap_ hwloc_bitmap_t set = hwloc_bitmap_alloc();
        float_cpus(m, set);
        if (m->opts.dry_run || !d->req || floats_on(d, set))
                return 0;
        _cleanup_(virDomainFreep) virDomainPtr dom = m->conn ? virDomainLookupByUUIDString(m->conn, d->uuid) : NULL;
        _cleanup_(placement_freep) Placement *pl = float_placement(m, d, set);
        _cleanup_free_ char *error = NULL;
        if (!dom || !pl)
                return dom ? -ENOMEM : -ENOENT;
        int r = pin_apply(dom, pl, m->topology, &error);
        _cleanup_free_ char *cpus = cpulist_format(set);
        log_emit(&m->log, r < 0 ? LOG_WARNING : LOG_INFO,
                 &(LogFields){ .domain = d->name, .action = "float", .result = r < 0 ? "failed" : "ok", .cpus = cpus,
                               .vcpu = -1 },
                 r < 0 ? "%s: cannot move it onto the shared CPUs %s: %s" : "%s runs on the shared CPUs %s%s", d->name,
                 cpus ? cpus : "?", r < 0 ? (error ? error : strerror(-r)) : "");
        if (r < 0)
                return r;
        placement_free(d->applied);
        d->applied = TAKE_PTR(pl);
        return 0;
}

/* Applies the domain's placement through libvirt and verifies it; retries later on failure. */
static void apply_domain(Manager *m, ManagedDomain *d) {
        const Placement *pl = planner_find(m->planner, d->name);
        if (!pl || !pl->admitted || pl->adopted)
                return;
        log_placement(m, d, pl);
        if (m->opts.dry_run) {
                transition(m, d, EVENT_DRY_RUN, "dry run: nothing applied");
                return;
        }
        if (d->state != DOMAIN_PENDING)
                transition(m, d, EVENT_PLAN, NULL);
        _cleanup_(virDomainFreep) virDomainPtr dom = m->conn ? virDomainLookupByUUIDString(m->conn, d->uuid) : NULL;
        if (!dom) { /* a reconnect's reconcile or its STOPPED event settles it */
                set_error(d, "domain not found");
                return;
        }
        if (pl->memory_mode != MEMORY_STRICT && pl->memory_mode != MEMORY_NONE && d->attempts == 0)
                log_emit(&m->log, LOG_NOTICE, &(LogFields){ .domain = d->name, .action = "numatune", .vcpu = -1 },
                         "%s: MemoryPolicy=%s cannot be changed on a running domain; only strict binds live", d->name,
                         memory_policy_to_string(pl->memory_mode));
        _cleanup_free_ char *error = NULL;
        d->attempts++;
        int r = pin_apply(dom, pl, m->topology, &error);
        if (r == 0) {
                m->actions_ok++;
                transition(m, d, EVENT_VERIFIED, NULL);
                d->attempts = 0; /* the next re-pin has the whole budget again */
                d->failed_tries = 0;
                placement_free(d->applied);
                d->applied = placement_copy(pl, m->topology->n_nodes); /* NULL on ENOMEM: not known as ours */
                d->pin_usec = now_usec() - d->event_usec;
                log_emit(&m->log, LOG_DEBUG,
                         &(LogFields){ .domain = d->name, .action = "verify", .result = "ok", .vcpu = -1 },
                         "%s: pins verified %.1f ms after its start was seen", d->name, (double) d->pin_usec / 1000);
                return;
        }
        m->actions_failed++;
        bool again = d->attempts < APPLY_ATTEMPTS && virDomainIsActive(dom) == 1;
        transition(m, d, again ? EVENT_APPLY_FAILED : EVENT_GIVE_UP, error ? error : strerror(-r));
        log_emit(&m->log, again ? LOG_NOTICE : LOG_ERR,
                 &(LogFields){ .domain = d->name, .action = "apply", .result = "failed", .vcpu = -1 }, "%s: %s%s",
                 d->name, d->error ? d->error : "?", again ? "; retrying" : "; giving up its placement");
        if (again)
                schedule_retry(m);
        else {
                float_domain(m, d); /* off the dedicated CPUs it may have half taken */
                schedule_failed_retry(m, d);
        }
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        (void) s;
        (void) usec;
        for (ManagedDomain *d = m->domains; d; d = d->next)
                if (d->state == DOMAIN_PENDING && !awaiting_start(m, d) && !m->opts.dry_run)
                        apply_domain(m, d); /* an admission waits for its start: nothing runs to pin */
        save_allocations(m);
        return 0;
}

/* FAILED domains are tried again later with a fresh budget (a domain job that held them may be
 * over): after failed_retry_usec, doubling with every try that fails again. */
static int on_failed_retry(sd_event_source *s, uint64_t usec, void *userdata) {
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
        save_allocations(m);
        return 0;
}

static void schedule_failed_retry(Manager *m, ManagedDomain *d) {
        uint64_t base = m->opts.failed_retry_usec ? m->opts.failed_retry_usec : FAILED_RETRY_USEC;
        d->retry_at_usec = now_usec() + (base << (d->failed_tries < 4 ? d->failed_tries : 4));
        d->failed_tries++;
        uint64_t at = 0;
        if (m->failed_source && sd_event_source_get_time(m->failed_source, &at) >= 0) {
                int enabled = SD_EVENT_OFF;
                sd_event_source_get_enabled(m->failed_source, &enabled);
                if (enabled != SD_EVENT_OFF && at <= d->retry_at_usec)
                        return; /* an earlier wake-up comes first and re-arms for this one */
        }
        if (!m->failed_source && sd_event_add_time(m->event, &m->failed_source, CLOCK_MONOTONIC, 0, 1000,
                                                   on_failed_retry, m) < 0)
                return;
        sd_event_source_set_time(m->failed_source, d->retry_at_usec);
        sd_event_source_set_enabled(m->failed_source, SD_EVENT_ONESHOT);
}

static void schedule_retry(Manager *m) {
        if (!m->retry_source &&
            sd_event_add_time(m->event, &m->retry_source, CLOCK_MONOTONIC, 0, 1000, on_retry, m) < 0)
                return;
        sd_event_source_set_time(m->retry_source, now_usec() + APPLY_RETRY_USEC);
        sd_event_source_set_enabled(m->retry_source, SD_EVENT_ONESHOT);
}

/* Each node's shared CPUs before a change (NULL-terminated), to tell afterwards which changed. */
static hwloc_bitmap_t *snapshot_shared(Manager *m) {
        hwloc_bitmap_t *sets = calloc(m->topology->n_nodes + 1, sizeof(hwloc_bitmap_t));
        for (unsigned n = 0; sets && n < m->topology->n_nodes; n++) {
                sets[n] = hwloc_bitmap_alloc();
                planner_shared_cpus(m->planner, n, sets[n]);
        }
        return sets;
}

static void free_snapshot(hwloc_bitmap_t *sets) {
        for (hwloc_bitmap_t *s = sets; s && *s; s++)
                hwloc_bitmap_free(*s);
        free(sets);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(hwloc_bitmap_t *, free_snapshot)

/* Shared vCPUs float over what dedicated ones leave: notes the nodes whose shared CPUs differ
 * from the snapshot, for repin_shared. */
static void note_shared_changes(Manager *m, hwloc_bitmap_t *before) {
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
static bool repin_due(const Manager *m, const Placement *pl) {
        for (unsigned n = 0; n < m->topology->n_nodes; n++)
                if (pl->shared_vcpus[n] && hwloc_bitmap_isset(m->repin_nodes, n))
                        return true;
        return false;
}

/* Re-pins each placed shared domain with vCPUs on a noted node, once. */
static void repin_shared(Manager *m) {
        for (ManagedDomain *d = m->domains; d && !hwloc_bitmap_iszero(m->repin_nodes); d = d->next) {
                const Placement *pl = planner_find(m->planner, d->name);
                if (!pl || !pl->admitted || pl->adopted || d->state != DOMAIN_PLACED)
                        continue;
                if (repin_due(m, pl))
                        apply_domain(m, d);
        }
        for (ManagedDomain *d = m->domains; d && !hwloc_bitmap_iszero(m->repin_nodes); d = d->next)
                if (d->state == DOMAIN_REFUSED || d->state == DOMAIN_FAILED)
                        float_domain(m, d); /* the shared CPUs changed: it follows them */
        hwloc_bitmap_zero(m->repin_nodes);
}

/* The hook must answer before anything calls libvirt: the re-pinning its admission or release
 * makes necessary runs on the next loop iteration, after the reply is out. */
static int on_repin(sd_event_source *s, void *userdata) {
        Manager *m = userdata;
        (void) s;
        settle(m, NULL, 0);
        return 0;
}

static void schedule_repin(Manager *m) {
        if (hwloc_bitmap_iszero(m->repin_nodes))
                return;
        if (!m->repin_source && sd_event_add_defer(m->event, &m->repin_source, on_repin, m) < 0)
                return;
        sd_event_source_set_enabled(m->repin_source, SD_EVENT_ONESHOT);
}

/* ---- Host settings ------------------------------------------------------------------------ */

/* Runs every actuator's apply towards what the plan wants now (governors and isolation follow
 * the held CPUs; THP follows the configuration). force: forget what was applied (start, reload).
 * A dry run changes nothing on the host. */
static void run_actuators(Manager *m, bool force) {
        if (m->opts.dry_run)
                return;
        _cleanup_bitmap_ hwloc_bitmap_t held = hwloc_bitmap_alloc();
        planner_held_cpus(m->planner, held);
        HostWant want = { .config = m->config, .topology = m->topology, .held = held };
        for (unsigned i = 0; i < ACTUATOR_COUNT; i++) {
                const Actuator *a = actuator_get((ActuatorId) i);
                ActuatorMemo *memo = &m->memos[i];
                if (force)
                        actuator_memo_clear(memo);
                if (!a->apply || memo->unavailable)
                        continue;
                _cleanup_free_ char *message = NULL;
                int r = a->apply(&m->host, &want, memo, &message);
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

static void report_undo(void *userdata, const Actuator *a, int r, const char *message) {
        UndoReport *u = userdata;
        if (r < 0)
                log_emit(&u->m->log, LOG_ERR, &(LogFields){ .action = a->name, .result = "failed", .vcpu = -1 }, "%s",
                         message ? message : strerror(-r));
        else if (message)
                log_emit(&u->m->log, LOG_INFO, &(LogFields){ .action = a->name, .vcpu = -1 }, "%s: %s", u->why, message);
}

/* Every actuator undone: the journal's originals back, host isolation ended. */
static void restore_host_settings(Manager *m, const char *why) {
        _cleanup_free_ char *error = NULL;
        UndoReport u = { m, why };
        int n = actuator_undo_all(&m->host, m->memos, report_undo, &u, &error);
        if (n < 0 && error)
                log_emit(&m->log, LOG_ERR, &(LogFields){ .action = "restore", .result = "failed", .vcpu = -1 }, "%s",
                         error);
        else if (n > 0)
                log_emit(&m->log, LOG_INFO, &(LogFields){ .action = "restore", .result = "ok", .vcpu = -1 },
                         "%s: restored %d host setting%s from the journal", why, n, n == 1 ? "" : "s");
}

/* Hugepage reservations whose domain is no longer managed are given back. */
static void release_orphan_reservations(Manager *m) {
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

/* ---- Domains coming and going ----------------------------------------------------------- */

/* The request of a running domain, from its live XML (also a transient domain's: orchestrators
 * start domains with createXML). Its pins are the user's, explicit, unless pins_ours says they
 * are the ones kvmtuned applied: then they are dropped. */
static int read_request(virDomainPtr dom, bool pins_ours, DomainRequest **ret_req, char **ret_error) {
        _cleanup_free_ char *live = virDomainGetXMLDesc(dom, 0);
        if (!live) {
                *ret_error = strdup(virGetLastErrorMessage());
                return -EIO;
        }
        _cleanup_(domain_freep) DomainRequest *req = NULL;
        int r = domain_parse(live, strlen(live), &req, ret_error);
        if (r < 0)
                return r;
        if (pins_ours) {
                req->explicit_pins = false;
                hwloc_bitmap_zero(req->pinned_cpus);
                hwloc_bitmap_zero(req->pinned_nodes);
        }
        *ret_req = TAKE_PTR(req);
        return 0;
}

/* Whether the live pins of d are kvmtuned's: it applied them (or began to) in this run or, as
 * its allocations file says, in the previous one. */
static bool pins_ours(const ManagedDomain *d) {
        return d->applied || d->attempts > 0;
}

/* A new record for a running domain, first in the list; NULL on ENOMEM. */
static ManagedDomain *new_record(Manager *m, const char *name, const char *uuid, uint64_t event_usec) {
        ManagedDomain *d = calloc(1, sizeof(ManagedDomain));
        if (!d || !(d->name = strdup(name))) {
                free(d);
                return NULL;
        }
        snprintf(d->uuid, sizeof(d->uuid), "%s", uuid);
        d->event_usec = event_usec;
        d->next = m->domains;
        m->domains = d;
        return d;
}

/* Whether class name still has the settings a saved placement was made under (saved: its
 * "class_settings"; files written before they were saved carry none: the name decides). */
static bool class_unchanged(Manager *m, const char *name, json_object *saved) {
        const PolicyClass *now = config_find_class(m->config, name);
        if (!now || !saved)
                return now != NULL;
        _cleanup_free_ char *settings = config_class_settings(now);
        return settings && strcmp(settings, json_object_get_string(saved)) == 0;
}

/* Restores entry i of the allocations file: booked when it is valid and fits the policy; else
 * logged, and kept unbooked when it says which pins kvmtuned applied (its domain is placed again
 * if it runs, its own pins not mistaken for the domain's). */
static void restore_entry(Manager *m, size_t i, json_object *entry) {
        _cleanup_(placement_freep) Placement *spec = NULL, *applied = NULL;
        _cleanup_free_ char *cls = NULL, *uuid = NULL;
        json_object *o = json_field(entry, "applied", json_type_object), *id = json_field(entry, "uuid", json_type_string);
        if (o && persist_parse(o, m->topology, &applied, NULL, NULL) < 0)
                applied = NULL;
        json_object *name = json_field(entry, "name", json_type_string);
        if (name && manager_find(m, json_object_get_string(name))) { /* the file names it twice */
                log_emit(&m->log, LOG_WARNING, &(LogFields){ .action = "adopt", .vcpu = -1 },
                         "entry %zu of the allocations file repeats an earlier one: dropped", i);
                return;
        }
        json_object *floating = json_field(entry, "floating", json_type_boolean);
        if (floating && json_object_get_boolean(floating) && applied && id) {
                ManagedDomain *d = new_record(m, applied->name, json_object_get_string(id), 0);
                if (d) { /* unbooked: placed again if it runs, its float pins known as kvmtuned's */
                        transition(m, d, EVENT_RESTORE, NULL);
                        d->applied = TAKE_PTR(applied);
                }
                return;
        }
        bool readable = persist_parse(entry, m->topology, &spec, &cls, &uuid) == 0 && uuid;
        /* Dedicated CPUs outside today's pool, a class that is gone or changed its settings, or a
         * placement this planner could not have made: placed afresh. */
        const Placement *pl;
        bool fits = readable &&
                    (spec->adopted || hwloc_bitmap_isincluded(spec->held, m->config->host.dedicated)) &&
                    class_unchanged(m, cls, json_field(entry, "class_settings", json_type_string)) &&
                    planner_restore(m->planner, spec, cls, &pl) == 0;
        if (!readable)
                log_emit(&m->log, LOG_WARNING, &(LogFields){ .action = "adopt", .vcpu = -1 },
                         "entry %zu of the allocations file is not valid: dropped, its domain is placed again if it "
                         "runs",
                         i);
        else if (!fits)
                log_emit(&m->log, LOG_INFO, &(LogFields){ .domain = spec->name, .action = "adopt", .vcpu = -1 },
                         "%s: the previous run's placement (class %s) does not fit the current policy or is not "
                         "valid: it is placed again if it runs",
                         spec->name, cls);
        if (!fits && (!applied || !id))
                return;
        ManagedDomain *d = new_record(m, fits ? spec->name : applied->name, json_object_get_string(id), 0);
        if (!d) {
                if (fits)
                        planner_release(m->planner, spec->name);
                return;
        }
        transition(m, d, EVENT_RESTORE, NULL);
        d->applied = TAKE_PTR(applied);
        json_object *waiting = json_field(entry, "awaiting_start", json_type_boolean);
        bool unstarted = waiting && json_object_get_boolean(waiting);
        if (fits) /* it ran before this run started, unless its start is still to come */
                (void) planner_memory_use(m->planner, spec->name, unstarted ? MEMORY_USE_NONE : MEMORY_USE_ALL, NULL);
        if (fits && unstarted) {
                /* Admitted before the restart, its start not yet seen: it waits again, from now. */
                transition(m, d, EVENT_ADMIT, ADMITTED_NOTE);
                d->admit_usec = now_usec();
        }
}

/* The previous run's placements are booked before anything else, so that neither a hook
 * admission before libvirt answers nor a domain started meanwhile takes their CPUs. Each stays
 * RESTORED until the first reconcile confirms it against its running domain or releases it. */
static void restore_saved(Manager *m) {
        for (size_t i = 0; m->saved && i < json_object_array_length(m->saved); i++)
                restore_entry(m, i, json_object_array_get_idx(m->saved, i));
        json_object_put(m->saved);
        m->saved = NULL;
        planner_refresh_shared(m->planner); /* the saved floating sets may predate a change of the pools */
        schedule_admission_expiry(m);
}

/* Whether dom's live pins differ from pl: only a difference libvirt showed counts, not a call that
 * failed (the domain busy with a job): that is looked at again next time. */
static bool pins_differ(Manager *m, virDomainPtr dom, const Placement *pl) {
        _cleanup_free_ char *error = NULL;
        return pin_verify(dom, pl, m->topology, &error) == -ESTALE;
}

/* Pins that changed after kvmtuned verified its own were set by an operator or an orchestrator:
 * kvmtuned does not fight them, the domain counts as pinning itself from now on. */
static void log_foreign_pins(Manager *m, const ManagedDomain *d) {
        log_emit(&m->log, LOG_NOTICE, &(LogFields){ .domain = d->name, .action = "respect", .vcpu = -1 },
                 "%s: its pins were changed outside kvmtuned: left alone, its CPUs count as taken", d->name);
}

/* A restored placement whose domain runs: kept when it still describes the domain under the
 * current policy (same vCPU count, same class); its pins are applied again when they were never
 * finished. Returns 1 when adopted, 0 when it does not fit (the caller places the domain afresh;
 * *ret_pins_ours: whether its live pins are kvmtuned's, not someone else's), or negative errno
 * when the domain's XML cannot be read: its booking stays (the domain still runs on those CPUs)
 * and the next reconcile tries again. */
static int adopt_restored(Manager *m, ManagedDomain *d, virDomainPtr dom, bool *ret_pins_ours) {
        _cleanup_free_ char *error = NULL, *why = NULL;
        const Placement *pl = planner_find(m->planner, d->name);
        bool self = pl && pl->adopted; /* it pinned itself: its live pins are its own */
        *ret_pins_ours = !self;
        int r = read_request(dom, !self, &d->req, &error);
        if (r < 0) {
                log_emit(&m->log, LOG_WARNING, &(LogFields){ .domain = d->name, .action = "adopt", .vcpu = -1 },
                         "%s: cannot read its XML (%s); its previous placement stays booked", d->name,
                         error ? error : strerror(-r));
                return r;
        }
        d->req->memory_in_use = true; /* running since before this run */
        if (d->applied && !m->opts.dry_run && pins_differ(m, dom, d->applied)) {
                log_foreign_pins(m, d); /* verified before the restart, changed since: not by kvmtuned */
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
        if (!pl->adopted && !m->opts.dry_run && !pin_matches(dom, pl, m->topology))
                apply_domain(m, d); /* never finished, or the plan moved on (a smaller shared pool) */
        else
                transition(m, d, pl->adopted ? EVENT_PINS_ITSELF : EVENT_VERIFIED, NULL);
        log_emit(&m->log, LOG_INFO, &(LogFields){ .domain = d->name, .action = "adopt", .vcpu = -1 },
                 "%s: adopted the placement of the previous run (class %s)", d->name, pl->cls->name);
        return 1;
}

/* What follows every change of placements, whatever triggered it: shared domains follow their
 * nodes' shared CPUs (before: the snapshot taken before the change; NULL: what was noted
 * already), the host actuators follow the plan, and the allocations file is written. */
static void settle(Manager *m, hwloc_bitmap_t *before, SettleFlags flags) {
        if (before)
                note_shared_changes(m, before);
        if (flags & SETTLE_FROM_HOOK)
                schedule_repin(m);
        else
                repin_shared(m);
        run_actuators(m, flags & SETTLE_RESET_HOST);
        save_allocations(m);
        if (flags & SETTLE_FROM_HOOK)
                flush_allocations(m); /* on disk before libvirt starts it: a restart must know the admission */
}

/* Plans a domain whose request is read: refused, adopted (it pins itself) or applied. */
static void plan_domain(Manager *m, ManagedDomain *d) {
        const Placement *pl;
        refresh_memory(m);
        if (planner_place(m->planner, d->req, &pl) < 0)
                transition(m, d, EVENT_GIVE_UP, "out of memory while planning");
        else if (!pl->admitted) {
                transition(m, d, EVENT_REFUSE, pl->reason);
                log_emit(&m->log, LOG_WARNING, &(LogFields){ .domain = d->name, .action = "refuse", .vcpu = -1 },
                         "%s refused: %s (left running, on the shared CPUs)", d->name, pl->reason);
                float_domain(m, d);
        } else if (pl->adopted) {
                transition(m, d, EVENT_PINS_ITSELF, NULL);
                log_emit(&m->log, LOG_INFO, &(LogFields){ .domain = d->name, .action = "respect", .vcpu = -1 },
                         "%s pins itself: left alone, its CPUs count as taken", d->name);
        } else
                apply_domain(m, d);
        note_running(m, d);
}

/* An admitted domain started (or a pending one is there again): its pins follow, unless it
 * pins itself. */
static void start_domain(Manager *m, ManagedDomain *d, virDomainPtr dom, uint64_t event_usec) {
        const Placement *pl = planner_find(m->planner, d->name);
        d->event_usec = event_usec; /* the admission's wait is over */
        if (d->state == DOMAIN_ADMITTED)
                transition(m, d, pl && pl->adopted ? EVENT_PINS_ITSELF : EVENT_START, NULL);
        note_running(m, d);
        if (!pl || pl->adopted)
                return;
        _cleanup_free_ char *error = NULL;
        if (!d->req && read_request(dom, false, &d->req, &error) < 0) /* admitted before a restart */
                log_emit(&m->log, LOG_WARNING, &(LogFields){ .domain = d->name, .action = "read", .vcpu = -1 },
                         "%s: cannot read its XML (%s); its admitted placement is applied as saved", d->name,
                         error ? error : "unknown error");
        apply_domain(m, d);
        settle(m, NULL, 0); /* re-pins its admission noted, if not done yet */
}

/* Places a running domain seen at event_usec. memory_in_use: it was running when the host's
 * free memory was read (the first reconcile), so its memory is out of that figure. */
static void place_domain(Manager *m, virDomainPtr dom, uint64_t event_usec, bool memory_in_use) {
        char uuid[VIR_UUID_STRING_BUFLEN];
        const char *name = virDomainGetName(dom);
        if (!name || virDomainGetUUIDString(dom, uuid) < 0)
                return;
        ManagedDomain *d = manager_find(m, name);
        bool same = d && strcmp(d->uuid, uuid) == 0;
        if (same && d->state != DOMAIN_RESTORED) {
                /* Admitted by the prepare hook: its start is here. A placement whose apply found no
                 * domain (no retry due) is applied again. Else already managed (RESUMED, or a
                 * reconcile after a reconnect). */
                if (d->state == DOMAIN_ADMITTED || (d->state == DOMAIN_PENDING && !d->attempts))
                        start_domain(m, d, dom, event_usec);
                return;
        }
        _cleanup_(free_snapshotp) hwloc_bitmap_t *before = snapshot_shared(m);
        bool ours = false; /* a domain kvmtuned never pinned: its live pins are the user's */
        if (same) { /* restored from the previous run */
                d->event_usec = event_usec;
                int r = adopt_restored(m, d, dom, &ours);
                if (r != 0) {
                        settle(m, before, 0);
                        return;
                }
                memory_in_use = true;
        }
        if (d) { /* a placement that no longer fits, or another domain of the same name */
                planner_release(m->planner, name);
                forget(m, d);
        }
        d = new_record(m, name, uuid, event_usec);
        if (!d)
                return;
        _cleanup_free_ char *error = NULL;
        if (read_request(dom, ours, &d->req, &error) < 0) {
                transition(m, d, EVENT_GIVE_UP, error ? error : "cannot read its XML");
                log_emit(&m->log, LOG_ERR, &(LogFields){ .domain = name, .action = "read", .vcpu = -1 }, "%s: %s", name,
                         d->error);
        } else {
                d->req->memory_in_use = memory_in_use;
                plan_domain(m, d);
        }
        settle(m, before, 0);
}

/* Refused domains are tried again whenever something is released: what they needed may be
 * free now. */
static void retry_refused(Manager *m) {
        refresh_memory(m);
        for (ManagedDomain *d = m->domains; d; d = d->next) {
                if (d->state != DOMAIN_REFUSED || !d->req)
                        continue;
                planner_release(m->planner, d->name);
                const Placement *pl;
                if (planner_place(m->planner, d->req, &pl) < 0 || !pl->admitted)
                        continue;
                log_emit(&m->log, LOG_INFO, &(LogFields){ .domain = d->name, .action = "place", .vcpu = -1 },
                         "%s fits now that resources were released", d->name);
                d->event_usec = now_usec();
                d->attempts = 0;
                note_running(m, d);
                if (pl->adopted)
                        transition(m, d, EVENT_PINS_ITSELF, NULL);
                else
                        apply_domain(m, d);
        }
}

/* Admitted by the prepare hook, its start not yet seen (pins to follow, or it pins itself): a
 * STOPPED event or a reconcile that does not list it belongs to an earlier run of the domain. The
 * release hook ends it; should that never come (libvirt gave up after the hook, or the hook's
 * answer came too late), on_admission_expiry does after the admission timeout. */
static uint64_t admission_timeout(const Manager *m) {
        return m->opts.admission_timeout_usec ? m->opts.admission_timeout_usec : ADMISSION_TIMEOUT_USEC;
}

static bool admitted_unstarted(const ManagedDomain *d) {
        return d->state == DOMAIN_ADMITTED;
}

static bool awaiting_start(const Manager *m, const ManagedDomain *d) {
        return admitted_unstarted(d) && now_usec() - d->admit_usec < admission_timeout(m);
}

static void release_domain(Manager *m, ManagedDomain *d, const char *why) {
        log_emit(&m->log, LOG_INFO, &(LogFields){ .domain = d->name, .action = "release", .vcpu = -1 },
                 "%s %s: released", d->name, why);
        _cleanup_(free_snapshotp) hwloc_bitmap_t *before = snapshot_shared(m);
        planner_release(m->planner, d->name);
        _cleanup_free_ char *error = NULL;
        if (tuning_hugepages_release(&m->tuning, d->uuid, &error) < 0)
                log_emit(&m->log, LOG_WARNING, &(LogFields){ .domain = d->name, .action = "hugepages", .vcpu = -1 },
                         "%s", error);
        forget(m, d);
        retry_refused(m);
        settle(m, before, 0);
}

/* Admissions whose start never came are released at the end of their wait; without a
 * connection, the reconcile after the next one decides (the domain may have started unseen). */
static int on_admission_expiry(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        (void) usec;
        if (!m->connected) { /* the reconcile after the next connection looks again */
                sd_event_source_set_enabled(s, SD_EVENT_OFF);
                return 0;
        }
        for (ManagedDomain *d = m->domains, *next; d; d = next) {
                next = d->next; /* release_domain frees d (and nothing else) */
                if (admitted_unstarted(d) && !awaiting_start(m, d))
                        release_domain(m, d, "was admitted by the prepare hook but never started");
        }
        schedule_admission_expiry(m);
        return 0;
}

/* Arms the timer for the earliest end of an admission's wait, or disarms it. */
static void schedule_admission_expiry(Manager *m) {
        uint64_t first = 0;
        for (ManagedDomain *d = m->domains; d; d = d->next)
                if (admitted_unstarted(d) && (!first || d->admit_usec < first))
                        first = d->admit_usec;
        if (!first) {
                sd_event_source_set_enabled(m->admission_source, SD_EVENT_OFF);
                return;
        }
        if (!m->admission_source && sd_event_add_time(m->event, &m->admission_source, CLOCK_MONOTONIC, 0, 1000,
                                                      on_admission_expiry, m) < 0)
                return;
        sd_event_source_set_time(m->admission_source, first + admission_timeout(m));
        sd_event_source_set_enabled(m->admission_source, SD_EVENT_ONESHOT);
}

/* Plans d again for the request now (its old placement released first), and settles. */
static void replan(Manager *m, ManagedDomain *d, DomainRequest *now) {
        _cleanup_(free_snapshotp) hwloc_bitmap_t *before = snapshot_shared(m);
        now->memory_in_use = true; /* it runs: its memory is out of the free figure */
        planner_release(m->planner, d->name);
        domain_free(d->req);
        d->req = now;
        d->attempts = 0;
        placement_free(d->applied); /* the new plan's pins replace them (or they were not ours) */
        d->applied = NULL;
        d->event_usec = now_usec();
        plan_domain(m, d);
        settle(m, before, 0);
}

/* Devices, vCPUs or iothreads changed: re-place when the shape it was planned for changed. */
static void refresh_domain(Manager *m, virDomainPtr dom) {
        ManagedDomain *d = manager_find(m, virDomainGetName(dom));
        if (!d || !d->req)
                return;
        _cleanup_(domain_freep) DomainRequest *now = NULL;
        _cleanup_free_ char *error = NULL;
        if (read_request(dom, pins_ours(d), &now, &error) < 0)
                return;
        bool same = now->vcpus == d->req->vcpus && now->n_iothreads == d->req->n_iothreads &&
                    now->n_hostdevs == d->req->n_hostdevs &&
                    (now->n_iothreads == 0 ||
                     memcmp(now->iothread_ids, d->req->iothread_ids, now->n_iothreads * sizeof(unsigned)) == 0);
        if (same)
                return;
        log_emit(&m->log, LOG_INFO, &(LogFields){ .domain = d->name, .action = "replan", .vcpu = -1 },
                 "%s changed (vCPUs, iothreads or devices): placing it again", d->name);
        replan(m, d, TAKE_PTR(now));
}

/* A placed domain whose live pins are no longer kvmtuned's: planned again as pinning itself. */
static void respect_foreign_pins(Manager *m, ManagedDomain *d, virDomainPtr dom) {
        _cleanup_(domain_freep) DomainRequest *now = NULL;
        _cleanup_free_ char *error = NULL;
        log_foreign_pins(m, d);
        if (read_request(dom, false, &now, &error) < 0)
                return; /* kept as it is; the next reconcile looks again */
        replan(m, d, TAKE_PTR(now));
}

static void on_lifecycle(Manager *m, virDomainPtr dom, int event, int detail) {
        uint64_t t0 = now_usec();
        const char *name = virDomainGetName(dom);
        log_emit(&m->log, LOG_DEBUG, &(LogFields){ .domain = name, .action = "event", .vcpu = -1 },
                 "%s: lifecycle event %d detail %d", name, event, detail);
        switch (event) {
        case VIR_DOMAIN_EVENT_STARTED:
        case VIR_DOMAIN_EVENT_RESUMED:
                place_domain(m, dom, t0, false);
                break;
        case VIR_DOMAIN_EVENT_STOPPED: {
                ManagedDomain *d = manager_find(m, name);
                if (d && !awaiting_start(m, d))
                        release_domain(m, d, "stopped");
                break;
        }
        case VIR_DOMAIN_EVENT_CRASHED:
                if (virDomainIsActive(dom) == 0) {
                        ManagedDomain *d = manager_find(m, name);
                        if (d && !awaiting_start(m, d))
                                release_domain(m, d, "crashed");
                }
                break;
        default: /* defined, undefined, suspended, shutdown in progress: nothing to place */
                break;
        }
}

/* ---- The connection ---------------------------------------------------------------------- */

static const char *uri_of(const Manager *m) {
        return m->opts.uri ? m->opts.uri : m->config->daemon.uri;
}

static void schedule_reconnect(Manager *m);

static void disconnect(Manager *m) {
        if (m->virt)
                virtloop_disconnect(m->virt);
        m->conn = NULL;
        m->connected = false;
}

static void notify_status(Manager *m) {
        unsigned placed = 0, refused = 0, other = 0;
        for (ManagedDomain *d = m->domains; d; d = d->next)
                if (d->state == DOMAIN_PLACED || d->state == DOMAIN_ADOPTED)
                        placed++;
                else if (d->state == DOMAIN_REFUSED)
                        refused++;
                else
                        other++;
        sd_notifyf(0, "STATUS=%u domains placed, %u refused, %u pending or failed; libvirt %s", placed, refused, other,
                   m->connected ? "connected" : virtloop_connecting(m->virt) ? "connecting" : "disconnected");
}

/* Starts a connection attempt; it ends in a VIRT_CONNECTED or VIRT_CONNECT_FAILED message. */
static void start_connecting(Manager *m) {
        int r = virtloop_connect(m->virt, uri_of(m));
        if (r < 0 && r != -EBUSY) {
                log_emit(&m->log, LOG_ERR, &(LogFields){ .action = "connect", .result = "failed", .vcpu = -1 },
                         "cannot start connecting to %s: %s", uri_of(m), strerror(-r));
                schedule_reconnect(m);
        }
}

static int on_reconnect(sd_event_source *s, uint64_t usec, void *userdata) {
        (void) s;
        (void) usec;
        start_connecting(userdata);
        return 0;
}

static void schedule_reconnect(Manager *m) {
        m->backoff_ms = m->backoff_ms ? m->backoff_ms * 2 : BACKOFF_MIN_MS;
        if (m->backoff_ms > BACKOFF_MAX_MS)
                m->backoff_ms = BACKOFF_MAX_MS;
        if (!m->reconnect_source &&
            sd_event_add_time(m->event, &m->reconnect_source, CLOCK_MONOTONIC, 0, 1000, on_reconnect, m) < 0)
                return;
        sd_event_source_set_time(m->reconnect_source, now_usec() + (uint64_t) m->backoff_ms * 1000);
        sd_event_source_set_enabled(m->reconnect_source, SD_EVENT_ONESHOT);
}

static void on_closed(Manager *m, const char *why) {
        disconnect(m);
        log_emit(&m->log, LOG_WARNING, &(LogFields){ .action = "disconnect", .vcpu = -1 },
                 "lost the libvirt connection (%s); reconnecting", why);
        sd_notifyf(0, "STATUS=libvirt connection lost; reconnecting");
        schedule_reconnect(m);
}

static void on_connected(Manager *m, const VirtMessage *msg) {
        m->conn = msg->conn;
        m->conn_gen = msg->gen;
        m->connected = true;
        m->backoff_ms = 0;
        if (m->was_connected)
                m->reconnects++;
        m->was_connected = true;
        log_emit(&m->log, LOG_INFO, &(LogFields){ .action = "connect", .vcpu = -1 }, "connected to %s", uri_of(m));
        /* libvirt reports a close once: one that came while the attempt was still subscribing
         * arrived before this message. */
        if (m->closed_gen == msg->gen) {
                on_closed(m, "closed while connecting");
                return;
        }
        if (manager_reconcile(m) < 0) {
                on_closed(m, "listing the domains failed");
                return;
        }
        notify_status(m);
}

/* What libvirt's thread and the connection attempts report, on the sd-event loop. */
static void on_virt(void *userdata, const VirtMessage *msg) {
        Manager *m = userdata;
        if (msg->kind == VIRT_CONNECTED) {
                on_connected(m, msg);
                return;
        }
        if (msg->kind == VIRT_CONNECT_FAILED) {
                log_emit(&m->log, LOG_NOTICE, &(LogFields){ .action = "connect", .result = "failed", .vcpu = -1 },
                         "cannot connect to %s yet: %s", uri_of(m), msg->error ? msg->error : "?");
                schedule_reconnect(m);
                return;
        }
        if (msg->kind == VIRT_CLOSED && msg->gen > m->conn_gen)
                m->closed_gen = msg->gen; /* its VIRT_CONNECTED comes next */
        if (!m->connected || msg->gen != m->conn_gen)
                return; /* an earlier connection's: the reconcile after the new one covers it */
        switch (msg->kind) {
        case VIRT_CLOSED: {
                char why[32];
                snprintf(why, sizeof(why), "reason %d", msg->detail);
                on_closed(m, why);
                break;
        }
        case VIRT_LIFECYCLE:
                on_lifecycle(m, msg->dom, msg->event, msg->detail);
                break;
        case VIRT_DEVICE:
                refresh_domain(m, msg->dom);
                break;
        case VIRT_TUNABLE:
                /* Pin and numatune changes echo kvmtuned's own calls (or an operator's, which it
                 * does not fight); only other tunables can mean the domain's shape changed. */
                if (!msg->only_pins)
                        refresh_domain(m, msg->dom);
                break;
        default:
                break;
        }
}

int manager_reconcile(Manager *m) {
        if (!m->conn)
                return -ENOTCONN;
        virDomainPtr *doms = NULL;
        int n = virConnectListAllDomains(m->conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
        if (n < 0)
                return -EIO;
        uint64_t t0 = now_usec();

        /* Released first, so what vanished frees its CPUs before anything new is placed. */
        for (ManagedDomain *d = m->domains, *next; d; d = next) {
                next = d->next;
                bool running = false;
                for (int i = 0; i < n && !running; i++) {
                        char uuid[VIR_UUID_STRING_BUFLEN];
                        running = virDomainGetUUIDString(doms[i], uuid) == 0 && strcmp(uuid, d->uuid) == 0;
                }
                if (!running && !awaiting_start(m, d))
                        release_domain(m, d, "is no longer running");
        }
        for (int i = 0; i < n; i++) {
                ManagedDomain *d = manager_find(m, virDomainGetName(doms[i]));
                /* New, restored from the previous run, or admitted by the hook while we were away. */
                if (!d || d->state == DOMAIN_ADMITTED || d->state == DOMAIN_PENDING || d->state == DOMAIN_RESTORED)
                        place_domain(m, doms[i], t0, !m->reconciled);
                else if (d->state == DOMAIN_PLACED && !m->opts.dry_run) {
                        /* Still as kvmtuned pinned it? Else someone re-pinned it (libvirtd keeps
                         * live pins across its restarts): not fought. */
                        const Placement *pl = planner_find(m->planner, d->name);
                        if (d->applied && pins_differ(m, doms[i], d->applied))
                                respect_foreign_pins(m, d, doms[i]);
                        else if (pl && !pin_matches(doms[i], pl, m->topology))
                                apply_domain(m, d); /* a re-pin that has not run yet */
                }
                virDomainFree(doms[i]);
        }
        free(doms);
        release_orphan_reservations(m);
        settle(m, NULL, 0);
        schedule_admission_expiry(m); /* admissions whose wait ended while disconnected */
        m->reconciled = true;
        return 0;
}

/* ---- Reload ------------------------------------------------------------------------------- */

static bool same_text(const char *a, const char *b) {
        return a == b || (a && b && strcmp(a, b) == 0);
}

/* Settings only a restart applies keep their running values in the new configuration c; the
 * names of those that changed are returned ("DryRun, Metrics"), NULL if none (or ENOMEM). */
static char *keep_restart_only(const Config *running, Config *c) {
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
                if (same_text(*texts[i].now, texts[i].before))
                        continue;
                strcat(strcat(names, ", "), texts[i].name);
                free(*texts[i].now);
                *texts[i].now = texts[i].before ? strdup(texts[i].before) : NULL;
        }
        return names[0] ? strdup(names + 2) : NULL;
}

/* The reload itself; manager_reload tells systemd around it. */
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
                config_errors_clear(&errors);
                log_emit(&m->log, LOG_ERR, &(LogFields){ .action = "reload", .result = "failed", .vcpu = -1 },
                         "reload failed, the running policy stays:\n%s", *ret_errors ? *ret_errors : "");
                return -EINVAL;
        }
        *ret_restart = keep_restart_only(m->config, c);
        refresh_memory(m);
        _cleanup_(planner_freep) Planner *p = NULL;
        r = planner_new(m->topology, c, &p);
        if (r < 0)
                return r;

        /* Domains whose class (and the pools) did not change keep their placement as it is; the
         * others are placed again, in the order they were first placed. */
        bool pools_same = config_pools_equal(c, m->config);
        unsigned n;
        const Placement *const *old = planner_placements(m->planner, &n);
        _cleanup_free_ bool *moved = calloc(n + 1, sizeof(bool));
        if (!moved)
                return -ENOMEM;
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
                if (d && d->req && planner_place(p, d->req, &pl) < 0)
                        return -ENOMEM;
        }

        /* Swap, then apply what moved; shared domains follow their nodes' shared CPUs. */
        _cleanup_(free_snapshotp) hwloc_bitmap_t *before = snapshot_shared(m);
        Planner *old_planner = m->planner;
        Config *old_config = m->config;
        m->planner = TAKE_PTR(p);
        m->config = TAKE_PTR(c);
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
                                forget(m, d);
                        continue;
                }
                bool was_moved = false;
                for (unsigned i = 0; i < n; i++)
                        was_moved |= moved[i] && strcmp(old[i]->name, d->name) == 0;
                if (!pl || !was_moved)
                        continue;
                moved_count++;
                d->attempts = 0;
                if (!pl->admitted)
                        transition(m, d, EVENT_REFUSE, pl->reason);
                else if (admitted_unstarted(d)) /* not running yet: its start applies */
                        transition(m, d, EVENT_ADMIT, ADMITTED_NOTE);
                else if (pl->adopted)
                        transition(m, d, EVENT_PINS_ITSELF, NULL);
                else {
                        d->event_usec = now_usec();
                        apply_domain(m, d);
                }
                note_running(m, d);
        }
        planner_free(old_planner);
        config_free(old_config);
        settle(m, before, SETTLE_RESET_HOST); /* governors or the isolation mode may have changed */
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
                notify_status(m);
        return r;
}

/* ---- Control socket ----------------------------------------------------------------------- */

static json_object *cpus_json(hwloc_const_bitmap_t set) {
        return render_cpuset_json(set);
}

json_object *manager_status_json(Manager *m) {
        const Topology *t = m->topology;
        json_object *o = json_object_new_object();
        if (!o)
                return NULL;
        json_object *daemon = json_object_new_object();
        json_object_object_add(daemon, "pid", json_object_new_int((int) getpid()));
        json_object_object_add(daemon, "uptime_seconds",
                               json_object_new_double((double) (now_usec() - m->start_usec) / 1e6));
        json_object_object_add(daemon, "dry_run", json_object_new_boolean(m->opts.dry_run));
        json_object_object_add(daemon, "ready", json_object_new_boolean(m->ready));
        json_object_object_add(o, "daemon", daemon);

        json_object *lv = json_object_new_object();
        json_object_object_add(lv, "uri", json_object_new_string(m->opts.uri ? m->opts.uri : m->config->daemon.uri));
        json_object_object_add(lv, "connected", json_object_new_boolean(m->connected));
        json_object_object_add(lv, "state", json_object_new_string(m->connected                 ? "connected"
                                                                   : virtloop_connecting(m->virt) ? "connecting"
                                                                                                  : "retrying"));
        json_object_object_add(lv, "reconnects", json_object_new_int((int) m->reconnects));
        json_object_object_add(o, "libvirt", lv);
        json_object *hook = json_object_new_object();
        json_object_object_add(hook, "path", json_object_new_string(MANAGER_HOOK_PATH));
        json_object_object_add(hook, "installed", json_object_new_boolean(access(MANAGER_HOOK_PATH, X_OK) == 0));
        json_object_object_add(o, "hook", hook);
        char mount[256];
        json_object_object_add(
                o, "hugetlbfs",
                tuning_hugetlbfs_mounted(&m->tuning, 0, mount, sizeof(mount)) ? json_object_new_string(mount) : NULL);
        json_object_object_add(o, "journal_entries",
                               json_object_new_int(json_object_object_length(m->journal->settings) +
                                                   (int) json_object_array_length(m->journal->reservations)));

        _cleanup_free_ char *summary = NULL;
        render_topology_summary(t, &summary);
        json_object_object_add(o, "host", json_object_new_string(summary ? summary : ""));
        json_object *pools = json_object_new_object();
        json_object_object_add(pools, "housekeeping", cpus_json(m->config->host.housekeeping));
        json_object_object_add(pools, "dedicated", cpus_json(m->config->host.dedicated));
        json_object_object_add(pools, "shared", cpus_json(m->config->host.shared));
        json_object_object_add(o, "pools", pools);

        _cleanup_bitmap_ hwloc_bitmap_t held = hwloc_bitmap_alloc(), shared = hwloc_bitmap_alloc(),
                                        part = hwloc_bitmap_alloc();
        planner_held_cpus(m->planner, held);
        json_object *nodes = json_object_new_array();
        for (unsigned n = 0; n < t->n_nodes; n++) {
                json_object *no = json_object_new_object();
                hwloc_bitmap_and(part, t->nodes[n].cpuset, held);
                planner_shared_cpus(m->planner, n, shared);
                unsigned vcpus = planner_shared_vcpus(m->planner, n), sc = (unsigned) hwloc_bitmap_weight(shared);
                json_object_object_add(no, "node", json_object_new_int((int) t->nodes[n].os));
                json_object_object_add(no, "cpus", json_object_new_int(hwloc_bitmap_weight(t->nodes[n].cpuset)));
                json_object_object_add(no, "dedicated_held", json_object_new_int(hwloc_bitmap_weight(part)));
                json_object_object_add(no, "shared_cpus", json_object_new_int((int) sc));
                json_object_object_add(no, "shared_vcpus", json_object_new_int((int) vcpus));
                json_object_object_add(no, "shared_ratio", json_object_new_double(sc ? (double) vcpus / sc : 0));
                json_object_array_add(nodes, no);
        }
        json_object_object_add(o, "nodes", nodes);

        unsigned counts[DOMAIN_STATE_MAX] = { 0 };
        for (ManagedDomain *d = m->domains; d; d = d->next)
                counts[d->state]++;
        json_object *doms = json_object_new_object();
        for (int s = DOMAIN_NEW + 1; s < DOMAIN_STATE_MAX; s++)
                json_object_object_add(doms, lifecycle_state_name((DomainState) s), json_object_new_int((int) counts[s]));
        json_object_object_add(o, "domains", doms);
        json_object *actions = json_object_new_object();
        json_object_object_add(actions, "ok", json_object_new_int((int) m->actions_ok));
        json_object_object_add(actions, "failed", json_object_new_int((int) m->actions_failed));
        json_object_object_add(o, "actions", actions);
        return o;
}

json_object *manager_domains_json(Manager *m) {
        json_object *o = json_object_new_object(), *list = json_object_new_array();
        if (!o || !list) {
                json_object_put(o);
                json_object_put(list);
                return NULL;
        }
        json_object_object_add(o, "domains", list);
        planner_refresh_shared(m->planner);
        for (ManagedDomain *d = m->domains; d; d = d->next) {
                const Placement *pl = planner_find(m->planner, d->name);
                json_object *e = json_object_new_object();
                json_object_object_add(e, "name", json_object_new_string(d->name));
                json_object_object_add(e, "uuid", json_object_new_string(d->uuid));
                json_object_object_add(e, "class", pl ? json_object_new_string(pl->cls->name) : NULL);
                json_object_object_add(e, "state", json_object_new_string(lifecycle_state_name(d->state)));
                json_object_object_add(e, "reason", d->error ? json_object_new_string(d->error) : NULL);
                json_object_object_add(e, "vcpus",
                                       pl && pl->admitted ? render_vcpus_json(pl, true) : json_object_new_array());
                json_object_object_add(e, "emulator",
                                       pl && pl->admitted ? cpus_json(pl->emulator) : json_object_new_array());
                json_object_object_add(
                        e, "memory_mode",
                        pl && pl->admitted ? json_object_new_string(memory_policy_to_string(pl->memory_mode)) : NULL);
                json_object_object_add(e, "nodes",
                                       pl && pl->admitted ? cpus_json(pl->memory_nodes) : json_object_new_array());
                json_object_object_add(e, "pin_latency_us",
                                       d->pin_usec ? json_object_new_int64((int64_t) d->pin_usec) : NULL);
                json_object_array_add(list, e);
        }
        return o;
}

json_object *manager_explain_json(Manager *m, const char *name) {
        ManagedDomain *d = manager_find(m, name);
        const Placement *pl = d ? planner_find(m->planner, name) : NULL;
        if (!pl)
                return control_error("no domain called %s is managed", name);
        json_object *o = json_object_new_object(), *why = json_object_new_array(), *better = json_object_new_array();
        json_object_object_add(o, "name", json_object_new_string(name));
        json_object_object_add(o, "class", json_object_new_string(pl->cls->name));
        json_object_object_add(o, "state", json_object_new_string(lifecycle_state_name(d->state)));
        if (pl->reason)
                json_object_object_add(o, "reason", json_object_new_string(pl->reason));
        for (unsigned i = 0; i < pl->n_explain; i++)
                json_object_array_add(why, json_object_new_string(pl->explain[i]));
        json_object_object_add(o, "explain", why);

        /* What would be better: the same domain on this host with nothing else placed. */
        _cleanup_(planner_freep) Planner *alone = NULL;
        const Placement *ideal = NULL;
        if (d->req && planner_new(m->topology, m->config, &alone) == 0 && planner_place(alone, d->req, &ideal) == 0) {
                char line[512];
                if (!ideal->admitted)
                        snprintf(line, sizeof(line), "it does not fit even on an empty host: %s", ideal->reason);
                else if (!pl->admitted)
                        snprintf(line, sizeof(line),
                                 "on an empty host it would be admitted: other domains hold what it needs");
                else if (pl->admitted && ideal->admitted &&
                         !hwloc_bitmap_isequal(pl->memory_nodes, ideal->memory_nodes) &&
                         hwloc_bitmap_weight(ideal->memory_nodes) < hwloc_bitmap_weight(pl->memory_nodes))
                        snprintf(line, sizeof(line), "on an empty host it would span %d node(s) instead of %d",
                                 hwloc_bitmap_weight(ideal->memory_nodes), hwloc_bitmap_weight(pl->memory_nodes));
                else
                        snprintf(line, sizeof(line), "nothing better: this is where it would go on an empty host too");
                json_object_array_add(better, json_object_new_string(line));
                for (unsigned i = 0; i < ideal->n_explain; i++)
                        if (strncmp(ideal->explain[i], "fits", 4) == 0 || strncmp(ideal->explain[i], "larger", 6) == 0)
                                json_object_array_add(better, json_object_new_string(ideal->explain[i]));
        }
        json_object_object_add(o, "better", better);
        return o;
}

static json_object *hook_reply(bool allow, const char *message) {
        json_object *o = json_object_new_object();
        if (!o)
                return NULL;
        json_object_object_add(o, "allow", json_object_new_boolean(allow));
        if (message)
                json_object_object_add(o, "message", json_object_new_string(message));
        return o;
}

/* Hugepages of a (node, size) pool that admitted domains will take when they start: the kernel
 * still counts them free (a started domain has its pages: libvirt preallocates them). */
static uint64_t promised_pages(Manager *m, unsigned node, uint64_t page_kib) {
        uint64_t pages = 0;
        for (ManagedDomain *d = m->domains; d; d = d->next) {
                const Placement *pl = admitted_unstarted(d) ? planner_find(m->planner, d->name) : NULL;
                for (unsigned i = 0; pl && i < pl->n_hugepages; i++)
                        if (pl->hugepages[i].node == node && pl->hugepages[i].page_kib == page_kib)
                                pages += pl->hugepages[i].count;
        }
        return pages;
}

/* prepare/begin: admission. Plans the domain, reserves its hugepages, and refuses with one
 * line when it does not fit. Never calls libvirt: libvirtd holds the domain while it runs us. */
static json_object *hook_prepare(Manager *m, const char *name, const char *xml) {
        _cleanup_(domain_freep) DomainRequest *req = NULL;
        _cleanup_free_ char *error = NULL, *message = NULL;
        if (domain_parse(xml, strlen(xml), &req, &error) < 0) {
                /* Not ours to judge a domain we cannot read: libvirt will say what is wrong. */
                log_emit(&m->log, LOG_WARNING, &(LogFields){ .domain = name, .action = "hook", .vcpu = -1 },
                         "%s: cannot read the XML the hook sent: %s; letting it start", name, error ? error : "?");
                return hook_reply(true, NULL);
        }
        _cleanup_(free_snapshotp) hwloc_bitmap_t *before = snapshot_shared(m);
        ManagedDomain *old = manager_find(m, name);
        if (old) {
                planner_release(m->planner, name);
                forget(m, old);
        }
        const Placement *pl;
        refresh_memory(m);
        if (planner_place(m->planner, req, &pl) < 0)
                return NULL;
        const char *owner = req->uuid ? req->uuid : name;
        _cleanup_free_ char *refusal = pl->admitted ? NULL : strdup(pl->reason);
        for (unsigned i = 0; pl->admitted && i < pl->n_hugepages && !refusal; i++) {
                if (m->opts.dry_run || m->config->host.hugepages == HUGEPAGES_OFF)
                        break;
                const PlacedHugepages *h = &pl->hugepages[i];
                if (tuning_hugepages_reserve(&m->tuning, owner, h->node, h->page_kib, h->count,
                                             promised_pages(m, h->node, h->page_kib), &refusal) < 0) {
                        if (!refusal)
                                refusal = strdup("cannot reserve hugepages");
                        tuning_hugepages_release(&m->tuning, owner, &error);
                }
        }
        if (refusal || !pl->admitted) {
                if (asprintf(&message, "kvmtuned: %s refused: %s", name, refusal ? refusal : "out of memory") < 0)
                        message = NULL;
                planner_release(m->planner, name);
                settle(m, before, SETTLE_FROM_HOOK); /* an earlier run of it may have held CPUs */
                log_emit(&m->log, LOG_WARNING,
                         &(LogFields){ .domain = name, .action = "admit", .result = "refused", .vcpu = -1 }, "%s",
                         message ? message : "refused");
                return hook_reply(false, message);
        }

        if (m->config->host.hugepages == HUGEPAGES_KEEP)
                tuning_hugepages_keep(&m->tuning, owner); /* what it added stays in the pool for good */
        ManagedDomain *d = new_record(m, name, owner, 0);
        if (!d) {
                planner_release(m->planner, name);
                return NULL;
        }
        d->admit_usec = now_usec();
        transition(m, d, EVENT_ADMIT, ADMITTED_NOTE);
        d->req = TAKE_PTR(req);
        log_emit(&m->log, LOG_INFO, &(LogFields){ .domain = name, .action = "admit", .result = "ok", .vcpu = -1 },
                 "%s admitted (class %s)%s", name, pl->cls->name, pl->n_hugepages ? ", hugepages reserved" : "");
        schedule_admission_expiry(m);
        settle(m, before, SETTLE_FROM_HOOK); /* governors and host isolation before it starts */
        return hook_reply(true, NULL);
}

/* release/end: whatever prepare reserved goes back, also when the domain never started. */
static json_object *hook_release(Manager *m, const char *name, const char *xml) {
        _cleanup_(domain_freep) DomainRequest *req = NULL;
        _cleanup_free_ char *error = NULL;
        const char *owner = name;
        if (domain_parse(xml, strlen(xml), &req, &error) == 0 && req->uuid)
                owner = req->uuid;
        ManagedDomain *d = manager_find(m, name);
        _cleanup_(free_snapshotp) hwloc_bitmap_t *before = snapshot_shared(m);
        /* Admitted and never started, or restored from the previous run while libvirt does not
         * answer yet: nothing else will release it (a running one's STOPPED event does). */
        if (d && (admitted_unstarted(d) || (d->state == DOMAIN_RESTORED && strcmp(d->uuid, owner) == 0))) {
                planner_release(m->planner, name);
                forget(m, d);
        }
        if (tuning_hugepages_release(&m->tuning, owner, &error) < 0)
                log_emit(&m->log, LOG_WARNING, &(LogFields){ .domain = name, .action = "hugepages", .vcpu = -1 }, "%s",
                         error);
        settle(m, before, SETTLE_FROM_HOOK);
        return hook_reply(true, NULL);
}

static json_object *on_hook(Manager *m, const ControlRequest *req) {
        const char *name = json_field_string(req->request, "domain");
        const char *op = json_field_string(req->request, "op"), *subop = json_field_string(req->request, "subop");
        const char *xml = json_field_string(req->request, "xml");
        if (!name || !op || !subop || !xml)
                return control_error("hook needs domain, op, subop and xml strings");
        if (strcmp(op, "prepare") == 0 && strcmp(subop, "begin") == 0)
                return hook_prepare(m, name, xml);
        if (strcmp(op, "release") == 0 && strcmp(subop, "end") == 0)
                return hook_release(m, name, xml);
        return hook_reply(true, NULL);
}

static json_object *on_control(void *userdata, const ControlRequest *req) {
        Manager *m = userdata;
        if (strcmp(req->command, "status") == 0)
                return manager_status_json(m);
        if (strcmp(req->command, "domains") == 0)
                return manager_domains_json(m);
        if (strcmp(req->command, "stats") == 0)
                return manager_stats_json(m);
        if (strcmp(req->command, "explain") == 0) {
                const char *name = json_field_string(req->request, "domain");
                if (!name)
                        return control_error("explain needs a domain name");
                return manager_explain_json(m, name);
        }
        if (strcmp(req->command, "reload") == 0) {
                if (req->uid != 0)
                        return control_error("reload: permission denied (root only)");
                _cleanup_free_ char *errors = NULL, *restart = NULL;
                if (manager_reload(m, &errors, &restart) < 0)
                        return control_error("%s", errors ? errors : "reload failed");
                json_object *o = json_object_new_object();
                json_object_object_add(o, "reloaded", json_object_new_boolean(1));
                if (restart)
                        json_object_object_add(o, "restart_needed", json_object_new_string(restart));
                return o;
        }
        if (strcmp(req->command, "hook") == 0) {
                if (req->uid != 0)
                        return control_error("hook: permission denied (root only)");
                return on_hook(m, req);
        }
        return control_error("unknown command %s", req->command);
}

/* ---- Lifetime ------------------------------------------------------------------------------ */

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;
        (void) s;
        (void) si;
        _cleanup_free_ char *errors = NULL;
        manager_reload(m, &errors, NULL);
        return 0;
}

static int make_dir(const char *path) {
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

/* The journal of original settings, for this boot: what a crashed or killed run left behind is
 * put back first, so every value kvmtuned records next is a true original. */
static int open_journal(Manager *m) {
        const char *procfs = m->opts.procfs ? m->opts.procfs : "/proc";
        const char *dir = m->opts.state_dir ? m->opts.state_dir : MANAGER_STATE_DIR;
        int r = make_dir(dir);
        if (r < 0) {
                fprintf(stderr, "kvmtuned: cannot create %s: %s\n", dir, strerror(-r));
                return r;
        }
        /* Absolute: the journal is read through a root directory, and a relative --state-dir
         * read from "/" found nothing and overwrote the real journal. */
        m->state_dir = realpath(dir, NULL);
        if (!m->state_dir)
                return -errno;
        if (asprintf(&m->journal_path, "%s/journal", m->state_dir) < 0)
                return -ENOMEM;
        /* A second kvmtuned (a --dry-run preview, say) would take the running one's journal for
         * a crashed run's and restore the host under it. */
        _cleanup_free_ char *lock = NULL;
        if (asprintf(&lock, "%s/lock", m->state_dir) < 0)
                return -ENOMEM;
        m->state_lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (m->state_lock_fd < 0 || flock(m->state_lock_fd, LOCK_EX | LOCK_NB) < 0) {
                r = -errno;
                fprintf(stderr, "kvmtuned: %s: %s\n", lock,
                        r == -EWOULDBLOCK ? "another kvmtuned runs with this state directory; stop it first"
                                          : strerror(-r));
                return r == -EWOULDBLOCK ? -EBUSY : r;
        }
        _cleanup_free_ char *boot = NULL;
        if (kfile_read(procfs, "sys/kernel/random/boot_id", &boot) < 0 && !(boot = strdup("unknown")))
                return -ENOMEM;
        boot[strcspn(boot, "\n")] = '\0';
        JournalFound found;
        r = journal_open(m->journal_path, boot, &m->journal, &found);
        if (r < 0) {
                fprintf(stderr, "kvmtuned: cannot open %s: %s\n", m->journal_path, strerror(-r));
                return r;
        }
        if (found == JOURNAL_UNREADABLE) { /* writing a new one would destroy it */
                fprintf(stderr, "kvmtuned: %s is not a journal and cannot be set aside; move it away\n",
                        m->journal_path);
                return -EBADMSG;
        }
        if (found == JOURNAL_SET_ASIDE)
                log_emit(&m->log, LOG_ERR, &(LogFields){ .action = "restore", .result = "failed", .vcpu = -1 },
                         "%s is not a journal, kept as %s.unreadable (or .unreadable.N): restore the host "
                         "settings it names by hand",
                         m->journal_path, m->journal_path);
        bool recovered = found == JOURNAL_RECOVERED;
        if (found == JOURNAL_KEPT) {
                log_emit(&m->log, LOG_INFO, &(LogFields){ .action = "restore", .vcpu = -1 },
                         "the previous run stopped with RestoreOnExit=no: its %d host settings are taken over",
                         (int) json_object_object_length(m->journal->settings));
                journal_save(m->journal); /* no longer kept: this run's crash must be undone */
        }
        m->tuning =
                (Tuning){ .sysfs = m->opts.sysfs ? m->opts.sysfs : "/sys", .procfs = procfs, .journal = m->journal };
        m->isolation = (Isolation){ .sysfs = m->tuning.sysfs,
                                    .procfs = procfs,
                                    .journal = m->journal,
                                    .systemd = sd_booted() > 0 && !m->opts.sysfs };
        m->host = (ActuatorHost){ .tuning = &m->tuning, .isolation = &m->isolation };
        /* Isolation a run that crashed left (a cpuset group, or units' AllowedCPUs=) is undone
         * like any journaled setting, and said: restore_host_settings below finds nothing left. */
        _cleanup_free_ char *error = NULL;
        int undone = isolation_undo(&m->isolation, &error);
        if (undone < 0)
                log_emit(&m->log, LOG_ERR, &(LogFields){ .action = "isolate", .result = "failed", .vcpu = -1 }, "%s",
                         error);
        else if (undone > 0 && found == JOURNAL_KEPT)
                log_emit(&m->log, LOG_INFO, &(LogFields){ .action = "isolate", .vcpu = -1 },
                         "host isolation the previous run kept is undone until a dedicated VM needs it");
        else if (undone > 0) {
                recovered = true;
                log_emit(&m->log, LOG_INFO, &(LogFields){ .action = "isolate", .vcpu = -1 },
                         "a previous run did not finish: host isolation undone, %d processes back on every CPU", undone);
        }
        if (recovered)
                restore_host_settings(m, "a previous run did not finish");
        return 0;
}

/* runtime_dir/kvmtuned.pid: how harnesses and scripts find this kvmtuned to stop it, by pid. */
static void write_pid_file(Manager *m) {
        _cleanup_free_ char *tmp = NULL;
        if (asprintf(&m->pid_path, "%s/kvmtuned.pid", m->runtime_dir) < 0 || asprintf(&tmp, "%s.tmp", m->pid_path) < 0)
                return;
        FILE *f = fopen(tmp, "we");
        if (!f) {
                log_emit(&m->log, LOG_WARNING, LOG_NO_FIELDS, "cannot write %s: %m", tmp);
                return;
        }
        fprintf(f, "%d\n", (int) getpid());
        if (fclose(f) != 0 || rename(tmp, m->pid_path) < 0)
                log_emit(&m->log, LOG_WARNING, LOG_NO_FIELDS, "cannot write %s: %m", m->pid_path);
}

int manager_new(const ManagerOptions *opts, Manager **ret_manager) {
        _cleanup_(manager_freep) Manager *m = calloc(1, sizeof(Manager));
        if (!m)
                return -ENOMEM;
        m->opts = *opts;
        m->state_lock_fd = -1;
        m->start_usec = now_usec();
        log_init(&m->log, opts->debug);
        if (!(m->repin_nodes = hwloc_bitmap_alloc()))
                return -ENOMEM;

        CliHost host = { .topology = opts->topology,
                         .sysfs = opts->sysfs,
                         .config = opts->config_path,
                         .policy_dir = opts->policy_dir };
        int r = cli_load_topology("kvmtuned", &host, &m->topology);
        if (r < 0)
                return r;
        r = cli_load_config("kvmtuned", &host, m->topology, &m->config);
        if (r < 0)
                return r;
        if (m->config->daemon.dry_run)
                m->opts.dry_run = true;
        r = planner_new(m->topology, m->config, &m->planner);
        if (r < 0)
                return r;

        m->runtime_dir = strdup(opts->runtime_dir ? opts->runtime_dir : MANAGER_RUNTIME_DIR);
        if (!m->runtime_dir || asprintf(&m->control_path, "%s/control", m->runtime_dir) < 0 ||
            asprintf(&m->allocations_path, "%s/allocations.json", m->runtime_dir) < 0)
                return -ENOMEM;
        r = make_dir(m->runtime_dir);
        if (r < 0) {
                fprintf(stderr, "kvmtuned: cannot create %s: %s\n", m->runtime_dir, strerror(-r));
                return r;
        }
        r = open_journal(m);
        if (r < 0)
                return r;
        write_pid_file(m); /* after the state lock: only the one kvmtuned of this state writes it */

        r = sd_event_default(&m->event);
        if (r < 0)
                return r;
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        if ((r = sd_event_add_signal(m->event, &m->signal_sources[0], SIGTERM, NULL, NULL)) < 0 ||
            (r = sd_event_add_signal(m->event, &m->signal_sources[1], SIGINT, NULL, NULL)) < 0 ||
            (r = sd_event_add_signal(m->event, &m->signal_sources[2], SIGHUP, on_sighup, m)) < 0)
                return r;
        sd_event_set_watchdog(m->event, true); /* pings WATCHDOG=1 when WatchdogSec= asks for it */

        virSetErrorFunc(NULL, quiet_libvirt);
        r = virtloop_new(m->event, on_virt, m, &m->virt);
        if (r < 0) {
                fprintf(stderr, "kvmtuned: cannot start libvirt's event loop: %s\n", strerror(-r));
                return r;
        }
        r = control_new(m->event, m->control_path, on_control, m, &m->control);
        if (r < 0) {
                fprintf(stderr, "kvmtuned: cannot listen on %s: %s\n", m->control_path, strerror(-r));
                return r;
        }
        load_allocations(m);
        *ret_manager = TAKE_PTR(m);
        return 0;
}

static int on_stats(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        manager_collect_stats(m);
        sd_event_source_set_time(s, usec + m->config->daemon.stats_interval_usec);
        sd_event_source_set_enabled(s, SD_EVENT_ON);
        return 0;
}

static char *render_metrics(void *userdata) {
        return manager_metrics_text(userdata);
}

/* The collector timer and the /metrics endpoint (Metrics=off disables the endpoint only). */
static void start_stats(Manager *m) {
        uint64_t now = 0;
        sd_event_now(m->event, CLOCK_MONOTONIC, &now);
        if (sd_event_add_time(m->event, &m->stats_source, CLOCK_MONOTONIC, now + m->config->daemon.stats_interval_usec,
                              1000, on_stats, m) >= 0)
                sd_event_source_set_enabled(m->stats_source, SD_EVENT_ON);
        const char *listen = m->config->daemon.metrics;
        if (!listen)
                return;
        int r = metrics_new(m->event, listen, render_metrics, m, &m->metrics);
        if (r < 0)
                log_emit(&m->log, LOG_ERR, &(LogFields){ .action = "metrics", .result = "failed", .vcpu = -1 },
                         "cannot serve metrics on %s: %s; running without them", listen, strerror(-r));
        else
                log_emit(&m->log, LOG_INFO, &(LogFields){ .action = "metrics", .vcpu = -1 },
                         "metrics on http://%s/metrics", listen);
}

/* READY=1 goes out as soon as the control socket serves, before libvirt is asked anything: at
 * boot libvirtd answers no client until its autostart is over, and autostart runs the hook,
 * which needs kvmtuned. The connection is made in the background and reconciles when it is up. */
int manager_start(Manager *m) {
        restore_saved(m);
        run_actuators(m, true);
        start_stats(m);
        char mount[256];
        if (!tuning_hugetlbfs_mounted(&m->tuning, 0, mount, sizeof(mount)))
                log_emit(&m->log, LOG_NOTICE, &(LogFields){ .action = "hugepages", .vcpu = -1 },
                         "no hugetlbfs is mounted: hugepage-backed domains cannot start "
                         "(mount -t hugetlbfs hugetlbfs /dev/hugepages, then restart libvirtd)");
        m->ready = true;
        sd_notify(0, "READY=1");
        _cleanup_free_ char *summary = NULL;
        render_topology_summary(m->topology, &summary);
        log_emit(&m->log, LOG_INFO, &(LogFields){ .action = "start", .vcpu = -1 },
                 "kvmtuned running on %s%s; connecting to %s", summary ? summary : "?",
                 m->opts.dry_run ? " (dry run: nothing is changed)" : "", uri_of(m));
        start_connecting(m);
        notify_status(m);
        return 0;
}

int manager_run(Manager *m) {
        int r = sd_event_loop(m->event);
        sd_notify(0, "STOPPING=1");
        if (m->config->host.restore_on_exit)
                restore_host_settings(m, "stopping");
        else {
                int k = journal_keep(m->journal); /* the next start takes them over, not as a crash's */
                if (k < 0)
                        log_emit(&m->log, LOG_WARNING, LOG_NO_FIELDS, "cannot mark %s as kept: %s", m->journal_path,
                                 strerror(-k));
        }
        log_emit(&m->log, LOG_INFO, &(LogFields){ .action = "stop", .vcpu = -1 },
                 "kvmtuned stopping; pins stay with the domains and the next start adopts them");
        return r;
}

int manager_restore_host(const ManagerOptions *opts) {
        _cleanup_(manager_freep) Manager *m = calloc(1, sizeof(Manager));
        if (!m)
                return -ENOMEM;
        m->opts = *opts;
        m->state_lock_fd = -1;
        log_init(&m->log, opts->debug);
        int r = open_journal(m); /* restores at once what a run that did not finish left */
        if (r < 0)
                return r;
        /* What is left belongs to a clean stop with RestoreOnExit=no, or to domains that still
         * run: pools shrink back now, and the pages still in use go back as those domains stop. */
        JournalReservation res;
        while (journal_reservation(m->journal, 0, &res)) {
                _cleanup_free_ char *owner = strdup(res.owner), *error = NULL;
                if (!owner)
                        return -ENOMEM;
                if (tuning_hugepages_release(&m->tuning, owner, &error) < 0)
                        log_emit(&m->log, LOG_WARNING,
                                 &(LogFields){ .action = "hugepages", .result = "failed", .vcpu = -1 }, "%s", error);
                journal_drop_reservations(m->journal, owner); /* the pool keeps its original for the restore */
        }
        restore_host_settings(m, "kvmtuned --restore");
        r = (int) json_object_object_length(m->journal->settings);
        if (r > 0)
                log_emit(&m->log, LOG_ERR, &(LogFields){ .action = "restore", .result = "failed", .vcpu = -1 },
                         "%d host setting%s could not be put back; %s keeps them", r, r == 1 ? "" : "s",
                         m->journal_path);
        return r > 0 ? -EIO : 0;
}

void manager_free(Manager *m) {
        if (!m)
                return;
        control_free(m->control);
        metrics_free(m->metrics);
        sd_event_source_disable_unref(m->stats_source);
        disconnect(m);
        virtloop_free(m->virt);
        sd_event_source_disable_unref(m->reconnect_source);
        sd_event_source_disable_unref(m->retry_source);
        sd_event_source_disable_unref(m->repin_source);
        sd_event_source_disable_unref(m->admission_source);
        sd_event_source_disable_unref(m->failed_source);
        if (m->allocations_path)
                flush_allocations(m);
        sd_event_source_disable_unref(m->save_source);
        for (size_t i = 0; i < ELEMENTSOF(m->signal_sources); i++)
                sd_event_source_disable_unref(m->signal_sources[i]);
        while (m->domains)
                forget(m, m->domains);
        json_object_put(m->saved);
        isolation_done(&m->isolation);
        journal_free(m->journal);
        hwloc_bitmap_free(m->repin_nodes);
        for (unsigned i = 0; i < ACTUATOR_COUNT; i++)
                actuator_memo_clear(&m->memos[i]);
        if (m->state_lock_fd >= 0)
                close(m->state_lock_fd);
        free(m->state_dir);
        free(m->journal_path);
        planner_free(m->planner);
        config_free(m->config);
        topology_free(m->topology);
        sd_event_unref(m->event);
        if (m->pid_path)
                unlink(m->pid_path);
        free(m->pid_path);
        free(m->runtime_dir);
        free(m->control_path);
        free(m->allocations_path);
        free(m);
}

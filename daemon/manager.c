/* The Manager's lifetime: new, start, run, free; the journal bootstrap, signals, control dispatch. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libvirt/virterror.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include "cli.h"
#include "json-field.h"
#include "kfile.h"
#include "macro.h"
#include "manager-internal.h"
#include "render.h"

uint64_t manager_now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

/* libvirt prints every error to stderr by default; the daemon reports them itself. */
static void quiet_libvirt(void *userdata, virErrorPtr error) {
        (void) userdata;
        (void) error;
}

ManagedDomain *manager_find(Manager *m, const char *name) {
        for (ManagedDomain *d = m->domains; d; d = d->next)
                if (strcmp(d->name, name) == 0)
                        return d;
        return NULL;
}

ManagedDomain *manager_find_uuid(Manager *m, const char *uuid) {
        for (ManagedDomain *d = m->domains; d; d = d->next)
                if (strcmp(d->uuid, uuid) == 0)
                        return d;
        return NULL;
}

bool manager_busy(const Manager *m) {
        return m->pin_queue || (m->worker && worker_pending(m->worker) > 0);
}

static void domain_entry_free(ManagedDomain *d) {
        stats_free(d->stats);
        free(d->name);
        free(d->error);
        domain_free(d->req);
        placement_free(d->applied);
        free(d);
}

void manager_forget(Manager *m, ManagedDomain *d) {
        if (m->planner) /* the record owns its placement (-ENOENT: it has none) */
                (void) planner_release(m->planner, d->name);
        apply_drop_queued_of(m, d); /* a job under way ends unheard: its serial is gone */
        for (ManagedDomain **pp = &m->domains; *pp; pp = &(*pp)->next)
                if (*pp == d) {
                        *pp = d->next;
                        break;
                }
        domain_entry_free(d);
}

void manager_set_error(ManagedDomain *d, const char *error) {
        free(d->error);
        d->error = error ? strdup(error) : NULL;
}

/* The one place a domain's state changes: the state table says where event leads from here, and
 * error (NULL: none) says why, for kvmtunectl. An event the table refuses is a bug: logged and
 * counted, the state stays. */
void manager_transition(Manager *m, ManagedDomain *d, DomainEvent event, const char *error) {
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
        manager_set_error(d, error);
}

/* A new record for a running domain, first in the list; NULL on ENOMEM. */
ManagedDomain *manager_new_record(Manager *m, const char *name, const char *uuid, uint64_t event_usec) {
        ManagedDomain *d = calloc(1, sizeof(ManagedDomain));
        if (!d || !(d->name = strdup(name))) {
                free(d);
                return NULL;
        }
        snprintf(d->uuid, sizeof(d->uuid), "%s", uuid);
        d->serial = ++m->record_serial;
        d->event_usec = event_usec;
        d->next = m->domains;
        m->domains = d;
        return d;
}

/* A rejected reload: {"error": ..., "errors": [one FILE:LINE: message per entry]}, so that every
 * error is printed on a line of its own, whatever their number. NULL on ENOMEM. */
static json_object *reload_errors_reply(const char *errors) {
        json_object *o = control_error("the new configuration has errors; the running one stays");
        json_object *list = json_object_new_array();
        if (!o || !list) {
                json_object_put(list);
                return o;
        }
        for (const char *p = errors ? errors : "reload failed"; *p;) {
                size_t n = strcspn(p, "\n");
                json_object_array_add(list, json_object_new_string_len(p, (int) n));
                p += n + (p[n] == '\n');
        }
        json_object_object_add(o, "errors", list);
        return o;
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
                        return reload_errors_reply(errors);
                json_object *o = json_object_new_object();
                json_object_object_add(o, "reloaded", json_object_new_boolean(1));
                if (restart)
                        json_object_object_add(o, "restart_needed", json_object_new_string(restart));
                return o;
        }
        if (strcmp(req->command, "hook") == 0) {
                if (req->uid != 0)
                        return control_error("hook: permission denied (root only)");
                return hook_handle(m, req);
        }
        return control_error("unknown command %s", req->command);
}

/* The hook socket: only hook requests, so nothing else queues before the admission libvirtd
 * waits for. */
static json_object *on_hook_socket(void *userdata, const ControlRequest *req) {
        if (strcmp(req->command, "hook") != 0)
                return control_error("this socket answers the libvirt hook only; %s goes to the control socket",
                                     req->command);
        return on_control(userdata, req);
}

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
         * like any journaled setting, and said: host_restore below finds nothing left. */
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
                host_restore(m, "a previous run did not finish");
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

void manager_log_config_warnings(Manager *m, const Config *c, const char *action) {
        /* What loads but will not work here (one policy.d serves a fleet): said, never refused. */
        for (size_t i = 0; i < c->n_warnings; i++)
                log_emit(&m->log, LOG_WARNING, &(LogFields){ .action = action, .vcpu = -1 }, "%s:%u: warning: %s",
                         c->warnings[i].file ? c->warnings[i].file : "", c->warnings[i].line, c->warnings[i].message);
}

int manager_new(const ManagerOptions *opts, Manager **ret_manager) {
        _cleanup_(manager_freep) Manager *m = calloc(1, sizeof(Manager));
        if (!m)
                return -ENOMEM;
        m->opts = *opts;
        m->state_lock_fd = -1;
        m->start_usec = manager_now_usec();
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
        manager_log_config_warnings(m, m->config, "start");
        if (m->config->daemon.dry_run)
                m->opts.dry_run = true;
        r = planner_new(m->topology, m->config, &m->planner);
        if (r < 0)
                return r;

        m->runtime_dir = strdup(opts->runtime_dir ? opts->runtime_dir : MANAGER_RUNTIME_DIR);
        if (!m->runtime_dir || asprintf(&m->control_path, "%s/control", m->runtime_dir) < 0 ||
            asprintf(&m->hook_path, "%s/hook", m->runtime_dir) < 0 ||
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
        r = virtloop_new(m->event, connection_on_virt, m, &m->virt);
        if (r < 0) {
                fprintf(stderr, "kvmtuned: cannot start libvirt's event loop: %s\n", strerror(-r));
                return r;
        }
        r = worker_new(m->event, MANAGER_WORKERS, &m->worker);
        if (r < 0) {
                fprintf(stderr, "kvmtuned: cannot start its worker threads: %s\n", strerror(-r));
                return r;
        }
        ControlLimits limits = CONTROL_LIMITS_DEFAULT, hook_limits = CONTROL_LIMITS_DEFAULT;
        hook_limits.mode = 0600;
        hook_limits.max_clients = 16; /* libvirtd runs one hook per domain operation */
        const char *path = m->control_path;
        r = control_new(m->event, path, &limits, on_control, m, &m->control);
        if (r >= 0)
                r = control_new(m->event, path = m->hook_path, &hook_limits, on_hook_socket, m, &m->hook_control);
        if (r < 0) {
                fprintf(stderr, "kvmtuned: cannot listen on %s: %s\n", path, strerror(-r));
                return r;
        }
        allocations_load(m);
        *ret_manager = TAKE_PTR(m);
        return 0;
}

static int on_stats(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        manager_collect_stats(m);
        host_rescan_actuators(m);
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
        allocations_restore(m);
        host_run_actuators(m, true);
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
                 m->opts.dry_run ? " (dry run: nothing is changed)" : "", connection_uri(m));
        connection_start(m);
        connection_notify_status(m);
        return 0;
}

int manager_run(Manager *m) {
        int r = sd_event_loop(m->event);
        sd_notify(0, "STOPPING=1");
        if (m->config->host.restore_on_exit)
                host_restore(m, "stopping");
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
        host_restore(m, "kvmtuned --restore");
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
        control_free(m->hook_control);
        metrics_free(m->metrics);
        sd_event_source_disable_unref(m->stats_source);
        apply_drop_queued(m);
        worker_free(m->worker, MANAGER_WORKER_STOP_USEC); /* results now are of no use */
        connection_disconnect(m);
        virtloop_free(m->virt);
        sd_event_source_disable_unref(m->reconnect_source);
        sd_event_source_disable_unref(m->retry_source);
        sd_event_source_disable_unref(m->repin_source);
        sd_event_source_disable_unref(m->admission_source);
        sd_event_source_disable_unref(m->failed_source);
        if (m->allocations_path)
                allocations_flush(m);
        sd_event_source_disable_unref(m->save_source);
        for (size_t i = 0; i < ELEMENTSOF(m->signal_sources); i++)
                sd_event_source_disable_unref(m->signal_sources[i]);
        while (m->domains) { /* the planner goes as a whole below */
                ManagedDomain *d = m->domains;
                m->domains = d->next;
                domain_entry_free(d);
        }
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
        free(m->hook_path);
        free(m->allocations_path);
        free(m);
}

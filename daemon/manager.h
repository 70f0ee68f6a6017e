/* The daemon's Manager: owns the sd-event loop, the libvirt connection, the host model, the
 * policy, the planner and every managed domain; follows lifecycle events and reconciles. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>
#include <libvirt/libvirt.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "control.h"
#include "actuators.h"
#include "isolation.h"
#include "journal.h"
#include "lifecycle.h"
#include "libvirt-loop.h"
#include "tuning.h"
#include "worker.h"
#include "domain.h"
#include "log.h"
#include "metrics.h"
#include "stats.h"
#include "planner.h"
#include "topology.h"

#define MANAGER_RUNTIME_DIR "/run/kvmtuned"
#define MANAGER_STATE_DIR "/var/lib/kvmtuned"
#define MANAGER_HOOK_PATH "/etc/libvirt/hooks/qemu.d/kvmtuned"
/* libvirt calls in flight at once: libvirtd serves 5 requests of one client at a time
 * (max_client_requests); one is left for the calls of the connection itself. */
#define MANAGER_WORKERS 4
/* How long a stop waits for a libvirt call under way (libvirt's own job timeout is 30 s). */
#define MANAGER_WORKER_STOP_USEC (2 * 1000 * 1000ULL)
#define MANAGER_STOPS_KEPT 64

typedef struct ManagerOptions {
        const char *config_path; /* NULL: /etc/kvmtuned/kvmtuned.conf when it exists */
        const char *policy_dir; /* NULL: /etc/kvmtuned/policy.d when it exists */
        const char *topology; /* hwloc XML instead of the live host */
        const char *sysfs; /* "/sys" or a fixture */
        const char *uri; /* overrides URI= */
        const char *runtime_dir; /* control socket and allocations; NULL: /run/kvmtuned */
        const char *state_dir; /* the journal of original settings; NULL: /var/lib/kvmtuned */
        const char *procfs; /* "/proc" or a fixture */
        bool dry_run;
        bool debug;
        uint64_t admission_timeout_usec; /* a hook admission whose start never comes ends after
                                          * this; 0: 10 minutes (tests shorten it) */
        uint64_t failed_retry_usec; /* a domain whose pins failed is tried again after this; 0: 60 s */
} ManagerOptions;

typedef struct ManagedDomain {
        char *name;
        char uuid[VIR_UUID_STRING_BUFLEN];
        DomainRequest *req;
        DomainState state; /* changed only by manager_transition() (manager.c) */
        char *error; /* the refusal or apply failure */
        unsigned attempts; /* apply attempts of the current try (reset when one succeeds) */
        unsigned failed_tries; /* tries that ended FAILED in a row: the next waits longer */
        uint64_t retry_at_usec; /* when a FAILED domain is tried again */
        Placement *applied; /* the pins kvmtuned applied and verified last (in this run or the
                             * previous one): live pins that differ are someone else's */
        uint64_t event_usec; /* CLOCK_MONOTONIC when its start was seen; 0: not yet */
        uint64_t admit_usec; /* when the prepare hook admitted it; 0: it did not */
        bool replan_at_start; /* admitted, then a reload changed what its policy gives it: its
                               * admission stands, and it is placed afresh when it starts */
        uint64_t pin_usec; /* from then to verified pins; 0 until done */
        unsigned serial; /* this record's, unique in the run: a job of a forgotten record with the
                          * same UUID is not this one's */
        bool start_seen; /* admitted, and its STARTED event came (its XML is still being read) */
        bool pinning; /* a pin job (apply or float) is with a worker */
        bool pin_again; /* pins were asked for while it was: decided afresh when it ends */
        unsigned pin_seq; /* pin jobs submitted: a read begun before the last knows older pins */
        DomainStats *stats; /* steal and memory locality, once the collector saw it */
        struct ManagedDomain *next;
} ManagedDomain;

typedef struct Manager {
        ManagerOptions opts;
        char *runtime_dir, *control_path, *hook_path, *allocations_path, *pid_path, *state_dir, *journal_path;
        int state_lock_fd; /* flock on state_dir/lock: one kvmtuned per journal */
        sd_event *event;
        Logger log;

        Topology *topology;
        Config *config;
        Planner *planner;
        Journal *journal;
        Tuning tuning;
        Isolation isolation;
        ActuatorHost host; /* the two above, for the actuators */
        ActuatorMemo memos[ACTUATOR_COUNT]; /* what each actuator applied last (by ActuatorId) */

        VirtLoop *virt; /* libvirt's event thread and connection attempts */
        Worker *worker; /* libvirt calls: never on the loop */
        struct VirtApply *pin_queue; /* pin jobs waiting for the allocations file to say so */
        unsigned record_serial; /* the last ManagedDomain.serial given */
        struct {
                char uuid[VIR_UUID_STRING_BUFLEN];
                uint64_t usec;
        } stopped[MANAGER_STOPS_KEPT]; /* recent STOPPED events, a ring: reads begun before one are stale */
        unsigned stopped_next;
        virConnectPtr conn; /* owned by virt; NULL until an attempt succeeded */
        unsigned conn_gen; /* the attempt conn came from: messages of other ones are stale */
        unsigned closed_gen; /* an attempt whose connection closed before it was reported */
        bool connected, was_connected;
        unsigned reconnects;
        unsigned backoff_ms;
        sd_event_source *reconnect_source;
        sd_event_source *retry_source;
        sd_event_source *repin_source;
        sd_event_source *admission_source; /* the earliest end of a hook admission's wait */
        sd_event_source *save_source; /* a pending write of the allocations file */
        sd_event_source *failed_source; /* the next try of a FAILED domain */
        hwloc_bitmap_t repin_nodes; /* node indexes whose shared domains need re-pinning */
        sd_event_source *signal_sources[3];

        ManagedDomain *domains;
        json_object *saved; /* allocations of a previous run, consumed as domains are adopted */
        Control *control, *hook_control; /* the hook has a socket of its own: root only */
        Metrics *metrics;
        sd_event_source *stats_source;
        uint64_t stats_passes;
        uint64_t stats_cpu_usec; /* CPU time the collector spent, for bench/stats-cost */
        uint64_t start_usec;
        unsigned actions_ok, actions_failed; /* pins */
        unsigned host_ok[ACTUATOR_COUNT], host_failed[ACTUATOR_COUNT]; /* host settings changed, per actuator */
        unsigned bad_transitions; /* events the state table refused: bugs, logged (tests expect 0) */
        bool ready;
} Manager;

/* Loads the host model and the policy (errors printed as FILE:LINE: message), sets up the event
 * loop, signals and the control socket. Does not connect yet. Returns 0 or negative errno. */
int manager_new(const ManagerOptions *opts, Manager **ret_manager);

void manager_free(Manager *m);

/* Books the previous run's placements, applies the host settings, tells systemd READY=1, then
 * starts connecting to libvirt in the background (the reconcile follows the connection).
 * Returns 0, or negative errno for errors that make running pointless. */
int manager_start(Manager *m);

/* kvmtuned --restore: puts back every host setting the journal of original settings holds and
 * gives back every hugepage reservation, as a clean stop with RestoreOnExit=yes would (the
 * package runs it when it is removed). Returns 0, -EBUSY when a kvmtuned runs with this state
 * directory, -EIO when a setting could not be put back (the journal keeps it), or -errno. */
int manager_restore_host(const ManagerOptions *opts);

/* Runs the event loop until SIGTERM / SIGINT. Returns the loop's exit code. */
int manager_run(Manager *m);

/* Re-reads configuration and policy; on error keeps the running one and returns -EINVAL with
 * the errors in *ret_errors (malloc'd). On success re-plans and moves only what changed, and
 * names in *ret_restart (malloc'd, NULL if none; ret_restart may be NULL) the changed settings
 * only a restart applies (DryRun, Metrics, URI), which keep their running values. */
int manager_reload(Manager *m, char **ret_errors, char **ret_restart);

/* Lists running domains (on a worker), then adopts or places what is not managed and releases
 * what vanished. Returns 0 when the listing is under way, -ENOTCONN or -ENOMEM. */
int manager_reconcile(Manager *m);

/* Whether work is under way that will change the state without a new event: libvirt calls
 * with the workers, or their results not yet handled (tests wait for this to end). */
bool manager_busy(const Manager *m);

/* Status, domains and explain replies as the control socket sends them. NULL on ENOMEM. */
json_object *manager_status_json(Manager *m);
json_object *manager_domains_json(Manager *m);
json_object *manager_explain_json(Manager *m, const char *name);

/* One pass of the statistics collector over every running domain. */
void manager_collect_stats(Manager *m);

/* The Prometheus text of the current state; malloc'd, NULL on ENOMEM. */
char *manager_metrics_text(Manager *m);

/* Per-vCPU statistics rows, sorted by steal, as the control socket's "stats" reply. */
json_object *manager_stats_json(Manager *m);

/* The domain called name, or NULL. */
ManagedDomain *manager_find(Manager *m, const char *name);

static inline void manager_freep(Manager **m) {
        if (*m)
                manager_free(*m);
}

/* Logs the configuration's warnings (what loads but will not work on this host), one entry each. */
void manager_log_config_warnings(Manager *m, const Config *c, const char *action);

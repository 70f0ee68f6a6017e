/* What the Manager's files share, and nothing outside the daemon uses: one file per job of the
 * Manager (manager.c lifetime, allocations.c, apply.c, host.c, domains.c, connection.c, reload.c,
 * views.c, hook.c). Functions return negative errno where they can fail. */
#pragma once

#include "manager.h"
#include "virt-jobs.h"

#define ADMITTED_NOTE "admitted by the prepare hook; its pins follow when it starts"

/* How apply_settle() ends a change. */
typedef enum SettleFlags {
        SETTLE_FROM_HOOK = 1 << 0, /* libvirt holds the domain: re-pins wait for the next loop turn,
                                    * the allocations are on disk before the hook answers */
        SETTLE_RESET_HOST = 1 << 1, /* the configuration changed: every actuator applies afresh */
} SettleFlags;


/* manager.c: the daemon's Manager: its lifetime (new, start, run, free), the journal of original settings,
 * signals, the control socket's dispatch. */
uint64_t manager_now_usec(void);
void manager_forget(Manager *m, ManagedDomain *d); /* its record and the placement it owns */
void manager_set_error(ManagedDomain *d, const char *error);
ManagedDomain *manager_find_uuid(Manager *m, const char *uuid);
void manager_transition(Manager *m, ManagedDomain *d, DomainEvent event, const char *error);
ManagedDomain *manager_new_record(Manager *m, const char *name, const char *uuid, uint64_t event_usec);

/* allocations.c: the allocations file: what is placed, written once per loop turn, read back and distrusted
 * at start. */
void allocations_save(Manager *m);
void allocations_flush(Manager *m);
void allocations_load(Manager *m);
void allocations_restore(Manager *m);

/* apply.c: the apply step: a domain's pins through libvirt and read back, retries, floating, re-pins of
 * shared domains, and apply_settle() that ends every change. */
void apply_float(Manager *m, ManagedDomain *d);
void apply_start_queued(Manager *m); /* pin jobs, once the allocations file says they come */
void apply_drop_queued(Manager *m);
void apply_drop_queued_of(Manager *m, const ManagedDomain *d);
void apply_domain(Manager *m, ManagedDomain *d);
hwloc_bitmap_t *apply_snapshot_shared(Manager *m);
void apply_free_snapshot(hwloc_bitmap_t *sets);
void apply_settle(Manager *m, hwloc_bitmap_t *before, SettleFlags flags);
DEFINE_TRIVIAL_CLEANUP_FUNC(hwloc_bitmap_t *, apply_free_snapshot)

/* host.c: host settings: the actuator table run towards what the plan wants, undone on stop and after a
 * crash. */
void host_run_actuators(Manager *m, bool force);
/* The actuators whose input appears without an event (IRQs), every StatsInterval. */
void host_rescan_actuators(Manager *m);
/* Appends to lines what the host settings do for pl ("host: ..."), for explain. */
void host_explain(Manager *m, const Placement *pl, json_object *lines);
void host_restore(Manager *m, const char *why);
void host_release_orphan_reservations(Manager *m);

/* domains.c: domains coming and going: planning, a start, adoption after a restart, release, admissions
 * that never start, re-planning. */
void domains_refresh_memory(Manager *m);
/* Why a running domain is read (domains_fetch), and so what follows the read. */
typedef enum FetchPurpose {
        FETCH_STARTED, /* its start (or resume) was seen: placed */
        FETCH_FOUND, /* a reconcile found it running, not placed: placed or adopted */
        FETCH_CHECK, /* a reconcile found it placed: its pins still kvmtuned's and the plan's? */
        FETCH_CRASHED, /* a crash event: released if it no longer runs */
        FETCH_REFRESH, /* devices or tunables changed: placed again if its shape changed */
} FetchPurpose;
void domains_fetch(Manager *m, virDomainPtr dom, FetchPurpose purpose, uint64_t event_usec);
void domains_note_start(Manager *m, virDomainPtr dom, uint64_t usec);
void domains_note_stop(Manager *m, virDomainPtr dom, uint64_t usec);
bool domains_admitted_unstarted(const ManagedDomain *d);
bool domains_awaiting_start(const Manager *m, const ManagedDomain *d);
void domains_release(Manager *m, ManagedDomain *d, const char *why);
void domains_schedule_admission_expiry(Manager *m);


/* connection.c: the libvirt connection: lifecycle events, connecting and reconnecting, and the reconcile
 * that follows a connection. */
const char *connection_uri(const Manager *m);
void connection_disconnect(Manager *m);
void connection_notify_status(Manager *m);
void connection_start(Manager *m);
void connection_on_virt(void *userdata, const VirtMessage *msg);

/* hook.c: the libvirt hook: admission at prepare/begin and its end at release/end, answered without calling
 * libvirt. */
json_object *hook_handle(Manager *m, const ControlRequest *req);

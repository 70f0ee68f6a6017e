/* The libvirt connection: lifecycle events, (re)connecting, and the reconcile after it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "macro.h"
#include "manager-internal.h"

#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000

static void connection_schedule_reconnect(Manager *m);

/* Events carry what libvirt knows without a call; what needs one (the XML, live pins, whether
 * a crashed domain still runs) a worker reads, and the decision follows its answer. */
static void connection_on_lifecycle(Manager *m, virDomainPtr dom, int event, int detail) {
        uint64_t t0 = manager_now_usec();
        const char *name = virDomainGetName(dom);
        if (!name)
                return;
        log_emit(&m->log, LOG_DEBUG, &(LogFields){ .domain = name, .action = "event", .vcpu = -1 },
                 "%s: lifecycle event %d detail %d", name, event, detail);
        switch (event) {
        case VIR_DOMAIN_EVENT_STARTED:
        case VIR_DOMAIN_EVENT_RESUMED:
                domains_note_start(m, dom, t0);
                domains_fetch(m, dom, FETCH_STARTED, t0);
                break;
        case VIR_DOMAIN_EVENT_STOPPED: {
                domains_note_stop(m, dom, t0);
                ManagedDomain *d = manager_find(m, name);
                if (d && !domains_awaiting_start(m, d))
                        domains_release(m, d, "stopped");
                break;
        }
        case VIR_DOMAIN_EVENT_CRASHED:
                domains_fetch(m, dom, FETCH_CRASHED, t0);
                break;
        default: /* defined, undefined, suspended, shutdown in progress: nothing to place */
                break;
        }
}

const char *connection_uri(const Manager *m) {
        return m->opts.uri ? m->opts.uri : m->config->daemon.uri;
}

void connection_disconnect(Manager *m) {
        if (m->virt)
                virtloop_disconnect(m->virt);
        m->conn = NULL;
        m->connected = false;
}

void connection_notify_status(Manager *m) {
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
void connection_start(Manager *m) {
        int r = virtloop_connect(m->virt, connection_uri(m));
        if (r < 0 && r != -EBUSY) {
                log_emit(&m->log, LOG_ERR, &(LogFields){ .action = "connect", .result = "failed", .vcpu = -1 },
                         "cannot start connecting to %s: %s", connection_uri(m), strerror(-r));
                connection_schedule_reconnect(m);
        }
}

static int connection_on_reconnect(sd_event_source *s, uint64_t usec, void *userdata) {
        (void) s;
        (void) usec;
        connection_start(userdata);
        return 0;
}

static void connection_schedule_reconnect(Manager *m) {
        m->backoff_ms = m->backoff_ms ? m->backoff_ms * 2 : BACKOFF_MIN_MS;
        if (m->backoff_ms > BACKOFF_MAX_MS)
                m->backoff_ms = BACKOFF_MAX_MS;
        if (!m->reconnect_source &&
            sd_event_add_time(m->event, &m->reconnect_source, CLOCK_MONOTONIC, 0, 1000, connection_on_reconnect, m) < 0)
                return;
        sd_event_source_set_time(m->reconnect_source, manager_now_usec() + (uint64_t) m->backoff_ms * 1000);
        sd_event_source_set_enabled(m->reconnect_source, SD_EVENT_ONESHOT);
}

static void connection_on_closed(Manager *m, const char *why) {
        connection_disconnect(m);
        log_emit(&m->log, LOG_WARNING, &(LogFields){ .action = "disconnect", .vcpu = -1 },
                 "lost the libvirt connection (%s); reconnecting", why);
        sd_notifyf(0, "STATUS=libvirt connection lost; reconnecting");
        connection_schedule_reconnect(m);
}

static void connection_on_connected(Manager *m, const VirtMessage *msg) {
        m->conn = msg->conn;
        m->conn_gen = msg->gen;
        m->connected = true;
        m->backoff_ms = 0;
        if (m->was_connected)
                m->reconnects++;
        m->was_connected = true;
        log_emit(&m->log, LOG_INFO, &(LogFields){ .action = "connect", .vcpu = -1 }, "connected to %s", connection_uri(m));
        /* libvirt reports a close once: one that came while the attempt was still subscribing
         * arrived before this message. */
        if (m->closed_gen == msg->gen) {
                connection_on_closed(m, "closed while connecting");
                return;
        }
        if (manager_reconcile(m) < 0) {
                connection_on_closed(m, "cannot list the domains");
                return;
        }
        connection_notify_status(m);
}

/* What libvirt's thread and the connection attempts report, on the sd-event loop. */
void connection_on_virt(void *userdata, const VirtMessage *msg) {
        Manager *m = userdata;
        if (msg->kind == VIRT_CONNECTED) {
                connection_on_connected(m, msg);
                return;
        }
        if (msg->kind == VIRT_CONNECT_FAILED) {
                log_emit(&m->log, LOG_NOTICE, &(LogFields){ .action = "connect", .result = "failed", .vcpu = -1 },
                         "cannot connect to %s yet: %s", connection_uri(m), msg->error ? msg->error : "?");
                connection_schedule_reconnect(m);
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
                connection_on_closed(m, why);
                break;
        }
        case VIRT_LIFECYCLE:
                connection_on_lifecycle(m, msg->dom, msg->event, msg->detail);
                break;
        case VIRT_DEVICE:
                domains_fetch(m, msg->dom, FETCH_REFRESH, manager_now_usec());
                break;
        case VIRT_TUNABLE:
                /* Pin and numatune changes echo kvmtuned's own calls (or an operator's, which it
                 * does not fight); only other tunables can mean the domain's shape changed. */
                if (!msg->only_pins)
                        domains_fetch(m, msg->dom, FETCH_REFRESH, manager_now_usec());
                break;
        default:
                break;
        }
}

static void connection_on_listed(void *userdata, WorkerJob *job, bool ran);

int manager_reconcile(Manager *m) {
        if (!m->conn)
                return -ENOTCONN;
        VirtList *l = virt_list_new(m->conn);
        if (!l)
                return -ENOMEM;
        l->gen = m->conn_gen;
        l->started_usec = manager_now_usec();
        /* Listing waits for every domain, also one whose hook libvirtd is running: never on the
         * loop, which must answer that hook. */
        worker_submit(m->worker, &l->job, "", virt_list_run, connection_on_listed, m);
        return 0;
}

static bool connection_listed(const VirtList *l, const char *uuid) {
        for (int i = 0; i < l->n; i++) {
                char u[VIR_UUID_STRING_BUFLEN];
                if (virDomainGetUUIDString(l->doms[i], u) == 0 && strcmp(u, uuid) == 0)
                        return true;
        }
        return false;
}

/* The running domains are known: what vanished is released first, so it frees its CPUs before
 * anything new is placed; each running domain is then read (on a worker) to be placed, adopted or
 * checked. Domains seen after the listing began are not judged by it. */
static void connection_on_listed(void *userdata, WorkerJob *job, bool ran) {
        Manager *m = userdata;
        VirtList *l = (VirtList *) job;
        if (!ran || l->gen != m->conn_gen || !m->connected) {
                virt_list_free(l);
                return;
        }
        if (l->n < 0) {
                virt_list_free(l);
                connection_on_closed(m, "listing the domains failed");
                return;
        }
        for (ManagedDomain *d = m->domains, *next; d; d = next) {
                next = d->next;
                if (d->event_usec < l->started_usec && !connection_listed(l, d->uuid) && !domains_awaiting_start(m, d))
                        domains_release(m, d, "is no longer running");
        }
        for (int i = 0; i < l->n; i++) {
                const char *name = virDomainGetName(l->doms[i]);
                ManagedDomain *d = name ? manager_find(m, name) : NULL;
                /* New, restored from the previous run, or admitted by the hook while we were away. */
                if (!d || d->state == DOMAIN_ADMITTED || d->state == DOMAIN_PENDING || d->state == DOMAIN_RESTORED)
                        domains_fetch(m, l->doms[i], FETCH_FOUND, l->started_usec);
                else if (d->state == DOMAIN_PLACED && !m->opts.dry_run)
                        domains_fetch(m, l->doms[i], FETCH_CHECK, l->started_usec);
        }
        virt_list_free(l);
        host_release_orphan_reservations(m);
        apply_settle(m, NULL, 0);
        domains_schedule_admission_expiry(m); /* admissions whose wait ended while disconnected */
        connection_notify_status(m);
}

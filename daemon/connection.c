/* The libvirt connection: lifecycle events, (re)connecting, and the reconcile after it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "macro.h"
#include "manager-internal.h"
#include "pin.h"

#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000

static void connection_schedule_reconnect(Manager *m);

static void connection_on_lifecycle(Manager *m, virDomainPtr dom, int event, int detail) {
        uint64_t t0 = manager_now_usec();
        const char *name = virDomainGetName(dom);
        log_emit(&m->log, LOG_DEBUG, &(LogFields){ .domain = name, .action = "event", .vcpu = -1 },
                 "%s: lifecycle event %d detail %d", name, event, detail);
        switch (event) {
        case VIR_DOMAIN_EVENT_STARTED:
        case VIR_DOMAIN_EVENT_RESUMED:
                domains_place(m, dom, t0, false);
                break;
        case VIR_DOMAIN_EVENT_STOPPED: {
                ManagedDomain *d = manager_find(m, name);
                if (d && !domains_awaiting_start(m, d))
                        domains_release(m, d, "stopped");
                break;
        }
        case VIR_DOMAIN_EVENT_CRASHED:
                if (virDomainIsActive(dom) == 0) {
                        ManagedDomain *d = manager_find(m, name);
                        if (d && !domains_awaiting_start(m, d))
                                domains_release(m, d, "crashed");
                }
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
                connection_on_closed(m, "listing the domains failed");
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
                domains_refresh(m, msg->dom);
                break;
        case VIRT_TUNABLE:
                /* Pin and numatune changes echo kvmtuned's own calls (or an operator's, which it
                 * does not fight); only other tunables can mean the domain's shape changed. */
                if (!msg->only_pins)
                        domains_refresh(m, msg->dom);
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
        uint64_t t0 = manager_now_usec();

        /* Released first, so what vanished frees its CPUs before anything new is placed. */
        for (ManagedDomain *d = m->domains, *next; d; d = next) {
                next = d->next;
                bool running = false;
                for (int i = 0; i < n && !running; i++) {
                        char uuid[VIR_UUID_STRING_BUFLEN];
                        running = virDomainGetUUIDString(doms[i], uuid) == 0 && strcmp(uuid, d->uuid) == 0;
                }
                if (!running && !domains_awaiting_start(m, d))
                        domains_release(m, d, "is no longer running");
        }
        for (int i = 0; i < n; i++) {
                ManagedDomain *d = manager_find(m, virDomainGetName(doms[i]));
                /* New, restored from the previous run, or admitted by the hook while we were away. */
                if (!d || d->state == DOMAIN_ADMITTED || d->state == DOMAIN_PENDING || d->state == DOMAIN_RESTORED)
                        domains_place(m, doms[i], t0, true);
                else if (d->state == DOMAIN_PLACED && !m->opts.dry_run) {
                        /* Still as kvmtuned pinned it? Else someone re-pinned it (libvirtd keeps
                         * live pins across its restarts): not fought. */
                        const Placement *pl = planner_find(m->planner, d->name);
                        if (d->applied && domains_pins_differ(m, doms[i], d->applied))
                                domains_respect_foreign_pins(m, d, doms[i]);
                        else if (pl && !pin_matches(doms[i], pl, m->topology))
                                apply_domain(m, d); /* a re-pin that has not run yet */
                }
                virDomainFree(doms[i]);
        }
        free(doms);
        host_release_orphan_reservations(m);
        apply_settle(m, NULL, 0);
        domains_schedule_admission_expiry(m); /* admissions whose wait ended while disconnected */
        return 0;
}

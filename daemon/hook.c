/* The libvirt hook: admission at prepare/begin, its end at release/end, without calling libvirt. */
#include <stdio.h>
#include <string.h>

#include "crash.h"
#include "json-field.h"
#include "macro.h"
#include "manager-internal.h"

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
static uint64_t hook_promised_pages(Manager *m, unsigned node, uint64_t page_kib) {
        uint64_t pages = 0;
        for (ManagedDomain *d = m->domains; d; d = d->next) {
                /* once its start is seen, libvirt has taken them */
                const Placement *pl =
                        domains_admitted_unstarted(d) && !d->start_seen ? planner_find(m->planner, d->name) : NULL;
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
        if (strcmp(req->name, name) != 0) /* libvirt never sends this; a record must have one name */
                return control_error("hook: the XML is of domain %s, not %s", req->name, name);
        _cleanup_(apply_free_snapshotp) hwloc_bitmap_t *before = apply_snapshot_shared(m);
        ManagedDomain *old = manager_find(m, name);
        if (old) {
                manager_forget(m, old);
        }
        const Placement *pl;
        domains_refresh_memory(m);
        if (planner_place(m->planner, req, &pl) < 0)
                return NULL;
        const char *owner = req->uuid ? req->uuid : name;
        _cleanup_free_ char *refusal = pl->admitted ? NULL : strdup(pl->reason);
        for (unsigned i = 0; pl->admitted && i < pl->n_hugepages && !refusal; i++) {
                if (m->opts.dry_run || m->config->host.hugepages == HUGEPAGES_OFF)
                        break;
                const PlacedHugepages *h = &pl->hugepages[i];
                if (tuning_hugepages_reserve(&m->tuning, owner, h->node, h->page_kib, h->count,
                                             hook_promised_pages(m, h->node, h->page_kib), &refusal) < 0) {
                        if (!refusal)
                                refusal = strdup("cannot reserve hugepages");
                        tuning_hugepages_release(&m->tuning, owner, &error);
                }
        }
        if (refusal || !pl->admitted) {
                if (asprintf(&message, "kvmtuned: %s refused: %s", name, refusal ? refusal : "out of memory") < 0)
                        message = NULL;
                planner_release(m->planner, name);
                apply_settle(m, before, SETTLE_FROM_HOOK); /* an earlier run of it may have held CPUs */
                log_emit(&m->log, LOG_WARNING,
                         &(LogFields){ .domain = name, .action = "admit", .result = "refused", .vcpu = -1 }, "%s",
                         message ? message : "refused");
                return hook_reply(false, message);
        }

        if (m->config->host.hugepages == HUGEPAGES_KEEP)
                tuning_hugepages_keep(&m->tuning, owner); /* what it added stays in the pool for good */
        ManagedDomain *d = manager_new_record(m, name, owner, 0);
        if (!d) {
                planner_release(m->planner, name);
                return NULL;
        }
        d->admit_usec = manager_now_usec();
        crash_point("admitted");
        manager_transition(m, d, EVENT_ADMIT, ADMITTED_NOTE);
        d->req = TAKE_PTR(req);
        log_emit(&m->log, LOG_INFO, &(LogFields){ .domain = name, .action = "admit", .result = "ok", .vcpu = -1 },
                 "%s admitted (class %s)%s", name, pl->cls->name, pl->n_hugepages ? ", hugepages reserved" : "");
        domains_schedule_admission_expiry(m);
        apply_settle(m, before, SETTLE_FROM_HOOK); /* governors and host isolation before it starts */
        return hook_reply(true, NULL);
}

/* release/end: whatever prepare reserved goes back, also when the domain never started. */
static json_object *hook_release(Manager *m, const char *name, const char *xml) {
        _cleanup_(domain_freep) DomainRequest *req = NULL;
        _cleanup_free_ char *error = NULL;
        ManagedDomain *d = manager_find(m, name);
        /* Reservations are the UUID's: from the XML, else (none sent: too large, not XML) the
         * record's of that name. */
        char owner[VIR_UUID_STRING_BUFLEN + 256];
        snprintf(owner, sizeof(owner), "%s", d ? d->uuid : name); /* a copy: d may be forgotten below */
        if (domain_parse(xml, strlen(xml), &req, &error) == 0 && req->uuid)
                snprintf(owner, sizeof(owner), "%s", req->uuid);
        _cleanup_(apply_free_snapshotp) hwloc_bitmap_t *before = apply_snapshot_shared(m);
        /* Admitted and never started, or restored from the previous run while libvirt does not
         * answer yet: nothing else will release it (a running one's STOPPED event does). */
        if (d && (domains_admitted_unstarted(d) || (d->state == DOMAIN_RESTORED && strcmp(d->uuid, owner) == 0))) {
                manager_forget(m, d);
        }
        if (tuning_hugepages_release(&m->tuning, owner, &error) < 0)
                log_emit(&m->log, LOG_WARNING, &(LogFields){ .domain = name, .action = "hugepages", .vcpu = -1 }, "%s",
                         error);
        apply_settle(m, before, SETTLE_FROM_HOOK);
        return hook_reply(true, NULL);
}

json_object *hook_handle(Manager *m, const ControlRequest *req) {
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

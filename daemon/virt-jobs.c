/* libvirt calls as worker jobs: read a running domain, apply pins, list the running domains. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/virterror.h>

#include "macro.h"
#include "pin.h"
#include "virt-jobs.h"

static char *last_error(void) {
        const char *e = virGetLastErrorMessage();
        return strdup(e ? e : "unknown libvirt error");
}

VirtFetch *virt_fetch_new(virDomainPtr dom, const Placement *applied, const Placement *plan, unsigned n_nodes,
                          unsigned cpus) {
        _cleanup_(virt_fetch_freep) VirtFetch *f = calloc(1, sizeof(VirtFetch));
        const char *name = virDomainGetName(dom); /* both kept by the handle: no call to libvirtd */
        if (!f || !name || virDomainGetUUIDString(dom, f->uuid) < 0)
                return NULL;
        f->name = strdup(name);
        f->applied = applied ? placement_copy(applied, n_nodes) : NULL;
        f->plan = plan ? placement_copy(plan, n_nodes) : NULL;
        if (!f->name || (applied && !f->applied) || (plan && !f->plan))
                return NULL;
        virDomainRef(dom);
        f->dom = dom;
        f->cpus = cpus;
        f->active = f->applied_differs = f->plan_matches = -1;
        return TAKE_PTR(f);
}

/* A domain busy with another client's job can make any of these wait (libvirt's job timeout
 * is 30 s): that is why they run here. */
void virt_fetch_run(WorkerJob *job) {
        VirtFetch *f = (VirtFetch *) job;
        f->active = virDomainIsActive(f->dom);
        if (f->active == 0)
                return; /* stopped meanwhile: its STOPPED event says the rest */
        f->xml = virDomainGetXMLDesc(f->dom, 0);
        if (!f->xml)
                f->error = last_error();
        _cleanup_free_ char *error = NULL;
        if (f->applied) {
                int r = pin_verify(f->dom, f->applied, f->cpus, &error);
                /* Only a difference libvirt showed counts, not a call that failed. */
                f->applied_differs = r == -ESTALE ? 1 : r == 0 ? 0 : -1;
        }
        if (f->plan && !f->plan->adopted) {
                free(error);
                error = NULL;
                int r = pin_verify(f->dom, f->plan, f->cpus, &error);
                f->plan_matches = r == 0 ? 1 : r == -ESTALE ? 0 : -1;
        }
}

void virt_fetch_free(VirtFetch *f) {
        if (!f)
                return;
        if (f->dom)
                virDomainFree(f->dom);
        placement_free(f->applied);
        placement_free(f->plan);
        free(f->name);
        free(f->xml);
        free(f->error);
        free(f);
}

VirtApply *virt_apply_new(virConnectPtr conn, const char *uuid, Placement *pl, unsigned cpus) {
        VirtApply *a = calloc(1, sizeof(VirtApply));
        if (!a) {
                placement_free(pl);
                return NULL;
        }
        virConnectRef(conn);
        a->conn = conn;
        snprintf(a->uuid, sizeof(a->uuid), "%s", uuid);
        a->pl = pl;
        a->cpus = cpus;
        a->active = -1;
        return a;
}

void virt_apply_run(WorkerJob *job) {
        VirtApply *a = (VirtApply *) job;
        a->started = true;
        _cleanup_(virDomainFreep) virDomainPtr dom = virDomainLookupByUUIDString(a->conn, a->uuid);
        if (!dom) { /* gone, or the connection is: only the first says the domain stopped */
                virErrorPtr e = virGetLastError();
                bool gone = e && e->code == VIR_ERR_NO_DOMAIN;
                a->r = gone ? -ENOENT : -EIO;
                a->error = gone ? strdup("domain not found") : last_error();
                a->active = gone ? 0 : -1;
                return;
        }
        a->r = pin_apply(dom, a->pl, a->cpus, &a->error);
        if (a->r < 0)
                a->active = virDomainIsActive(dom);
}

void virt_apply_free(VirtApply *a) {
        if (!a)
                return;
        if (a->conn)
                virConnectClose(a->conn);
        placement_free(a->pl);
        free(a->error);
        free(a);
}

VirtList *virt_list_new(virConnectPtr conn) {
        VirtList *l = calloc(1, sizeof(VirtList));
        if (!l)
                return NULL;
        virConnectRef(conn);
        l->conn = conn;
        return l;
}

/* libvirtd holds a domain while its hook runs, and listing waits for every domain: the hook
 * must never wait for this. */
void virt_list_run(WorkerJob *job) {
        VirtList *l = (VirtList *) job;
        l->n = virConnectListAllDomains(l->conn, &l->doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
        if (l->n < 0)
                l->n = -EIO;
}

void virt_list_free(VirtList *l) {
        if (!l)
                return;
        for (int i = 0; i < l->n; i++)
                virDomainFree(l->doms[i]);
        free(l->doms);
        if (l->conn)
                virConnectClose(l->conn);
        free(l);
}

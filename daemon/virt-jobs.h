/* The libvirt calls kvmtuned makes, as worker jobs: reading a running domain, applying pins,
 * listing the running domains. Each job owns copies of what it needs (a domain or connection
 * reference, placements, the CPU map width) and touches nothing of the Manager: the loop reads
 * its results when it is done. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <libvirt/libvirt.h>

#include "macro.h"
#include "planner.h"
#include "worker.h"

/* What kvmtuned reads of a running domain before it decides about it. */
typedef struct VirtFetch {
        WorkerJob job;
        /* In: */
        virDomainPtr dom; /* a reference of the job's own */
        char *name;
        char uuid[VIR_UUID_STRING_BUFLEN];
        Placement *applied, *plan; /* the live pins are compared with these when not NULL */
        unsigned cpus;
        unsigned gen; /* the connection it was made on */
        uint64_t event_usec; /* when the event or reconcile that asked for it happened */
        int purpose; /* the caller's: what to do with the result */
        unsigned seq; /* the caller's: the domain's pin jobs when asked */
        /* Out: */
        int active; /* virDomainIsActive: 1, 0, or -1 when libvirt could not tell */
        char *xml; /* the live XML; NULL with error set when it could not be read */
        char *error;
        int applied_differs; /* 1: the live pins differ from applied, 0: they do not, -1: unknown */
        int plan_matches; /* 1: the live pins are plan's, 0: they are not, -1: unknown */
} VirtFetch;

/* Pins applied and read back. */
typedef struct VirtApply {
        WorkerJob job;
        virConnectPtr conn; /* a reference of the job's own */
        char uuid[VIR_UUID_STRING_BUFLEN];
        Placement *pl;
        unsigned cpus;
        unsigned gen;
        unsigned serial; /* the caller's: the record it is for */
        bool floating; /* the float placement of a refused or failed domain */
        bool started; /* set by the worker: its calls began */
        int r; /* pin_apply()'s */
        char *error;
        int active; /* after a failure: whether the domain still runs (1), else 0 or -1 */
} VirtApply;

/* The running domains. */
typedef struct VirtList {
        WorkerJob job;
        virConnectPtr conn;
        unsigned gen;
        uint64_t started_usec; /* domains seen after this are not in the list for certain */
        int n; /* negative errno when listing failed */
        virDomainPtr *doms;
} VirtList;

/* Each returns the job (NULL on ENOMEM), its inputs taken or copied. */
VirtFetch *virt_fetch_new(virDomainPtr dom, const Placement *applied, const Placement *plan, unsigned n_nodes,
                          unsigned cpus);
VirtApply *virt_apply_new(virConnectPtr conn, const char *uuid, Placement *pl, unsigned cpus);
VirtList *virt_list_new(virConnectPtr conn);

/* The WorkerRun of each: the libvirt calls, on a worker thread. */
void virt_fetch_run(WorkerJob *job);
void virt_apply_run(WorkerJob *job);
void virt_list_run(WorkerJob *job);

void virt_fetch_free(VirtFetch *f);
void virt_apply_free(VirtApply *a);
void virt_list_free(VirtList *l);

DEFINE_TRIVIAL_CLEANUP_FUNC(VirtFetch *, virt_fetch_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(virDomainPtr, virDomainFree)

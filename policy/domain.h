/* A libvirt domain XML turned into a placement request (libxml2 + XPath). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hwloc.h>

typedef struct GuestCell {
        unsigned id;
        hwloc_bitmap_t vcpus; /* guest vCPU numbers */
        uint64_t memory_kib;
} GuestCell;

/* How much of a domain's memory the host's live figures show in use. */
typedef enum MemoryUse {
        MEMORY_USE_NONE, /* not started (a hook admission): all of it is checked and booked */
        MEMORY_USE_STARTED, /* just started: hugepages taken (libvirt preallocates them), small pages
                             * as measured (none until then) */
        MEMORY_USE_ALL, /* running for a while (found running, planned again while it runs) */
} MemoryUse;

typedef struct DomainRequest {
        char *name;
        char *uuid; /* NULL when the XML has none (kvmtunectl plan accepts that) */
        char *virt_type; /* "kvm", "qemu", ... */
        unsigned vcpus; /* vCPUs online at start */
        unsigned max_vcpus; /* the <vcpu> count */
        unsigned guest_threads; /* <cpu><topology threads=>, 1 when absent */
        unsigned n_iothreads;
        unsigned *iothread_ids;
        uint64_t memory_kib; /* <memory> when hugepage-backed, else <currentMemory>, else <memory> */

        bool hugepages; /* <memoryBacking><hugepages> */
        uint64_t hugepage_kib; /* the size it names, 0: the host's default size */

        unsigned n_cells; /* guest NUMA cells */
        GuestCell *cells;

        bool explicit_pins; /* the XML pins vCPUs, emulator, iothreads or memory itself */
        hwloc_bitmap_t pinned_cpus; /* every host CPU those pins name */
        hwloc_bitmap_t pinned_nodes; /* <numatune><memory nodeset=>, empty if none */

        unsigned n_hostdevs;
        char (*hostdevs)[24]; /* PCI passthrough addresses, 0000:3b:00.0 (VMD domains: 10000:...) */

        char *metadata_class; /* <kvmtuned:policy class=...>, NULL if none */
        hwloc_bitmap_t dedicated_vcpus; /* mixed: vCPUs named dedicated; NULL if none named */

        /* Not from the XML: how much of its memory the daemon knows in use (out of the live free
         * figures) when it plans the domain; what is in use is booked as such and not checked. */
        MemoryUse memory_use;
} DomainRequest;

/* Parses a domain XML of len bytes. Returns 0 and *ret_request, -EINVAL with a malloc'd
 * one-line reason in *ret_error ("line 3: ...", "<vcpu> is not a number: x"), or -ENOMEM.
 * DTDs and entities are refused, network access is never made. */
int domain_parse(const char *xml, size_t len, DomainRequest **ret_request, char **ret_error);

/* The most domain XML kvmtuned reads (the hook, the control socket, the parser): generous for
 * libvirt's largest definitions, small enough that a request is bounded. */
#define DOMAIN_XML_MAX (4 * 1024 * 1024)
#define DOMAIN_XML_MAX_TEXT "4 MiB"

void domain_free(DomainRequest *d);

static inline void domain_freep(DomainRequest **d) {
        if (*d)
                domain_free(*d);
}

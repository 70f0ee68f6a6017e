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
        /* <memory> when hugepage-backed, else <currentMemory>, else <memory>; a <currentMemory> of 0
         * or above <memory> counts as <memory>, as libvirt. All sizes are KiB rounded up, as libvirt. */
        uint64_t memory_kib;
        /* <memory>: the most the guest can hold (a balloon can grow it back there from
         * <currentMemory>); memory_kib when the XML has no <memory>. A planner that binds memory
         * strictly to nodes (numatune strict, or the host's hugepages) must book max_memory_kib
         * there, not memory_kib: the kernel will not spill a strict guest's growth elsewhere. */
        uint64_t max_memory_kib;

        bool hugepages; /* <memoryBacking><hugepages> */
        uint64_t hugepage_kib; /* the size it names, 0: the host's default size */

        unsigned n_cells; /* guest NUMA cells */
        GuestCell *cells;

        /* The XML pins vCPUs (<vcpupin>, <vcpu cpuset=>), iothreads (<iothreadpin>) or memory
         * (<numatune><memory nodeset=>) itself. An <emulatorpin> alone does not count: the
         * planner places such a domain's vCPUs and keeps its emulator_pins. */
        bool explicit_pins;
        hwloc_bitmap_t pinned_cpus; /* every host CPU the pins name, <emulatorpin> included */
        hwloc_bitmap_t emulator_pins; /* <cputune><emulatorpin cpuset=>, empty if none */
        hwloc_bitmap_t pinned_nodes; /* <numatune><memory nodeset=>, empty if none */
        /* <numatune><memory mode=>: "strict", "preferred", "interleave" or "restrictive";
         * "strict" when the element names none (libvirt's default, placement='auto' too);
         * NULL when the XML has no <numatune><memory>. */
        char *numatune_mode;

        unsigned n_hostdevs;
        char (*hostdevs)[24]; /* PCI passthrough addresses, 0000:3b:00.0 (VMD domains: 10000:...) */

        char *metadata_class; /* <kvmtuned:policy class=...>, NULL if none */
        hwloc_bitmap_t dedicated_vcpus; /* mixed: vCPUs named dedicated; NULL if none named */

        /* Not from the XML: how much of its memory the daemon knows in use (out of the live free
         * figures) when it plans the domain; what is in use is booked as such and not checked. */
        MemoryUse memory_use;
        /* Not from the XML: the nodes a running domain's memory is bound to strictly now (empty:
         * none). libvirt cannot change a strict binding while the domain runs, so a plan that
         * binds strictly keeps it on these nodes or refuses. */
        hwloc_bitmap_t stay_nodes;
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

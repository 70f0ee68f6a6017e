/* The placement planner: where every vCPU, emulator thread, iothread and page of guest memory
 * of each domain goes. Pure and deterministic: same topology, policy, allocations and request
 * give the same plan; it never touches the host. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <hwloc.h>

#include "config.h"
#include "domain.h"
#include "topology.h"

/* Read a vCPU's CPUs with placement_vcpu_cpus() or placement_vcpu_cpu(), never from the fields. */
typedef struct PlacedVcpu {
        unsigned vcpu;
        bool dedicated;
        int cpu; /* when cpus is NULL: the one CPU (kernel number) it holds */
        hwloc_bitmap_t cpus; /* NULL for a dedicated vCPU the planner placed (a set of its own would
                              * cost 1 KiB per vCPU on an 8192-CPU host); shared: the shared CPUs of
                              * its node(s), which may be the Placement's floating set itself (never
                              * free it alone); read back or adopted: its set */
} PlacedVcpu;

typedef struct PlacedIOThread {
        unsigned id;
        hwloc_bitmap_t cpus;
} PlacedIOThread;

typedef struct PlacedHugepages {
        unsigned node; /* kernel node number */
        uint64_t page_kib;
        uint64_t count;
} PlacedHugepages;

typedef struct Placement {
        char *name;
        const PolicyClass *cls;
        bool admitted;
        bool adopted; /* explicit pins respected: kvmtuned accounts it but changes nothing */
        char *reason; /* refused: one line naming the resource, needed and free */

        unsigned n_vcpus;
        PlacedVcpu *vcpus;
        hwloc_bitmap_t floating; /* when set, every shared vCPU's cpus is this one set (planned placements:
                                  * a 32-vCPU VM holds one copy, not 32); NULL: each vCPU owns its set */
        hwloc_bitmap_t emulator;
        bool own_emulator; /* emulator is the domain's own <emulatorpin>, kept as it is */
        bool over_ratio; /* it ran already and was kept above its Overcommit (explain says where) */
        unsigned n_iothreads;
        PlacedIOThread *iothreads;
        MemoryPolicy memory_mode;
        hwloc_bitmap_t memory_nodes; /* kernel node numbers */
        unsigned n_hugepages;
        PlacedHugepages *hugepages;

        char **explain; /* n_explain lines */
        unsigned n_explain;

        /* Accounting, private to the planner. */
        hwloc_bitmap_t held; /* CPUs it holds exclusively (kernel numbers) */
        unsigned *shared_vcpus; /* per node index */
        int shared_l3; /* CacheLocality=l3: the L3 (Topology.l3s index) of its node its shared vCPUs
                        * float in; -1: over the node's shared CPUs */
        uint64_t *memory_kib; /* small-page memory booked per node index */
        uint64_t hugepage_kib; /* page size of hugepages[] */
        /* What of its booked memory is in use already: the host's live figures show it used, so
         * only the rest is taken from them (against a recorded machine's totals all of it is). */
        uint64_t *in_use_kib; /* per node index, at most memory_kib */
        bool pages_in_use; /* its hugepages are out of the pools' free counts */
        uint64_t balloon_kib; /* booked (bound strictly at <memory>) but held by no running guest
                               * now: its balloon may grow back there, so never counted in use */
} Placement;

typedef struct Planner Planner;

/* Returns 0 and a planner for topology t and configuration c (both must outlive it), or -ENOMEM. */
int planner_new(const Topology *t, const Config *c, Planner **ret_planner);

void planner_free(Planner *p);

/* Says how much of the memory of the domain called name is in use: node_kib (per node index,
 * MEMORY_USE_STARTED only; NULL: not measured yet) is clamped to what it books. Booked memory
 * that is not in use is what placing subtracts from the live figures. Returns 0, or -ENOENT
 * when no admitted placement has that name. */
int planner_memory_use(Planner *p, const char *name, MemoryUse use, const uint64_t *node_kib);

/* Places the domain (or records why it cannot be placed) and returns its placement, owned by
 * the planner, in *ret_placement. A refusal is not an error: it returns 0 with admitted false.
 * Returns -EEXIST if a domain of that name is placed already, -ENOMEM. */
int planner_place(Planner *p, const DomainRequest *req, const Placement **ret_placement);

/* Re-enters a placement made earlier, by a previous run of kvmtuned or before a reload, exactly
 * as it was: nothing moves. spec is copied, with what of its memory is in use (none for one read
 * back from the allocations file: planner_memory_use says); its class is looked up by class_name
 * in the planner's configuration. Returns 0, -EEXIST if the name is placed already, -ENOENT if the
 * class no longer exists, -EBUSY if it would take CPUs another placement holds, -EINVAL if the
 * spec breaks what the planner guarantees (a file edited by hand), -ENOMEM. */
int planner_restore(Planner *p, const Placement *spec, const char *class_name, const Placement **ret_placement);

/* Gives back every resource of the domain. Returns 0, or -ENOENT if it is not known. */
int planner_release(Planner *p, const char *name);

/* Returns the placement of the domain called name, or NULL. */
const Placement *planner_find(const Planner *p, const char *name);

/* A hugepage size as the kernel and libvirt name it: "1G", "2M", "64K". */
void planner_format_page_size(uint64_t kib, char *buf, size_t len);

/* Placements in the order they were made; n in *ret_n. */
const Placement *const *planner_placements(const Planner *p, unsigned *ret_n);

/* Shared vCPUs float over the shared CPUs of their nodes, which dedicated placements made
 * since may have taken: brings every shared vCPU's CPU set up to date. Returns 0 or -ENOMEM. */
int planner_refresh_shared(Planner *p);

/* The usable CPUs that count as node index n's, into set: its local CPUs, and CPUs without
 * local memory for the first node of their package (else node 0). */
void planner_node_cpus(const Planner *p, unsigned node, hwloc_bitmap_t set);

/* The shared CPUs of node index n right now, into set. */
void planner_shared_cpus(const Planner *p, unsigned node, hwloc_bitmap_t set);

/* Shared vCPUs placed on node index n. */
unsigned planner_shared_vcpus(const Planner *p, unsigned node);

/* CPUs held by dedicated vCPUs (and isolated helpers) of any domain, into set. */
void planner_held_cpus(const Planner *p, hwloc_bitmap_t set);

/* An empty placement for a host of n_nodes nodes, for a caller building a restore spec;
 * NULL on ENOMEM. */
Placement *placement_new(const char *name, unsigned n_nodes);

/* A deep copy of spec (a placement of a host of n_nodes nodes) the caller owns, without its class
 * (cls NULL: a copy may outlive the configuration); NULL on ENOMEM. */
Placement *placement_copy(const Placement *spec, unsigned n_nodes);

/* vCPU v's CPUs (kernel numbers), into set. */
void placement_vcpu_cpus(const Placement *pl, unsigned v, hwloc_bitmap_t set);

/* Adds vCPU v's CPUs to set. */
void placement_vcpu_add(const Placement *pl, unsigned v, hwloc_bitmap_t set);

/* Returns vCPU v's CPUs as a cpulist ("2,5-7") the caller frees, or NULL on ENOMEM. */
char *placement_vcpu_cpulist(const Placement *pl, unsigned v);

/* Returns the one CPU vCPU v runs on (kernel number), or -1 when its set holds several or none. */
int placement_vcpu_cpu(const Placement *pl, unsigned v);

/* Whether a and b pin the same way: every vCPU, the emulator and every iothread on the same
 * CPUs, memory of the same mode on the same nodes. */
bool placement_pins_equal(const Placement *a, const Placement *b);

/* Frees a placement the caller owns (a spec); the planner frees its own on release. */
void placement_free(Placement *pl);

static inline void placement_freep(Placement **pl) {
        if (*pl)
                placement_free(*pl);
}

static inline void planner_freep(Planner **p) {
        if (*p)
                planner_free(*p);
}

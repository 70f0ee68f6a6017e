/* The planner's rooms share this: the host model, what is booked, and each room's functions.
 * Not a public interface: planner.h is. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "planner.h"

#define NO_LIMIT UINT64_MAX
#define MAX_PAGE_SIZES 8

/* One (L3 domain, NUMA node) pair: the unit of cache locality. Under sub-NUMA clustering an
 * L3 spans several nodes and each pair is one cluster; usually a pair is simply an L3. */
typedef struct Pair {
        int l3, node;
        unsigned n_cores;
        unsigned *cores;
} Pair;

typedef struct PageUse {
        uint64_t page_kib;
        uint64_t count; /* booked */
        uint64_t in_use; /* of which taken from the pools already (running domains) */
} PageUse;

struct Planner {
        const Topology *t;
        const Config *c;

        int *core_home; /* node index per core; memoryless CPUs go to the first node of their package */
        unsigned *core_cpu0; /* CSR: cpu indexes of core k are core_cpus[core_cpu0[k] .. core_cpu0[k+1]) */
        unsigned *core_cpus;
        unsigned n_pairs;
        Pair *pairs;
        unsigned *node_pair0; /* CSR over pairs sorted by node */
        unsigned *node_pairs;
        unsigned *node_core0; /* CSR: cores whose home is node n */
        unsigned *node_cores;
        uint64_t *distance; /* n_nodes x n_nodes, synthesized when the host reports none */

        uint8_t *dedicated_pool, *shared_pool, *perf_kind, *eff_kind; /* per cpu index */
        bool kinds_differ;
        uint8_t *held; /* per cpu index: held by a dedicated placement */
        uint16_t *pinned; /* per cpu index: explicit pins of adopted domains naming it */
        uint8_t *cpu_free; /* per cpu index: in the dedicated pool, neither held nor pinned (plan-book.c) */
        unsigned *core_free; /* per core: its cpu_free CPUs, so placing need not count them again */
        bool kinds_split_cores; /* some core has CPUs of both kinds: count those per CPU */
        hwloc_bitmap_t held_set;

        unsigned *node_shared_cpus; /* per node: CPUs shared_cpu_free() (kept by plan-book.c) */
        double *node_limit; /* per node: the strictest Overcommit of its shared placements, 0: none */
        unsigned *node_shared_vcpus; /* shared vCPUs booked per node (a VM over several nodes has a
                                      * group of vCPUs pinned on each) */
        uint64_t *node_small_kib; /* small-page memory placed per node */
        uint64_t *node_in_use_kib; /* of which in use already (in the live figures) */
        PageUse *node_pages; /* n_nodes x MAX_PAGE_SIZES */

        Placement **placements;
        unsigned n_placements, alloc_placements;
        uint64_t *name_hashes; /* per placement, a hash of its name (plan-book.c): finding one compares these */

        /* Scratch, sized once: per core units, per pair units, per node units and capacities. */
        unsigned *core_units, *pair_units, *node_units, *node_cap, *node_take, *order;
        unsigned *set_room; /* per member of a set of nodes (not per node): its room for shared vCPUs */
        uint8_t *eligible;
        unsigned group; /* the placement being made: Need.group */
        uint8_t *pair_near; /* the placement being made: per pair, in its devices' locality */
        uint8_t *pair_fast; /* per pair: it has CPUs of the performance kind (when kinds differ) */
        unsigned *pair_shared_vcpus; /* per pair: shared vCPUs floating in it alone (CacheLocality=l3) */
};

/* What a request asks of the host. */
typedef struct Need {
        const PolicyClass *cls;
        unsigned n_dedicated; /* dedicated vCPUs plus isolated helper CPUs */
        unsigned n_extra; /* of which isolated emulator / iothread CPUs */
        unsigned n_shared; /* shared vCPUs */
        uint64_t memory_kib;
        unsigned group; /* guest SMT: sibling vCPUs to put on one host core together (1: none) */
        bool running; /* the domain runs already (re-planned, found running): kept above a ratio */
        uint64_t balloon_kib; /* of memory_kib, what a deflated balloon gives back to the host now */
        MemoryUse memory_use; /* DomainRequest.memory_use (live figures only; else NONE): what is in use is
                               * booked as such and not checked */
        uint64_t page_kib; /* 0: small pages */
        int prefer_node; /* NearDevices: node index of the passthrough devices, -1 */
        hwloc_const_bitmap_t stay; /* a running domain bound strictly: its nodes (kernel numbers), else NULL */
        hwloc_const_bitmap_t near_cpus; /* NearDevices: the CPUs local to the first such device, NULL */
} Need;

/* ---- placement.c: the record ---------------------------------------------------------- */

/* Adds a line to pl's explanation. Returns 0 or -ENOMEM. */
int placement_explain(Placement *pl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Refuses pl with a one-line reason. Returns 0 (refused) or -ENOMEM. */
int placement_refuse(Placement *pl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- plan-setup.c: the host as the planner sees it ------------------------------------- */

/* Builds the cores, pairs (with their pair_near, pair_fast and pair_shared_vcpus arrays),
 * distances and CPU kinds of p->t into p, whose per-CPU arrays (perf_kind, eff_kind...) are
 * allocated already. Returns 0 or -ENOMEM. */
int setup_host(Planner *p);

/* ---- plan-memory.c: memory and hugepages --------------------------------------------- */

/* "8 GiB", "1.5 GiB", "512 MiB" into buf. */
void memory_format_kib(uint64_t kib, char *buf, size_t len);
/* Whether the nodes' free memory was read from the live host (else only totals are known). */
bool memory_live_figures(const Topology *t);
/* Small-page memory still free on node n in KiB, NO_LIMIT when the host has no figures. */
uint64_t memory_node_free_kib(const Planner *p, unsigned n);
/* Hugepages of page_kib node n can still give, NO_LIMIT when the host has no figures. */
uint64_t memory_node_free_pages(const Planner *p, unsigned n, uint64_t page_kib);
/* Whether node n can hold kib of the request's memory. */
bool memory_fits(const Planner *p, const Need *need, unsigned n, uint64_t kib);
/* Whether any node has memory figures. */
bool memory_known(const Planner *p);
/* Memory share of a node when take of total units land there, rounded up. */
uint64_t memory_share(const Need *need, unsigned take, unsigned total);
/* Returns the most units (at most most, and at most units) whose memory_share() node n holds. */
unsigned memory_units(const Planner *p, const Need *need, unsigned n, unsigned units, unsigned most);
/* The hugepage size the request gets (0: small pages) in *ret_page_kib. Returns 0 or -ENOMEM. */
int memory_pick_page_size(Planner *p, const DomainRequest *req, const PolicyClass *cls, Placement *pl,
                          uint64_t *ret_page_kib);
/* Adds (sign 1) or takes back (sign -1) the memory pl books. */
void memory_book(Planner *p, const Placement *pl, int sign);
/* Makes room in pl for the hugepage entries memory_split writes: one per node taken, none
 * without hugepages (a 128-node host's per-node array was a tenth of placing). Returns 0 or -ENOMEM. */
int memory_reserve_pages(Planner *p, const Need *need, Placement *pl);
/* Splits the request's memory over node_take[] in proportion and fills pl with it (not booked). */
void memory_split(Planner *p, const Need *need, Placement *pl);

/* ---- plan-shared.c: the shared pool and Overcommit ------------------------------------ */

/* Whether CPU index i is a shared CPU right now: in the shared pool, not held, not pinned. */
bool shared_cpu_free(const Planner *p, unsigned i);
/* Keeps node_limit[] in step as pl (with shared vCPUs) is booked (sign 1) or given back (-1). */
void shared_update_limits(Planner *p, const Placement *pl, int sign);
/* Shared CPUs of node n right now (not held, not pinned by an adopted domain). */
unsigned shared_cpu_count(const Planner *p, unsigned node);
/* Shared vCPUs node n carries. */
unsigned shared_node_load(const Planner *p, unsigned n);
/* The strictest Overcommit of the shared placements on node n, 0 for none. */
double shared_node_limit(const Planner *p, unsigned n);
/* The pair (L3 group of a node) pl's shared vCPUs float in, -1: its nodes' shared CPUs. */
int shared_pair_of(const Planner *p, const Placement *pl);
/* The CPUs pl's shared vCPUs float over now, into set: the shared CPUs of its L3 group
 * (CacheLocality=l3), else of its nodes. */
void shared_float_cpus(const Planner *p, const Placement *pl, hwloc_bitmap_t set);
/* Whether pl's shared vCPUs span nodes, and so are pinned in groups, one per node. */
bool shared_vcpus_grouped(const Planner *p, const Placement *pl);
/* Sets the CPUs of pl's shared vCPUs, each of which owns its set (pl->floating is NULL): over
 * several nodes, in vCPU order, as many on each node as it booked there, each group over its
 * node's shared CPUs; else all over shared_float_cpus(). Each set is computed once per group. */
void shared_vcpu_sets(const Planner *p, Placement *pl);
/* Shared CPUs of a pair right now. */
unsigned shared_pair_cpus(const Planner *p, unsigned pair);
/* Shared CPUs node n can give to dedicated vCPUs within its ratio; UINT32_MAX when no shared
 * vCPU is there. */
unsigned shared_spare_cpus(const Planner *p, unsigned n);
/* Places the shared vCPUs. Returns 1 placed, 0 refused (the reason in pl->reason), or -ENOMEM. */
int shared_place(Planner *p, const Need *need, Placement *pl, unsigned dedicated_nodes);

/* ---- plan-search.c: which nodes ------------------------------------------------------- */

/* Whether a set of count nodes giving take[i] of units each can hold the request (memory, ratios);
 * it may change the takes (shared vCPUs spread in proportion to the nodes' CPUs). */
typedef bool (*SetFits)(Planner *p, const Need *need, const unsigned *nodes, unsigned *take, unsigned count,
                        unsigned units);

/* Picks the nodes and how many units each gives (node_take[]) for units under the per-node
 * cap[]: one node by best fit (near the devices first), else the fewest nodes, and of those the
 * set with the smallest sum of distances between its members. Returns the number of nodes
 * (listed in ret_nodes, room for n_nodes), 0 when nothing fits. */
unsigned search_nodes(Planner *p, const Need *need, unsigned units, const unsigned *cap, bool one_only, SetFits fits,
                      unsigned *ret_nodes);
/* search_nodes without the one node: two nodes or more. */
unsigned search_span(Planner *p, const Need *need, unsigned units, const unsigned *cap, SetFits fits,
                     unsigned *ret_nodes);

/* ---- plan-dedicated.c: dedicated CPUs ------------------------------------------------- */

/* Chooses and takes the dedicated CPUs into cpus[] and held. Returns 1 placed, 0 refused (the
 * reason in pl->reason), or -ENOMEM. */
int dedicated_place(Planner *p, const Need *need, Placement *pl, unsigned *cpus, unsigned *n_cpus, hwloc_bitmap_t held);

/* ---- plan-refuse.c: refusals that must be true ----------------------------------------- */

/* Refuses a dedicated request for want units when the host gives only have (free_units before
 * the shared vCPUs' reserve): says which. Returns 0 or -ENOMEM. */
int refuse_dedicated(Planner *p, const Need *need, Placement *pl, unsigned want, unsigned have, unsigned free_units);
/* The name of a dedicated unit under the class's thread policy ("CPUs", "whole cores, ..."). */
const char *dedicated_unit_name(const PolicyClass *cls);
/* Refuses pl for memory when CPUs fit (cap[n]: the units node n has room for, units wanted):
 * names the node that is short. Returns 0 or -ENOMEM. */
int refuse_memory(Planner *p, const Need *need, Placement *pl, const unsigned *cap, unsigned units);

/* ---- plan-book.c: booking ------------------------------------------------------------- */

/* Marks the CPUs of set held (value 1) or free (0) while a placement is being made. */
void book_mark_held(Planner *p, hwloc_const_bitmap_t set, uint8_t value);
/* Books (sign 1) or gives back (sign -1) everything an admitted placement holds: its CPUs, its
 * shared vCPUs per node and its memory. The one place placing, restoring and releasing count. */
void book_placement(Planner *p, const Placement *pl, int sign);
/* Returns the index of the placement named name in p->placements, -ENOENT if there is none. */
int book_find(const Planner *p, const char *name);
/* Appends pl to the planner's placements, which own it from then on. Returns 0 or -ENOMEM. */
int book_enter(Planner *p, Placement *pl);
/* Takes placement i out of p->placements (after book_placement(-1)); the caller frees it. */
void book_leave(Planner *p, unsigned i);

/* ---- plan-adopt.c: domains that pin themselves ------------------------------------------ */

/* Records the domain's own pins, binding and memory in pl (admitted, adopted; not booked).
 * Returns 0 or -ENOMEM. */
int adopt_place(Planner *p, const DomainRequest *req, Placement *pl);

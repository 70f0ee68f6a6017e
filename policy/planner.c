/* The placement planner: pure, deterministic placement of domains on the host model. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpulist.h"
#include "macro.h"
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
        hwloc_bitmap_t held_set;

        unsigned *node_shared_vcpus;
        uint64_t *node_small_kib; /* small-page memory placed per node */
        uint64_t *node_in_use_kib; /* of which in use already (in the live figures) */
        PageUse *node_pages; /* n_nodes x MAX_PAGE_SIZES */

        Placement **placements;
        unsigned n_placements, alloc_placements;

        /* Scratch, sized once: per core units, per pair units, per node units and capacities. */
        unsigned *core_units, *pair_units, *node_units, *node_cap, *node_take, *order;
        uint8_t *eligible;
};

/* What a request asks of the host. */
typedef struct Need {
        const PolicyClass *cls;
        unsigned n_dedicated; /* dedicated vCPUs plus isolated helper CPUs */
        unsigned n_extra; /* of which isolated emulator / iothread CPUs */
        unsigned n_shared; /* shared vCPUs */
        uint64_t memory_kib;
        MemoryUse memory_use; /* DomainRequest.memory_use (live figures only; else NONE): what is in use is
                               * booked as such and not checked */
        uint64_t page_kib; /* 0: small pages */
        int prefer_node; /* NearDevices: node index of the passthrough devices, -1 */
} Need;

static int explain(Placement *pl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int explain(Placement *pl, const char *fmt, ...) {
        char **lines = realloc(pl->explain, (pl->n_explain + 1) * sizeof(char *));
        if (!lines)
                return -ENOMEM;
        pl->explain = lines;
        va_list ap;
        va_start(ap, fmt);
        int r = vasprintf(&lines[pl->n_explain], fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        pl->n_explain++;
        return 0;
}

static int refuse(Placement *pl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int refuse(Placement *pl, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        int r = vasprintf(&pl->reason, fmt, ap);
        va_end(ap);
        pl->admitted = false;
        return r < 0 ? -ENOMEM : 0;
}

static void format_kib(uint64_t kib, char *buf, size_t len) {
        if (kib >= 1024 * 1024 && kib % (1024 * 1024) == 0)
                snprintf(buf, len, "%" PRIu64 " GiB", kib / (1024 * 1024));
        else if (kib >= 1024 * 1024)
                snprintf(buf, len, "%.1f GiB", (double) kib / (1024 * 1024));
        else if (kib >= 1024)
                snprintf(buf, len, "%" PRIu64 " MiB", kib / 1024);
        else
                snprintf(buf, len, "%" PRIu64 " KiB", kib);
}

void planner_format_page_size(uint64_t kib, char *buf, size_t len) {
        if (kib % (1024 * 1024) == 0)
                snprintf(buf, len, "%" PRIu64 "G", kib / (1024 * 1024));
        else if (kib % 1024 == 0)
                snprintf(buf, len, "%" PRIu64 "M", kib / 1024);
        else
                snprintf(buf, len, "%" PRIu64 "K", kib);
}

/* ---- Setup ---------------------------------------------------------------------------- */

static int setup_cores(Planner *p) {
        const Topology *t = p->t;
        p->core_home = malloc(t->n_cores * sizeof(int));
        p->core_cpu0 = calloc(t->n_cores + 1, sizeof(unsigned));
        p->core_cpus = malloc(t->n_cpus * sizeof(unsigned));
        if (!p->core_home || !p->core_cpu0 || !p->core_cpus)
                return -ENOMEM;

        for (unsigned i = 0; i < t->n_cpus; i++)
                p->core_cpu0[t->cpus[i].core + 1]++;
        for (unsigned k = 0; k < t->n_cores; k++)
                p->core_cpu0[k + 1] += p->core_cpu0[k];
        _cleanup_free_ unsigned *fill = calloc(t->n_cores, sizeof(unsigned));
        if (!fill)
                return -ENOMEM;
        for (unsigned i = 0; i < t->n_cpus; i++) {
                unsigned k = (unsigned) t->cpus[i].core;
                p->core_cpus[p->core_cpu0[k] + fill[k]++] = i;
        }

        for (unsigned k = 0; k < t->n_cores; k++) {
                int home = t->cores[k].node;
                /* CPUs without local memory belong to the first node of their package, else node 0. */
                for (unsigned n = 0; home < 0 && n < t->n_nodes; n++)
                        if (hwloc_bitmap_intersects(t->nodes[n].cpuset, t->packages[t->cores[k].package].cpuset))
                                home = (int) n;
                p->core_home[k] = home < 0 ? 0 : home;
        }

        unsigned n_nodes = t->n_nodes ? t->n_nodes : 1;
        p->node_core0 = calloc(n_nodes + 1, sizeof(unsigned));
        p->node_cores = malloc(t->n_cores * sizeof(unsigned));
        _cleanup_free_ unsigned *node_fill = calloc(n_nodes, sizeof(unsigned));
        if (!p->node_core0 || !p->node_cores || !node_fill)
                return -ENOMEM;
        for (unsigned k = 0; k < t->n_cores; k++)
                p->node_core0[p->core_home[k] + 1]++;
        for (unsigned n = 0; n < n_nodes; n++)
                p->node_core0[n + 1] += p->node_core0[n];
        for (unsigned k = 0; k < t->n_cores; k++) {
                unsigned n = (unsigned) p->core_home[k];
                p->node_cores[p->node_core0[n] + node_fill[n]++] = k;
        }
        return 0;
}

static int setup_pairs(Planner *p) {
        const Topology *t = p->t;
        unsigned n_nodes = t->n_nodes ? t->n_nodes : 1;
        size_t keys = (size_t) (t->n_l3s + 1) * n_nodes;
        _cleanup_free_ int *pair_of_key = malloc(keys * sizeof(int));
        _cleanup_free_ unsigned *pair_of_core = malloc(t->n_cores * sizeof(unsigned));
        p->pairs = calloc(t->n_cores, sizeof(Pair));
        if (!pair_of_key || !pair_of_core || !p->pairs)
                return -ENOMEM;
        for (size_t i = 0; i < keys; i++)
                pair_of_key[i] = -1;

        for (unsigned k = 0; k < t->n_cores; k++) {
                size_t key = (size_t) (t->cores[k].l3 + 1) * n_nodes + (size_t) p->core_home[k];
                if (pair_of_key[key] < 0) {
                        pair_of_key[key] = (int) p->n_pairs;
                        p->pairs[p->n_pairs++] = (Pair){ .l3 = t->cores[k].l3, .node = p->core_home[k] };
                }
                pair_of_core[k] = (unsigned) pair_of_key[key];
                p->pairs[pair_of_core[k]].n_cores++;
        }
        for (unsigned i = 0; i < p->n_pairs; i++) {
                p->pairs[i].cores = malloc(p->pairs[i].n_cores * sizeof(unsigned));
                if (!p->pairs[i].cores)
                        return -ENOMEM;
                p->pairs[i].n_cores = 0;
        }
        for (unsigned k = 0; k < t->n_cores; k++) {
                Pair *pair = &p->pairs[pair_of_core[k]];
                pair->cores[pair->n_cores++] = k;
        }

        p->node_pair0 = calloc(n_nodes + 1, sizeof(unsigned));
        p->node_pairs = malloc((p->n_pairs ? p->n_pairs : 1) * sizeof(unsigned));
        if (!p->node_pair0 || !p->node_pairs)
                return -ENOMEM;
        for (unsigned i = 0; i < p->n_pairs; i++)
                p->node_pair0[p->pairs[i].node + 1]++;
        for (unsigned n = 0; n < n_nodes; n++)
                p->node_pair0[n + 1] += p->node_pair0[n];
        _cleanup_free_ unsigned *fill = calloc(n_nodes, sizeof(unsigned));
        if (!fill)
                return -ENOMEM;
        for (unsigned i = 0; i < p->n_pairs; i++) {
                unsigned n = (unsigned) p->pairs[i].node;
                p->node_pairs[p->node_pair0[n] + fill[n]++] = i;
        }
        return 0;
}

/* hwloc's distance matrix, or one made from the package tree: 10 local, 20 same package, 30 apart. */
static int setup_distances(Planner *p) {
        const Topology *t = p->t;
        unsigned n = t->n_nodes;
        p->distance = malloc((size_t) (n ? n : 1) * (n ? n : 1) * sizeof(uint64_t));
        if (!p->distance)
                return -ENOMEM;
        for (unsigned a = 0; a < n; a++)
                for (unsigned b = 0; b < n; b++) {
                        uint64_t d;
                        if (t->nodes[a].distances)
                                d = t->nodes[a].distances[b];
                        else if (a == b)
                                d = 10;
                        else {
                                int ca = hwloc_bitmap_first(t->nodes[a].cpuset),
                                    cb = hwloc_bitmap_first(t->nodes[b].cpuset);
                                bool same = ca >= 0 && cb >= 0 &&
                                            topology_cpu(t, (unsigned) ca)->package ==
                                                    topology_cpu(t, (unsigned) cb)->package;
                                d = same ? 20 : 30;
                        }
                        p->distance[a * n + b] = d;
                }
        return 0;
}

/* CoreKind masks: hybrid hosts rank their kinds; hosts with L3 domains of different sizes
 * (V-cache, Zen5 + Zen5c) count the larger L3 as the performance domain. */
static void setup_kinds(Planner *p) {
        const Topology *t = p->t;
        for (unsigned i = 0; i < t->n_cpus; i++)
                p->perf_kind[i] = p->eff_kind[i] = 1;

        if (t->n_kinds > 1 && t->kinds[0].efficiency >= 0) {
                const TopoKind *fast = &t->kinds[t->n_kinds - 1], *slow = &t->kinds[0];
                for (unsigned i = 0; i < t->n_cpus; i++) {
                        p->perf_kind[i] = hwloc_bitmap_isset(fast->cpuset, t->cpus[i].os);
                        p->eff_kind[i] = hwloc_bitmap_isset(slow->cpuset, t->cpus[i].os);
                }
                p->kinds_differ = true;
                return;
        }
        uint64_t largest = 0, smallest = UINT64_MAX;
        for (unsigned l = 0; l < t->n_l3s; l++) {
                if (t->l3s[l].size_bytes > largest)
                        largest = t->l3s[l].size_bytes;
                if (t->l3s[l].size_bytes < smallest)
                        smallest = t->l3s[l].size_bytes;
        }
        if (t->n_l3s < 2 || largest == smallest)
                return;
        for (unsigned i = 0; i < t->n_cpus; i++) {
                int l3 = t->cpus[i].l3;
                uint64_t size = l3 >= 0 ? t->l3s[l3].size_bytes : 0;
                p->perf_kind[i] = size == largest;
                p->eff_kind[i] = size != largest;
        }
        p->kinds_differ = true;
}

int planner_new(const Topology *t, const Config *c, Planner **ret_planner) {
        _cleanup_(planner_freep) Planner *p = calloc(1, sizeof(Planner));
        if (!p)
                return -ENOMEM;
        p->t = t;
        p->c = c;
        unsigned n_nodes = t->n_nodes ? t->n_nodes : 1;

        p->dedicated_pool = calloc(t->n_cpus, 1);
        p->shared_pool = calloc(t->n_cpus, 1);
        p->perf_kind = calloc(t->n_cpus, 1);
        p->eff_kind = calloc(t->n_cpus, 1);
        p->held = calloc(t->n_cpus, 1);
        p->pinned = calloc(t->n_cpus, sizeof(uint16_t));
        p->eligible = calloc(t->n_cpus, 1);
        p->held_set = hwloc_bitmap_alloc();
        p->node_shared_vcpus = calloc(n_nodes, sizeof(unsigned));
        p->node_small_kib = calloc(n_nodes, sizeof(uint64_t));
        p->node_in_use_kib = calloc(n_nodes, sizeof(uint64_t));
        p->node_pages = calloc((size_t) n_nodes * MAX_PAGE_SIZES, sizeof(PageUse));
        p->core_units = calloc(t->n_cores, sizeof(unsigned));
        p->pair_units = calloc(t->n_cores, sizeof(unsigned));
        p->node_units = calloc(n_nodes, sizeof(unsigned));
        p->node_cap = calloc(n_nodes, sizeof(unsigned));
        p->node_take = calloc(n_nodes, sizeof(unsigned));
        p->order = calloc(t->n_cores > n_nodes ? t->n_cores : n_nodes, sizeof(unsigned));
        if (!p->dedicated_pool || !p->shared_pool || !p->perf_kind || !p->eff_kind || !p->held || !p->pinned ||
            !p->eligible || !p->held_set || !p->node_shared_vcpus || !p->node_small_kib || !p->node_in_use_kib ||
            !p->node_pages ||
            !p->core_units || !p->pair_units || !p->node_units || !p->node_cap || !p->node_take || !p->order)
                return -ENOMEM;

        for (unsigned i = 0; i < t->n_cpus; i++) {
                p->dedicated_pool[i] = hwloc_bitmap_isset(c->host.dedicated, t->cpus[i].os);
                p->shared_pool[i] = hwloc_bitmap_isset(c->host.shared, t->cpus[i].os);
        }
        int r = setup_cores(p);
        if (r >= 0)
                r = setup_pairs(p);
        if (r >= 0)
                r = setup_distances(p);
        if (r < 0)
                return r;
        setup_kinds(p);
        *ret_planner = TAKE_PTR(p);
        return 0;
}

void placement_free(Placement *pl) {
        if (!pl)
                return;
        free(pl->name);
        free(pl->reason);
        for (unsigned i = 0; i < pl->n_vcpus; i++)
                hwloc_bitmap_free(pl->vcpus[i].cpus);
        free(pl->vcpus);
        hwloc_bitmap_free(pl->emulator);
        for (unsigned i = 0; i < pl->n_iothreads; i++)
                hwloc_bitmap_free(pl->iothreads[i].cpus);
        free(pl->iothreads);
        hwloc_bitmap_free(pl->memory_nodes);
        free(pl->hugepages);
        for (unsigned i = 0; i < pl->n_explain; i++)
                free(pl->explain[i]);
        free(pl->explain);
        hwloc_bitmap_free(pl->held);
        free(pl->shared_vcpus);
        free(pl->memory_kib);
        free(pl->in_use_kib);
        free(pl);
}

Placement *placement_new(const char *name, unsigned n_nodes) {
        _cleanup_(placement_freep) Placement *pl = calloc(1, sizeof(Placement));
        if (!pl)
                return NULL;
        n_nodes = n_nodes ? n_nodes : 1;
        pl->name = strdup(name);
        pl->held = hwloc_bitmap_alloc();
        pl->memory_nodes = hwloc_bitmap_alloc();
        pl->emulator = hwloc_bitmap_alloc();
        pl->shared_vcpus = calloc(n_nodes, sizeof(unsigned));
        pl->memory_kib = calloc(n_nodes, sizeof(uint64_t));
        pl->in_use_kib = calloc(n_nodes, sizeof(uint64_t));
        if (!pl->name || !pl->held || !pl->memory_nodes || !pl->emulator || !pl->shared_vcpus || !pl->memory_kib ||
            !pl->in_use_kib)
                return NULL;
        return TAKE_PTR(pl);
}

void planner_free(Planner *p) {
        if (!p)
                return;
        for (unsigned i = 0; i < p->n_placements; i++)
                placement_free(p->placements[i]);
        free(p->placements);
        for (unsigned i = 0; i < p->n_pairs; i++)
                free(p->pairs[i].cores);
        free(p->pairs);
        free(p->core_home);
        free(p->core_cpu0);
        free(p->core_cpus);
        free(p->node_pair0);
        free(p->node_pairs);
        free(p->node_core0);
        free(p->node_cores);
        free(p->distance);
        free(p->dedicated_pool);
        free(p->shared_pool);
        free(p->perf_kind);
        free(p->eff_kind);
        free(p->held);
        free(p->pinned);
        free(p->eligible);
        hwloc_bitmap_free(p->held_set);
        free(p->node_shared_vcpus);
        free(p->node_small_kib);
        free(p->node_in_use_kib);
        free(p->node_pages);
        free(p->core_units);
        free(p->pair_units);
        free(p->node_units);
        free(p->node_cap);
        free(p->node_take);
        free(p->order);
        free(p);
}

/* ---- Pools and memory ------------------------------------------------------------------ */

static bool cpu_is_shared(const Planner *p, unsigned i) {
        return p->shared_pool[i] && !p->held[i] && !p->pinned[i];
}

void planner_node_cpus(const Planner *p, unsigned node, hwloc_bitmap_t set) {
        hwloc_bitmap_zero(set);
        if (node >= (p->t->n_nodes ? p->t->n_nodes : 1))
                return;
        for (unsigned c = p->node_core0[node]; c < p->node_core0[node + 1]; c++) {
                unsigned k = p->node_cores[c];
                for (unsigned j = p->core_cpu0[k]; j < p->core_cpu0[k + 1]; j++)
                        hwloc_bitmap_set(set, p->t->cpus[p->core_cpus[j]].os);
        }
}

void planner_shared_cpus(const Planner *p, unsigned node, hwloc_bitmap_t set) {
        hwloc_bitmap_zero(set);
        for (unsigned c = p->node_core0[node]; c < p->node_core0[node + 1]; c++) {
                unsigned k = p->node_cores[c];
                for (unsigned j = p->core_cpu0[k]; j < p->core_cpu0[k + 1]; j++)
                        if (cpu_is_shared(p, p->core_cpus[j]))
                                hwloc_bitmap_set(set, p->t->cpus[p->core_cpus[j]].os);
        }
}

static unsigned shared_cpu_count(const Planner *p, unsigned node) {
        unsigned n = 0;
        for (unsigned c = p->node_core0[node]; c < p->node_core0[node + 1]; c++) {
                unsigned k = p->node_cores[c];
                for (unsigned j = p->core_cpu0[k]; j < p->core_cpu0[k + 1]; j++)
                        n += cpu_is_shared(p, p->core_cpus[j]);
        }
        return n;
}

unsigned planner_shared_vcpus(const Planner *p, unsigned node) {
        return p->node_shared_vcpus[node];
}

void planner_held_cpus(const Planner *p, hwloc_bitmap_t set) {
        hwloc_bitmap_copy(set, p->held_set);
}

/* The strictest Overcommit of the shared placements on node n, 0 for none. */
static double node_ratio_limit(const Planner *p, unsigned n) {
        double limit = 0;
        for (unsigned i = 0; i < p->n_placements; i++) {
                const Placement *pl = p->placements[i];
                if (pl->admitted && pl->shared_vcpus && pl->shared_vcpus[n] && pl->cls->overcommit > 0 &&
                    (limit == 0 || pl->cls->overcommit < limit))
                        limit = pl->cls->overcommit;
        }
        return limit;
}

/* What a new domain can have on a node by the host's live figures, in KiB; -1: the host did not
 * report them (a recorded machine: only its total is known). */
static int64_t node_live_kib(const TopoNode *node) {
        if (node->available_bytes >= 0)
                return node->available_bytes / 1024;
        return node->free_bytes >= 0 ? node->free_bytes / 1024 : -1;
}

/* Whether the nodes' free memory was read from the live host (else only totals are known). */
static bool live_free_figures(const Topology *t) {
        for (unsigned n = 0; n < t->n_nodes; n++)
                if (node_live_kib(&t->nodes[n]) >= 0)
                        return true;
        return false;
}

/* Free pages of the existing page_kib pool of node n, as the host reported them (-1: the host
 * does not list that size). */
static int64_t node_pool_pages(const Planner *p, unsigned n, uint64_t page_kib) {
        const TopoNode *node = &p->t->nodes[n];
        for (unsigned i = 0; i < node->n_hugepages; i++)
                if (node->hugepages[i].page_kib == page_kib)
                        return node->hugepages[i].free >= 0
                                       ? node->hugepages[i].free
                                       : (node->hugepages[i].total > 0 ? node->hugepages[i].total : 0);
        return -1;
}

/* Booked pages of u that the node's figures still show (free in the live pools, or all of them
 * against a recorded pool size): the pages of running domains are out of the live pools. */
static uint64_t pages_to_come(const PageUse *u, bool live) {
        return live ? u->count - u->in_use : u->count;
}

/* Small-page memory still free on node n: the live figure less what is booked and not in use yet
 * (or the total less everything booked), less the hugepages booked beyond the free pools (pool
 * pages are not in the free figure). */
static uint64_t node_free_kib(const Planner *p, unsigned n) {
        const TopoNode *node = &p->t->nodes[n];
        int64_t live_kib = node_live_kib(node);
        bool live = live_kib >= 0;
        uint64_t have;
        if (live)
                have = (uint64_t) live_kib;
        else if (node->memory_bytes > 0)
                have = node->memory_bytes / 1024;
        else
                return NO_LIMIT;
        uint64_t used = p->node_small_kib[n] - (live ? p->node_in_use_kib[n] : 0);
        for (unsigned i = 0; i < MAX_PAGE_SIZES; i++) {
                const PageUse *u = &p->node_pages[n * MAX_PAGE_SIZES + i];
                int64_t pool = u->page_kib ? node_pool_pages(p, n, u->page_kib) : 0;
                uint64_t in_pool = pool > 0 ? (uint64_t) pool : 0, coming = pages_to_come(u, live);
                used += (coming > in_pool ? coming - in_pool : 0) * u->page_kib;
        }
        return used >= have ? 0 : have - used;
}

static PageUse *page_use(const Planner *p, unsigned n, uint64_t page_kib) {
        PageUse *u = &p->node_pages[n * MAX_PAGE_SIZES];
        for (unsigned i = 0; i < MAX_PAGE_SIZES; i++)
                if (u[i].page_kib == page_kib || u[i].page_kib == 0) {
                        u[i].page_kib = page_kib;
                        return &u[i];
                }
        return NULL;
}

/* Hugepages of page_kib that node n can still give: the free pool, plus (unless Hugepages=off)
 * what kvmtuned could reserve from free memory. NO_LIMIT when the host has no figures. */
static uint64_t node_free_pages(const Planner *p, unsigned n, uint64_t page_kib) {
        const TopoNode *node = &p->t->nodes[n];
        int64_t listed = node_pool_pages(p, n, page_kib);
        bool known = listed >= 0;
        uint64_t pool = known ? (uint64_t) listed : 0;
        if (!known && node->n_hugepages > 0)
                return 0; /* the host lists its sizes, and this is not one of them */
        uint64_t free_kib = node_free_kib(p, n);
        if (!known && free_kib == NO_LIMIT)
                return NO_LIMIT;

        /* Pages taken from the existing pool by plans; what plans need beyond it is already out
         * of free_kib, from which on-demand growth comes. */
        PageUse *u = page_use(p, n, page_kib);
        uint64_t used = u ? pages_to_come(u, node_live_kib(node) >= 0) : 0;
        uint64_t from_pool = pool > used ? pool - used : 0;
        if (p->c->host.hugepages == HUGEPAGES_OFF)
                return from_pool; /* kvmtuned never grows pools: only what the host has */
        if (free_kib == NO_LIMIT)
                return NO_LIMIT;
        return from_pool + free_kib / page_kib;
}

/* Whether node n can hold kib of the request's memory (always, when that memory is in use
 * already: the live figures show it used; the hugepages of a started domain are taken). */
static bool memory_fits(const Planner *p, const Need *need, unsigned n, uint64_t kib) {
        uint64_t page_kib = need->page_kib;
        if (need->memory_use == MEMORY_USE_ALL || (page_kib && need->memory_use == MEMORY_USE_STARTED))
                return true;
        if (page_kib == 0) {
                uint64_t free_kib = node_free_kib(p, n);
                return free_kib == NO_LIMIT || kib <= free_kib;
        }
        uint64_t pages = (kib + page_kib - 1) / page_kib;
        uint64_t free_pages = node_free_pages(p, n, page_kib);
        return free_pages == NO_LIMIT || pages <= free_pages;
}

static bool memory_known(const Planner *p) {
        for (unsigned n = 0; n < p->t->n_nodes; n++)
                if (node_free_kib(p, n) != NO_LIMIT)
                        return true;
        return false;
}

/* ---- Dedicated CPUs -------------------------------------------------------------------- */

/* CPUs a dedicated unit consumes under the thread policy: one thread (prefer), a whole core
 * (isolate), or a whole core that yields all its threads (require). Fills core_units with
 * the units each core offers, and eligible[] with the usable CPUs. */
static void count_units(Planner *p, const PolicyClass *cls) {
        const Topology *t = p->t;
        const uint8_t *kind = cls->core_kind == CORE_KIND_PERFORMANCE  ? p->perf_kind
                              : cls->core_kind == CORE_KIND_EFFICIENCY ? p->eff_kind
                                                                       : NULL;
        for (unsigned i = 0; i < t->n_cpus; i++)
                p->eligible[i] = p->dedicated_pool[i] && !p->held[i] && !p->pinned[i] && (!kind || kind[i]);

        for (unsigned k = 0; k < t->n_cores; k++) {
                unsigned free = 0, size = p->core_cpu0[k + 1] - p->core_cpu0[k];
                for (unsigned j = p->core_cpu0[k]; j < p->core_cpu0[k + 1]; j++)
                        free += p->eligible[p->core_cpus[j]];
                switch (cls->thread_policy) {
                case THREAD_POLICY_PREFER:
                        p->core_units[k] = free;
                        break;
                case THREAD_POLICY_ISOLATE:
                        p->core_units[k] = free == size;
                        break;
                case THREAD_POLICY_REQUIRE:
                        p->core_units[k] = free == size && size >= 2 ? size : 0;
                        break;
                }
        }
}

/* How many dedicated units node n may give without pushing its shared vCPUs over the
 * strictest Overcommit there (or leaving them no CPU at all). */
static unsigned node_budget(Planner *p, unsigned n, const PolicyClass *cls) {
        unsigned vcpus = p->node_shared_vcpus[n];
        if (vcpus == 0)
                return UINT32_MAX;
        double limit = node_ratio_limit(p, n);
        unsigned keep = limit > 0 ? (unsigned) ceil((double) vcpus / limit - 1e-9) : 1;
        unsigned shared = shared_cpu_count(p, n);
        unsigned spare = shared > keep ? shared - keep : 0;
        /* A unit costs one CPU, except under isolate, where it costs a whole core. */
        unsigned per_unit = cls->thread_policy == THREAD_POLICY_ISOLATE && p->t->smt_max ? p->t->smt_max : 1;
        return spare / per_unit;
}

static void sum_units(Planner *p, const PolicyClass *cls) {
        const Topology *t = p->t;
        memset(p->node_units, 0, t->n_nodes * sizeof(unsigned));
        for (unsigned i = 0; i < p->n_pairs; i++) {
                p->pair_units[i] = 0;
                for (unsigned j = 0; j < p->pairs[i].n_cores; j++)
                        p->pair_units[i] += p->core_units[p->pairs[i].cores[j]];
                p->node_units[p->pairs[i].node] += p->pair_units[i];
        }
        for (unsigned n = 0; n < t->n_nodes; n++) {
                unsigned budget = node_budget(p, n, cls);
                p->node_cap[n] = p->node_units[n] < budget ? p->node_units[n] : budget;
        }
}

static unsigned pair_cap(const Planner *p, unsigned pair) {
        unsigned node_cap = p->node_cap[p->pairs[pair].node];
        return p->pair_units[pair] < node_cap ? p->pair_units[pair] : node_cap;
}

/* Memory share of node n when take[n] of total units land there. */
static uint64_t memory_share(const Need *need, unsigned take, unsigned total) {
        if (total == 0)
                return 0;
        return (uint64_t) ((long double) need->memory_kib * take / total + 0.999999L);
}

/* Picks, in order of preference, the nodes and how many units each gives. Fills node_take;
 * returns the number of nodes used, or 0 when nothing fits. cap[] is per node. */
static unsigned choose_nodes(Planner *p, const Need *need, unsigned units, const unsigned *cap, bool one_only,
                             unsigned *ret_nodes) {
        const Topology *t = p->t;
        unsigned n_nodes = t->n_nodes;
        memset(p->node_take, 0, n_nodes * sizeof(unsigned));

        /* One node: best fit (the smallest capacity that holds it), near the devices first. */
        int best = -1;
        for (unsigned n = 0; n < n_nodes; n++) {
                if (cap[n] < units || !memory_fits(p, need, n, need->memory_kib))
                        continue;
                bool near = (int) n == need->prefer_node, best_near = best >= 0 && best == need->prefer_node;
                if (best < 0 || (near && !best_near) || (near == best_near && cap[n] < cap[best]))
                        best = (int) n;
        }
        if (best >= 0) {
                p->node_take[best] = units;
                ret_nodes[0] = (unsigned) best;
                return 1;
        }
        if (one_only)
                return 0;

        /* Several nodes: from each start node add the closest ones until the units fit; keep the
         * set with the fewest nodes, then the smallest total distance, then the lowest start. */
        unsigned best_count = 0;
        uint64_t best_dist = UINT64_MAX;
        _cleanup_free_ unsigned *order = malloc(n_nodes * sizeof(unsigned));
        _cleanup_free_ unsigned *take = malloc(n_nodes * sizeof(unsigned));
        if (!order || !take)
                return 0;
        for (unsigned s = 0; s < n_nodes; s++) {
                if (cap[s] == 0)
                        continue;
                /* Insertion sort of the other nodes by distance from s, index breaking ties. */
                unsigned m = 0;
                for (unsigned n = 0; n < n_nodes; n++) {
                        if (cap[n] == 0)
                                continue;
                        unsigned j = m++;
                        while (j > 0) {
                                unsigned prev = order[j - 1];
                                uint64_t dp = prev == s ? 0 : p->distance[s * n_nodes + prev];
                                uint64_t dn = n == s ? 0 : p->distance[s * n_nodes + n];
                                if (dp < dn || (dp == dn && prev < n))
                                        break;
                                order[j] = prev;
                                j--;
                        }
                        order[j] = n;
                }
                unsigned got = 0, count = 0;
                uint64_t dist = 0;
                for (unsigned i = 0; i < m && got < units; i++) {
                        unsigned n = order[i];
                        take[count] = cap[n] < units - got ? cap[n] : units - got;
                        ret_nodes[n_nodes + count] = n; /* scratch half of ret_nodes */
                        got += take[count];
                        dist += p->distance[s * n_nodes + n];
                        count++;
                }
                if (got < units)
                        break; /* every start sees the same total */
                bool fits = true;
                for (unsigned i = 0; i < count && fits; i++)
                        fits = memory_fits(p, need, ret_nodes[n_nodes + i], memory_share(need, take[i], units));
                if (!fits)
                        continue;
                if (best_count == 0 || count < best_count || (count == best_count && dist < best_dist)) {
                        best_count = count;
                        best_dist = dist;
                        memset(p->node_take, 0, n_nodes * sizeof(unsigned));
                        for (unsigned i = 0; i < count; i++) {
                                ret_nodes[i] = ret_nodes[n_nodes + i];
                                p->node_take[ret_nodes[i]] = take[i];
                        }
                }
        }
        return best_count;
}

/* Cores of a pair in the order the thread policy wants them: prefer fills the cores with the
 * most free threads first, so siblings go to the same VM; index order breaks ties. */
static unsigned ordered_cores(Planner *p, const Pair *pair) {
        unsigned m = 0;
        for (unsigned j = 0; j < pair->n_cores; j++) {
                unsigned k = pair->cores[j];
                if (p->core_units[k] == 0)
                        continue;
                unsigned i = m++;
                while (i > 0 && p->core_units[p->order[i - 1]] < p->core_units[k]) {
                        p->order[i] = p->order[i - 1];
                        i--;
                }
                p->order[i] = k;
        }
        return m;
}

/* Takes up to want units from a pair: appends the CPUs given to vCPUs to cpus[], marks every
 * CPU held (isolate also holds the idle siblings). Returns the units taken. */
static unsigned take_from_pair(Planner *p, const PolicyClass *cls, unsigned pair, unsigned want, unsigned *cpus,
                               unsigned *n_cpus, hwloc_bitmap_t held) {
        unsigned got = 0, m = ordered_cores(p, &p->pairs[pair]);
        for (unsigned o = 0; o < m && got < want; o++) {
                unsigned k = p->order[o];
                bool first = true;
                for (unsigned j = p->core_cpu0[k]; j < p->core_cpu0[k + 1] && got < want; j++) {
                        unsigned i = p->core_cpus[j];
                        if (!p->eligible[i])
                                continue;
                        if (cls->thread_policy == THREAD_POLICY_ISOLATE && !first) {
                                hwloc_bitmap_set(held, p->t->cpus[i].os); /* the idle sibling */
                                continue;
                        }
                        cpus[(*n_cpus)++] = i;
                        hwloc_bitmap_set(held, p->t->cpus[i].os);
                        got++;
                        first = false;
                }
                if (cls->thread_policy == THREAD_POLICY_ISOLATE)
                        for (unsigned j = p->core_cpu0[k]; j < p->core_cpu0[k + 1]; j++)
                                hwloc_bitmap_set(held, p->t->cpus[p->core_cpus[j]].os);
                if (cls->thread_policy == THREAD_POLICY_REQUIRE) /* an odd count leaves a sibling idle */
                        for (unsigned j = p->core_cpu0[k]; j < p->core_cpu0[k + 1]; j++)
                                hwloc_bitmap_set(held, p->t->cpus[p->core_cpus[j]].os);
        }
        for (unsigned i = 0; i < p->t->n_cpus; i++)
                if (hwloc_bitmap_isset(held, p->t->cpus[i].os))
                        p->eligible[i] = 0;
        return got;
}

/* Pairs of node n sorted by capacity, largest first (fewest L3 domains), index breaking ties. */
static unsigned node_pairs_by_cap(Planner *p, unsigned n, unsigned *out) {
        unsigned m = 0;
        for (unsigned j = p->node_pair0[n]; j < p->node_pair0[n + 1]; j++) {
                unsigned pair = p->node_pairs[j];
                if (p->pair_units[pair] == 0)
                        continue;
                unsigned i = m++;
                while (i > 0 && p->pair_units[out[i - 1]] < p->pair_units[pair]) {
                        out[i] = out[i - 1];
                        i--;
                }
                out[i] = pair;
        }
        return m;
}

static const char *unit_name(const PolicyClass *cls) {
        switch (cls->thread_policy) {
        case THREAD_POLICY_ISOLATE:
                return "whole cores, one vCPU each";
        case THREAD_POLICY_REQUIRE:
                return "threads of whole cores, in sibling pairs";
        default:
                return "CPUs";
        }
}

/* Chooses and takes the dedicated CPUs. Returns 1 placed, 0 refused (reason set), -ENOMEM. */
static int place_dedicated(Planner *p, const Need *need, Placement *pl, unsigned *cpus, unsigned *n_cpus,
                           hwloc_bitmap_t held) {
        const Topology *t = p->t;
        const PolicyClass *cls = need->cls;
        unsigned units = need->n_dedicated;
        if (cls->thread_policy == THREAD_POLICY_REQUIRE && t->smt_max < 2)
                return refuse(pl, "ThreadPolicy=require: this host has no SMT");

        count_units(p, cls);
        sum_units(p, cls);
        unsigned total = 0;
        for (unsigned n = 0; n < t->n_nodes; n++)
                total += p->node_cap[n];
        if (total < units)
                return refuse(pl, "host: needs %u dedicated %s, %u free%s", units, unit_name(cls), total,
                              cls->core_kind != CORE_KIND_ANY && p->kinds_differ ? " of the wanted core kind" : "");

        /* CacheLocality=l3: one (L3, node) pair that holds everything, best fit, near devices first. */
        if (cls->cache_locality == CACHE_LOCALITY_L3) {
                int best = -1;
                for (unsigned i = 0; i < p->n_pairs; i++) {
                        unsigned n = (unsigned) p->pairs[i].node;
                        if (pair_cap(p, i) < units || !memory_fits(p, need, n, need->memory_kib))
                                continue;
                        bool near = (int) n == need->prefer_node;
                        bool best_near = best >= 0 && p->pairs[best].node == need->prefer_node;
                        if (best < 0 || (near && !best_near) ||
                            (near == best_near && pair_cap(p, i) < pair_cap(p, (unsigned) best)))
                                best = (int) i;
                }
                if (best >= 0) {
                        const Pair *pair = &p->pairs[best];
                        take_from_pair(p, cls, (unsigned) best, units, cpus, n_cpus, held);
                        p->node_take[pair->node] = units;
                        if (pair->l3 >= 0)
                                return explain(pl, "fits in L3 #%d of node %u (%u %s free there)", pair->l3,
                                               t->nodes[pair->node].os, pair_cap(p, (unsigned) best),
                                               unit_name(cls)) < 0
                                               ? -ENOMEM
                                               : 1;
                        return explain(pl, "fits in node %u, which has no L3 domain", t->nodes[pair->node].os) < 0
                                       ? -ENOMEM
                                       : 1;
                }
        }

        /* One node (fewest L3 domains inside it for l3), else the fewest closest nodes. */
        unsigned *nodes = calloc(2 * (size_t) t->n_nodes, sizeof(unsigned));
        _cleanup_free_ unsigned *pairs = malloc((p->n_pairs ? p->n_pairs : 1) * sizeof(unsigned));
        if (!nodes || !pairs) {
                free(nodes);
                return -ENOMEM;
        }
        unsigned count;
        if (cls->cache_locality == CACHE_LOCALITY_NONE) {
                /* No locality wanted: the whole host is one pool, lowest node first. */
                count = 0;
                unsigned got = 0;
                for (unsigned n = 0; n < t->n_nodes && got < units; n++)
                        if (p->node_cap[n]) {
                                p->node_take[n] = p->node_cap[n] < units - got ? p->node_cap[n] : units - got;
                                got += p->node_take[n];
                                nodes[count++] = n;
                        }
                for (unsigned i = 0; i < count; i++)
                        if (!memory_fits(p, need, nodes[i], memory_share(need, p->node_take[nodes[i]], units)))
                                count = 0;
        } else
                count = choose_nodes(p, need, units, p->node_cap, false, nodes);

        if (count == 0) {
                free(nodes);
                return 0; /* memory: the caller words the refusal */
        }

        unsigned l3_used = 0;
        for (unsigned i = 0; i < count; i++) {
                unsigned n = nodes[i], want = p->node_take[n];
                unsigned m = node_pairs_by_cap(p, n, pairs);
                for (unsigned j = 0; j < m && want > 0; j++) {
                        want -= take_from_pair(p, cls, pairs[j], want, cpus, n_cpus, held);
                        l3_used += p->pairs[pairs[j]].l3 >= 0;
                }
        }
        _cleanup_bitmap_ hwloc_bitmap_t ns = hwloc_bitmap_alloc();
        for (unsigned i = 0; i < count; i++)
                hwloc_bitmap_set(ns, t->nodes[nodes[i]].os);
        _cleanup_free_ char *list = cpulist_format(ns);
        free(nodes);
        if (!list)
                return -ENOMEM;
        int r;
        if (count == 1 && l3_used == 0)
                r = explain(pl, "fits in node %s (no L3 domains there)", list);
        else if (count == 1)
                r = explain(pl, "fits in node %s across %u L3 domain%s", list, l3_used, l3_used == 1 ? "" : "s");
        else
                r = explain(pl, "larger than any node: spans nodes %s, the closest set by NUMA distance", list);
        return r < 0 ? -ENOMEM : 1;
}

/* ---- The request ------------------------------------------------------------------------ */

static int pick_page_size(Planner *p, const DomainRequest *req, const PolicyClass *cls, Placement *pl,
                          uint64_t *ret_page_kib) {
        *ret_page_kib = 0;
        if (!req->hugepages)
                return 0;
        if (req->hugepage_kib) {
                *ret_page_kib = req->hugepage_kib;
                return 0;
        }
        if (cls->mem_page_kib != PAGE_KIB_ANY && cls->mem_page_kib != PAGE_KIB_SMALL) {
                *ret_page_kib = cls->mem_page_kib;
                return 0;
        }
        /* "any": the largest size the host has that divides the memory, else the smallest size;
         * "small": the smallest size. */
        uint64_t best = 0, smallest = 0;
        for (unsigned n = 0; n < p->t->n_nodes; n++)
                for (unsigned i = 0; i < p->t->nodes[n].n_hugepages; i++) {
                        uint64_t kib = p->t->nodes[n].hugepages[i].page_kib;
                        if (req->memory_kib % kib == 0 && kib > best)
                                best = kib;
                        if (smallest == 0 || kib < smallest)
                                smallest = kib;
                }
        if (cls->mem_page_kib == PAGE_KIB_SMALL)
                best = 0;
        *ret_page_kib = best ? best : smallest ? smallest : 2048;
        if (!best && !smallest)
                return explain(pl, "the host reports no hugepage sizes: assuming 2M pages");
        return 0;
}

static int build_need(Planner *p, const DomainRequest *req, const PolicyClass *cls, Placement *pl, Need *need) {
        /* Only a live free figure leaves out memory in use; a total (a recorded machine) does not. */
        *need = (Need){ .cls = cls,
                        .memory_kib = req->memory_kib,
                        .memory_use = live_free_figures(p->t) ? req->memory_use : MEMORY_USE_NONE,
                        .prefer_node = -1 };
        switch (cls->cpu_policy) {
        case CPU_POLICY_DEDICATED:
                need->n_dedicated = req->vcpus;
                break;
        case CPU_POLICY_SHARED:
                need->n_shared = req->vcpus;
                break;
        case CPU_POLICY_MIXED: {
                if (!req->dedicated_vcpus)
                        return refuse(pl,
                                      "class %s is mixed, but the domain names no dedicated vCPUs "
                                      "(metadata dedicated-vcpus= or <vcpusched scheduler='fifo'>)",
                                      cls->name);
                unsigned d = (unsigned) hwloc_bitmap_weight(req->dedicated_vcpus);
                need->n_dedicated = d;
                need->n_shared = req->vcpus - d;
                break;
        }
        }
        if (cls->emulator_threads == HELPER_ISOLATE)
                need->n_extra++;
        if (cls->io_threads == HELPER_ISOLATE && req->n_iothreads > 0)
                need->n_extra++;
        need->n_dedicated += need->n_extra;

        int r = pick_page_size(p, req, cls, pl, &need->page_kib);
        if (r < 0)
                return r;

        if (cls->near_devices && req->n_hostdevs > 0) {
                for (unsigned i = 0; i < req->n_hostdevs && need->prefer_node < 0; i++) {
                        int d = topology_device_index(p->t, req->hostdevs[i]);
                        if (d >= 0 && p->t->devices[d].node >= 0) {
                                need->prefer_node = p->t->devices[d].node;
                                r = explain(pl, "NearDevices: %s is on node %u", req->hostdevs[i],
                                            p->t->nodes[need->prefer_node].os);
                        } else
                                r = explain(pl, "NearDevices: %s has no single node on this host", req->hostdevs[i]);
                        if (r < 0)
                                return r;
                }
        }
        return 1;
}

/* Ratio of shared vCPUs to shared CPUs on node n if add more vCPUs came (and take CPUs left). */
static double ratio_after(const Planner *p, unsigned n, unsigned add, unsigned *ret_vcpus, unsigned *ret_cpus) {
        unsigned cpus = shared_cpu_count(p, n), vcpus = p->node_shared_vcpus[n] + add;
        *ret_vcpus = vcpus;
        *ret_cpus = cpus;
        return cpus ? (double) vcpus / cpus : INFINITY;
}

/* The ratio a new domain of class cls must respect on node n: the strictest of its Overcommit
 * and those of the shared domains already there; 0 for none. */
static double ratio_limit(const Planner *p, unsigned n, const PolicyClass *cls) {
        double limit = node_ratio_limit(p, n);
        if (cls->overcommit > 0 && (limit == 0 || cls->overcommit < limit))
                limit = cls->overcommit;
        return limit;
}

/* How many more shared vCPUs node n takes under ratio_limit(). */
static unsigned shared_capacity(const Planner *p, unsigned n, const PolicyClass *cls) {
        unsigned cpus = shared_cpu_count(p, n);
        if (cpus == 0)
                return 0;
        double limit = ratio_limit(p, n, cls);
        if (limit == 0)
                return UINT32_MAX / 2;
        double room = floor(limit * cpus + 1e-9) - p->node_shared_vcpus[n];
        return room > 0 ? (unsigned) room : 0;
}

/* Places the shared vCPUs: on the nodes of the dedicated ones (mixed), else on the node with the
 * lowest resulting ratio, else on the closest nodes. Returns 1, 0 refused, -ENOMEM. */
static int place_shared(Planner *p, const Need *need, Placement *pl, unsigned dedicated_nodes) {
        const Topology *t = p->t;
        const PolicyClass *cls = need->cls;
        unsigned units = need->n_shared;

        if (dedicated_nodes > 0) {
                /* Mixed: shared vCPUs float on the shared CPUs of the dedicated vCPUs' nodes, spread
                 * in proportion to those CPUs. */
                unsigned total = 0;
                for (unsigned n = 0; n < t->n_nodes; n++)
                        if (p->node_take[n])
                                total += shared_cpu_count(p, n);
                if (total == 0)
                        return refuse(pl,
                                      "node(s) of the dedicated vCPUs: needs shared CPUs for %u shared vCPUs, 0 free",
                                      units);
                unsigned left = units;
                for (unsigned n = 0; n < t->n_nodes && left; n++) {
                        if (!p->node_take[n])
                                continue;
                        unsigned share = (unsigned) ceil((double) units * shared_cpu_count(p, n) / total);
                        pl->shared_vcpus[n] = share < left ? share : left;
                        left -= pl->shared_vcpus[n];
                }
                /* Overcommit holds here too: the nodes are fixed, so a node over the limit refuses. */
                for (unsigned n = 0; n < t->n_nodes; n++) {
                        unsigned v, c;
                        if (!pl->shared_vcpus[n] || pl->shared_vcpus[n] <= shared_capacity(p, n, cls))
                                continue;
                        double r = ratio_after(p, n, pl->shared_vcpus[n], &v, &c);
                        return refuse(pl, "node %u shared ratio would be %.2f > %.1f (%u vCPUs / %u CPUs)",
                                      t->nodes[n].os, r, ratio_limit(p, n, cls), v, c);
                }
        } else {
                int best = -1;
                double best_ratio = INFINITY;
                for (unsigned n = 0; n < t->n_nodes; n++) {
                        unsigned v, c;
                        if (shared_capacity(p, n, cls) < units || !memory_fits(p, need, n, need->memory_kib))
                                continue;
                        double r = ratio_after(p, n, units, &v, &c);
                        bool near = (int) n == need->prefer_node, best_near = best >= 0 && best == need->prefer_node;
                        if (best < 0 || (near && !best_near) || (near == best_near && r < best_ratio - 1e-12)) {
                                best = (int) n;
                                best_ratio = r;
                        }
                }
                if (best >= 0) {
                        pl->shared_vcpus[best] = units;
                        p->node_take[best] = units;
                } else {
                        _cleanup_free_ unsigned *cap = malloc(t->n_nodes * sizeof(unsigned));
                        _cleanup_free_ unsigned *nodes = calloc(2 * (size_t) t->n_nodes, sizeof(unsigned));
                        if (!cap || !nodes)
                                return -ENOMEM;
                        for (unsigned n = 0; n < t->n_nodes; n++)
                                cap[n] = shared_capacity(p, n, cls);
                        unsigned count = choose_nodes(p, need, units, cap, false, nodes);
                        if (count == 0) {
                                /* Name the node that came closest: the lowest ratio it would reach. */
                                int worst = -1;
                                double low = INFINITY;
                                unsigned v = 0, c = 0, bv = 0, bc = 0;
                                for (unsigned n = 0; n < t->n_nodes; n++) {
                                        double r = ratio_after(p, n, units, &v, &c);
                                        if (worst < 0 || r < low) {
                                                worst = (int) n;
                                                low = r;
                                                bv = v;
                                                bc = c;
                                        }
                                }
                                double limit = ratio_limit(p, (unsigned) worst, cls);
                                if (bc == 0)
                                        return refuse(pl, "node %u: needs shared CPUs for %u vCPUs, 0 free",
                                                      t->nodes[worst].os, units);
                                if (limit > 0 && low > limit)
                                        return refuse(pl,
                                                      "node %u shared ratio would be %.2f > %.1f (%u vCPUs / %u CPUs)",
                                                      t->nodes[worst].os, low, limit, bv, bc);
                                return 0; /* memory: the caller words the refusal */
                        }
                        for (unsigned i = 0; i < count; i++)
                                pl->shared_vcpus[nodes[i]] = p->node_take[nodes[i]];
                }
        }

        for (unsigned n = 0; n < t->n_nodes; n++) {
                if (!pl->shared_vcpus[n])
                        continue;
                unsigned v, c;
                double r = ratio_after(p, n, pl->shared_vcpus[n], &v, &c);
                int e = explain(pl, "%u shared vCPU%s on node %u: ratio %.2f (%u vCPUs / %u CPUs)%s",
                                pl->shared_vcpus[n], pl->shared_vcpus[n] == 1 ? "" : "s", t->nodes[n].os, r, v, c,
                                cls->overcommit > 0 ? "" : ", no Overcommit limit");
                if (e < 0)
                        return e;
        }
        return 1;
}

/* The refusal when CPUs fit but memory does not: the node with the most room is named. */
static int refuse_memory(Planner *p, const Need *need, Placement *pl) {
        const Topology *t = p->t;
        uint64_t best = 0;
        int node = -1;
        for (unsigned n = 0; n < t->n_nodes; n++) {
                uint64_t have =
                        need->page_kib ? node_free_pages(p, n, need->page_kib) * need->page_kib : node_free_kib(p, n);
                if (node < 0 || have > best) {
                        best = have;
                        node = (int) n;
                }
        }
        char want[32], have[32], page[32];
        format_kib(need->memory_kib, want, sizeof(want));
        format_kib(best, have, sizeof(have));
        if (need->page_kib) {
                planner_format_page_size(need->page_kib, page, sizeof(page));
                bool listed = false, any = false;
                for (unsigned n = 0; n < t->n_nodes; n++)
                        for (unsigned i = 0; i < t->nodes[n].n_hugepages; i++) {
                                any = true;
                                listed |= t->nodes[n].hugepages[i].page_kib == need->page_kib;
                        }
                if (any && !listed)
                        return refuse(pl, "host: needs %s of %s hugepages, and this host has no %s pages", want, page,
                                      page);
                return refuse(pl, "node %u: needs %s of %s hugepages, %s free", t->nodes[node].os, want, page, have);
        }
        return refuse(pl, "node %u: needs %s of memory, %s free", t->nodes[node].os, want, have);
}

static void helper_cpus(Planner *p, const Placement *pl, HelperPlacement how, const unsigned *extra,
                        hwloc_bitmap_t out) {
        const Topology *t = p->t;
        hwloc_bitmap_zero(out);
        switch (how) {
        case HELPER_ISOLATE:
                hwloc_bitmap_set(out, t->cpus[*extra].os);
                return;
        case HELPER_SHARE:
                for (unsigned i = 0; i < pl->n_vcpus; i++)
                        hwloc_bitmap_or(out, out, pl->vcpus[i].cpus);
                return;
        case HELPER_HOUSEKEEPING:
                for (unsigned n = 0; n < t->n_nodes; n++)
                        if (p->node_take[n]) {
                                _cleanup_bitmap_ hwloc_bitmap_t hk = hwloc_bitmap_alloc();
                                hwloc_bitmap_and(hk, t->nodes[n].cpuset, p->c->host.housekeeping);
                                hwloc_bitmap_or(out, out, hk);
                        }
                if (hwloc_bitmap_iszero(out)) /* no housekeeping CPU on its nodes */
                        hwloc_bitmap_copy(out, p->c->host.housekeeping);
                return;
        }
}

/* Adds (sign 1) or takes back (sign -1) the memory pl books and what of it is in use: the one
 * place memory is booked (placing, restoring, releasing, and changing what is in use). */
static void book_memory(Planner *p, const Placement *pl, int sign) {
        const Topology *t = p->t;
        for (unsigned n = 0; n < t->n_nodes; n++) {
                p->node_small_kib[n] += (uint64_t) sign * pl->memory_kib[n];
                p->node_in_use_kib[n] += (uint64_t) sign * pl->in_use_kib[n];
        }
        for (unsigned i = 0; i < pl->n_hugepages; i++) {
                int n = topology_node_index(t, pl->hugepages[i].node);
                PageUse *u = n >= 0 ? page_use(p, (unsigned) n, pl->hugepages[i].page_kib) : NULL;
                if (!u) /* more than MAX_PAGE_SIZES sizes on a node does not exist */
                        continue;
                u->count += (uint64_t) sign * pl->hugepages[i].count;
                u->in_use += pl->pages_in_use ? (uint64_t) sign * pl->hugepages[i].count : 0;
        }
}

/* Records how much of pl's memory is in use; never more than it books. */
static void fill_memory_use(Placement *pl, unsigned n_nodes, MemoryUse use, const uint64_t *node_kib) {
        pl->pages_in_use = use != MEMORY_USE_NONE;
        uint64_t measured = 0, booked = 0;
        for (unsigned n = 0; node_kib && n < n_nodes; n++) {
                measured += node_kib[n];
                booked += pl->memory_kib[n];
        }
        if (use == MEMORY_USE_STARTED && node_kib && measured >= booked)
                use = MEMORY_USE_ALL; /* all of it touched, wherever it landed (a binding that is not strict) */
        for (unsigned n = 0; n < n_nodes; n++) {
                uint64_t kib = use == MEMORY_USE_ALL ? pl->memory_kib[n]
                               : use == MEMORY_USE_STARTED && node_kib ? node_kib[n]
                                                                       : 0;
                pl->in_use_kib[n] = kib < pl->memory_kib[n] ? kib : pl->memory_kib[n];
        }
}

int planner_memory_use(Planner *p, const char *name, MemoryUse use, const uint64_t *node_kib) {
        Placement *pl = (Placement *) planner_find(p, name);
        if (!pl || !pl->admitted)
                return -ENOENT;
        book_memory(p, pl, -1);
        fill_memory_use(pl, p->t->n_nodes, use, node_kib);
        book_memory(p, pl, 1);
        return 0;
}

/* Splits the memory over the nodes in proportion to the vCPUs there and books it. */
static void commit_memory(Planner *p, const Need *need, Placement *pl) {
        const Topology *t = p->t;
        unsigned total = 0;
        for (unsigned n = 0; n < t->n_nodes; n++)
                total += p->node_take[n];
        pl->hugepage_kib = need->page_kib;
        uint64_t left = need->memory_kib;
        for (unsigned n = 0; n < t->n_nodes && left; n++) {
                if (!p->node_take[n])
                        continue;
                uint64_t kib = memory_share(need, p->node_take[n], total);
                if (kib > left)
                        kib = left;
                left -= kib;
                if (need->page_kib) {
                        uint64_t pages = (kib + need->page_kib - 1) / need->page_kib;
                        pl->hugepages[pl->n_hugepages++] = (PlacedHugepages){ t->nodes[n].os, need->page_kib, pages };
                } else
                        pl->memory_kib[n] = kib;
        }
        fill_memory_use(pl, t->n_nodes, need->memory_use, NULL);
        book_memory(p, pl, 1);
}

static int fill_vcpus(Planner *p, const DomainRequest *req, Placement *pl, const unsigned *cpus) {
        const Topology *t = p->t;
        pl->n_vcpus = req->vcpus;
        pl->vcpus = calloc(req->vcpus, sizeof(PlacedVcpu));
        if (!pl->vcpus)
                return -ENOMEM;
        _cleanup_bitmap_ hwloc_bitmap_t shared = hwloc_bitmap_alloc(), node_set = hwloc_bitmap_alloc();
        for (unsigned n = 0; n < t->n_nodes; n++)
                if (pl->shared_vcpus[n]) {
                        planner_shared_cpus(p, n, node_set);
                        hwloc_bitmap_or(shared, shared, node_set);
                }
        unsigned next = 0;
        for (unsigned v = 0; v < req->vcpus; v++) {
                PlacedVcpu *pv = &pl->vcpus[v];
                pv->vcpu = v;
                pv->dedicated =
                        pl->cls->cpu_policy == CPU_POLICY_DEDICATED ||
                        (pl->cls->cpu_policy == CPU_POLICY_MIXED && hwloc_bitmap_isset(req->dedicated_vcpus, v));
                if (!(pv->cpus = hwloc_bitmap_alloc()))
                        return -ENOMEM;
                if (pv->dedicated)
                        hwloc_bitmap_set(pv->cpus, t->cpus[cpus[next++]].os);
                else
                        hwloc_bitmap_copy(pv->cpus, shared);
        }
        return 0;
}

static int adopt(Planner *p, const DomainRequest *req, Placement *pl) {
        const Topology *t = p->t;
        /* What it names and the host has: a definition copied from a bigger host may name more
         * (libvirt then uses what exists), and the allocations file holds only host CPUs. */
        hwloc_bitmap_and(pl->held, req->pinned_cpus, t->cpuset);
        for (unsigned i = 0; i < t->n_cpus; i++)
                if (hwloc_bitmap_isset(req->pinned_cpus, t->cpus[i].os))
                        p->pinned[i]++;
        for (unsigned n = 0; n < t->n_nodes; n++)
                if (hwloc_bitmap_isset(req->pinned_nodes, t->nodes[n].os))
                        hwloc_bitmap_set(pl->memory_nodes, t->nodes[n].os);
        pl->memory_mode = hwloc_bitmap_iszero(req->pinned_nodes) ? MEMORY_NONE : MEMORY_STRICT;
        pl->adopted = pl->admitted = true;
        _cleanup_free_ char *cpus = cpulist_format(req->pinned_cpus);
        if (!cpus)
                return -ENOMEM;
        return explain(pl, "RespectExplicitPins: the domain pins itself (CPUs %s); left alone, its CPUs count as taken",
                       *cpus ? cpus : "none");
}

static int add_placement(Planner *p, Placement *pl) {
        if (p->n_placements == p->alloc_placements) {
                unsigned n = p->alloc_placements ? p->alloc_placements * 2 : 16;
                Placement **grown = realloc(p->placements, n * sizeof(Placement *));
                if (!grown)
                        return -ENOMEM;
                p->placements = grown;
                p->alloc_placements = n;
        }
        p->placements[p->n_placements++] = pl;
        return 0;
}

static int explain_result(Planner *p, const Need *need, Placement *pl) {
        const PolicyClass *cls = need->cls;
        if (need->n_dedicated > 0 &&
            explain(pl, "CPUPolicy=%s ThreadPolicy=%s CacheLocality=%s CoreKind=%s",
                    cpu_policy_to_string(cls->cpu_policy), thread_policy_to_string(cls->thread_policy),
                    cache_locality_to_string(cls->cache_locality), core_kind_to_string(cls->core_kind)) < 0)
                return -ENOMEM;
        if (cls->core_kind != CORE_KIND_ANY && !p->kinds_differ &&
            explain(pl, "CoreKind=%s: every CPU of this host is of one kind", core_kind_to_string(cls->core_kind)) < 0)
                return -ENOMEM;
        if (!memory_known(p) &&
            explain(pl, "the host model has no memory figures: memory does not limit placement") < 0)
                return -ENOMEM;
        if (need->memory_use == MEMORY_USE_ALL &&
            explain(pl, "running already: its memory is in use, not checked against the free figures") < 0)
                return -ENOMEM;
        if (need->n_extra && explain(pl, "%u extra dedicated CPU%s for isolated emulator/iothreads", need->n_extra,
                                     need->n_extra == 1 ? "" : "s") < 0)
                return -ENOMEM;
        if (pl->memory_mode == MEMORY_NONE)
                return 0;
        _cleanup_free_ char *nodes = cpulist_format(pl->memory_nodes);
        char size[32], page[64] = "";
        format_kib(need->memory_kib, size, sizeof(size));
        if (need->page_kib) {
                char ps[32];
                planner_format_page_size(need->page_kib, ps, sizeof(ps));
                snprintf(page, sizeof(page), " of %s hugepages", ps);
        }
        if (!nodes ||
            explain(pl, "memory %s on nodes %s: %s%s", memory_policy_to_string(pl->memory_mode), nodes, size, page) < 0)
                return -ENOMEM;
        return 0;
}

/* Undoes what a placement holds: the inverse of place()'s commit and of adopt(). */
static void uncommit(Planner *p, Placement *pl) {
        const Topology *t = p->t;
        if (!pl->admitted)
                return;
        for (unsigned i = 0; i < t->n_cpus; i++)
                if (hwloc_bitmap_isset(pl->held, t->cpus[i].os)) {
                        if (pl->adopted)
                                p->pinned[i]--;
                        else
                                p->held[i] = 0;
                }
        if (!pl->adopted)
                hwloc_bitmap_andnot(p->held_set, p->held_set, pl->held);
        for (unsigned n = 0; n < t->n_nodes; n++)
                p->node_shared_vcpus[n] -= pl->shared_vcpus ? pl->shared_vcpus[n] : 0;
        book_memory(p, pl, -1);
}

static void mark_held(Planner *p, hwloc_const_bitmap_t set, uint8_t value) {
        for (unsigned i = 0; i < p->t->n_cpus; i++)
                if (hwloc_bitmap_isset(set, p->t->cpus[i].os))
                        p->held[i] = value;
}

/* Fills the placement once CPUs and nodes are chosen; dedicated CPUs are marked held already. */
static int fill(Planner *p, const DomainRequest *req, const Need *need, Placement *pl, const unsigned *cpus,
                unsigned n_cpus) {
        const Topology *t = p->t;
        int r = fill_vcpus(p, req, pl, cpus);
        if (r < 0)
                return r;

        /* Isolated helpers got the last dedicated CPUs taken. */
        const unsigned *extra = cpus + (n_cpus - need->n_extra);
        helper_cpus(p, pl, pl->cls->emulator_threads, extra, pl->emulator);
        if (pl->cls->emulator_threads == HELPER_ISOLATE)
                extra++;
        pl->n_iothreads = req->n_iothreads;
        pl->iothreads = calloc(req->n_iothreads ? req->n_iothreads : 1, sizeof(PlacedIOThread));
        if (!pl->iothreads)
                return -ENOMEM;
        for (unsigned i = 0; i < req->n_iothreads; i++) {
                pl->iothreads[i].id = req->iothread_ids[i];
                if (!(pl->iothreads[i].cpus = hwloc_bitmap_alloc()))
                        return -ENOMEM;
                helper_cpus(p, pl, pl->cls->io_threads, extra, pl->iothreads[i].cpus);
        }

        pl->memory_mode = pl->cls->memory_policy;
        if (pl->memory_mode != MEMORY_NONE)
                for (unsigned n = 0; n < t->n_nodes; n++)
                        if (p->node_take[n])
                                hwloc_bitmap_set(pl->memory_nodes, t->nodes[n].os);
        pl->hugepages = calloc(t->n_nodes ? t->n_nodes : 1, sizeof(PlacedHugepages));
        if (!pl->hugepages)
                return -ENOMEM;
        return explain_result(p, need, pl);
}

static int place(Planner *p, const DomainRequest *req, Placement *pl) {
        const Topology *t = p->t;
        Need need;
        int r = build_need(p, req, pl->cls, pl, &need);
        if (r <= 0)
                return r;

        _cleanup_free_ unsigned *cpus = malloc((need.n_dedicated + 1) * sizeof(unsigned));
        if (!cpus)
                return -ENOMEM;
        unsigned n_cpus = 0, dedicated_nodes = 0;
        memset(p->node_take, 0, t->n_nodes * sizeof(unsigned));

        if (need.n_dedicated > 0) {
                r = place_dedicated(p, &need, pl, cpus, &n_cpus, pl->held);
                if (r < 0 || pl->reason)
                        return r;
                if (r == 0)
                        return refuse_memory(p, &need, pl);
                for (unsigned n = 0; n < t->n_nodes; n++)
                        dedicated_nodes += p->node_take[n] > 0;
        }

        /* The dedicated CPUs are held before shared vCPUs are counted against what is left;
         * everything from here to the commit is undone on failure. */
        mark_held(p, pl->held, 1);
        if (need.n_shared > 0) {
                r = place_shared(p, &need, pl, dedicated_nodes);
                if (r == 0 && !pl->reason)
                        r = refuse_memory(p, &need, pl);
                if (r < 0 || pl->reason) {
                        mark_held(p, pl->held, 0);
                        return r;
                }
        }
        r = fill(p, req, &need, pl, cpus, n_cpus);
        if (r < 0) {
                mark_held(p, pl->held, 0);
                return r;
        }

        /* Commit: nothing below can fail. */
        commit_memory(p, &need, pl);
        hwloc_bitmap_or(p->held_set, p->held_set, pl->held);
        for (unsigned n = 0; n < t->n_nodes; n++)
                p->node_shared_vcpus[n] += pl->shared_vcpus[n];
        pl->admitted = true;
        return 0;
}

int planner_place(Planner *p, const DomainRequest *req, const Placement **ret_placement) {
        if (planner_find(p, req->name))
                return -EEXIST;
        unsigned n_nodes = p->t->n_nodes ? p->t->n_nodes : 1;
        _cleanup_(placement_freep) Placement *pl = placement_new(req->name, n_nodes);
        if (!pl)
                return -ENOMEM;

        _cleanup_free_ char *why = NULL;
        pl->cls = config_match_class(p->c, req->name, req->metadata_class, &why);
        if (!why || explain(pl, "%s", why) < 0)
                return -ENOMEM;

        int r;
        if (req->explicit_pins && p->c->daemon.respect_explicit_pins)
                r = adopt(p, req, pl);
        else
                r = place(p, req, pl);
        if (r < 0) {
                uncommit(p, pl);
                return r;
        }
        if (!pl->admitted) {
                hwloc_bitmap_zero(pl->held);
                memset(pl->shared_vcpus, 0, n_nodes * sizeof(unsigned));
        }
        r = add_placement(p, pl);
        if (r < 0) {
                uncommit(p, pl);
                return r;
        }
        *ret_placement = TAKE_PTR(pl);
        return 0;
}

int planner_release(Planner *p, const char *name) {
        for (unsigned i = 0; i < p->n_placements; i++) {
                Placement *pl = p->placements[i];
                if (strcmp(pl->name, name) != 0)
                        continue;
                uncommit(p, pl);
                placement_free(pl);
                memmove(&p->placements[i], &p->placements[i + 1], (p->n_placements - i - 1) * sizeof(Placement *));
                p->n_placements--;
                return 0;
        }
        return -ENOENT;
}

const Placement *planner_find(const Planner *p, const char *name) {
        for (unsigned i = 0; i < p->n_placements; i++)
                if (strcmp(p->placements[i]->name, name) == 0)
                        return p->placements[i];
        return NULL;
}

const Placement *const *planner_placements(const Planner *p, unsigned *ret_n) {
        *ret_n = p->n_placements;
        return (const Placement *const *) p->placements;
}

int planner_refresh_shared(Planner *p) {
        const Topology *t = p->t;
        _cleanup_bitmap_ hwloc_bitmap_t node_set = hwloc_bitmap_alloc(), shared = hwloc_bitmap_alloc();
        if (!node_set || !shared)
                return -ENOMEM;
        for (unsigned i = 0; i < p->n_placements; i++) {
                Placement *pl = p->placements[i];
                if (!pl->admitted || pl->adopted)
                        continue;
                hwloc_bitmap_zero(shared);
                for (unsigned n = 0; n < t->n_nodes; n++)
                        if (pl->shared_vcpus[n]) {
                                planner_shared_cpus(p, n, node_set);
                                hwloc_bitmap_or(shared, shared, node_set);
                        }
                for (unsigned v = 0; v < pl->n_vcpus; v++)
                        if (!pl->vcpus[v].dedicated)
                                hwloc_bitmap_copy(pl->vcpus[v].cpus, shared);
                /* Helpers that float over the VM's own CPUs follow them. */
                if (pl->cls->emulator_threads == HELPER_SHARE) {
                        hwloc_bitmap_zero(pl->emulator);
                        for (unsigned v = 0; v < pl->n_vcpus; v++)
                                hwloc_bitmap_or(pl->emulator, pl->emulator, pl->vcpus[v].cpus);
                }
                if (pl->cls->io_threads == HELPER_SHARE)
                        for (unsigned k = 0; k < pl->n_iothreads; k++) {
                                hwloc_bitmap_zero(pl->iothreads[k].cpus);
                                for (unsigned v = 0; v < pl->n_vcpus; v++)
                                        hwloc_bitmap_or(pl->iothreads[k].cpus, pl->iothreads[k].cpus,
                                                        pl->vcpus[v].cpus);
                        }
        }
        return 0;
}

static hwloc_bitmap_t dup_or_empty(hwloc_const_bitmap_t set) {
        return set ? hwloc_bitmap_dup(set) : hwloc_bitmap_alloc();
}

static bool bitmap_equal(hwloc_const_bitmap_t a, hwloc_const_bitmap_t b) {
        return (!a || hwloc_bitmap_iszero(a)) ? (!b || hwloc_bitmap_iszero(b)) : b && hwloc_bitmap_isequal(a, b);
}

bool placement_pins_equal(const Placement *a, const Placement *b) {
        if (a->n_vcpus != b->n_vcpus || a->n_iothreads != b->n_iothreads || a->memory_mode != b->memory_mode ||
            !bitmap_equal(a->emulator, b->emulator) || !bitmap_equal(a->memory_nodes, b->memory_nodes))
                return false;
        for (unsigned i = 0; i < a->n_vcpus; i++)
                if (a->vcpus[i].vcpu != b->vcpus[i].vcpu || !bitmap_equal(a->vcpus[i].cpus, b->vcpus[i].cpus))
                        return false;
        for (unsigned i = 0; i < a->n_iothreads; i++)
                if (a->iothreads[i].id != b->iothreads[i].id ||
                    !bitmap_equal(a->iothreads[i].cpus, b->iothreads[i].cpus))
                        return false;
        return true;
}

Placement *placement_copy(const Placement *spec, unsigned n_nodes) {
        _cleanup_(placement_freep) Placement *pl = placement_new(spec->name, n_nodes);
        if (!pl || (spec->reason && !(pl->reason = strdup(spec->reason))))
                return NULL;
        pl->admitted = spec->admitted;
        pl->adopted = spec->adopted;
        pl->memory_mode = spec->memory_mode;
        pl->hugepage_kib = spec->hugepage_kib;
        pl->pages_in_use = spec->pages_in_use;
        hwloc_bitmap_copy(pl->held, spec->held);
        hwloc_bitmap_copy(pl->memory_nodes, spec->memory_nodes);
        if (spec->emulator)
                hwloc_bitmap_copy(pl->emulator, spec->emulator);
        memcpy(pl->shared_vcpus, spec->shared_vcpus, n_nodes * sizeof(unsigned));
        memcpy(pl->memory_kib, spec->memory_kib, n_nodes * sizeof(uint64_t));
        memcpy(pl->in_use_kib, spec->in_use_kib, n_nodes * sizeof(uint64_t));

        pl->vcpus = calloc(spec->n_vcpus ? spec->n_vcpus : 1, sizeof(PlacedVcpu));
        pl->iothreads = calloc(spec->n_iothreads ? spec->n_iothreads : 1, sizeof(PlacedIOThread));
        pl->hugepages = calloc(spec->n_hugepages ? spec->n_hugepages : 1, sizeof(PlacedHugepages));
        if (!pl->vcpus || !pl->iothreads || !pl->hugepages)
                return NULL;
        for (; pl->n_vcpus < spec->n_vcpus; pl->n_vcpus++) {
                pl->vcpus[pl->n_vcpus] = spec->vcpus[pl->n_vcpus];
                if (!(pl->vcpus[pl->n_vcpus].cpus = dup_or_empty(spec->vcpus[pl->n_vcpus].cpus)))
                        return NULL;
        }
        for (; pl->n_iothreads < spec->n_iothreads; pl->n_iothreads++) {
                pl->iothreads[pl->n_iothreads].id = spec->iothreads[pl->n_iothreads].id;
                if (!(pl->iothreads[pl->n_iothreads].cpus = dup_or_empty(spec->iothreads[pl->n_iothreads].cpus)))
                        return NULL;
        }
        pl->n_hugepages = spec->n_hugepages;
        if (spec->n_hugepages) /* a spec without any may have no array at all */
                memcpy(pl->hugepages, spec->hugepages, spec->n_hugepages * sizeof(PlacedHugepages));
        for (unsigned i = 0; i < spec->n_explain; i++)
                if (explain(pl, "%s", spec->explain[i]) < 0)
                        return NULL;
        return TAKE_PTR(pl);
}

/* Whether a spec read back from disk could have come from this planner: an admitted placement
 * of its own holds exactly the CPUs its dedicated vCPUs run on (one vCPU per CPU) plus its
 * isolated helpers', its shared vCPUs run on none of them and are counted per node; a refused
 * one holds nothing. The file is not trusted: an edit must not book less than runs. */
static bool spec_valid(const Planner *p, const Placement *spec) {
        if (!spec->admitted)
                return hwloc_bitmap_iszero(spec->held);
        if (spec->adopted)
                return true; /* its own pins: what they name is booked as it is */
        _cleanup_bitmap_ hwloc_bitmap_t used = hwloc_bitmap_alloc();
        unsigned shared = 0, counted = 0;
        for (unsigned i = 0; i < spec->n_vcpus; i++) {
                const PlacedVcpu *v = &spec->vcpus[i];
                if (hwloc_bitmap_iszero(v->cpus))
                        return false;
                if (!v->dedicated) {
                        shared++;
                        if (hwloc_bitmap_intersects(v->cpus, spec->held))
                                return false;
                        continue;
                }
                if (!hwloc_bitmap_isincluded(v->cpus, spec->held) || hwloc_bitmap_intersects(v->cpus, used))
                        return false;
                hwloc_bitmap_or(used, used, v->cpus);
        }
        /* Each node's count is the shared vCPUs that float on its CPUs: not only the sum (which
         * wraps), or a node is booked for vCPUs that run on another. */
        _cleanup_bitmap_ hwloc_bitmap_t node_cpus = hwloc_bitmap_alloc();
        for (unsigned n = 0; n < (p->t->n_nodes ? p->t->n_nodes : 1); n++) {
                planner_node_cpus(p, n, node_cpus);
                unsigned here = 0;
                for (unsigned i = 0; i < spec->n_vcpus; i++)
                        here += !spec->vcpus[i].dedicated && hwloc_bitmap_isincluded(spec->vcpus[i].cpus, node_cpus);
                if (spec->shared_vcpus[n] != here)
                        return false;
                counted += here;
        }
        return counted == shared; /* and none floats over several nodes' CPUs */
}

int planner_restore(Planner *p, const Placement *spec, const char *class_name, const Placement **ret_placement) {
        const Topology *t = p->t;
        if (planner_find(p, spec->name))
                return -EEXIST;
        const PolicyClass *cls = config_find_class(p->c, class_name);
        if (!cls)
                return -ENOENT;
        if (!spec_valid(p, spec))
                return -EINVAL;
        for (unsigned i = 0; i < t->n_cpus && spec->admitted && !spec->adopted; i++)
                if (hwloc_bitmap_isset(spec->held, t->cpus[i].os) && (p->held[i] || p->pinned[i]))
                        return -EBUSY;

        unsigned n_nodes = t->n_nodes ? t->n_nodes : 1;
        _cleanup_(placement_freep) Placement *pl = placement_copy(spec, n_nodes);
        if (!pl)
                return -ENOMEM;
        pl->cls = cls;
        int r = add_placement(p, pl);
        if (r < 0)
                return r;

        /* Commit exactly what the spec holds; the inverse is uncommit(). */
        if (pl->admitted) {
                for (unsigned i = 0; i < t->n_cpus; i++)
                        if (hwloc_bitmap_isset(pl->held, t->cpus[i].os)) {
                                if (pl->adopted)
                                        p->pinned[i]++;
                                else
                                        p->held[i] = 1;
                        }
                if (!pl->adopted)
                        hwloc_bitmap_or(p->held_set, p->held_set, pl->held);
                for (unsigned n = 0; n < t->n_nodes; n++)
                        p->node_shared_vcpus[n] += pl->shared_vcpus[n];
                book_memory(p, pl, 1);
        }
        *ret_placement = TAKE_PTR(pl);
        return 0;
}

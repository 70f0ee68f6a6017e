/* Planner memory: free small pages and hugepages per node, what is booked, and the split of a domain's memory. */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpulist.h"
#include "macro.h"
#include "planner-internal.h"

void memory_format_kib(uint64_t kib, char *buf, size_t len) {
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

/* What a new domain can have on a node by the host's live figures, in KiB; -1: the host did not
 * report them (a recorded machine: only its total is known). */
static int64_t node_live_kib(const TopoNode *node) {
        if (node->available_bytes >= 0)
                return node->available_bytes / 1024;
        return node->free_bytes >= 0 ? node->free_bytes / 1024 : -1;
}

/* Whether the nodes' free memory was read from the live host (else only totals are known). */
bool memory_live_figures(const Topology *t) {
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
uint64_t memory_node_free_kib(const Planner *p, unsigned n) {
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
uint64_t memory_node_free_pages(const Planner *p, unsigned n, uint64_t page_kib) {
        const TopoNode *node = &p->t->nodes[n];
        int64_t listed = node_pool_pages(p, n, page_kib);
        bool known = listed >= 0;
        uint64_t pool = known ? (uint64_t) listed : 0;
        if (!known && node->n_hugepages > 0)
                return 0; /* the host lists its sizes, and this is not one of them */
        uint64_t free_kib = memory_node_free_kib(p, n);
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
bool memory_fits(const Planner *p, const Need *need, unsigned n, uint64_t kib) {
        uint64_t page_kib = need->page_kib;
        if (need->memory_use == MEMORY_USE_ALL || (page_kib && need->memory_use == MEMORY_USE_STARTED))
                return true;
        if (page_kib == 0) {
                uint64_t free_kib = memory_node_free_kib(p, n);
                return free_kib == NO_LIMIT || kib <= free_kib;
        }
        uint64_t pages = (kib + page_kib - 1) / page_kib;
        uint64_t free_pages = memory_node_free_pages(p, n, page_kib);
        return free_pages == NO_LIMIT || pages <= free_pages;
}

bool memory_known(const Planner *p) {
        for (unsigned n = 0; n < p->t->n_nodes; n++)
                if (memory_node_free_kib(p, n) != NO_LIMIT)
                        return true;
        return false;
}

/* Memory share of node n when take[n] of total units land there. */
uint64_t memory_share(const Need *need, unsigned take, unsigned total) {
        if (total == 0)
                return 0;
        return (uint64_t) ((long double) need->memory_kib * take / total + 0.999999L);
}

unsigned memory_units(const Planner *p, const Need *need, unsigned n, unsigned units, unsigned most) {
        unsigned lo = 0, hi = most < units ? most : units; /* lo fits; find the largest that does */
        if (memory_fits(p, need, n, memory_share(need, hi, units)))
                return hi;
        while (hi - lo > 1) {
                unsigned mid = lo + (hi - lo) / 2;
                if (memory_fits(p, need, n, memory_share(need, mid, units)))
                        lo = mid;
                else
                        hi = mid;
        }
        return lo;
}

int memory_pick_page_size(Planner *p, const DomainRequest *req, const PolicyClass *cls, Placement *pl,
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
                return placement_explain(pl, "the host reports no hugepage sizes: assuming 2M pages");
        return 0;
}

/* Adds (sign 1) or takes back (sign -1) the memory pl books and what of it is in use: the one
 * place memory is booked (placing, restoring, releasing, and changing what is in use). */
void memory_book(Planner *p, const Placement *pl, int sign) {
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

/* Small-page memory pl books on all nodes. */
static uint64_t booked_total(const Placement *pl, unsigned n_nodes) {
        uint64_t sum = 0;
        for (unsigned n = 0; n < n_nodes; n++)
                sum += pl->memory_kib[n];
        return sum;
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
        uint64_t all = pl->balloon_kib ? booked_total(pl, n_nodes) : 0;
        for (unsigned n = 0; n < n_nodes; n++) {
                /* A running guest's deflated balloon is not in the live figures' used memory. */
                uint64_t out = all ? (uint64_t) ((long double) pl->balloon_kib * pl->memory_kib[n] / all) : 0;
                out = out < pl->memory_kib[n] ? out : pl->memory_kib[n]; /* a file's figure is not trusted */
                uint64_t kib = use == MEMORY_USE_ALL                   ? pl->memory_kib[n] - out
                               : use == MEMORY_USE_STARTED && node_kib ? node_kib[n]
                                                                       : 0;
                pl->in_use_kib[n] = kib < pl->memory_kib[n] ? kib : pl->memory_kib[n];
        }
}

int planner_memory_use(Planner *p, const char *name, MemoryUse use, const uint64_t *node_kib) {
        Placement *pl = (Placement *) planner_find(p, name);
        if (!pl || !pl->admitted)
                return -ENOENT;
        memory_book(p, pl, -1);
        fill_memory_use(pl, p->t->n_nodes, use, node_kib);
        memory_book(p, pl, 1);
        return 0;
}

int memory_reserve_pages(Planner *p, const Need *need, Placement *pl) {
        unsigned taken = 0;
        for (unsigned n = 0; n < p->t->n_nodes; n++)
                taken += p->node_take[n] != 0;
        if (!need->page_kib || taken == 0)
                return 0;
        pl->hugepages = calloc(taken, sizeof(PlacedHugepages));
        return pl->hugepages ? 0 : -ENOMEM;
}

void memory_split(Planner *p, const Need *need, Placement *pl) {
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
                        assert(pl->hugepages); /* memory_reserve_pages() made room */
                        uint64_t pages = (kib + need->page_kib - 1) / need->page_kib;
                        pl->hugepages[pl->n_hugepages++] = (PlacedHugepages){ t->nodes[n].os, need->page_kib, pages };
                } else
                        pl->memory_kib[n] = kib;
        }
        pl->balloon_kib = need->page_kib ? 0 : need->balloon_kib;
        fill_memory_use(pl, t->n_nodes, need->memory_use, NULL);
}

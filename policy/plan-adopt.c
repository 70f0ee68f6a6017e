/* Domains that pin themselves: left alone, but their CPUs, memory and binding counted as they are. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpulist.h"
#include "macro.h"
#include "planner-internal.h"

/* The memory policy of a domain's own <numatune>: what it asks for, restrictive as strict. */
static MemoryPolicy own_memory_mode(const DomainRequest *req) {
        if (!req->numatune_mode || hwloc_bitmap_iszero(req->pinned_nodes))
                return MEMORY_NONE;
        if (strcmp(req->numatune_mode, "preferred") == 0)
                return MEMORY_PREFERRED;
        if (strcmp(req->numatune_mode, "interleave") == 0)
                return MEMORY_INTERLEAVE;
        return MEMORY_STRICT;
}

/* Says which of the CPUs and nodes a domain pins itself to the host does not have (libvirt then
 * uses what exists). Returns 0 or -ENOMEM. */
static int explain_missing(Placement *pl, const Topology *t, const DomainRequest *req) {
        _cleanup_bitmap_ hwloc_bitmap_t cpus = hwloc_bitmap_alloc(), nodes = hwloc_bitmap_dup(req->pinned_nodes);
        if (!cpus || !nodes)
                return -ENOMEM;
        hwloc_bitmap_andnot(cpus, req->pinned_cpus, t->cpuset);
        for (unsigned n = 0; n < t->n_nodes; n++)
                hwloc_bitmap_clr(nodes, t->nodes[n].os);
        _cleanup_free_ char *c = cpulist_format(cpus), *n = cpulist_format(nodes);
        if (!c || !n)
                return -ENOMEM;
        if (*c && placement_explain(pl, "its pins name CPUs %s, which this host does not have", c) < 0)
                return -ENOMEM;
        if (*n && placement_explain(pl, "its numatune names nodes %s, which this host does not have", n) < 0)
                return -ENOMEM;
        return 0;
}

/* A domain that pins itself is left alone but counted: its CPUs as pinned (several such domains
 * may name one CPU), its memory on the nodes it binds to, else on the nodes of the CPUs it pins
 * (where first touch puts it); bound strictly, at <memory> (a balloon grows it back there). */
int adopt_place(Planner *p, const DomainRequest *req, Placement *pl) {
        const Topology *t = p->t;
        /* What it names and the host has: a definition copied from a bigger host may name more
         * (libvirt then uses what exists), and the allocations file holds only host CPUs. */
        hwloc_bitmap_and(pl->held, req->pinned_cpus, t->cpuset);
        memset(p->node_take, 0, t->n_nodes * sizeof(unsigned));
        for (unsigned n = 0; n < t->n_nodes; n++) {
                bool bound = hwloc_bitmap_isset(req->pinned_nodes, t->nodes[n].os);
                if (bound)
                        hwloc_bitmap_set(pl->memory_nodes, t->nodes[n].os);
                p->node_take[n] = hwloc_bitmap_iszero(req->pinned_nodes)
                                          ? hwloc_bitmap_intersects(pl->held, t->nodes[n].cpuset)
                                          : bound;
        }
        pl->memory_mode = own_memory_mode(req);
        Need need = { .cls = pl->cls,
                      .memory_kib = pl->memory_mode == MEMORY_STRICT ? req->max_memory_kib : req->memory_kib,
                      .balloon_kib = pl->memory_mode == MEMORY_STRICT ? req->max_memory_kib - req->memory_kib : 0,
                      .memory_use = memory_live_figures(t) ? req->memory_use : MEMORY_USE_NONE };
        int r = memory_pick_page_size(p, req, pl->cls, pl, &need.page_kib);
        if (r < 0)
                return r;
        if ((r = memory_reserve_pages(p, &need, pl)) < 0)
                return r;
        _cleanup_free_ char *cpus = cpulist_format(req->pinned_cpus);
        if (!cpus)
                return -ENOMEM;
        r = placement_explain(pl,
                              "RespectExplicitPins: the domain pins itself (CPUs %s); left alone, its CPUs count "
                              "as taken",
                              *cpus ? cpus : "none");
        if (r >= 0)
                r = explain_missing(pl, t, req);
        if (r < 0)
                return r;
        memory_split(p, &need, pl);
        pl->adopted = pl->admitted = true;
        return 0;
}

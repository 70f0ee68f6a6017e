/* Refusal wording: the one line that says which resource, how much was needed and how much is free. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpulist.h"
#include "macro.h"
#include "planner-internal.h"

/* Memory node n can give the request, in KiB (hugepages of its size, or small pages). */
static uint64_t node_room_kib(const Planner *p, const Need *need, unsigned n) {
        if (!need->page_kib)
                return memory_node_free_kib(p, n);
        uint64_t pages = memory_node_free_pages(p, n, need->page_kib);
        return pages == NO_LIMIT ? NO_LIMIT : pages * need->page_kib;
}

/* When the host lists hugepage sizes and not the one wanted, that is the reason. */
static bool page_size_missing(const Topology *t, uint64_t page_kib) {
        bool any = false;
        for (unsigned n = 0; n < t->n_nodes; n++)
                for (unsigned i = 0; i < t->nodes[n].n_hugepages; i++) {
                        any = true;
                        if (t->nodes[n].hugepages[i].page_kib == page_kib)
                                return false;
                }
        return any;
}

/* Names the node that is short: of the nodes with room for the vCPUs (cap[n] >= units), the one
 * with the most memory; when only several nodes together have room, all of them. */
int refuse_memory(Planner *p, const Need *need, Placement *pl, const unsigned *cap, unsigned units) {
        const Topology *t = p->t;
        char want[32], have[32], what[48] = "of memory";
        memory_format_kib(need->memory_kib, want, sizeof(want));
        if (need->page_kib) {
                char page[32];
                planner_format_page_size(need->page_kib, page, sizeof(page));
                if (page_size_missing(t, need->page_kib))
                        return placement_refuse(pl, "host: needs %s of %s hugepages, and this host has no %s pages",
                                                want, page, page);
                snprintf(what, sizeof(what), "of %s hugepages", page);
        }
        int node = -1;
        uint64_t best = 0, together = 0;
        _cleanup_bitmap_ hwloc_bitmap_t room = hwloc_bitmap_alloc();
        if (!room)
                return -ENOMEM;
        for (unsigned n = 0; n < t->n_nodes; n++) {
                uint64_t kib = node_room_kib(p, need, n);
                if (cap[n] > 0) {
                        hwloc_bitmap_set(room, t->nodes[n].os);
                        together += kib;
                }
                if (cap[n] >= units && (node < 0 || kib > best)) {
                        best = kib;
                        node = (int) n;
                }
        }
        if (node >= 0) {
                memory_format_kib(best, have, sizeof(have));
                return placement_refuse(pl, "node %u: needs %s %s, %s free", t->nodes[node].os, want, what, have);
        }
        _cleanup_free_ char *list = cpulist_format(room);
        if (!list)
                return -ENOMEM;
        memory_format_kib(together, have, sizeof(have));
        return placement_refuse(pl,
                                "nodes %s (only together room for its %u vCPUs): need %s %s in the right "
                                "shares, %s free on them",
                                list, units, want, what, have);
}

int refuse_dedicated(Planner *p, const Need *need, Placement *pl, unsigned want, unsigned have, unsigned free_units) {
        const PolicyClass *cls = need->cls;
        const char *kind = cls->core_kind != CORE_KIND_ANY && p->kinds_differ ? " of the wanted core kind" : "";
        if (free_units >= want)
                return placement_refuse(pl,
                                        "host: needs %u dedicated %s, %u free%s: %u more are free but kept as "
                                        "shared CPUs for the shared vCPUs at their Overcommit",
                                        want, dedicated_unit_name(cls), have, kind, free_units - have);
        return placement_refuse(pl, "host: needs %u dedicated %s, %u free%s", want, dedicated_unit_name(cls), have,
                                kind);
}

/* Booking: the one place a placement's CPUs, shared vCPUs and memory are counted and given back. */
#include "planner-internal.h"

void book_mark_held(Planner *p, hwloc_const_bitmap_t set, uint8_t value) {
        for (unsigned i = 0; i < p->t->n_cpus; i++)
                if (hwloc_bitmap_isset(set, p->t->cpus[i].os))
                        p->held[i] = value;
}

/* Placing, restoring and releasing all come here, so what one books the other gives back
 * exactly: an adopted domain's pins count per CPU (several may name one), a placed domain's
 * CPUs are its alone. */
void book_placement(Planner *p, const Placement *pl, int sign) {
        const Topology *t = p->t;
        if (!pl->admitted)
                return;
        for (unsigned i = 0; i < t->n_cpus; i++) {
                if (!hwloc_bitmap_isset(pl->held, t->cpus[i].os))
                        continue;
                if (pl->adopted)
                        p->pinned[i] = (uint16_t) (p->pinned[i] + sign);
                else
                        p->held[i] = sign > 0;
        }
        if (!pl->adopted) {
                if (sign > 0)
                        hwloc_bitmap_or(p->held_set, p->held_set, pl->held);
                else
                        hwloc_bitmap_andnot(p->held_set, p->held_set, pl->held);
        }
        for (unsigned n = 0; n < t->n_nodes; n++) {
                p->node_shared_vcpus[n] += (unsigned) sign * pl->shared_vcpus[n];
                p->node_equal_vcpus[n] += (unsigned) sign * shared_equal_share(pl, n, t->n_nodes);
        }
        memory_book(p, pl, sign);
}

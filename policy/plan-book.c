/* Booking: the one place a placement's CPUs, shared vCPUs and memory are counted and given back. */
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "planner-internal.h"

/* Sets CPU index i held or not and moves its pinned count by pinned_delta, keeping its node's
 * count of shared CPUs (placing reads it for every node) in step. */
static void set_cpu(Planner *p, unsigned i, int held, int pinned_delta) {
        unsigned node = (unsigned) p->core_home[p->t->cpus[i].core];
        bool was = shared_cpu_free(p, i);
        if (held >= 0)
                p->held[i] = (uint8_t) held;
        p->pinned[i] = (uint16_t) (p->pinned[i] + pinned_delta);
        p->node_shared_cpus[node] += (unsigned) ((int) shared_cpu_free(p, i) - (int) was);
        uint8_t free = p->dedicated_pool[i] && !p->held[i] && !p->pinned[i];
        p->core_free[p->t->cpus[i].core] += (unsigned) ((int) free - (int) p->cpu_free[i]);
        p->cpu_free[i] = free;
}

/* Calls set_cpu for every host CPU of set. */
static void set_cpus(Planner *p, hwloc_const_bitmap_t set, int held, int pinned_delta) {
        const Topology *t = p->t;
        int os;
        hwloc_bitmap_foreach_begin(os, set) {
                if ((unsigned) os <= t->max_os_cpu && t->cpu_by_os[os] >= 0)
                        set_cpu(p, (unsigned) t->cpu_by_os[os], held, pinned_delta);
        }
        hwloc_bitmap_foreach_end();
}

void book_mark_held(Planner *p, hwloc_const_bitmap_t set, uint8_t value) {
        set_cpus(p, set, value, 0);
}

/* FNV-1a: a thousand placements are found by comparing integers, not names. */
static uint64_t name_hash(const char *name) {
        uint64_t h = 0xcbf29ce484222325ULL;
        for (const unsigned char *c = (const unsigned char *) name; *c; c++)
                h = (h ^ *c) * 0x100000001b3ULL;
        return h;
}

/* Placing, restoring and releasing all come here, so what one books the other gives back
 * exactly: an adopted domain's pins count per CPU (several may name one), a placed domain's
 * CPUs are its alone. */
void book_placement(Planner *p, const Placement *pl, int sign) {
        const Topology *t = p->t;
        if (!pl->admitted)
                return;
        if (pl->adopted)
                set_cpus(p, pl->held, -1, sign);
        else {
                set_cpus(p, pl->held, sign > 0, 0);
                if (sign > 0)
                        hwloc_bitmap_or(p->held_set, p->held_set, pl->held);
                else
                        hwloc_bitmap_andnot(p->held_set, p->held_set, pl->held);
        }
        bool shared = false;
        for (unsigned n = 0; n < t->n_nodes; n++) {
                p->node_shared_vcpus[n] += (unsigned) sign * pl->shared_vcpus[n];
                shared |= pl->shared_vcpus[n] > 0;
        }
        if (shared)
                shared_update_limits(p, pl, sign);
        int pair = shared_pair_of(p, pl);
        for (unsigned n = 0; pair >= 0 && n < t->n_nodes; n++)
                p->pair_shared_vcpus[pair] += (unsigned) sign * pl->shared_vcpus[n];
        memory_book(p, pl, sign);
}

int book_enter(Planner *p, Placement *pl) {
        if (p->n_placements == p->alloc_placements) {
                unsigned n = p->alloc_placements ? p->alloc_placements * 2 : 16;
                Placement **grown = realloc(p->placements, n * sizeof(Placement *));
                if (!grown)
                        return -ENOMEM;
                p->placements = grown;
                uint64_t *hashes = realloc(p->name_hashes, n * sizeof(uint64_t));
                if (!hashes)
                        return -ENOMEM;
                p->name_hashes = hashes;
                p->alloc_placements = n;
        }
        p->name_hashes[p->n_placements] = name_hash(pl->name);
        p->placements[p->n_placements++] = pl;
        return 0;
}

int book_find(const Planner *p, const char *name) {
        uint64_t h = name_hash(name);
        for (unsigned i = 0; i < p->n_placements; i++)
                if (p->name_hashes[i] == h && strcmp(p->placements[i]->name, name) == 0)
                        return (int) i;
        return -ENOENT;
}

void book_leave(Planner *p, unsigned i) {
        unsigned after = p->n_placements - i - 1;
        memmove(&p->placements[i], &p->placements[i + 1], after * sizeof(Placement *));
        memmove(&p->name_hashes[i], &p->name_hashes[i + 1], after * sizeof(uint64_t));
        p->n_placements--;
}

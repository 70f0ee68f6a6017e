/* The placement record: made, copied, compared, explained and freed. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpulist.h"
#include "macro.h"
#include "planner-internal.h"

int placement_explain(Placement *pl, const char *fmt, ...) {
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

int placement_refuse(Placement *pl, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        int r = vasprintf(&pl->reason, fmt, ap);
        va_end(ap);
        pl->admitted = false;
        return r < 0 ? -ENOMEM : 0;
}

void placement_free(Placement *pl) {
        if (!pl)
                return;
        free(pl->name);
        free(pl->reason);
        for (unsigned i = 0; i < pl->n_vcpus; i++)
                if (pl->vcpus[i].cpus != pl->floating)
                        hwloc_bitmap_free(pl->vcpus[i].cpus);
        free(pl->vcpus);
        hwloc_bitmap_free(pl->floating);
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
        pl->shared_l3 = -1;
        pl->memory_kib = calloc(n_nodes, sizeof(uint64_t));
        pl->in_use_kib = calloc(n_nodes, sizeof(uint64_t));
        if (!pl->name || !pl->held || !pl->memory_nodes || !pl->emulator || !pl->shared_vcpus || !pl->memory_kib ||
            !pl->in_use_kib)
                return NULL;
        return TAKE_PTR(pl);
}

static hwloc_bitmap_t dup_or_empty(hwloc_const_bitmap_t set) {
        return set ? hwloc_bitmap_dup(set) : hwloc_bitmap_alloc();
}

static bool bitmap_equal(hwloc_const_bitmap_t a, hwloc_const_bitmap_t b) {
        return (!a || hwloc_bitmap_iszero(a)) ? (!b || hwloc_bitmap_iszero(b)) : b && hwloc_bitmap_isequal(a, b);
}

void placement_vcpu_cpus(const Placement *pl, unsigned v, hwloc_bitmap_t set) {
        hwloc_bitmap_zero(set);
        placement_vcpu_add(pl, v, set);
}

void placement_vcpu_add(const Placement *pl, unsigned v, hwloc_bitmap_t set) {
        const PlacedVcpu *pv = &pl->vcpus[v];
        if (pv->cpus)
                hwloc_bitmap_or(set, set, pv->cpus);
        else if (pv->cpu >= 0)
                hwloc_bitmap_set(set, (unsigned) pv->cpu);
}

int placement_vcpu_cpu(const Placement *pl, unsigned v) {
        const PlacedVcpu *pv = &pl->vcpus[v];
        if (!pv->cpus)
                return pv->cpu;
        return hwloc_bitmap_weight(pv->cpus) == 1 ? hwloc_bitmap_first(pv->cpus) : -1;
}

char *placement_vcpu_cpulist(const Placement *pl, unsigned v) {
        _cleanup_bitmap_ hwloc_bitmap_t set = hwloc_bitmap_alloc();
        if (!set)
                return NULL;
        placement_vcpu_cpus(pl, v, set);
        return cpulist_format(set);
}

static bool vcpus_equal(const Placement *a, const Placement *b, unsigned v) {
        if (a->vcpus[v].vcpu != b->vcpus[v].vcpu)
                return false;
        const PlacedVcpu *x = &a->vcpus[v], *y = &b->vcpus[v];
        if (x->cpus && y->cpus)
                return bitmap_equal(x->cpus, y->cpus);
        if (x->cpus) { /* x read back, y planned: let x be the one without a set */
                const PlacedVcpu *swap = x;
                x = y;
                y = swap;
        }
        if (!y->cpus)
                return x->cpu == y->cpu;
        if (x->cpu < 0) /* no CPU: the same as an empty set, as bitmap_equal has it */
                return hwloc_bitmap_iszero(y->cpus);
        return hwloc_bitmap_weight(y->cpus) == 1 && hwloc_bitmap_first(y->cpus) == x->cpu;
}

bool placement_pins_equal(const Placement *a, const Placement *b) {
        if (a->n_vcpus != b->n_vcpus || a->n_iothreads != b->n_iothreads || a->memory_mode != b->memory_mode ||
            !bitmap_equal(a->emulator, b->emulator) || !bitmap_equal(a->memory_nodes, b->memory_nodes))
                return false;
        for (unsigned i = 0; i < a->n_vcpus; i++)
                if (!vcpus_equal(a, b, i))
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
        pl->shared_l3 = spec->shared_l3;
        pl->own_emulator = spec->own_emulator;
        pl->balloon_kib = spec->balloon_kib;
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
                PlacedVcpu *pv = &pl->vcpus[pl->n_vcpus];
                *pv = spec->vcpus[pl->n_vcpus];
                if (pv->cpus && !(pv->cpus = hwloc_bitmap_dup(pv->cpus)))
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
                if (placement_explain(pl, "%s", spec->explain[i]) < 0)
                        return NULL;
        return TAKE_PTR(pl);
}

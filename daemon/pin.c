/* The libvirt actuator: live pins and numatune, applied and read back. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libvirt/virterror.h>

#include "cpulist.h"
#include "macro.h"
#include "pin.h"

typedef struct PinContext {
        virDomainPtr dom;
        int maplen;
        unsigned flags; /* pin_live_flags() of the domain's connection */
        unsigned char *map;
        char **error;
} PinContext;

static int fail(PinContext *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(PinContext *c, const char *fmt, ...) {
        char *what = NULL;
        va_list ap;
        va_start(ap, fmt);
        int r = vasprintf(&what, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        const char *why = virGetLastErrorMessage();
        free(*c->error); /* a verify after a failed nodeset read: the later reason wins */
        *c->error = NULL;
        if (asprintf(c->error, "%s: %s", what, why ? why : "unknown libvirt error") < 0)
                *c->error = NULL;
        free(what);
        return -EIO;
}

static void to_map(PinContext *c, hwloc_const_bitmap_t set) {
        memset(c->map, 0, (size_t) c->maplen);
        int cpu;
        hwloc_bitmap_foreach_begin(cpu, set) {
                if (cpu / 8 < c->maplen)
                        VIR_USE_CPU(c->map, cpu);
        }
        hwloc_bitmap_foreach_end();
}

static void from_map(PinContext *c, const unsigned char *map, hwloc_bitmap_t set) {
        hwloc_bitmap_zero(set);
        for (int cpu = 0; cpu < c->maplen * 8; cpu++)
                if (VIR_CPU_USABLE(map, c->maplen, 0, cpu))
                        hwloc_bitmap_set(set, (unsigned) cpu);
}

/* The domain's live numatune nodeset into set (empty when none); 0 or negative errno. */
static int get_nodeset(PinContext *c, hwloc_bitmap_t set) {
        virTypedParameter params[8];
        int n = 8;
        hwloc_bitmap_zero(set);
        if (virDomainGetNumaParameters(c->dom, params, &n, c->flags) < 0)
                return fail(c, "read numatune");
        int r = 0;
        for (int i = 0; i < n; i++)
                if (strcmp(params[i].field, VIR_DOMAIN_NUMA_NODESET) == 0 && params[i].type == VIR_TYPED_PARAM_STRING &&
                    params[i].value.s && *params[i].value.s) {
                        hwloc_bitmap_t parsed = NULL;
                        const char *why;
                        if (cpulist_parse_libvirt(params[i].value.s, &parsed, &why) == 0) {
                                hwloc_bitmap_copy(set, parsed);
                                hwloc_bitmap_free(parsed);
                        } else
                                r = -EINVAL;
                }
        virTypedParamsClear(params, n);
        return r;
}

static int set_numa(PinContext *c, const Placement *pl) {
        if (pl->memory_mode != MEMORY_STRICT || hwloc_bitmap_iszero(pl->memory_nodes))
                return 0; /* other modes can only be chosen at start: the domain keeps its own */
        /* libvirt refuses to change a live nodeset once set (outside restrictive mode), even to
         * the same value: only write when it differs. */
        _cleanup_bitmap_ hwloc_bitmap_t now = hwloc_bitmap_alloc();
        if (get_nodeset(c, now) == 0 && hwloc_bitmap_isequal(now, pl->memory_nodes))
                return 0;
        _cleanup_free_ char *nodes = cpulist_format(pl->memory_nodes);
        if (!nodes)
                return -ENOMEM;
        virTypedParameter param = { .field = VIR_DOMAIN_NUMA_NODESET, .type = VIR_TYPED_PARAM_STRING };
        param.value.s = nodes;
        if (virDomainSetNumaParameters(c->dom, &param, 1, c->flags) < 0)
                return fail(c, "numatune nodeset %s", nodes);
        return 0;
}

static int apply(PinContext *c, const Placement *pl) {
        _cleanup_bitmap_ hwloc_bitmap_t cpus = hwloc_bitmap_alloc();
        if (!cpus)
                return -ENOMEM;
        for (unsigned i = 0; i < pl->n_vcpus; i++) {
                placement_vcpu_cpus(pl, i, cpus);
                to_map(c, cpus);
                if (virDomainPinVcpuFlags(c->dom, pl->vcpus[i].vcpu, c->map, c->maplen, c->flags) < 0)
                        return fail(c, "pin vCPU %u", pl->vcpus[i].vcpu);
        }
        if (!hwloc_bitmap_iszero(pl->emulator)) {
                to_map(c, pl->emulator);
                if (virDomainPinEmulator(c->dom, c->map, c->maplen, c->flags) < 0)
                        return fail(c, "pin emulator");
        }
        for (unsigned i = 0; i < pl->n_iothreads; i++) {
                to_map(c, pl->iothreads[i].cpus);
                if (virDomainPinIOThread(c->dom, pl->iothreads[i].id, c->map, c->maplen, c->flags) < 0)
                        return fail(c, "pin iothread %u", pl->iothreads[i].id);
        }
        return set_numa(c, pl);
}

static int differs(PinContext *c, const char *what, hwloc_const_bitmap_t want, hwloc_const_bitmap_t got) {
        _cleanup_free_ char *w = cpulist_format(want), *g = cpulist_format(got);
        free(*c->error);
        *c->error = NULL;
        if (asprintf(c->error, "%s is on CPUs %s, not %s", what, g ? g : "?", w ? w : "?") < 0)
                *c->error = NULL;
        return -ESTALE;
}

static int verify_vcpus(PinContext *c, const Placement *pl) {
        _cleanup_bitmap_ hwloc_bitmap_t got = hwloc_bitmap_alloc(), want = hwloc_bitmap_alloc();
        _cleanup_free_ unsigned char *maps = calloc(pl->n_vcpus ? pl->n_vcpus : 1, (size_t) c->maplen);
        if (!got || !want || !maps)
                return -ENOMEM;
        int n;
        if ((n = virDomainGetVcpuPinInfo(c->dom, (int) pl->n_vcpus, maps, c->maplen, c->flags)) < 0)
                return fail(c, "read vCPU pins");
        for (unsigned i = 0; i < pl->n_vcpus; i++) {
                unsigned v = pl->vcpus[i].vcpu;
                if ((int) v >= n)
                        return fail(c, "vCPU %u is missing", v);
                from_map(c, VIR_GET_CPUMAP(maps, c->maplen, v), got);
                placement_vcpu_cpus(pl, i, want);
                if (!hwloc_bitmap_isequal(got, want)) {
                        char what[32];
                        snprintf(what, sizeof(what), "vCPU %u", v);
                        return differs(c, what, want, got);
                }
        }
        return 0;
}

static int verify(PinContext *c, const Placement *pl) {
        _cleanup_bitmap_ hwloc_bitmap_t got = hwloc_bitmap_alloc();
        if (!got)
                return -ENOMEM;
        int r = verify_vcpus(c, pl);
        if (r < 0)
                return r;
        if (!hwloc_bitmap_iszero(pl->emulator)) {
                if (virDomainGetEmulatorPinInfo(c->dom, c->map, c->maplen, c->flags) < 0)
                        return fail(c, "read emulator pin");
                from_map(c, c->map, got);
                if (!hwloc_bitmap_isequal(got, pl->emulator))
                        return differs(c, "emulator", pl->emulator, got);
        }
        if (pl->memory_mode == MEMORY_STRICT && !hwloc_bitmap_iszero(pl->memory_nodes)) {
                if ((r = get_nodeset(c, got)) < 0)
                        return r;
                if (!hwloc_bitmap_isequal(got, pl->memory_nodes))
                        return differs(c, "memory (numatune nodes)", pl->memory_nodes, got);
        }
        if (pl->n_iothreads > 0) {
                virDomainIOThreadInfoPtr *info = NULL;
                int ni;
                if ((ni = virDomainGetIOThreadInfo(c->dom, &info, c->flags)) < 0)
                        return fail(c, "read iothread pins");
                r = 0;
                for (unsigned i = 0; i < pl->n_iothreads && r == 0; i++) {
                        bool found = false;
                        for (int j = 0; j < ni; j++)
                                if (info[j]->iothread_id == pl->iothreads[i].id) {
                                        found = true;
                                        memset(c->map, 0, (size_t) c->maplen);
                                        memcpy(c->map, info[j]->cpumap,
                                               (size_t) (info[j]->cpumaplen < c->maplen ? info[j]->cpumaplen
                                                                                        : c->maplen));
                                        from_map(c, c->map, got);
                                        if (!hwloc_bitmap_isequal(got, pl->iothreads[i].cpus)) {
                                                char what[32];
                                                snprintf(what, sizeof(what), "iothread %u", pl->iothreads[i].id);
                                                r = differs(c, what, pl->iothreads[i].cpus, got);
                                        }
                                }
                        if (!found && r == 0 && asprintf(c->error, "iothread %u is missing", pl->iothreads[i].id) >= 0)
                                r = -ESTALE;
                }
                for (int j = 0; j < ni; j++)
                        virDomainIOThreadInfoFree(info[j]);
                free(info);
                if (r < 0)
                        return r;
        }
        return 0;
}

unsigned pin_live_flags(const char *driver) {
        return driver && strcasecmp(driver, "TEST") == 0 ? VIR_DOMAIN_AFFECT_CURRENT : VIR_DOMAIN_AFFECT_LIVE;
}

static int with_context(virDomainPtr dom, const Placement *pl, unsigned cpus, char **ret_error, bool do_apply) {
        *ret_error = NULL;
        PinContext c = { .dom = dom,
                         .maplen = VIR_CPU_MAPLEN((int) cpus),
                         .flags = pin_live_flags(virConnectGetType(virDomainGetConnect(dom))),
                         .error = ret_error };
        _cleanup_free_ unsigned char *map = calloc(1, (size_t) c.maplen);
        if (!map)
                return -ENOMEM;
        c.map = map;
        int r = do_apply ? apply(&c, pl) : 0;
        if (r >= 0)
                r = verify(&c, pl);
        return r;
}

int pin_apply(virDomainPtr dom, const Placement *pl, unsigned cpus, char **ret_error) {
        return with_context(dom, pl, cpus, ret_error, true);
}

int pin_verify(virDomainPtr dom, const Placement *pl, unsigned cpus, char **ret_error) {
        return with_context(dom, pl, cpus, ret_error, false);
}

bool pin_matches(virDomainPtr dom, const Placement *pl, unsigned cpus) {
        _cleanup_free_ char *error = NULL;
        return pin_verify(dom, pl, cpus, &error) == 0;
}

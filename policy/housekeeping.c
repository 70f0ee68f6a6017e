/* HousekeepingCPUs=auto: each node's least valuable core, and why it was chosen. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpulist.h"
#include "housekeeping.h"
#include "macro.h"

/* HousekeepingCPUs=auto takes, per NUMA node, the node's least valuable core with all its threads,
 * so that what a VM wants most stays for VMs. A core belongs to the node the planner counts it
 * with: its own, else (CPUs without local memory) the first node of its package, else node 0.
 * The node's cores are narrowed step by step, each step keeping the cores with the lowest key:
 *   HK_KIND    hybrid hosts whose CPU kinds hwloc ranks: a core of the least efficient kind (an
 *              E-core) before any P-core;
 *   HK_L3      L3 domains of different sizes: a core below the smallest L3 (not the V-cache die);
 *   HK_DEVICE  a core outside the local CPUs of every GPU or accelerator (hk_accelerator), the
 *              devices a VM is given and wants to run next to;
 *   HK_MEMORY  a core with local memory before one of a memoryless die;
 *   HK_NUMBER  the lowest-numbered core (its first CPU): the only step that decides on a host where
 *              nothing above differs, which is the choice kvmtuned always made there.
 * Each step keeps at least one core and the last leaves exactly one: the choice is deterministic. */
enum { HK_KIND, HK_L3, HK_DEVICE, HK_MEMORY, HK_NUMBER, HK_STEPS };

static int hk_core_home(const Topology *t, unsigned k) {
        int home = t->cores[k].node;
        for (unsigned n = 0; home < 0 && n < t->n_nodes; n++)
                if (hwloc_bitmap_intersects(t->nodes[n].cpuset, t->packages[t->cores[k].package].cpuset))
                        home = (int) n;
        return home < 0 ? 0 : home;
}

/* A GPU or accelerator: PCI class display (VGA, 3D, other) or processing accelerator, or a device
 * hwloc gives a CUDA, OpenCL, ROCm SMI or NVML OS device. */
static bool hk_accelerator(const TopoDevice *d) {
        static const char *const coproc[] = { "cuda", "opencl", "rsmi", "nvml" };
        if (d->class_id >> 8 == 0x03 || d->class_id >> 8 == 0x12)
                return true;
        for (const char *p = d->os_names; p && *p; p += strcspn(p, " "), p += strspn(p, " "))
                for (size_t i = 0; i < ELEMENTSOF(coproc); i++)
                        if (strncmp(p, coproc[i], strlen(coproc[i])) == 0)
                                return true;
        return false;
}

/* The first GPU or accelerator whose local CPUs include a CPU of core k, or -1. */
static int hk_near_device(const Topology *t, unsigned k) {
        for (unsigned i = 0; i < t->n_devices; i++)
                if (t->devices[i].local_cpus && hk_accelerator(&t->devices[i]) &&
                    hwloc_bitmap_intersects(t->devices[i].local_cpus, t->cores[k].cpuset))
                        return (int) i;
        return -1;
}

static uint64_t hk_key(const Topology *t, unsigned k, int step) {
        const TopoCore *core = &t->cores[k];
        int first = hwloc_bitmap_first(core->cpuset), kind = topology_cpu(t, (unsigned) first)->kind;
        switch (step) {
        case HK_KIND: /* unranked kinds (-1) tell nothing apart */
                return kind >= 0 && t->kinds[kind].efficiency >= 0 ? (uint64_t) t->kinds[kind].efficiency : UINT64_MAX;
        case HK_L3:
                return core->l3 >= 0 ? t->l3s[core->l3].size_bytes : 0;
        case HK_DEVICE:
                return hk_near_device(t, k) >= 0;
        case HK_MEMORY:
                return core->node < 0;
        default:
                return (uint64_t) first;
        }
}

/* Keeps the cores of cand[0..*n) with the lowest key of step. Returns a dropped core with the
 * highest key (what the choice is told apart from), or -1 when every core was kept. */
static int hk_narrow(const Topology *t, unsigned *cand, unsigned *n, int step) {
        uint64_t best = UINT64_MAX, dropped_key = 0;
        for (unsigned i = 0; i < *n; i++) {
                uint64_t key = hk_key(t, cand[i], step);
                best = key < best ? key : best;
        }
        unsigned kept = 0;
        int dropped = -1;
        for (unsigned i = 0; i < *n; i++) {
                uint64_t key = hk_key(t, cand[i], step);
                if (key == best)
                        cand[kept++] = cand[i];
                else if (dropped < 0 || key > dropped_key) {
                        dropped = (int) cand[i];
                        dropped_key = key;
                }
        }
        *n = kept;
        return dropped;
}

/* "16 MiB", "512 KiB": L3 sizes are whole KiB, mostly whole MiB. */
static void hk_size(uint64_t bytes, char *buf, size_t len) {
        if (bytes && bytes % (1024 * 1024) == 0)
                snprintf(buf, len, "%" PRIu64 " MiB", bytes / (1024 * 1024));
        else
                snprintf(buf, len, "%" PRIu64 " KiB", bytes / 1024);
}

/* Why step chose core k over the dropped core d. */
static void hk_reason(const Topology *t, int step, unsigned k, unsigned d, char *buf, size_t len) {
        char mine[32], other[32];
        switch (step) {
        case HK_KIND:
                snprintf(buf, len, "an efficiency core");
                return;
        case HK_L3:
                hk_size(t->l3s[t->cores[d].l3].size_bytes, other, sizeof(other));
                if (t->cores[k].l3 < 0) {
                        snprintf(buf, len, "no L3 (others have %s)", other);
                        return;
                }
                hk_size(t->l3s[t->cores[k].l3].size_bytes, mine, sizeof(mine));
                snprintf(buf, len, "the smaller L3 (%s of %s)", mine, other);
                return;
        case HK_DEVICE:
                snprintf(buf, len, "outside the locality of %s", t->devices[hk_near_device(t, d)].address);
                return;
        default:
                snprintf(buf, len, "a core with local memory");
                return;
        }
}

/* The line of node n (index) for core k: "node 0: core 4 (CPUs 4,16): the smaller L3 (...)". */
static int hk_explain(const Topology *t, unsigned n, unsigned k, unsigned total, const int *dropped, char **ret_why) {
        char reasons[512] = "", buf[128], note[96] = "", node[32] = "host";
        for (int step = HK_KIND; step < HK_NUMBER; step++)
                if (dropped[step] >= 0) {
                        hk_reason(t, step, k, (unsigned) dropped[step], buf, sizeof(buf));
                        snprintf(reasons + strlen(reasons), sizeof(reasons) - strlen(reasons), "%s%s",
                                 *reasons ? ", " : "", buf);
                }
        if (!*reasons)
                snprintf(reasons, sizeof(reasons), total == 1 ? "the only core" : "the lowest-numbered core");
        int near = hk_near_device(t, k);
        if (near >= 0 && dropped[HK_DEVICE] < 0)
                snprintf(note, sizeof(note), " (every core left is near %s)", t->devices[near].address);
        if (t->n_nodes)
                snprintf(node, sizeof(node), "node %u", t->nodes[n].os);
        _cleanup_free_ char *cpus = cpulist_format(t->cores[k].cpuset);
        if (!cpus || asprintf(ret_why, "%s: core %u (CPU%s %s): %s%s", node, k,
                              hwloc_bitmap_weight(t->cores[k].cpuset) > 1 ? "s" : "", cpus, reasons, note) < 0) {
                *ret_why = NULL;
                return -ENOMEM;
        }
        return 0;
}

/* Adds node n's housekeeping core to set and says why in *ret_why (NULL: the node has no core). */
static int hk_choose(const Topology *t, unsigned n, hwloc_bitmap_t set, char **ret_why) {
        *ret_why = NULL;
        _cleanup_free_ unsigned *cand = malloc((t->n_cores ? t->n_cores : 1) * sizeof(unsigned));
        if (!cand)
                return -ENOMEM;
        unsigned n_cand = 0;
        for (unsigned k = 0; k < t->n_cores; k++)
                if (hk_core_home(t, k) == (int) n)
                        cand[n_cand++] = k;
        if (n_cand == 0)
                return 0;
        unsigned total = n_cand;
        int dropped[HK_STEPS];
        for (int step = HK_KIND; step < HK_STEPS; step++)
                dropped[step] = hk_narrow(t, cand, &n_cand, step);
        hwloc_bitmap_or(set, set, t->cores[cand[0]].cpuset);
        return hk_explain(t, n, cand[0], total, dropped, ret_why);
}

int housekeeping_auto(const Topology *t, hwloc_bitmap_t set, char ***ret_why) {
        unsigned groups = t->n_nodes ? t->n_nodes : 1, n_why = 0;
        char **why = calloc(groups + 1, sizeof(char *));
        if (!why)
                return -ENOMEM;
        hwloc_bitmap_zero(set);
        for (unsigned n = 0; n < groups; n++) {
                int r = hk_choose(t, n, set, &why[n_why]);
                if (r < 0) {
                        for (unsigned i = 0; i < n_why; i++)
                                free(why[i]);
                        free(why);
                        return r;
                }
                n_why += why[n_why] != NULL;
        }
        *ret_why = why;
        return 0;
}

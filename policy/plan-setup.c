/* The planner's fixed view of the host, built once: cores and their CPUs, L3-in-node pairs, node
 * distances, CPU kinds. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "macro.h"
#include "planner-internal.h"

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

/* Whether some core has CPUs of both kinds: then free CPUs of a kind are counted per CPU. */
static bool kinds_split_cores(const Planner *p) {
        for (unsigned k = 0; k < p->t->n_cores; k++)
                for (unsigned j = p->core_cpu0[k] + 1; j < p->core_cpu0[k + 1]; j++)
                        if (p->perf_kind[p->core_cpus[j]] != p->perf_kind[p->core_cpus[j - 1]] ||
                            p->eff_kind[p->core_cpus[j]] != p->eff_kind[p->core_cpus[j - 1]])
                                return true;
        return false;
}

int setup_host(Planner *p) {
        int r = setup_cores(p);
        if (r >= 0)
                r = setup_pairs(p);
        if (r >= 0 && (!(p->pair_near = calloc(p->n_pairs ? p->n_pairs : 1, 1)) ||
                       !(p->pair_fast = calloc(p->n_pairs ? p->n_pairs : 1, 1)) ||
                       !(p->pair_shared_vcpus = calloc(p->n_pairs ? p->n_pairs : 1, sizeof(unsigned)))))
                r = -ENOMEM;
        if (r >= 0)
                r = setup_distances(p);
        if (r < 0)
                return r;
        setup_kinds(p);
        p->kinds_split_cores = kinds_split_cores(p);
        for (unsigned i = 0; i < p->n_pairs; i++) /* pairs of performance CPUs (hybrid, larger L3) */
                for (unsigned j = 0; j < p->pairs[i].n_cores; j++) {
                        unsigned k = p->pairs[i].cores[j];
                        p->pair_fast[i] |= p->perf_kind[p->core_cpus[p->core_cpu0[k]]];
                }
        return 0;
}

/* bench/placement-quality: the machine as hwloc shows it (nodes, L3s, cores, kinds), not the
 * planner's model. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "macro.h"
#include "placement-quality.h"

void host_clear(Host *h) {
        hwloc_bitmap_free(h->usable);
        hwloc_bitmap_free(h->dedicated);
        hwloc_bitmap_free(h->shared);
        hwloc_bitmap_free(h->perf);
        for (unsigned i = 0; h->node_cpus && i < h->n_nodes; i++)
                hwloc_bitmap_free(h->node_cpus[i]);
        for (unsigned i = 0; h->l3_cpus && i < h->n_l3s; i++)
                hwloc_bitmap_free(h->l3_cpus[i]);
        for (unsigned i = 0; h->core_cpus && i < h->n_cores; i++)
                hwloc_bitmap_free(h->core_cpus[i]);
        free(h->node_cpus);
        free(h->node_os);
        free(h->node_mem_kib);
        free(h->l3_cpus);
        free(h->core_cpus);
        *h = (Host){ 0 };
}

static int cmp_node_os(const void *a, const void *b) {
        hwloc_obj_t x = *(const hwloc_obj_t *) a, y = *(const hwloc_obj_t *) b;
        return (x->os_index > y->os_index) - (x->os_index < y->os_index);
}

/* Nodes in kernel order; a CPU with no local memory counts for the first node of its package
 * (README, placement rules), else node 0. */
static int host_nodes(Host *h) {
        unsigned n = (unsigned) hwloc_get_nbobjs_by_type(h->topo, HWLOC_OBJ_NUMANODE);
        _cleanup_free_ hwloc_obj_t *objs = calloc(n ? n : 1, sizeof(hwloc_obj_t));
        h->node_cpus = calloc(n ? n : 1, sizeof(hwloc_bitmap_t));
        h->node_os = calloc(n ? n : 1, sizeof(unsigned));
        h->node_mem_kib = calloc(n ? n : 1, sizeof(uint64_t));
        _cleanup_bitmap_ hwloc_bitmap_t seen = hwloc_bitmap_alloc();
        if (!objs || !h->node_cpus || !h->node_os || !h->node_mem_kib || !seen || n == 0)
                return n == 0 ? -EINVAL : -ENOMEM;
        for (unsigned i = 0; i < n; i++)
                objs[i] = hwloc_get_obj_by_type(h->topo, HWLOC_OBJ_NUMANODE, i);
        qsort(objs, n, sizeof(hwloc_obj_t), cmp_node_os);
        for (h->n_nodes = 0; h->n_nodes < n; h->n_nodes++) {
                unsigned i = h->n_nodes;
                if (!(h->node_cpus[i] = hwloc_bitmap_alloc()))
                        return -ENOMEM;
                hwloc_bitmap_and(h->node_cpus[i], objs[i]->cpuset, h->usable);
                hwloc_bitmap_andnot(h->node_cpus[i], h->node_cpus[i], seen);
                hwloc_bitmap_or(seen, seen, h->node_cpus[i]);
                h->node_os[i] = objs[i]->os_index;
                h->node_mem_kib[i] = objs[i]->attr->numanode.local_memory / 1024;
        }
        int cpu;
        hwloc_bitmap_foreach_begin(cpu, h->usable) {
                if (hwloc_bitmap_isset(seen, (unsigned) cpu))
                        continue;
                hwloc_obj_t pu = hwloc_get_pu_obj_by_os_index(h->topo, (unsigned) cpu);
                hwloc_obj_t pkg = pu ? hwloc_get_ancestor_obj_by_type(h->topo, HWLOC_OBJ_PACKAGE, pu) : NULL;
                unsigned home = 0;
                for (unsigned i = 0; pkg && i < n; i++)
                        if (hwloc_bitmap_intersects(objs[i]->cpuset, pkg->cpuset)) {
                                home = i;
                                break;
                        }
                hwloc_bitmap_set(h->node_cpus[home], (unsigned) cpu);
        }
        hwloc_bitmap_foreach_end();
        return 0;
}

/* Cores (a PU without a Core above it is a core of its own) in order of their first CPU, and the
 * L3 domains, both restricted to usable CPUs. */
static int host_cores_l3s(Host *h) {
        unsigned n_pu = (unsigned) hwloc_bitmap_weight(h->usable);
        unsigned n_l3 = (unsigned) hwloc_get_nbobjs_by_type(h->topo, HWLOC_OBJ_L3CACHE);
        h->core_cpus = calloc(n_pu ? n_pu : 1, sizeof(hwloc_bitmap_t));
        h->l3_cpus = calloc(n_l3 ? n_l3 : 1, sizeof(hwloc_bitmap_t));
        _cleanup_bitmap_ hwloc_bitmap_t seen = hwloc_bitmap_alloc();
        if (!h->core_cpus || !h->l3_cpus || !seen)
                return -ENOMEM;
        int cpu;
        hwloc_bitmap_foreach_begin(cpu, h->usable) {
                if (hwloc_bitmap_isset(seen, (unsigned) cpu))
                        continue;
                hwloc_obj_t pu = hwloc_get_pu_obj_by_os_index(h->topo, (unsigned) cpu);
                hwloc_obj_t core = pu ? hwloc_get_ancestor_obj_by_type(h->topo, HWLOC_OBJ_CORE, pu) : NULL;
                hwloc_bitmap_t set = h->core_cpus[h->n_cores] = hwloc_bitmap_alloc();
                if (!set)
                        return -ENOMEM;
                h->n_cores++;
                if (core)
                        hwloc_bitmap_and(set, core->cpuset, h->usable);
                else
                        hwloc_bitmap_only(set, (unsigned) cpu);
                hwloc_bitmap_or(seen, seen, set);
                unsigned w = (unsigned) hwloc_bitmap_weight(set);
                h->smt_max = w > h->smt_max ? w : h->smt_max;
        }
        hwloc_bitmap_foreach_end();
        for (unsigned i = 0; i < n_l3; i++) {
                hwloc_obj_t l3 = hwloc_get_obj_by_type(h->topo, HWLOC_OBJ_L3CACHE, i);
                if (!(h->l3_cpus[h->n_l3s] = hwloc_bitmap_alloc()))
                        return -ENOMEM;
                hwloc_bitmap_and(h->l3_cpus[h->n_l3s], l3->cpuset, h->usable);
                h->n_l3s++;
        }
        return 0;
}

/* CoreKind=performance as the policy defines it: the most efficient hwloc cpukind on a hybrid
 * host whose kinds are ranked; else, when L3 domains differ in size, the CPUs of the largest;
 * else every CPU. */
static int host_perf(Host *h) {
        hwloc_bitmap_copy(h->perf, h->usable);
        int nk = hwloc_cpukinds_get_nr(h->topo, 0);
        if (nk > 1) {
                _cleanup_bitmap_ hwloc_bitmap_t set = hwloc_bitmap_alloc();
                int best = -1, best_eff = -1;
                bool ranked = true;
                for (int k = 0; set && k < nk; k++) {
                        int eff = -1;
                        if (hwloc_cpukinds_get_info(h->topo, (unsigned) k, set, &eff, NULL, NULL, 0) < 0 || eff < 0)
                                ranked = false;
                        else if (eff > best_eff) {
                                best_eff = eff;
                                best = k;
                        }
                }
                if (!set)
                        return -ENOMEM;
                if (ranked && best >= 0) {
                        hwloc_cpukinds_get_info(h->topo, (unsigned) best, set, NULL, NULL, NULL, 0);
                        hwloc_bitmap_and(h->perf, set, h->usable);
                        return 0;
                }
        }
        uint64_t largest = 0, smallest = UINT64_MAX;
        for (unsigned i = 0; i < h->n_l3s; i++) {
                hwloc_obj_t l3 = hwloc_get_obj_by_type(h->topo, HWLOC_OBJ_L3CACHE, i);
                largest = l3->attr->cache.size > largest ? l3->attr->cache.size : largest;
                smallest = l3->attr->cache.size < smallest ? l3->attr->cache.size : smallest;
        }
        if (h->n_l3s < 2 || largest == smallest)
                return 0;
        hwloc_bitmap_zero(h->perf);
        for (unsigned i = 0; i < h->n_l3s; i++)
                if (hwloc_get_obj_by_type(h->topo, HWLOC_OBJ_L3CACHE, i)->attr->cache.size == largest)
                        hwloc_bitmap_or(h->perf, h->perf, h->l3_cpus[i]);
        return 0;
}

int host_load(const Topology *t, const Config *c, Host *h) {
        *h = (Host){ .t = t, .topo = t->hwloc };
        h->usable = hwloc_bitmap_dup(t->cpuset);
        h->dedicated = hwloc_bitmap_alloc();
        h->shared = hwloc_bitmap_alloc();
        h->perf = hwloc_bitmap_alloc();
        if (!h->usable || !h->dedicated || !h->shared || !h->perf)
                return -ENOMEM;
        /* The pools as the configuration resolved them: housekeeping is in neither. */
        hwloc_bitmap_and(h->dedicated, c->host.dedicated, h->usable);
        hwloc_bitmap_andnot(h->dedicated, h->dedicated, c->host.housekeeping);
        hwloc_bitmap_and(h->shared, c->host.shared, h->usable);
        hwloc_bitmap_andnot(h->shared, h->shared, c->host.housekeeping);
        int r = host_nodes(h);
        if (r >= 0)
                r = host_cores_l3s(h);
        if (r >= 0)
                r = host_perf(h);
        return r;
}

int host_core_of(const Host *h, unsigned cpu) {
        for (unsigned k = 0; k < h->n_cores; k++)
                if (hwloc_bitmap_isset(h->core_cpus[k], cpu))
                        return (int) k;
        return -1;
}

/* How many of the groups (nodes, L3s) set touches, and the list of their indexes into buf. */
unsigned host_groups_touched(hwloc_bitmap_t *groups, unsigned n, hwloc_const_bitmap_t set, char *buf, size_t len,
                             const unsigned *label) {
        unsigned count = 0;
        size_t off = 0;
        buf[0] = 0;
        for (unsigned i = 0; i < n; i++)
                if (hwloc_bitmap_intersects(groups[i], set)) {
                        count++;
                        if (off < len)
                                off += (size_t) snprintf(buf + off, len - off, "%s%u", count > 1 ? "," : "",
                                                         label ? label[i] : i);
                }
        return count;
}

/* The host model, built once from hwloc (live host, XML file or synthetic description). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "kfile.h"
#include "macro.h"
#include "nodemem.h"
#include "topology.h"

/* The smallest page size that counts as a hugepage: base pages are 4 KiB on x86, up to
 * 64 KiB on POWER and ARM, and hwloc lists them first in page_types. */
#define BASE_PAGE_MAX 65536

static int cpu_os_cmp(const void *a, const void *b) {
        const TopoCpu *x = a, *y = b;
        return (x->os > y->os) - (x->os < y->os);
}

static int node_os_cmp(const void *a, const void *b) {
        const TopoNode *x = a, *y = b;
        return (x->os > y->os) - (x->os < y->os);
}

/* Returns the index of the hwloc object of that type above obj, or -1; logical indexes
 * of one type are dense and in the order our arrays are filled. */
static int ancestor_index(hwloc_topology_t topo, hwloc_obj_type_t type, hwloc_obj_t obj) {
        hwloc_obj_t a = hwloc_get_ancestor_obj_by_type(topo, type, obj);
        return a ? (int) a->logical_index : -1;
}

static int count_type(hwloc_topology_t topo, hwloc_obj_type_t type) {
        int n = hwloc_get_nbobjs_by_type(topo, type);
        return n < 0 ? 0 : n; /* -1: the type sits at several depths, which hwloc forbids for these */
}

/* Takes the live figures of mem into node: free memory and the hugepage pools. -ENOMEM. */
static int set_node_memory(TopoNode *node, const NodeMemory *mem) {
        TopoHugepages *pools = calloc(mem->n_hugepages ? mem->n_hugepages : 1, sizeof(TopoHugepages));
        if (!pools)
                return -ENOMEM;
        for (unsigned i = 0; i < mem->n_hugepages; i++)
                pools[i] = (TopoHugepages){
                        .page_kib = mem->hugepages[i].page_kib,
                        .total = (int64_t) mem->hugepages[i].total,
                        .free = (int64_t) mem->hugepages[i].free,
                };
        free(node->hugepages);
        node->hugepages = pools;
        node->n_hugepages = mem->n_hugepages;
        node->free_bytes = (int64_t) mem->free_bytes;
        node->available_bytes = (int64_t) mem->available_bytes;
        return 0;
}

int topology_refresh_memory(Topology *t, const char *sysfs) {
        int read = 0;
        for (unsigned n = 0; n < t->n_nodes; n++) {
                NodeMemory mem;
                if (nodemem_read(sysfs, t->nodes[n].os, &mem) < 0)
                        continue;
                if (set_node_memory(&t->nodes[n], &mem) < 0)
                        return -ENOMEM;
                read++;
        }
        return read;
}

static int load_nodes(Topology *t, const TopologySource *src) {
        hwloc_topology_t topo = t->hwloc;
        unsigned n = (unsigned) count_type(topo, HWLOC_OBJ_NUMANODE);
        t->nodes = calloc(n ? n : 1, sizeof(TopoNode));
        if (!t->nodes)
                return -ENOMEM;

        bool live = !src->xml_path && !src->synthetic;
        for (hwloc_obj_t o = NULL; (o = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_NUMANODE, o));) {
                TopoNode *node = &t->nodes[t->n_nodes++];
                node->os = o->os_index;
                node->memory_bytes = o->attr->numanode.local_memory;
                node->free_bytes = node->available_bytes = -1;
                node->cpuset = hwloc_bitmap_dup(o->cpuset);
                if (!node->cpuset)
                        return -ENOMEM;
                hwloc_bitmap_and(node->cpuset, node->cpuset, t->cpuset);

                NodeMemory mem;
                if (live && nodemem_read(src->sysfs ? src->sysfs : "/sys", o->os_index, &mem) >= 0) {
                        if (set_node_memory(node, &mem) < 0)
                                return -ENOMEM;
                        continue;
                }

                unsigned np = o->attr->numanode.page_types_len;
                node->hugepages = calloc(np ? np : 1, sizeof(TopoHugepages));
                if (!node->hugepages)
                        return -ENOMEM;
                for (unsigned i = 0; i < np; i++) {
                        const struct hwloc_memory_page_type_s *pt = &o->attr->numanode.page_types[i];
                        if (pt->size <= BASE_PAGE_MAX)
                                continue;
                        node->hugepages[node->n_hugepages++] = (TopoHugepages){
                                .page_kib = pt->size / 1024,
                                .total = (int64_t) pt->count,
                                .free = -1,
                        };
                }
        }
        qsort(t->nodes, t->n_nodes, sizeof(TopoNode), node_os_cmp);
        return 0;
}

/* Fills every node's distance row from hwloc's NUMALatency matrix when it covers all nodes. */
static int load_distances(Topology *t) {
        unsigned nr = 1;
        struct hwloc_distances_s *d = NULL;
        if (hwloc_distances_get_by_name(t->hwloc, "NUMALatency", &nr, &d, 0) < 0 || nr == 0)
                return 0;

        int r = 0;
        if (d->nbobjs != t->n_nodes)
                goto out; /* a partial matrix is no basis for choosing nodes */

        for (unsigned i = 0; i < t->n_nodes; i++) {
                t->nodes[i].distances = calloc(t->n_nodes, sizeof(uint64_t));
                if (!t->nodes[i].distances) {
                        r = -ENOMEM;
                        goto out;
                }
        }
        for (unsigned i = 0; i < d->nbobjs; i++) {
                int a = topology_node_index(t, d->objs[i]->os_index);
                for (unsigned j = 0; j < d->nbobjs; j++) {
                        int b = topology_node_index(t, d->objs[j]->os_index);
                        if (a >= 0 && b >= 0)
                                t->nodes[a].distances[b] = d->values[i * d->nbobjs + j];
                }
        }
out:
        hwloc_distances_release(t->hwloc, d);
        return r;
}

static int load_caches_packages_groups(Topology *t) {
        hwloc_topology_t topo = t->hwloc;

        t->l3s = calloc((size_t) count_type(topo, HWLOC_OBJ_L3CACHE) + 1, sizeof(TopoL3));
        t->packages = calloc((size_t) count_type(topo, HWLOC_OBJ_PACKAGE) + 1, sizeof(TopoPackage));
        t->groups = calloc((size_t) (count_type(topo, HWLOC_OBJ_DIE) + count_type(topo, HWLOC_OBJ_GROUP)) + 1,
                           sizeof(TopoGroup));
        if (!t->l3s || !t->packages || !t->groups)
                return -ENOMEM;

        for (hwloc_obj_t o = NULL; (o = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_L3CACHE, o));) {
                TopoL3 *l3 = &t->l3s[t->n_l3s++];
                l3->size_bytes = o->attr->cache.size;
                l3->cpuset = hwloc_bitmap_dup(o->cpuset);
                l3->nodes = hwloc_bitmap_alloc();
                if (!l3->cpuset || !l3->nodes)
                        return -ENOMEM;
        }

        for (hwloc_obj_t o = NULL; (o = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_PACKAGE, o));) {
                TopoPackage *p = &t->packages[t->n_packages++];
                p->os = o->os_index != HWLOC_UNKNOWN_INDEX ? o->os_index : o->logical_index;
                p->cpuset = hwloc_bitmap_dup(o->cpuset);
                if (!p->cpuset)
                        return -ENOMEM;
        }
        if (t->n_packages == 0) {
                /* Some synthetic and embedded topologies have no package level: the machine is one. */
                t->packages[0].cpuset = hwloc_bitmap_dup(t->cpuset);
                if (!t->packages[0].cpuset)
                        return -ENOMEM;
                t->n_packages = 1;
        }

        hwloc_obj_type_t group_types[] = { HWLOC_OBJ_DIE, HWLOC_OBJ_GROUP };
        for (size_t i = 0; i < ELEMENTSOF(group_types); i++)
                for (hwloc_obj_t o = NULL; (o = hwloc_get_next_obj_by_type(topo, group_types[i], o));) {
                        TopoGroup *g = &t->groups[t->n_groups++];
                        g->type = strdup(o->subtype ? o->subtype : hwloc_obj_type_string(o->type));
                        g->cpuset = hwloc_bitmap_dup(o->cpuset);
                        if (!g->type || !g->cpuset)
                                return -ENOMEM;
                }
        return 0;
}

static int load_kinds(Topology *t) {
        int n = hwloc_cpukinds_get_nr(t->hwloc, 0);
        if (n <= 0)
                return 0;
        t->kinds = calloc((size_t) n, sizeof(TopoKind));
        if (!t->kinds)
                return -ENOMEM;

        for (int i = 0; i < n; i++) {
                TopoKind *k = &t->kinds[t->n_kinds++];
                unsigned n_infos = 0;
                struct hwloc_info_s *infos = NULL;
                k->cpuset = hwloc_bitmap_alloc();
                if (!k->cpuset)
                        return -ENOMEM;
                if (hwloc_cpukinds_get_info(t->hwloc, (unsigned) i, k->cpuset, &k->efficiency, &n_infos, &infos, 0) < 0)
                        return -errno;

                size_t len = 1;
                for (unsigned j = 0; j < n_infos; j++)
                        len += strlen(infos[j].name) + strlen(infos[j].value) + 2;
                k->info = calloc(1, len);
                if (!k->info)
                        return -ENOMEM;
                for (unsigned j = 0; j < n_infos; j++) {
                        if (j > 0)
                                strcat(k->info, " ");
                        strcat(k->info, infos[j].name);
                        strcat(k->info, "=");
                        strcat(k->info, infos[j].value);
                }
        }
        return 0;
}

/* Assigns every CPU the node with the smallest local cpuset that holds it: under SNC or
 * memory-side caches several nodes may list a CPU, the tightest one is its home. */
static void assign_home_nodes(Topology *t, int *home) {
        for (unsigned i = 0; i <= t->max_os_cpu; i++)
                home[i] = -1;
        for (unsigned n = 0; n < t->n_nodes; n++) {
                int weight = hwloc_bitmap_weight(t->nodes[n].cpuset);
                int cpu;
                hwloc_bitmap_foreach_begin(cpu, t->nodes[n].cpuset) {
                        int cur = home[cpu];
                        if (cur < 0 || weight < hwloc_bitmap_weight(t->nodes[cur].cpuset))
                                home[cpu] = (int) n;
                }
                hwloc_bitmap_foreach_end();
        }
}

static int load_cores_and_cpus(Topology *t) {
        hwloc_topology_t topo = t->hwloc;
        unsigned n_pu = (unsigned) count_type(topo, HWLOC_OBJ_PU);
        unsigned n_core_objs = (unsigned) count_type(topo, HWLOC_OBJ_CORE);

        t->cpus = calloc(n_pu ? n_pu : 1, sizeof(TopoCpu));
        t->cores = calloc(n_pu ? n_pu : 1, sizeof(TopoCore)); /* at most one core per PU */
        _cleanup_free_ int *core_of_obj = malloc((n_core_objs + 1) * sizeof(int));
        _cleanup_free_ int *home = malloc(((size_t) t->max_os_cpu + 1) * sizeof(int));
        if (!t->cpus || !t->cores || !core_of_obj || !home)
                return -ENOMEM;
        for (unsigned i = 0; i <= n_core_objs; i++)
                core_of_obj[i] = -1;
        assign_home_nodes(t, home);

        for (hwloc_obj_t pu = NULL; (pu = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_PU, pu));) {
                if (!hwloc_bitmap_isset(t->cpuset, pu->os_index))
                        continue;

                /* A PU without a Core above it (some synthetic or virtual topologies) is a core of its own. */
                hwloc_obj_t core_obj = hwloc_get_ancestor_obj_by_type(topo, HWLOC_OBJ_CORE, pu);
                int *slot = core_obj ? &core_of_obj[core_obj->logical_index] : NULL;
                int core_index = slot ? *slot : -1;
                if (core_index < 0) {
                        core_index = (int) t->n_cores++;
                        if (slot)
                                *slot = core_index;
                        t->cores[core_index].cpuset = hwloc_bitmap_alloc();
                        if (!t->cores[core_index].cpuset)
                                return -ENOMEM;
                }
                TopoCore *core = &t->cores[core_index];

                TopoCpu *cpu = &t->cpus[t->n_cpus++];
                int package = ancestor_index(topo, HWLOC_OBJ_PACKAGE, pu);
                *cpu = (TopoCpu){
                        .os = pu->os_index,
                        .core = core_index,
                        .l3 = ancestor_index(topo, HWLOC_OBJ_L3CACHE, pu),
                        .node = home[pu->os_index],
                        .package = package < 0 ? 0 : package,
                        .kind = -1,
                        .smt_index = core->n_cpus,
                };
                for (unsigned k = 0; k < t->n_kinds; k++)
                        if (hwloc_bitmap_isset(t->kinds[k].cpuset, pu->os_index))
                                cpu->kind = (int) k;

                if (core->n_cpus == 0) {
                        core->package = cpu->package;
                        core->l3 = cpu->l3;
                        core->node = cpu->node;
                }
                hwloc_bitmap_set(core->cpuset, pu->os_index);
                core->n_cpus++;
                if (cpu->l3 >= 0 && cpu->node >= 0)
                        hwloc_bitmap_set(t->l3s[cpu->l3].nodes, (unsigned) cpu->node);
        }
        if (t->n_cpus == 0)
                return -EINVAL;

        qsort(t->cpus, t->n_cpus, sizeof(TopoCpu), cpu_os_cmp);
        t->cpu_by_os = malloc(((size_t) t->max_os_cpu + 1) * sizeof(int));
        if (!t->cpu_by_os)
                return -ENOMEM;
        for (unsigned i = 0; i <= t->max_os_cpu; i++)
                t->cpu_by_os[i] = -1;
        for (unsigned i = 0; i < t->n_cpus; i++)
                t->cpu_by_os[t->cpus[i].os] = (int) i;

        t->smt_min = UINT32_MAX;
        for (unsigned i = 0; i < t->n_cores; i++) {
                if (t->cores[i].n_cpus < t->smt_min)
                        t->smt_min = t->cores[i].n_cpus;
                if (t->cores[i].n_cpus > t->smt_max)
                        t->smt_max = t->cores[i].n_cpus;
        }
        return 0;
}

static char *device_os_names(hwloc_obj_t dev) {
        size_t len = 0;
        for (hwloc_obj_t c = dev->io_first_child; c; c = c->next_sibling)
                if (c->type == HWLOC_OBJ_OS_DEVICE && c->name)
                        len += strlen(c->name) + 1;
        if (len == 0)
                return NULL;
        char *s = calloc(1, len);
        if (!s)
                return NULL;
        for (hwloc_obj_t c = dev->io_first_child; c; c = c->next_sibling)
                if (c->type == HWLOC_OBJ_OS_DEVICE && c->name) {
                        if (*s)
                                strcat(s, " ");
                        strcat(s, c->name);
                }
        return s;
}

static int load_devices(Topology *t) {
        hwloc_topology_t topo = t->hwloc;
        t->devices = calloc((size_t) count_type(topo, HWLOC_OBJ_PCI_DEVICE) + 1, sizeof(TopoDevice));
        if (!t->devices)
                return -ENOMEM;

        for (hwloc_obj_t o = NULL; (o = hwloc_get_next_pcidev(topo, o));) {
                TopoDevice *dev = &t->devices[t->n_devices++];
                const struct hwloc_pcidev_attr_s *pci = &o->attr->pcidev;
                snprintf(dev->address, sizeof(dev->address), "%04x:%02x:%02x.%01x", pci->domain, pci->bus, pci->dev,
                         pci->func);
                dev->class_id = pci->class_id;
                dev->vendor_id = pci->vendor_id;
                dev->device_id = pci->device_id;
                const char *name = o->name ? o->name : hwloc_obj_get_info_by_name(o, "PCIDevice");
                dev->name = name ? strdup(name) : NULL;
                dev->os_names = device_os_names(o);
                dev->node = -1;

                hwloc_obj_t anc = hwloc_get_non_io_ancestor_obj(topo, o);
                dev->local_cpus = hwloc_bitmap_dup(anc->cpuset);
                if (!dev->local_cpus)
                        return -ENOMEM;
                hwloc_bitmap_and(dev->local_cpus, dev->local_cpus, t->cpuset);
                if (anc->nodeset && hwloc_bitmap_weight(anc->nodeset) == 1)
                        dev->node = topology_node_index(t, (unsigned) hwloc_bitmap_first(anc->nodeset));
        }
        return 0;
}

static int open_hwloc(const TopologySource *src, hwloc_topology_t *ret_hwloc) {
        hwloc_topology_t topo;
        if (hwloc_topology_init(&topo) < 0)
                return -ENOMEM;

        /* PCI devices of every class: any of them may be a passthrough hostdev. */
        hwloc_topology_set_io_types_filter(topo, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
        hwloc_topology_set_type_filter(topo, HWLOC_OBJ_PCI_DEVICE, HWLOC_TYPE_FILTER_KEEP_ALL);

        int r = 0;
        if (!src->xml_path && !src->synthetic) /* see host_cpuset() */
                hwloc_topology_set_flags(topo, HWLOC_TOPOLOGY_FLAG_INCLUDE_DISALLOWED);
        if (src->xml_path) {
                if (access(src->xml_path, R_OK) < 0)
                        r = -errno;
                else if (hwloc_topology_set_xml(topo, src->xml_path) < 0)
                        r = -EINVAL;
        } else if (src->synthetic && hwloc_topology_set_synthetic(topo, src->synthetic) < 0)
                r = -EINVAL;
        if (r == 0 && hwloc_topology_load(topo) < 0)
                r = -EINVAL;
        if (r < 0) {
                hwloc_topology_destroy(topo);
                return r;
        }
        *ret_hwloc = topo;
        return 0;
}

/* The CPUs of the live host for anyone's use: kvmtuned's own cgroup is no measure (host
 * isolation may have confined it, with the rest of system.slice, to the housekeeping CPUs), the
 * root cpuset of its cgroup namespace is (all online CPUs on a host, a container's own set).
 * Narrows set to it; leaves set alone without a cpuset hierarchy. */
static void host_cpuset(const char *sysfs, hwloc_bitmap_t set) {
        static const char *const roots[] = { "fs/cgroup/cpuset.cpus.effective",
                                             "fs/cgroup/cpuset/cpuset.effective_cpus" };
        for (size_t i = 0; i < ELEMENTSOF(roots); i++) {
                _cleanup_free_ char *text = NULL;
                _cleanup_bitmap_ hwloc_bitmap_t root = hwloc_bitmap_alloc();
                if (!root || kfile_read(sysfs, roots[i], &text) < 0)
                        continue;
                text[strcspn(text, "\n")] = '\0';
                if (hwloc_bitmap_list_sscanf(root, text) < 0 || hwloc_bitmap_iszero(root))
                        continue;
                hwloc_bitmap_and(set, set, root);
                return;
        }
}

int topology_load(const TopologySource *src, Topology **ret_topology) {
        _cleanup_(topology_freep) Topology *t = calloc(1, sizeof(Topology));
        if (!t)
                return -ENOMEM;

        int r = open_hwloc(src, &t->hwloc);
        if (r < 0)
                return r;

        if (src->xml_path)
                r = asprintf(&t->source, "xml %s", src->xml_path);
        else if (src->synthetic)
                r = asprintf(&t->source, "synthetic %s", src->synthetic);
        else
                r = asprintf(&t->source, "host");
        if (r < 0)
                return -ENOMEM;

        t->cpuset = hwloc_bitmap_dup(hwloc_topology_get_topology_cpuset(t->hwloc));
        t->unavailable = hwloc_bitmap_dup(hwloc_topology_get_complete_cpuset(t->hwloc));
        if (!t->cpuset || !t->unavailable)
                return -ENOMEM;
        if (src->xml_path || src->synthetic) /* as allowed on the machine that was recorded */
                hwloc_bitmap_and(t->cpuset, t->cpuset, hwloc_topology_get_allowed_cpuset(t->hwloc));
        else
                host_cpuset(src->sysfs ? src->sysfs : "/sys", t->cpuset);
        hwloc_bitmap_andnot(t->unavailable, t->unavailable, t->cpuset);
        if (hwloc_bitmap_iszero(t->cpuset))
                return -EINVAL;
        t->max_os_cpu = (unsigned) hwloc_bitmap_last(t->cpuset);

        r = load_nodes(t, src);
        if (r < 0)
                return r;
        r = load_distances(t);
        if (r < 0)
                return r;
        r = load_caches_packages_groups(t);
        if (r < 0)
                return r;
        r = load_kinds(t);
        if (r < 0)
                return r;
        r = load_cores_and_cpus(t);
        if (r < 0)
                return r;
        r = load_devices(t);
        if (r < 0)
                return r;

        *ret_topology = TAKE_PTR(t);
        return 0;
}

void topology_free(Topology *t) {
        if (!t)
                return;
        for (unsigned i = 0; i < t->n_cores; i++)
                hwloc_bitmap_free(t->cores[i].cpuset);
        for (unsigned i = 0; i < t->n_l3s; i++) {
                hwloc_bitmap_free(t->l3s[i].cpuset);
                hwloc_bitmap_free(t->l3s[i].nodes);
        }
        for (unsigned i = 0; i < t->n_nodes; i++) {
                hwloc_bitmap_free(t->nodes[i].cpuset);
                free(t->nodes[i].hugepages);
                free(t->nodes[i].distances);
        }
        for (unsigned i = 0; i < t->n_packages; i++)
                hwloc_bitmap_free(t->packages[i].cpuset);
        for (unsigned i = 0; i < t->n_groups; i++) {
                free(t->groups[i].type);
                hwloc_bitmap_free(t->groups[i].cpuset);
        }
        for (unsigned i = 0; i < t->n_kinds; i++) {
                free(t->kinds[i].info);
                hwloc_bitmap_free(t->kinds[i].cpuset);
        }
        for (unsigned i = 0; i < t->n_devices; i++) {
                free(t->devices[i].name);
                free(t->devices[i].os_names);
                hwloc_bitmap_free(t->devices[i].local_cpus);
        }
        free(t->cpus);
        free(t->cores);
        free(t->l3s);
        free(t->nodes);
        free(t->packages);
        free(t->groups);
        free(t->kinds);
        free(t->devices);
        free(t->cpu_by_os);
        hwloc_bitmap_free(t->cpuset);
        hwloc_bitmap_free(t->unavailable);
        if (t->hwloc)
                hwloc_topology_destroy(t->hwloc);
        free(t->source);
        free(t);
}

const TopoCpu *topology_cpu(const Topology *t, unsigned os) {
        if (os > t->max_os_cpu || t->cpu_by_os[os] < 0)
                return NULL;
        return &t->cpus[t->cpu_by_os[os]];
}

int topology_node_index(const Topology *t, unsigned os) {
        for (unsigned i = 0; i < t->n_nodes; i++)
                if (t->nodes[i].os == os)
                        return (int) i;
        return -1;
}

int topology_device_index(const Topology *t, const char *address) {
        /* libvirt and lspci both drop the domain when it is 0000. */
        char full[32];
        if (strlen(address) < 10)
                snprintf(full, sizeof(full), "0000:%s", address);
        else
                snprintf(full, sizeof(full), "%s", address);
        for (unsigned i = 0; i < t->n_devices; i++)
                if (strcasecmp(t->devices[i].address, full) == 0)
                        return (int) i;
        return -1;
}

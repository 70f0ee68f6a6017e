/* Renders the host model and plans for people (text) and programs (JSON). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "macro.h"
#include "render.h"

static const char *plural(unsigned n, const char *one, const char *many) {
        return n == 1 ? one : many;
}

/* "1.5 GiB", "32 MiB", "512 KiB": binary units, one decimal where it matters. */
static void format_bytes(uint64_t b, char *buf, size_t len) {
        static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
        double v = (double) b;
        size_t u = 0;
        while (v >= 1024 && u + 1 < ELEMENTSOF(units)) {
                v /= 1024;
                u++;
        }
        if (v == (double) (uint64_t) v)
                snprintf(buf, len, "%" PRIu64 " %s", (uint64_t) v, units[u]);
        else
                snprintf(buf, len, "%.1f %s", v, units[u]);
}

static void print_cpulist(FILE *f, hwloc_const_bitmap_t set) {
        char *s = NULL;
        if (hwloc_bitmap_list_asprintf(&s, set) < 0) {
                fputs("?", f);
                return;
        }
        fputs(hwloc_bitmap_iszero(set) ? "none" : s, f);
        free(s);
}

static void print_summary(FILE *f, const Topology *t) {
        fprintf(f, "%u %s, %u NUMA %s, %u L3, %u %s, %u %s, ", t->n_packages,
                plural(t->n_packages, "package", "packages"), t->n_nodes, plural(t->n_nodes, "node", "nodes"), t->n_l3s,
                t->n_cores, plural(t->n_cores, "core", "cores"), t->n_cpus, plural(t->n_cpus, "CPU", "CPUs"));
        if (t->smt_max <= 1)
                fputs("no SMT", f);
        else if (t->smt_min == t->smt_max)
                fprintf(f, "SMT %u", t->smt_max);
        else
                fprintf(f, "SMT %u-%u", t->smt_min, t->smt_max);
}

/* Runs print(f, t) into a memory stream and hands back the string. */
static int render_to_string(void (*print)(FILE *, const Topology *), const Topology *t, char **ret_text) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        print(f, t);
        if (fclose(f) != 0) {
                free(buf);
                return -ENOMEM;
        }
        *ret_text = buf;
        return 0;
}

int render_topology_summary(const Topology *t, char **ret_text) {
        return render_to_string(print_summary, t, ret_text);
}

static void print_node_header(FILE *f, const Topology *t, int n) {
        if (n < 0) {
                fputs("CPUs without local memory (no NUMA node lists them)\n", f);
                return;
        }
        const TopoNode *node = &t->nodes[n];
        char mem[32], free_mem[32];
        fprintf(f, "node %u: CPUs ", node->os);
        print_cpulist(f, node->cpuset);
        if (node->memory_bytes > 0) {
                format_bytes(node->memory_bytes, mem, sizeof(mem));
                fprintf(f, "; memory %s", mem);
                if (node->free_bytes >= 0) {
                        format_bytes((uint64_t) node->free_bytes, free_mem, sizeof(free_mem));
                        fprintf(f, " (%s free)", free_mem);
                }
        } else
                fputs("; memory unknown", f);
        for (unsigned i = 0; i < node->n_hugepages; i++) {
                const TopoHugepages *h = &node->hugepages[i];
                char ps[32];
                planner_format_page_size(h->page_kib, ps, sizeof(ps));
                fprintf(f, "%s %s pages %" PRId64, i == 0 ? "; hugepages" : ",", ps, h->total);
                if (h->free >= 0)
                        fprintf(f, " (%" PRId64 " free)", h->free);
        }
        if (node->distances) {
                fputs("; distances", f);
                for (unsigned j = 0; j < t->n_nodes; j++)
                        fprintf(f, " %" PRIu64, node->distances[j]);
        }
        fputc('\n', f);
}

static void print_text(FILE *f, const Topology *t) {
        print_summary(f, t);
        fputs("\nsource: ", f); /* a path or a topology file's own words */
        escape_fputs(t->source, f);
        fputc('\n', f);
        if (!hwloc_bitmap_iszero(t->unavailable)) {
                fputs("unavailable CPUs (offline or disallowed): ", f);
                print_cpulist(f, t->unavailable);
                fputc('\n', f);
        }

        /* Cores come in hwloc's tree order, so a header is printed whenever node or L3 changes;
         * an L3 spanning several nodes (sub-NUMA clustering) is shown under each. */
        int cur_node = -2, cur_l3 = -2;
        for (unsigned c = 0; c < t->n_cores; c++) {
                const TopoCore *core = &t->cores[c];
                if (core->node != cur_node) {
                        print_node_header(f, t, core->node);
                        cur_node = core->node;
                        cur_l3 = -2;
                }
                if (core->l3 != cur_l3) {
                        cur_l3 = core->l3;
                        if (cur_l3 >= 0) {
                                char size[32];
                                format_bytes(t->l3s[cur_l3].size_bytes, size, sizeof(size));
                                fprintf(f, "  L3 #%d (%s): CPUs ", cur_l3, size);
                                print_cpulist(f, t->l3s[cur_l3].cpuset);
                                fputc('\n', f);
                        } else
                                fputs("  no L3\n", f);
                }
                fprintf(f, "    core %u: ", c);
                print_cpulist(f, core->cpuset);
                fputc('\n', f);
        }
        for (unsigned n = 0; n < t->n_nodes; n++)
                if (hwloc_bitmap_iszero(t->nodes[n].cpuset))
                        print_node_header(f, t, (int) n);

        for (unsigned k = 0; k < t->n_kinds; k++) {
                fprintf(f, "CPU kind %u (efficiency %d%s", k, t->kinds[k].efficiency, *t->kinds[k].info ? ", " : "");
                escape_fputs(t->kinds[k].info, f); /* hwloc's text, from firmware or a topology file */
                fputs("): CPUs ", f);
                print_cpulist(f, t->kinds[k].cpuset);
                fputc('\n', f);
        }
        for (unsigned d = 0; d < t->n_devices; d++) {
                const TopoDevice *dev = &t->devices[d];
                fprintf(f, "PCI %s class %04x %04x:%04x", dev->address, dev->class_id, dev->vendor_id, dev->device_id);
                if (dev->name) { /* from pci.ids or a topology file */
                        fputs(" \"", f);
                        escape_fputs(dev->name, f);
                        fputc('"', f);
                }
                if (dev->os_names) {
                        fputs(" (", f);
                        escape_fputs(dev->os_names, f);
                        fputc(')', f);
                }
                if (dev->node >= 0)
                        fprintf(f, " node %u", t->nodes[dev->node].os);
                fputs(" near CPUs ", f);
                print_cpulist(f, dev->local_cpus);
                fputc('\n', f);
        }
}

int render_topology_text(const Topology *t, char **ret_text) {
        return render_to_string(print_text, t, ret_text);
}

json_object *render_cpuset_json(hwloc_const_bitmap_t set) {
        json_object *a = json_object_new_array();
        if (!a)
                return NULL;
        int cpu;
        hwloc_bitmap_foreach_begin(cpu, set) {
                json_object_array_add(a, json_object_new_int(cpu));
        }
        hwloc_bitmap_foreach_end();
        return a;
}

/* Node indexes in set, as kernel node numbers. */
static json_object *node_list_json(const Topology *t, hwloc_const_bitmap_t node_indexes) {
        json_object *a = json_object_new_array();
        int n;
        hwloc_bitmap_foreach_begin(n, node_indexes) {
                json_object_array_add(a, json_object_new_int((int) t->nodes[n].os));
        }
        hwloc_bitmap_foreach_end();
        return a;
}

static json_object *node_os_json(const Topology *t, int index) {
        return index >= 0 ? json_object_new_int((int) t->nodes[index].os) : NULL;
}

static json_object *nodes_json(const Topology *t) {
        json_object *a = json_object_new_array_ext((int) t->n_nodes);
        for (unsigned i = 0; i < t->n_nodes; i++) {
                const TopoNode *node = &t->nodes[i];
                json_object *o = json_object_new_object();
                json_object_object_add(o, "node", json_object_new_int((int) node->os));
                json_object_object_add(o, "cpus", render_cpuset_json(node->cpuset));
                json_object_object_add(o, "memory_bytes",
                                       node->memory_bytes ? json_object_new_uint64(node->memory_bytes) : NULL);
                json_object_object_add(o, "free_bytes",
                                       node->free_bytes >= 0 ? json_object_new_int64(node->free_bytes) : NULL);
                json_object *hp = json_object_new_array();
                for (unsigned j = 0; j < node->n_hugepages; j++) {
                        json_object *h = json_object_new_object();
                        json_object_object_add(h, "page_kib", json_object_new_uint64(node->hugepages[j].page_kib));
                        json_object_object_add(
                                h, "total",
                                node->hugepages[j].total >= 0 ? json_object_new_int64(node->hugepages[j].total) : NULL);
                        json_object_object_add(
                                h, "free",
                                node->hugepages[j].free >= 0 ? json_object_new_int64(node->hugepages[j].free) : NULL);
                        json_object_array_add(hp, h);
                }
                json_object_object_add(o, "hugepages", hp);
                json_object *dist = NULL;
                if (node->distances) {
                        dist = json_object_new_array_ext((int) t->n_nodes);
                        for (unsigned j = 0; j < t->n_nodes; j++)
                                json_object_array_add(dist, json_object_new_uint64(node->distances[j]));
                }
                json_object_object_add(o, "distances", dist);
                json_object_array_add(a, o);
        }
        return a;
}

static json_object *cpus_json(const Topology *t) {
        json_object *a = json_object_new_array_ext((int) t->n_cpus);
        for (unsigned i = 0; i < t->n_cpus; i++) {
                const TopoCpu *cpu = &t->cpus[i];
                json_object *o = json_object_new_object();
                json_object_object_add(o, "cpu", json_object_new_int((int) cpu->os));
                json_object_object_add(o, "core", json_object_new_int(cpu->core));
                json_object_object_add(o, "l3", cpu->l3 >= 0 ? json_object_new_int(cpu->l3) : NULL);
                json_object_object_add(o, "node", node_os_json(t, cpu->node));
                json_object_object_add(o, "package", json_object_new_int((int) t->packages[cpu->package].os));
                json_object_object_add(o, "kind", cpu->kind >= 0 ? json_object_new_int(cpu->kind) : NULL);
                json_object_object_add(o, "siblings", render_cpuset_json(t->cores[cpu->core].cpuset));
                json_object_array_add(a, o);
        }
        return a;
}

static json_object *cores_json(const Topology *t) {
        json_object *a = json_object_new_array_ext((int) t->n_cores);
        for (unsigned i = 0; i < t->n_cores; i++) {
                const TopoCore *core = &t->cores[i];
                json_object *o = json_object_new_object();
                json_object_object_add(o, "core", json_object_new_int((int) i));
                json_object_object_add(o, "cpus", render_cpuset_json(core->cpuset));
                json_object_object_add(o, "l3", core->l3 >= 0 ? json_object_new_int(core->l3) : NULL);
                json_object_object_add(o, "node", node_os_json(t, core->node));
                json_object_object_add(o, "package", json_object_new_int((int) t->packages[core->package].os));
                json_object_array_add(a, o);
        }
        return a;
}

static json_object *l3s_json(const Topology *t) {
        json_object *a = json_object_new_array_ext((int) t->n_l3s);
        for (unsigned i = 0; i < t->n_l3s; i++) {
                json_object *o = json_object_new_object();
                json_object_object_add(o, "l3", json_object_new_int((int) i));
                json_object_object_add(o, "size_bytes", json_object_new_uint64(t->l3s[i].size_bytes));
                json_object_object_add(o, "cpus", render_cpuset_json(t->l3s[i].cpuset));
                json_object_object_add(o, "nodes", node_list_json(t, t->l3s[i].nodes));
                json_object_array_add(a, o);
        }
        return a;
}

static json_object *packages_json(const Topology *t) {
        json_object *a = json_object_new_array_ext((int) t->n_packages);
        for (unsigned i = 0; i < t->n_packages; i++) {
                json_object *o = json_object_new_object();
                json_object_object_add(o, "package", json_object_new_int((int) t->packages[i].os));
                json_object_object_add(o, "cpus", render_cpuset_json(t->packages[i].cpuset));
                json_object_array_add(a, o);
        }
        return a;
}

static json_object *groups_json(const Topology *t) {
        json_object *a = json_object_new_array_ext((int) t->n_groups);
        for (unsigned i = 0; i < t->n_groups; i++) {
                json_object *o = json_object_new_object();
                json_object_object_add(o, "type", json_object_new_string(t->groups[i].type));
                json_object_object_add(o, "cpus", render_cpuset_json(t->groups[i].cpuset));
                json_object_array_add(a, o);
        }
        return a;
}

static json_object *kinds_json(const Topology *t) {
        json_object *a = json_object_new_array_ext((int) t->n_kinds);
        for (unsigned i = 0; i < t->n_kinds; i++) {
                json_object *o = json_object_new_object();
                json_object_object_add(o, "kind", json_object_new_int((int) i));
                json_object_object_add(o, "efficiency", json_object_new_int(t->kinds[i].efficiency));
                json_object_object_add(o, "info", json_object_new_string(t->kinds[i].info));
                json_object_object_add(o, "cpus", render_cpuset_json(t->kinds[i].cpuset));
                json_object_array_add(a, o);
        }
        return a;
}

static json_object *devices_json(const Topology *t) {
        json_object *a = json_object_new_array_ext((int) t->n_devices);
        for (unsigned i = 0; i < t->n_devices; i++) {
                const TopoDevice *dev = &t->devices[i];
                char hex[8];
                json_object *o = json_object_new_object();
                json_object_object_add(o, "address", json_object_new_string(dev->address));
                snprintf(hex, sizeof(hex), "%04x", dev->class_id);
                json_object_object_add(o, "class", json_object_new_string(hex));
                snprintf(hex, sizeof(hex), "%04x", dev->vendor_id);
                json_object_object_add(o, "vendor", json_object_new_string(hex));
                snprintf(hex, sizeof(hex), "%04x", dev->device_id);
                json_object_object_add(o, "device", json_object_new_string(hex));
                json_object_object_add(o, "name", dev->name ? json_object_new_string(dev->name) : NULL);
                json_object_object_add(o, "os_devices", dev->os_names ? json_object_new_string(dev->os_names) : NULL);
                json_object_object_add(o, "node", node_os_json(t, dev->node));
                json_object_object_add(o, "local_cpus", render_cpuset_json(dev->local_cpus));
                json_object_array_add(a, o);
        }
        return a;
}

int render_topology_json(const Topology *t, json_object **ret_json) {
        _cleanup_(json_object_putp) json_object *root = json_object_new_object();
        _cleanup_(json_object_putp) json_object *summary = json_object_new_object();
        _cleanup_free_ char *line = NULL;
        if (!root || !summary || render_topology_summary(t, &line) < 0)
                return -ENOMEM;

        json_object_object_add(summary, "packages", json_object_new_int((int) t->n_packages));
        json_object_object_add(summary, "numa_nodes", json_object_new_int((int) t->n_nodes));
        json_object_object_add(summary, "l3", json_object_new_int((int) t->n_l3s));
        json_object_object_add(summary, "cores", json_object_new_int((int) t->n_cores));
        json_object_object_add(summary, "cpus", json_object_new_int((int) t->n_cpus));
        json_object_object_add(summary, "smt_min", json_object_new_int((int) t->smt_min));
        json_object_object_add(summary, "smt_max", json_object_new_int((int) t->smt_max));
        json_object_object_add(summary, "cpu_kinds", json_object_new_int((int) t->n_kinds));
        json_object_object_add(summary, "pci_devices", json_object_new_int((int) t->n_devices));
        json_object_object_add(summary, "text", json_object_new_string(line));

        json_object_object_add(root, "source", json_object_new_string(t->source));
        json_object_object_add(root, "summary", TAKE_PTR(summary));
        json_object_object_add(root, "unavailable_cpus", render_cpuset_json(t->unavailable));
        json_object_object_add(root, "nodes", nodes_json(t));
        json_object_object_add(root, "packages", packages_json(t));
        json_object_object_add(root, "groups", groups_json(t));
        json_object_object_add(root, "l3", l3s_json(t));
        json_object_object_add(root, "cores", cores_json(t));
        json_object_object_add(root, "cpus", cpus_json(t));
        json_object_object_add(root, "cpu_kinds", kinds_json(t));
        json_object_object_add(root, "pci_devices", devices_json(t));
        *ret_json = TAKE_PTR(root);
        return 0;
}

json_object *render_vcpus_json(const Placement *pl, bool with_dedicated) {
        _cleanup_bitmap_ hwloc_bitmap_t cpus = hwloc_bitmap_alloc();
        if (!cpus)
                return NULL;
        json_object *vcpus = json_object_new_array_ext((int) pl->n_vcpus);
        for (unsigned i = 0; vcpus && i < pl->n_vcpus; i++) {
                json_object *v = json_object_new_object();
                json_object_object_add(v, "vcpu", json_object_new_int((int) pl->vcpus[i].vcpu));
                if (with_dedicated)
                        json_object_object_add(v, "dedicated", json_object_new_boolean(pl->vcpus[i].dedicated));
                placement_vcpu_cpus(pl, i, cpus);
                json_object_object_add(v, "cpus", render_cpuset_json(cpus));
                json_object_array_add(vcpus, v);
        }
        return vcpus;
}

json_object *render_iothreads_json(const Placement *pl) {
        json_object *io = json_object_new_array_ext((int) pl->n_iothreads);
        for (unsigned i = 0; io && i < pl->n_iothreads; i++) {
                json_object *v = json_object_new_object();
                json_object_object_add(v, "id", json_object_new_int((int) pl->iothreads[i].id));
                json_object_object_add(v, "cpus", render_cpuset_json(pl->iothreads[i].cpus));
                json_object_array_add(io, v);
        }
        return io;
}

json_object *render_hugepages_json(const Placement *pl) {
        json_object *hp = json_object_new_array_ext((int) pl->n_hugepages);
        for (unsigned i = 0; hp && i < pl->n_hugepages; i++) {
                json_object *h = json_object_new_object();
                json_object_object_add(h, "node", json_object_new_int((int) pl->hugepages[i].node));
                json_object_object_add(h, "page_kib", json_object_new_uint64(pl->hugepages[i].page_kib));
                json_object_object_add(h, "count", json_object_new_uint64(pl->hugepages[i].count));
                json_object_array_add(hp, h);
        }
        return hp;
}

json_object *render_explain_json(const Placement *pl) {
        json_object *why = json_object_new_array_ext((int) pl->n_explain);
        for (unsigned i = 0; why && i < pl->n_explain; i++)
                json_object_array_add(why, json_object_new_string(pl->explain[i]));
        return why;
}

static json_object *placement_json(const Placement *pl) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "name", json_object_new_string(pl->name));
        if (!pl->admitted) {
                json_object_object_add(o, "admitted", json_object_new_boolean(0));
                json_object_object_add(o, "reason", json_object_new_string(pl->reason ? pl->reason : "refused"));
                return o;
        }
        json_object_object_add(o, "class", json_object_new_string(pl->cls->name));
        json_object_object_add(o, "admitted", json_object_new_boolean(1));
        json_object_object_add(o, "vcpus", render_vcpus_json(pl, false));
        json_object_object_add(o, "emulator", render_cpuset_json(pl->emulator));
        json_object_object_add(o, "iothreads", render_iothreads_json(pl));
        json_object *mem = json_object_new_object();
        json_object_object_add(mem, "mode", json_object_new_string(memory_policy_to_string(pl->memory_mode)));
        json_object_object_add(mem, "nodes", render_cpuset_json(pl->memory_nodes));
        json_object_object_add(o, "memory", mem);
        json_object_object_add(o, "hugepages", render_hugepages_json(pl));
        json_object_object_add(o, "explain", render_explain_json(pl));
        return o;
}

int render_plan_json(const Planner *p, json_object **ret_json) {
        _cleanup_(json_object_putp) json_object *root = json_object_new_object();
        json_object *domains = json_object_new_array();
        if (!root || !domains) {
                json_object_put(domains);
                return -ENOMEM;
        }
        json_object_object_add(root, "domains", domains);
        unsigned n;
        const Placement *const *pls = planner_placements(p, &n);
        for (unsigned i = 0; i < n; i++) {
                json_object *o = placement_json(pls[i]);
                if (!o)
                        return -ENOMEM;
                json_object_array_add(domains, o);
        }
        *ret_json = TAKE_PTR(root);
        return 0;
}

static void print_explain(FILE *f, const Placement *pl) {
        for (unsigned i = 0; i < pl->n_explain; i++) {
                fputs("  why: ", f);
                escape_fputs(pl->explain[i], f);
                fputc('\n', f);
        }
}

static void print_placement(FILE *f, const Placement *pl) {
        if (!pl->admitted) {
                escape_fputs(pl->name, f);
                fputs(": refused: ", f);
                escape_fputs(pl->reason ? pl->reason : "?", f);
                fputc('\n', f);
                print_explain(f, pl);
                return;
        }
        escape_fputs(pl->name, f); /* names and reasons carry text from the domain XML */
        fputs(": class ", f);
        escape_fputs(pl->cls->name, f); /* a policy.d file's words */
        fprintf(f, "%s\n", pl->adopted ? ", pinned by its own XML" : "");
        _cleanup_bitmap_ hwloc_bitmap_t cpus = hwloc_bitmap_alloc();
        if (!cpus)
                fputs("  vCPUs: not shown (out of memory)\n", f);
        for (unsigned i = 0; cpus && i < pl->n_vcpus; i++) {
                placement_vcpu_cpus(pl, i, cpus);
                fprintf(f, "  vcpu %u: CPU%s ", pl->vcpus[i].vcpu, hwloc_bitmap_weight(cpus) == 1 ? "" : "s");
                print_cpulist(f, cpus);
                fprintf(f, " (%s)\n", pl->vcpus[i].dedicated ? "dedicated" : "shared");
        }
        if (pl->emulator && !pl->adopted) {
                fputs("  emulator: CPUs ", f);
                print_cpulist(f, pl->emulator);
                fputc('\n', f);
        }
        for (unsigned i = 0; i < pl->n_iothreads; i++) {
                fprintf(f, "  iothread %u: CPUs ", pl->iothreads[i].id);
                print_cpulist(f, pl->iothreads[i].cpus);
                fputc('\n', f);
        }
        fprintf(f, "  memory: %s", memory_policy_to_string(pl->memory_mode));
        if (pl->memory_mode != MEMORY_NONE) {
                fputs(" on nodes ", f);
                print_cpulist(f, pl->memory_nodes);
        }
        for (unsigned i = 0; i < pl->n_hugepages; i++) {
                char ps[32];
                planner_format_page_size(pl->hugepages[i].page_kib, ps, sizeof(ps));
                fprintf(f, "%s node %u: %" PRIu64 " x %s", i == 0 ? "; hugepages" : ",", pl->hugepages[i].node,
                        pl->hugepages[i].count, ps);
        }
        fputc('\n', f);
        print_explain(f, pl);
}

int render_plan_text(const Planner *p, char **ret_text) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        unsigned n, admitted = 0;
        const Placement *const *pls = planner_placements(p, &n);
        for (unsigned i = 0; i < n; i++) {
                print_placement(f, pls[i]);
                admitted += pls[i]->admitted;
        }
        fprintf(f, "%u domain%s: %u admitted, %u refused\n", n, n == 1 ? "" : "s", admitted, n - admitted);
        if (fclose(f) != 0) {
                free(buf);
                return -ENOMEM;
        }
        *ret_text = buf;
        return 0;
}

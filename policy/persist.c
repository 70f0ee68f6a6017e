/* Placements as JSON and back, for the daemon's allocations file. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "cpulist.h"
#include "json-field.h"
#include "macro.h"
#include "persist.h"
#include "render.h"

static json_object *per_node_json(const Topology *t, const unsigned *counts, const uint64_t *kib) {
        json_object *o = json_object_new_object();
        for (unsigned n = 0; o && n < t->n_nodes; n++) {
                uint64_t v = counts ? counts[n] : kib[n];
                if (v == 0)
                        continue;
                char key[16];
                snprintf(key, sizeof(key), "%u", t->nodes[n].os);
                json_object_object_add(o, key, json_object_new_uint64(v));
        }
        return o;
}

json_object *persist_placement(const Placement *pl, const char *uuid, const Topology *t) {
        json_object *o = json_object_new_object();
        if (!o)
                return NULL;
        json_object_object_add(o, "name", json_object_new_string(pl->name));
        if (uuid)
                json_object_object_add(o, "uuid", json_object_new_string(uuid));
        if (pl->cls) {
                json_object_object_add(o, "class", json_object_new_string(pl->cls->name));
                char *settings = config_class_settings(pl->cls);
                if (settings)
                        json_object_object_add(o, "class_settings", json_object_new_string(settings));
                free(settings);
        }
        json_object_object_add(o, "admitted", json_object_new_boolean(pl->admitted));
        json_object_object_add(o, "adopted", json_object_new_boolean(pl->adopted));
        if (pl->reason)
                json_object_object_add(o, "reason", json_object_new_string(pl->reason));
        json_object_object_add(o, "vcpus", render_vcpus_json(pl, true));
        json_object_object_add(o, "emulator", render_cpuset_json(pl->emulator));
        if (pl->own_emulator)
                json_object_object_add(o, "own_emulator", json_object_new_boolean(1));
        json_object_object_add(o, "iothreads", render_iothreads_json(pl));
        json_object_object_add(o, "memory_mode", json_object_new_string(memory_policy_to_string(pl->memory_mode)));
        json_object_object_add(o, "memory_nodes", render_cpuset_json(pl->memory_nodes));
        json_object_object_add(o, "hugepages", render_hugepages_json(pl));
        json_object_object_add(o, "held", render_cpuset_json(pl->held));
        json_object_object_add(o, "shared_vcpus", per_node_json(t, pl->shared_vcpus, NULL));
        if (pl->shared_l3 >= 0)
                json_object_object_add(o, "shared_l3", json_object_new_int(pl->shared_l3));
        json_object_object_add(o, "memory_kib", per_node_json(t, NULL, pl->memory_kib));
        if (pl->balloon_kib)
                json_object_object_add(o, "balloon_kib", json_object_new_uint64(pl->balloon_kib));
        json_object_object_add(o, "explain", render_explain_json(pl));
        return o;
}

/* What a set read back may name: the host's CPUs, its nodes, or any CPU number a domain's own
 * pins may give (kept as the domain has them, the host's or not). */
typedef enum SetKind { SET_HOST_CPUS, SET_HOST_NODES, SET_ANY_CPUS } SetKind;

/* Reads an array of numbers into set; each must be what kind allows, and at most
 * CPULIST_MAX_CPU. Returns 0 or -EINVAL. */

static int parse_set(json_object *a, const Topology *t, SetKind kind, hwloc_bitmap_t set) {
        if (!json_object_is_type(a, json_type_array))
                return -EINVAL;
        hwloc_bitmap_zero(set);
        for (size_t i = 0; i < json_object_array_length(a); i++) {
                json_object *v = json_object_array_get_idx(a, i);
                int x = json_object_get_int(v);
                if (!json_object_is_type(v, json_type_int) || x < 0 || x > CPULIST_MAX_CPU)
                        return -EINVAL;
                if ((kind == SET_HOST_NODES && topology_node_index(t, (unsigned) x) < 0) ||
                    (kind == SET_HOST_CPUS && !topology_cpu(t, (unsigned) x)))
                        return -EINVAL;
                hwloc_bitmap_set(set, (unsigned) x);
        }
        return 0;
}

static int parse_per_node(json_object *o, const Topology *t, unsigned *counts, uint64_t *kib) {
        if (!o)
                return -EINVAL;
        json_object_object_foreach(o, key, val) {
                char *end;
                unsigned long os = strtoul(key, &end, 10);
                int n = *end ? -1 : topology_node_index(t, (unsigned) os);
                if (n < 0 || !json_object_is_type(val, json_type_int) || json_object_get_int64(val) < 0)
                        return -EINVAL;
                if (counts)
                        counts[n] = (unsigned) json_object_get_int64(val);
                else
                        kib[n] = (uint64_t) json_object_get_int64(val);
        }
        return 0;
}

int persist_parse(json_object *o, const Topology *t, Placement **ret_spec, char **ret_class, char **ret_uuid) {
        json_object *name = json_field(o, "name", json_type_string), *cls = json_field(o, "class", json_type_string);
        json_object *vcpus = json_field(o, "vcpus", json_type_array), *io = json_field(o, "iothreads", json_type_array);
        json_object *hp = json_field(o, "hugepages", json_type_array),
                    *mode = json_field(o, "memory_mode", json_type_string);
        json_object *uuid = json_field(o, "uuid", json_type_string),
                    *admitted = json_field(o, "admitted", json_type_boolean);
        if (!name || (!cls && ret_class) || !vcpus || !io || !hp || !mode || !admitted)
                return -EINVAL;

        _cleanup_(placement_freep) Placement *pl = placement_new(json_object_get_string(name), t->n_nodes);
        if (!pl)
                return -ENOMEM;
        json_object *v;
        pl->admitted = json_object_get_boolean(admitted);
        pl->adopted = (v = json_field(o, "adopted", json_type_boolean)) && json_object_get_boolean(v);
        pl->own_emulator = (v = json_field(o, "own_emulator", json_type_boolean)) && json_object_get_boolean(v);
        if ((v = json_field(o, "shared_l3", json_type_int))) {
                int64_t l3 = json_object_get_int64(v);
                if (l3 < 0 || l3 >= (int64_t) t->n_l3s)
                        return -EINVAL;
                pl->shared_l3 = (int) l3;
        }
        if ((v = json_field(o, "balloon_kib", json_type_int)) && json_object_get_int64(v) >= 0)
                pl->balloon_kib = (uint64_t) json_object_get_int64(v);
        if ((v = json_field(o, "reason", json_type_string)) && !(pl->reason = strdup(json_object_get_string(v))))
                return -ENOMEM;
        pl->memory_mode = MEMORY_NONE;
        for (int m = MEMORY_STRICT; m <= MEMORY_NONE; m++)
                if (strcmp(json_object_get_string(mode), memory_policy_to_string((MemoryPolicy) m)) == 0)
                        pl->memory_mode = (MemoryPolicy) m;

        if (parse_set(json_field(o, "held", json_type_array), t, SET_HOST_CPUS, pl->held) < 0 ||
            parse_set(json_field(o, "emulator", json_type_array), t, pl->own_emulator ? SET_ANY_CPUS : SET_HOST_CPUS,
                      pl->emulator) < 0 ||
            parse_set(json_field(o, "memory_nodes", json_type_array), t, SET_HOST_NODES, pl->memory_nodes) < 0 ||
            parse_per_node(json_field(o, "shared_vcpus", json_type_object), t, pl->shared_vcpus, NULL) < 0 ||
            parse_per_node(json_field(o, "memory_kib", json_type_object), t, NULL, pl->memory_kib) < 0)
                return -EINVAL;

        size_t nv = json_object_array_length(vcpus), ni = json_object_array_length(io),
               nh = json_object_array_length(hp);
        pl->vcpus = calloc(nv ? nv : 1, sizeof(PlacedVcpu));
        pl->iothreads = calloc(ni ? ni : 1, sizeof(PlacedIOThread));
        pl->hugepages = calloc(nh ? nh : 1, sizeof(PlacedHugepages));
        if (!pl->vcpus || !pl->iothreads || !pl->hugepages)
                return -ENOMEM;
        for (size_t i = 0; i < nv; i++) {
                json_object *e = json_object_array_get_idx(vcpus, i), *id = json_field(e, "vcpu", json_type_int);
                PlacedVcpu *pv = &pl->vcpus[pl->n_vcpus++];
                if (id && json_object_get_int(id) < 0)
                        return -EINVAL;
                pv->vcpu = id ? (unsigned) json_object_get_int(id) : (unsigned) i;
                pv->dedicated = (v = json_field(e, "dedicated", json_type_boolean)) && json_object_get_boolean(v);
                pv->cpu = -1;
                if (!(pv->cpus = hwloc_bitmap_alloc()))
                        return -ENOMEM;
                if (parse_set(json_field(e, "cpus", json_type_array), t, SET_HOST_CPUS, pv->cpus) < 0)
                        return -EINVAL;
        }
        for (size_t i = 0; i < ni; i++) {
                json_object *e = json_object_array_get_idx(io, i), *id = json_field(e, "id", json_type_int);
                PlacedIOThread *it = &pl->iothreads[pl->n_iothreads++];
                it->id = id ? (unsigned) json_object_get_int(id) : 0;
                if (!(it->cpus = hwloc_bitmap_alloc()))
                        return -ENOMEM;
                if (!id || json_object_get_int(id) < 0 ||
                    parse_set(json_field(e, "cpus", json_type_array), t, SET_HOST_CPUS, it->cpus) < 0)
                        return -EINVAL;
        }
        for (size_t i = 0; i < nh; i++) {
                json_object *e = json_object_array_get_idx(hp, i);
                uint64_t node, kib, count;
                if (!json_field_uint(e, "node", 0, &node) || !json_field_uint(e, "page_kib", 1, &kib) ||
                    !json_field_uint(e, "count", 0, &count) || node > UINT_MAX ||
                    topology_node_index(t, (unsigned) node) < 0)
                        return -EINVAL;
                pl->hugepages[pl->n_hugepages++] = (PlacedHugepages){ (unsigned) node, kib, count };
                pl->hugepage_kib = kib;
        }

        json_object *why = json_field(o, "explain", json_type_array);
        for (size_t i = 0; why && i < json_object_array_length(why); i++) {
                char **lines = realloc(pl->explain, (pl->n_explain + 1) * sizeof(char *));
                if (!lines)
                        return -ENOMEM;
                pl->explain = lines;
                json_object *line = json_object_array_get_idx(why, i);
                if (!json_object_is_type(line, json_type_string))
                        return -EINVAL;
                if (!(lines[pl->n_explain] = strdup(json_object_get_string(line))))
                        return -ENOMEM;
                pl->n_explain++;
        }

        char *class_name = cls ? strdup(json_object_get_string(cls)) : NULL;
        char *uuid_copy = uuid ? strdup(json_object_get_string(uuid)) : NULL;
        if ((cls && !class_name) || (uuid && !uuid_copy)) {
                free(class_name);
                free(uuid_copy);
                return -ENOMEM;
        }
        if (ret_class)
                *ret_class = class_name;
        else
                free(class_name);
        if (ret_uuid)
                *ret_uuid = uuid_copy;
        else
                free(uuid_copy);
        *ret_spec = TAKE_PTR(pl);
        return 0;
}

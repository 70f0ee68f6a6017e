/* Fuzzes policy/persist.h: the allocations file read and restored as at a restart, then written and read again. */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "json-field.h"
#include "macro.h"
#include "persist.h"
#include "planner.h"
#include "render.h"

#define ALLOCATIONS_VERSION 1 /* daemon/allocations.c: the only format version it reads */

typedef struct Restore {
        Planner *p; /* what the file's entries restore, as daemon/allocations.c does */
        Planner *again; /* the same entries after a write and a second read */
        hwloc_bitmap_t held; /* every CPU a restored admitted placement holds for itself */
} Restore;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        (void) argc;
        (void) argv;
        fuzz_config();
        return 0;
}

/* persist.h: a CPU or node the host does not have is malformed, so none is in a spec it returns. */
static void check_spec_on_host(const Placement *spec) {
        const Topology *t = fuzz_topology();
        assert_true(spec->name);
        assert_true(hwloc_bitmap_isincluded(spec->held, t->cpuset));
        assert_true(hwloc_bitmap_isincluded(spec->emulator, t->cpuset));
        _cleanup_bitmap_ hwloc_bitmap_t cpus = hwloc_bitmap_alloc();
        for (unsigned i = 0; i < spec->n_vcpus; i++) {
                placement_vcpu_cpus(spec, i, cpus);
                assert_true(hwloc_bitmap_isincluded(cpus, t->cpuset));
        }
        for (unsigned i = 0; i < spec->n_iothreads; i++)
                assert_true(hwloc_bitmap_isincluded(spec->iothreads[i].cpus, t->cpuset));
        int n;
        hwloc_bitmap_foreach_begin(n, spec->memory_nodes) {
                assert_true(topology_node_index(t, (unsigned) n) >= 0);
        }
        hwloc_bitmap_foreach_end();
        for (unsigned i = 0; i < spec->n_hugepages; i++)
                assert_true(topology_node_index(t, spec->hugepages[i].node) >= 0);
}

/* What planner_restore promises of a placement it accepted (planner.h, spec_valid()): a refused one
 * holds nothing; an admitted one of its own holds one CPU per dedicated vCPU, shared vCPUs run on
 * none of its CPUs and are counted per node, and no CPU is held by two domains. */
static void check_restored(Restore *rs, const Placement *pl) {
        if (!pl->admitted) {
                assert_true(hwloc_bitmap_iszero(pl->held));
                return;
        }
        if (pl->adopted)
                return;
        _cleanup_bitmap_ hwloc_bitmap_t used = hwloc_bitmap_alloc(), cpus = hwloc_bitmap_alloc();
        assert_true(used && cpus);
        unsigned shared = 0, counted = 0;
        for (unsigned i = 0; i < pl->n_vcpus; i++) {
                placement_vcpu_cpus(pl, i, cpus);
                assert_true(!hwloc_bitmap_iszero(cpus));
                if (!pl->vcpus[i].dedicated) {
                        shared++;
                        assert_true(!hwloc_bitmap_intersects(cpus, pl->held));
                        continue;
                }
                assert_true(hwloc_bitmap_isincluded(cpus, pl->held));
                assert_true(!hwloc_bitmap_intersects(cpus, used));
                hwloc_bitmap_or(used, used, cpus);
        }
        for (unsigned n = 0; n < fuzz_topology()->n_nodes; n++)
                counted += pl->shared_vcpus[n];
        assert_true(counted == shared);
        assert_true(!hwloc_bitmap_intersects(pl->held, rs->held));
        hwloc_bitmap_or(rs->held, rs->held, pl->held);
}

/* The restored placement pl written as the daemon writes it, read back and restored again (into a
 * planner that restored the same entries so far) is the same placement: its text does not change. */
static void check_written_again(Restore *rs, const Placement *pl, const char *uuid) {
        _cleanup_free_ char *text = fuzz_placement_text(pl, uuid);
        _cleanup_(json_object_putp) json_object *o = json_tokener_parse(text);
        assert_true(o);
        _cleanup_(placement_freep) Placement *spec = NULL;
        _cleanup_free_ char *cls = NULL, *uuid_again = NULL;
        assert_true(persist_parse(o, fuzz_topology(), &spec, &cls, &uuid_again) == 0);
        assert_true(strcmp(cls, pl->cls->name) == 0);
        assert_true(uuid_again && strcmp(uuid, uuid_again) == 0);
        const Placement *again = NULL;
        assert_true(planner_restore(rs->again, spec, cls, &again) == 0);
        _cleanup_free_ char *text_again = fuzz_placement_text(again, uuid_again);
        assert_true(strcmp(text, text_again) == 0);
}

/* Whether class name still has the settings the entry was saved under (allocations.c). */
static bool class_unchanged(const char *name, json_object *saved) {
        const PolicyClass *now = config_find_class(fuzz_config(), name);
        if (!now || !saved)
                return now != NULL;
        _cleanup_free_ char *settings = config_class_settings(now);
        assert_true(settings);
        return strcmp(settings, json_object_get_string(saved)) == 0;
}

/* Entry i of the file, as allocations_restore_entry() reads it, without the Manager's records. */
static void restore_entry(Restore *rs, json_object *entry) {
        const Config *c = fuzz_config();
        _cleanup_(placement_freep) Placement *spec = NULL, *applied = NULL;
        _cleanup_free_ char *cls = NULL, *uuid = NULL;

        json_object *o = json_field(entry, "applied", json_type_object);
        if (o && persist_parse(o, fuzz_topology(), &applied, NULL, NULL) == 0)
                check_spec_on_host(applied);
        json_object *floating = json_field(entry, "floating", json_type_boolean);
        if (floating && json_object_get_boolean(floating))
                return; /* only which pins are kvmtuned's: nothing is booked */

        if (persist_parse(entry, fuzz_topology(), &spec, &cls, &uuid) < 0 || !uuid)
                return; /* not valid: dropped, placed again */
        check_spec_on_host(spec);
        if (!spec->adopted && !hwloc_bitmap_isincluded(spec->held, c->host.dedicated))
                return; /* dedicated CPUs outside today's pool: placed again */
        if (!class_unchanged(cls, json_field(entry, "class_settings", json_type_string)))
                return;

        bool known = planner_find(rs->p, spec->name) != NULL;
        const Placement *pl = NULL;
        int r = planner_restore(rs->p, spec, cls, &pl);
        assert_true(r == 0 || r == -EEXIST || r == -EBUSY || r == -EINVAL);
        assert_true(!known || r == -EEXIST);
        if (r < 0)
                return;
        assert_true(pl && planner_find(rs->p, spec->name) == pl && pl->cls && strcmp(pl->cls->name, cls) == 0);
        check_restored(rs, pl);
        check_written_again(rs, pl, uuid);

        json_object *waiting = json_field(entry, "awaiting_start", json_type_boolean);
        bool unstarted = waiting && json_object_get_boolean(waiting);
        r = planner_memory_use(rs->p, pl->name, unstarted ? MEMORY_USE_NONE : MEMORY_USE_ALL, NULL);
        assert_true(pl->admitted ? r == 0 : r == -ENOENT);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = fuzz_string(data, size);
        _cleanup_(json_object_putp) json_object *root = json_tokener_parse(text);
        json_object *list = json_field(root, "domains", json_type_array);
        json_object *version = json_field(root, "version", json_type_int);
        if (!list || (version && json_object_get_int(version) != ALLOCATIONS_VERSION))
                return 0; /* set aside: every running domain is placed again */

        Restore rs = { .held = hwloc_bitmap_alloc() };
        assert_true(rs.held);
        assert_true(planner_new(fuzz_topology(), fuzz_config(), &rs.p) == 0);
        assert_true(planner_new(fuzz_topology(), fuzz_config(), &rs.again) == 0);
        for (size_t i = 0; i < json_object_array_length(list); i++)
                restore_entry(&rs, json_object_array_get_idx(list, i));
        assert_true(planner_refresh_shared(rs.p) == 0);

        /* What the planner holds is what the restored placements hold, and a release gives it back. */
        _cleanup_bitmap_ hwloc_bitmap_t held = hwloc_bitmap_alloc();
        assert_true(held);
        planner_held_cpus(rs.p, held);
        assert_true(hwloc_bitmap_isequal(held, rs.held));
        unsigned n;
        while (planner_placements(rs.p, &n), n > 0)
                assert_true(planner_release(rs.p, planner_placements(rs.p, &n)[n - 1]->name) == 0);
        planner_held_cpus(rs.p, held);
        assert_true(hwloc_bitmap_iszero(held));

        planner_free(rs.again);
        planner_free(rs.p);
        hwloc_bitmap_free(rs.held);
        return 0;
}

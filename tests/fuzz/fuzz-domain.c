/* Fuzzes policy/domain.h: domain XML to a DomainRequest, then the planner's placement of what it parsed. */
#include <errno.h>
#include <string.h>

#include "domain.h"
#include "fuzz.h"
#include "macro.h"
#include "planner.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        (void) argc;
        (void) argv;
        fuzz_config();
        return 0;
}

/* What domain_parse promises of a request it returns (domain.c refuses everything else). */
static void check_request(const DomainRequest *d) {
        assert_true(d->name && d->name[0]);
        assert_true(d->max_vcpus >= 1 && d->vcpus >= 1 && d->vcpus <= d->max_vcpus);
        assert_true(d->guest_threads >= 1);
        assert_true(d->memory_kib >= 1);
        assert_true(d->pinned_cpus && d->pinned_nodes);
        assert_true(d->n_iothreads == 0 || d->iothread_ids);
        assert_true(d->n_cells == 0 || d->cells);
        /* Dedicated vCPUs above <vcpu current=> are dropped: none is left that is not online. */
        assert_true(!d->dedicated_vcpus || hwloc_bitmap_last(d->dedicated_vcpus) < (int) d->vcpus);
}

/* Places d on an empty host; a placement is deterministic and gives back everything on release. */
static void place(const DomainRequest *d) {
        const Topology *t = fuzz_topology();
        _cleanup_(planner_freep) Planner *p = NULL;
        assert_true(planner_new(t, fuzz_config(), &p) == 0);

        const Placement *pl = NULL;
        assert_true(planner_place(p, d, &pl) == 0 && pl);
        assert_true(pl->cls && pl->name && strcmp(pl->name, d->name) == 0);
        assert_true(pl->admitted || pl->reason);
        assert_true(planner_place(p, d, &(const Placement *){ NULL }) == -EEXIST);
        _cleanup_free_ char *first = fuzz_placement_text(pl, d->uuid);

        assert_true(planner_release(p, d->name) == 0);
        _cleanup_bitmap_ hwloc_bitmap_t held = hwloc_bitmap_alloc();
        assert_true(held);
        planner_held_cpus(p, held);
        assert_true(hwloc_bitmap_iszero(held));

        assert_true(planner_place(p, d, &pl) == 0);
        _cleanup_free_ char *second = fuzz_placement_text(pl, d->uuid);
        assert_true(strcmp(first, second) == 0);
        assert_true(planner_refresh_shared(p) == 0);

        /* An admitted placement is what the allocations file keeps: a restart restores it as it is. */
        if (pl->admitted)
                fuzz_check_restore(pl, d->uuid);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(domain_freep) DomainRequest *d = NULL;
        _cleanup_free_ char *error = NULL;
        int r = domain_parse((const char *) data, size, &d, &error);
        assert_true(r == 0 || r == -EINVAL);
        if (r < 0) {
                /* domain.h: a one-line reason (the hook and the log quote it). */
                assert_true(!d && error && !strchr(error, '\n'));
                return 0;
        }
        assert_true(d && !error);
        check_request(d);
        place(d);
        return 0;
}

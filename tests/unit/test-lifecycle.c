/* The domain state table: the transitions the README's diagram draws are allowed, the ones that
 * would skip a step are refused, and every state and event has a name. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lifecycle.h"

static DomainState next(DomainState from, DomainEvent event) {
        DomainState to = DOMAIN_STATE_MAX;
        assert_int_equal(lifecycle_next(from, event, &to), 0);
        return to;
}

static void test_paths_of_the_diagram(void **state) {
        (void) state;
        /* prepare hook -> admitted -> start -> pending -> verified -> placed */
        DomainState s = next(DOMAIN_NEW, EVENT_ADMIT);
        assert_int_equal(s, DOMAIN_ADMITTED);
        s = next(s, EVENT_START);
        assert_int_equal(s, DOMAIN_PENDING);
        assert_int_equal(next(s, EVENT_APPLY_FAILED), DOMAIN_PENDING);
        assert_int_equal(next(s, EVENT_GIVE_UP), DOMAIN_FAILED);
        assert_int_equal(next(s, EVENT_VERIFIED), DOMAIN_PLACED);
        /* an admitted domain that pins itself is adopted when it starts */
        assert_int_equal(next(DOMAIN_ADMITTED, EVENT_PINS_ITSELF), DOMAIN_ADOPTED);
        /* a restart: restored, then confirmed, or admitted again when its start is still to come */
        assert_int_equal(next(DOMAIN_NEW, EVENT_RESTORE), DOMAIN_RESTORED);
        assert_int_equal(next(DOMAIN_RESTORED, EVENT_VERIFIED), DOMAIN_PLACED);
        assert_int_equal(next(DOMAIN_RESTORED, EVENT_ADMIT), DOMAIN_ADMITTED);
        /* placed and re-pinned by someone else: adopted; a refused one that fits now is planned */
        assert_int_equal(next(DOMAIN_PLACED, EVENT_PINS_ITSELF), DOMAIN_ADOPTED);
        assert_int_equal(next(DOMAIN_REFUSED, EVENT_PLAN), DOMAIN_PENDING);
        assert_int_equal(next(DOMAIN_FAILED, EVENT_PLAN), DOMAIN_PENDING);
        assert_int_equal(next(DOMAIN_NEW, EVENT_DRY_RUN), DOMAIN_PLANNED);
}

static void test_steps_cannot_be_skipped(void **state) {
        (void) state;
        DomainState to = DOMAIN_PLACED;
        /* nothing is applied to an admitted domain before its start is seen */
        assert_int_equal(lifecycle_next(DOMAIN_ADMITTED, EVENT_PLAN, &to), -EINVAL);
        assert_int_equal(lifecycle_next(DOMAIN_ADMITTED, EVENT_VERIFIED, &to), -EINVAL);
        assert_int_equal(lifecycle_next(DOMAIN_ADMITTED, EVENT_DRY_RUN, &to), -EINVAL);
        /* only an admitted domain starts; only a pending apply fails into a retry */
        assert_int_equal(lifecycle_next(DOMAIN_PLACED, EVENT_START, &to), -EINVAL);
        assert_int_equal(lifecycle_next(DOMAIN_PLACED, EVENT_APPLY_FAILED, &to), -EINVAL);
        /* restore only makes a record; a new record is not verified before it was planned */
        assert_int_equal(lifecycle_next(DOMAIN_PLACED, EVENT_RESTORE, &to), -EINVAL);
        assert_int_equal(lifecycle_next(DOMAIN_NEW, EVENT_VERIFIED, &to), -EINVAL);
        assert_int_equal(lifecycle_next(DOMAIN_NEW, EVENT_MAX, &to), -EINVAL);
        assert_int_equal(to, DOMAIN_PLACED); /* untouched on refusal */
}

static void test_names(void **state) {
        (void) state;
        for (int s = 0; s < DOMAIN_STATE_MAX; s++)
                assert_true(strcmp(lifecycle_state_name((DomainState) s), "?") != 0);
        for (int e = 0; e < EVENT_MAX; e++)
                assert_true(strcmp(lifecycle_event_name((DomainEvent) e), "?") != 0);
        assert_string_equal(lifecycle_state_name(DOMAIN_ADMITTED), "admitted");
        assert_string_equal(lifecycle_state_name(DOMAIN_STATE_MAX), "?");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_paths_of_the_diagram),
                cmocka_unit_test(test_steps_cannot_be_skipped),
                cmocka_unit_test(test_names),
        };
        return cmocka_run_group_tests_name("domain state table", tests, NULL, NULL);
}

/* The actuator table, journal keys checked against their owners, and undo of them all. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "actuator.h"
#include "actuators.h"
#include "macro.h"

static const Actuator *const table[ACTUATOR_COUNT] = {
        [ACTUATOR_THP] = &actuator_thp,
        [ACTUATOR_HUGEPAGES] = &actuator_hugepages,
        [ACTUATOR_GOVERNOR] = &actuator_governor,
        [ACTUATOR_ISOLATION] = &actuator_isolation,
        [ACTUATOR_IRQ] = &actuator_irq,
        [ACTUATOR_IDLE] = &actuator_idle,
        [ACTUATOR_NUMA_BALANCING] = &actuator_numa_balancing,
        [ACTUATOR_KSM] = &actuator_ksm,
};

const Actuator *actuator_get(ActuatorId id) {
        return (unsigned) id < ACTUATOR_COUNT ? table[id] : NULL;
}

const Actuator *actuator_owner(const char *key) {
        for (unsigned i = 0; i < ACTUATOR_COUNT; i++)
                if (table[i]->owns_key(key))
                        return table[i];
        return NULL;
}

/* Drops journal keys no actuator owns: never written. Returns how many, -ENOMEM. */
static int drop_foreign_keys(Journal *j, char **ret_error) {
        size_t n = (size_t) json_object_object_length(j->settings), k = 0;
        _cleanup_free_ char **keys = calloc(n + 1, sizeof(char *));
        if (!keys)
                return -ENOMEM;
        json_object_object_foreach(j->settings, key, val) {
                (void) val;
                if (!actuator_owner(key))
                        keys[k++] = strdup(key); /* NULL on ENOMEM: dropped next time */
        }
        for (size_t i = 0; i < k; i++) {
                if (keys[i] && !*ret_error)
                        actuator_error(ret_error, -EPERM, "the journal names %s, which no actuator owns: dropped",
                                       keys[i]);
                if (keys[i])
                        journal_forget(j, keys[i]);
                free(keys[i]);
        }
        return (int) k;
}

int actuator_undo_all(ActuatorHost *h, ActuatorMemo *memos, ActuatorReport report, void *userdata,
                      char **ret_error) {
        *ret_error = NULL;
        int first = drop_foreign_keys(h->tuning->journal, ret_error);
        first = first > 0 ? -EPERM : first;
        int restored = 0;
        for (unsigned i = ACTUATOR_COUNT; i-- > 0;) {
                _cleanup_free_ char *msg = NULL;
                int r = table[i]->undo(h, memos ? &memos[i] : NULL, &msg);
                if (report)
                        report(userdata, table[i], r, msg);
                if (r >= 0)
                        restored += r;
                else if (first == 0) {
                        first = r;
                        free(*ret_error);
                        *ret_error = TAKE_PTR(msg);
                }
        }
        return first < 0 ? first : restored;
}

void actuator_memo_renew(ActuatorMemo *memo) {
        memo->stale = true;
        hwloc_bitmap_free(memo->failed_for);
        memo->failed_for = NULL;
}

void actuator_memo_clear(ActuatorMemo *memo) {
        hwloc_bitmap_free(memo->applied_for);
        hwloc_bitmap_free(memo->failed_for);
        memo->applied_for = memo->failed_for = NULL;
        hwloc_bitmap_free(memo->refused);
        memo->refused = NULL;
        memo->said = 0;
        free(memo->summary);
        memo->summary = NULL;
}

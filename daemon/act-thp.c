/* The THP actuator: TransparentHugepages= in /sys/kernel/mm/transparent_hugepage/enabled. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "actuator.h"
#include "actuators.h"

#define THP_FILE "kernel/mm/transparent_hugepage/enabled"

static const char *mode_word(ThpMode mode) {
        static const char *const words[] = { [THP_ALWAYS] = "always", [THP_MADVISE] = "madvise", [THP_NEVER] = "never" };
        return mode == THP_KEEP ? NULL : words[mode];
}

/* Only at start and reload: an operator's change in between is theirs until then. */
static int thp_apply(ActuatorHost *h, const HostWant *want, ActuatorMemo *memo, char **ret_message) {
        if (!memo->stale)
                return 0;
        char before[64] = "";
        (void) tuning_read(h->tuning, THP_FILE, before, sizeof(before));
        int r = tuning_thp(h->tuning, want->config->host.thp, ret_message);
        if (r == -ENOENT && want->config->host.thp != THP_KEEP) {
                free(*ret_message);
                return actuator_error(ret_message, -EOPNOTSUPP,
                                      "transparent hugepages are not available on this host (no /sys/%s): left alone",
                                      THP_FILE);
        }
        if (r < 0)
                return r;
        char now[64] = "";
        (void) tuning_read(h->tuning, THP_FILE, now, sizeof(now));
        if (strcmp(before, now) == 0)
                return 0;
        return actuator_error(ret_message, 1, "transparent hugepages: %s (was %s)", now, before);
}

static int thp_verify(ActuatorHost *h, const HostWant *want, char **ret_message) {
        const char *word = mode_word(want->config->host.thp);
        char now[64];
        int r = tuning_read(h->tuning, THP_FILE, now, sizeof(now));
        if (r < 0)
                return actuator_error(ret_message, r, "%s: cannot read: %s", THP_FILE, strerror(-r));
        if (word && strcmp(now, word) != 0)
                return actuator_error(ret_message, -ESTALE, "%s is %s, not %s", THP_FILE, now, word);
        return 0;
}

static int thp_undo(ActuatorHost *h, ActuatorMemo *memo, char **ret_message) {
        (void) memo;
        return tuning_restore_owned(h->tuning, tuning_is_thp_key, NULL, ret_message);
}

const Actuator actuator_thp = {
        .name = "thp",
        .journal_namespace = THP_FILE,
        .owns_key = tuning_is_thp_key,
        .apply = thp_apply,
        .verify = thp_verify,
        .undo = thp_undo,
};

/* The domain state machine: one table, event by event, of the states it may come from. */
#include <errno.h>

#include "lifecycle.h"

#define FROM(s) (1u << (s))
#define ANY_KNOWN (((1u << DOMAIN_STATE_MAX) - 1) & ~FROM(DOMAIN_NEW))

/* Where each event leads, and from which states it may come. An admitted domain must be seen
 * starting before anything is applied to it; a new record gets its first state from admission,
 * restore or planning; everything known can be planned again (reload, a changed domain, a
 * refused one that fits now, a restored one the reconcile confirms). */
static const struct {
        DomainState to;
        unsigned from;
} table[EVENT_MAX] = {
        [EVENT_ADMIT] = { DOMAIN_ADMITTED, FROM(DOMAIN_NEW) | FROM(DOMAIN_ADMITTED) | FROM(DOMAIN_RESTORED) },
        [EVENT_RESTORE] = { DOMAIN_RESTORED, FROM(DOMAIN_NEW) },
        [EVENT_START] = { DOMAIN_PENDING, FROM(DOMAIN_ADMITTED) },
        [EVENT_PLAN] = { DOMAIN_PENDING, FROM(DOMAIN_NEW) | (ANY_KNOWN & ~FROM(DOMAIN_ADMITTED)) },
        [EVENT_PINS_ITSELF] = { DOMAIN_ADOPTED, FROM(DOMAIN_NEW) | ANY_KNOWN },
        [EVENT_REFUSE] = { DOMAIN_REFUSED, FROM(DOMAIN_NEW) | ANY_KNOWN },
        [EVENT_VERIFIED] = { DOMAIN_PLACED, ANY_KNOWN & ~FROM(DOMAIN_ADMITTED) },
        [EVENT_DRY_RUN] = { DOMAIN_PLANNED, FROM(DOMAIN_NEW) | (ANY_KNOWN & ~FROM(DOMAIN_ADMITTED)) },
        [EVENT_APPLY_FAILED] = { DOMAIN_PENDING, FROM(DOMAIN_PENDING) },
        [EVENT_GIVE_UP] = { DOMAIN_FAILED, FROM(DOMAIN_NEW) | (ANY_KNOWN & ~FROM(DOMAIN_ADMITTED)) },
};

int lifecycle_next(DomainState from, DomainEvent event, DomainState *ret_to) {
        if ((unsigned) event >= EVENT_MAX || (unsigned) from >= DOMAIN_STATE_MAX || !(table[event].from & FROM(from)))
                return -EINVAL;
        *ret_to = table[event].to;
        return 0;
}

const char *lifecycle_state_name(DomainState s) {
        static const char *const names[DOMAIN_STATE_MAX] = {
                [DOMAIN_NEW] = "new",         [DOMAIN_ADMITTED] = "admitted", [DOMAIN_PENDING] = "pending",
                [DOMAIN_PLACED] = "placed",   [DOMAIN_PLANNED] = "planned",   [DOMAIN_ADOPTED] = "adopted",
                [DOMAIN_REFUSED] = "refused", [DOMAIN_FAILED] = "failed",     [DOMAIN_RESTORED] = "restored",
        };
        return (unsigned) s < DOMAIN_STATE_MAX ? names[s] : "?";
}

const char *lifecycle_event_name(DomainEvent e) {
        static const char *const names[EVENT_MAX] = {
                [EVENT_ADMIT] = "admit",         [EVENT_RESTORE] = "restore",   [EVENT_START] = "start",
                [EVENT_PLAN] = "plan",           [EVENT_PINS_ITSELF] = "pins-itself", [EVENT_REFUSE] = "refuse",
                [EVENT_VERIFIED] = "verified",   [EVENT_DRY_RUN] = "dry-run",   [EVENT_APPLY_FAILED] = "apply-failed",
                [EVENT_GIVE_UP] = "give-up",
        };
        return (unsigned) e < EVENT_MAX ? names[e] : "?";
}

/* A managed domain's named states and the one table of what moves it from one to another. Pure:
 * manager_transition() (daemon/manager.c) is the only caller that changes a domain's state. */
#pragma once

typedef enum DomainState {
        DOMAIN_NEW, /* a record being made: no state yet */
        DOMAIN_ADMITTED, /* admitted by the prepare hook, its start not seen yet */
        DOMAIN_PENDING, /* placed, pins to apply (a retry is due, or libvirt lost the domain) */
        DOMAIN_PLACED, /* pins applied and verified */
        DOMAIN_PLANNED, /* placed in a dry run: nothing applied */
        DOMAIN_ADOPTED, /* pins itself (its XML, or an operator's live pins): accounted, left alone */
        DOMAIN_REFUSED, /* does not fit: runs on the shared CPUs */
        DOMAIN_FAILED, /* libvirt would not apply the pins (after retries), or its XML was unreadable */
        DOMAIN_RESTORED, /* the previous run's placement, booked; the first reconcile confirms it */
        DOMAIN_STATE_MAX,
} DomainState;

typedef enum DomainEvent {
        EVENT_ADMIT, /* the prepare hook admitted it (again after a restart: its start still to come) */
        EVENT_RESTORE, /* the allocations file of the previous run has it */
        EVENT_START, /* an admitted domain's start was seen: its pins follow */
        EVENT_PLAN, /* planned and admitted: pins to apply */
        EVENT_PINS_ITSELF, /* its own pins rule: adopted */
        EVENT_REFUSE, /* does not fit */
        EVENT_VERIFIED, /* pins applied and read back */
        EVENT_DRY_RUN, /* planned, nothing applied */
        EVENT_APPLY_FAILED, /* an apply failed; another try is due */
        EVENT_GIVE_UP, /* the last try of this round failed, or its XML cannot be read */
        EVENT_MAX,
} DomainEvent;

/* The state event leads to from state from. Returns 0 and *ret_to, or -EINVAL when the event
 * cannot happen in that state (a bug in the caller: the state stays). */
int lifecycle_next(DomainState from, DomainEvent event, DomainState *ret_to);

/* "placed", "admitted", ...: the names kvmtunectl domains and the status reply show. */
const char *lifecycle_state_name(DomainState s);

const char *lifecycle_event_name(DomainEvent e);

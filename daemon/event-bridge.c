/* libvirt's event loop run on sd-event. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>

#include <libvirt/libvirt.h>

#include "event-bridge.h"

typedef struct Watch {
        int id;
        sd_event_source *source;
        int interval_ms; /* timers: -1 disabled, 0 every iteration, else the period */
        virEventHandleCallback handle_cb;
        virEventTimeoutCallback timeout_cb;
        void *opaque;
        virFreeCallback ff;
        struct Watch *next;
} Watch;

/* libvirt's event callbacks carry no user pointer, so the bridge's state has to live here:
 * the one piece of process-wide state outside the Manager, set once at startup. */
static struct {
        sd_event *event;
        Watch *watches;
        int next_id;
} bridge;

static uint32_t to_epoll(int events) {
        return (events & VIR_EVENT_HANDLE_READABLE ? EPOLLIN : 0) | (events & VIR_EVENT_HANDLE_WRITABLE ? EPOLLOUT : 0);
}

static int from_epoll(uint32_t revents) {
        return (revents & EPOLLIN ? VIR_EVENT_HANDLE_READABLE : 0) |
               (revents & EPOLLOUT ? VIR_EVENT_HANDLE_WRITABLE : 0) |
               (revents & EPOLLERR ? VIR_EVENT_HANDLE_ERROR : 0) | (revents & EPOLLHUP ? VIR_EVENT_HANDLE_HANGUP : 0);
}

static Watch *find(int id) {
        for (Watch *w = bridge.watches; w; w = w->next)
                if (w->id == id)
                        return w;
        return NULL;
}

static Watch *add_watch(virEventHandleCallback hcb, virEventTimeoutCallback tcb, void *opaque, virFreeCallback ff) {
        Watch *w = calloc(1, sizeof(Watch));
        if (!w)
                return NULL;
        *w = (Watch){ .id = ++bridge.next_id, .handle_cb = hcb, .timeout_cb = tcb, .opaque = opaque, .ff = ff };
        w->next = bridge.watches;
        bridge.watches = w;
        return w;
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Watch *w = userdata;
        (void) s;
        w->handle_cb(w->id, fd, from_epoll(revents), w->opaque);
        return 0;
}

static uint64_t now_usec(void) {
        uint64_t t = 0;
        sd_event_now(bridge.event, CLOCK_MONOTONIC, &t);
        return t;
}

static int on_time(sd_event_source *s, uint64_t usec, void *userdata) {
        Watch *w = userdata;
        (void) usec;
        /* Re-arm first: the callback may remove the watch. */
        sd_event_source_set_time(s, now_usec() + (uint64_t) w->interval_ms * 1000);
        sd_event_source_set_enabled(s, SD_EVENT_ON);
        w->timeout_cb(w->id, w->opaque);
        return 0;
}

static int add_handle(int fd, int events, virEventHandleCallback cb, void *opaque, virFreeCallback ff) {
        Watch *w = add_watch(cb, NULL, opaque, ff);
        if (!w)
                return -1;
        if (sd_event_add_io(bridge.event, &w->source, fd, to_epoll(events), on_io, w) < 0) {
                bridge.watches = w->next;
                free(w);
                return -1;
        }
        if (events == 0)
                sd_event_source_set_enabled(w->source, SD_EVENT_OFF);
        return w->id;
}

static void update_handle(int id, int events) {
        Watch *w = find(id);
        if (!w)
                return;
        sd_event_source_set_io_events(w->source, to_epoll(events));
        sd_event_source_set_enabled(w->source, events ? SD_EVENT_ON : SD_EVENT_OFF);
}

static void arm_timeout(Watch *w, int ms) {
        w->interval_ms = ms;
        if (ms < 0) {
                sd_event_source_set_enabled(w->source, SD_EVENT_OFF);
                return;
        }
        sd_event_source_set_time(w->source, now_usec() + (uint64_t) ms * 1000);
        sd_event_source_set_enabled(w->source, SD_EVENT_ON);
}

static int add_timeout(int ms, virEventTimeoutCallback cb, void *opaque, virFreeCallback ff) {
        Watch *w = add_watch(NULL, cb, opaque, ff);
        if (!w)
                return -1;
        if (sd_event_add_time(bridge.event, &w->source, CLOCK_MONOTONIC, 0, 1000, on_time, w) < 0) {
                bridge.watches = w->next;
                free(w);
                return -1;
        }
        arm_timeout(w, ms);
        return w->id;
}

static void update_timeout(int id, int ms) {
        Watch *w = find(id);
        if (w)
                arm_timeout(w, ms);
}

/* libvirt requires the free callback to run from a clean stack, never from inside remove. */
static int run_free(sd_event_source *s, void *userdata) {
        Watch *w = userdata;
        (void) s;
        if (w->ff)
                w->ff(w->opaque);
        free(w);
        return 0;
}

static int remove_watch(int id) {
        Watch **pp = &bridge.watches;
        while (*pp && (*pp)->id != id)
                pp = &(*pp)->next;
        Watch *w = *pp;
        if (!w)
                return -1;
        *pp = w->next;
        w->source = sd_event_source_disable_unref(w->source);
        if (sd_event_add_defer(bridge.event, NULL, run_free, w) < 0)
                run_free(NULL, w); /* out of memory: better now than never */
        return 0;
}

int bridge_register(sd_event *e) {
        if (bridge.event)
                return bridge.event == e ? 0 : -EBUSY;
        bridge.event = sd_event_ref(e);
        virEventRegisterImpl(add_handle, update_handle, remove_watch, add_timeout, update_timeout, remove_watch);
        return 0;
}

unsigned bridge_watch_count(void) {
        unsigned n = 0;
        for (Watch *w = bridge.watches; w; w = w->next)
                n++;
        return n;
}

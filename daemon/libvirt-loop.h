/* libvirt's own event loop on a thread of its own, and connection attempts on another, so that
 * neither a libvirtd that does not answer (it answers no client before its autostart is over)
 * nor its events can stall the sd-event loop: what libvirt reports reaches that loop as
 * messages, in order, over an eventfd. */
#pragma once

#include <stdbool.h>

#include <libvirt/libvirt.h>
#include <systemd/sd-event.h>

typedef enum VirtMessageKind {
        VIRT_CONNECTED, /* an attempt succeeded: conn is the new connection, events registered */
        VIRT_CONNECT_FAILED, /* an attempt failed: error says why */
        VIRT_CLOSED, /* the connection of gen closed (libvirtd stopped, keepalive timed out) */
        VIRT_LIFECYCLE, /* dom, event, detail */
        VIRT_DEVICE, /* dom: a device was added or removed */
        VIRT_TUNABLE, /* dom: tunables changed; only_pins when all of them were pins or numatune */
} VirtMessageKind;

typedef struct VirtMessage {
        VirtMessageKind kind;
        unsigned gen; /* the connection attempt it belongs to: later ones have larger numbers */
        virConnectPtr conn; /* VIRT_CONNECTED */
        virDomainPtr dom; /* domain events: a reference of the message's own */
        int event, detail; /* VIRT_LIFECYCLE; VIRT_CLOSED: detail is libvirt's close reason */
        bool only_pins;
        char *error; /* VIRT_CONNECT_FAILED */
        struct VirtMessage *next;
} VirtMessage;

/* Called on the sd-event loop's thread for each message; the message is freed after it. */
typedef void (*VirtHandler)(void *userdata, const VirtMessage *msg);

typedef struct VirtLoop VirtLoop;

/* Registers libvirt's default event implementation (once per process) and starts its thread.
 * Returns 0, or negative errno. */
int virtloop_new(sd_event *e, VirtHandler handler, void *userdata, VirtLoop **ret_loop);

/* Closes the connection, stops the event thread and drops undelivered messages. An attempt still
 * under way finishes on its own and closes what it opened. */
void virtloop_free(VirtLoop *l);

/* Starts one connection attempt on a thread of its own; its end arrives as VIRT_CONNECTED or
 * VIRT_CONNECT_FAILED. Returns 0, -EBUSY when an attempt is under way, or negative errno. */
int virtloop_connect(VirtLoop *l, const char *uri);

/* Whether an attempt is under way. */
bool virtloop_connecting(VirtLoop *l);

/* Deregisters the events of the current connection and closes it (no-op without one). Its
 * messages still queued keep their gen: the caller knows it no longer holds that connection. */
void virtloop_disconnect(VirtLoop *l);

static inline void virtloop_freep(VirtLoop **l) {
        if (*l)
                virtloop_free(*l);
}

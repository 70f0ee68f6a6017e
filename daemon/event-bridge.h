/* libvirt's event loop run on sd-event: virEventRegisterImpl callbacks backed by sd-event
 * io and time sources, so one sd_event_loop drives libvirt, signals, timers and sockets. */
#pragma once

#include <systemd/sd-event.h>

/* Registers the bridge with libvirt for event loop e. Must run before the first connection is
 * opened. Calling it again with the same loop is a no-op. Returns 0, or -EBUSY when another
 * loop was registered (libvirt has one event implementation per process). */
int bridge_register(sd_event *e);

/* Handles and timeouts libvirt has registered and not removed, for tests and status. */
unsigned bridge_watch_count(void);

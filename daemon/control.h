/* The control socket: one JSON request line per connection, one JSON reply line back.
 * Requests carry the peer's credentials (SO_PEERCRED) so write commands can be refused. */
#pragma once

#include <sys/types.h>

#include <json-c/json.h>
#include <systemd/sd-event.h>

typedef struct ControlRequest {
        const char *command;
        json_object *request; /* the whole request object */
        uid_t uid;
        pid_t pid;
} ControlRequest;

/* Returns the reply (a new reference), or NULL for an out-of-memory reply. */
typedef json_object *(*ControlHandler)(void *userdata, const ControlRequest *req);

typedef struct Control Control;

/* Listens on path (an old socket there is replaced) with mode 0660. Returns 0 and *ret_control,
 * or negative errno. */
int control_new(sd_event *e, const char *path, ControlHandler handler, void *userdata, Control **ret_control);

/* Stops listening, closes open connections, removes the socket file. */
void control_free(Control *c);

/* A reply {"error": message}; NULL on ENOMEM. */
json_object *control_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The control socket: one JSON request line per connection, one JSON reply line back.
 * Requests carry the peer's credentials (SO_PEERCRED) so write commands can be refused.
 * Nothing a client does can block the loop or grow without bound: clients, the bytes they may
 * have buffered, and the time a connection may live are all limited, replies are written
 * without blocking, and a failing accept() backs off instead of spinning. */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>
#include <systemd/sd-event.h>

#include "domain.h"

/* A request may carry a whole domain XML (the hook): JSON escaping at most doubles XML that has
 * no control characters (the hook refuses those), plus room for the other fields. */
#define CONTROL_REQUEST_MAX (2 * DOMAIN_XML_MAX + 64 * 1024)

typedef struct ControlLimits {
        mode_t mode;             /* of the socket file */
        unsigned max_clients;    /* connections served at once; more are answered "busy" */
        size_t request_max;      /* bytes of one request */
        size_t buffer_budget;    /* request bytes held for all clients together */
        uint64_t timeout_usec;   /* from accept to the reply's last byte */
        uint64_t backoff_usec;   /* pause of the listening socket after accept() failed */
} ControlLimits;

/* The daemon's control socket (root and the socket's group) and its hook socket (root only). */
#define CONTROL_LIMITS_DEFAULT                                                                                         \
        ((ControlLimits){ .mode = 0660,                                                                                \
                          .max_clients = 64,                                                                           \
                          .request_max = CONTROL_REQUEST_MAX,                                                          \
                          .buffer_budget = 4 * CONTROL_REQUEST_MAX,                                                    \
                          .timeout_usec = 10 * 1000000ULL,                                                             \
                          .backoff_usec = 100 * 1000ULL })

typedef struct ControlRequest {
        const char *command;
        json_object *request; /* the whole request object */
        uid_t uid;
        pid_t pid;
} ControlRequest;

/* Returns the reply (a new reference), or NULL for an out-of-memory reply. */
typedef json_object *(*ControlHandler)(void *userdata, const ControlRequest *req);

typedef struct Control Control;

/* Listens on path (an old socket there is replaced) within limits. Returns 0 and *ret_control,
 * or negative errno. */
int control_new(sd_event *e, const char *path, const ControlLimits *limits, ControlHandler handler, void *userdata,
                Control **ret_control);

/* Stops listening, closes open connections, removes the socket file. */
void control_free(Control *c);

/* Connections open now (for tests and status). */
unsigned control_clients(const Control *c);

/* A reply {"error": message}; NULL on ENOMEM. */
json_object *control_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

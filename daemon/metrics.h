/* The Prometheus endpoint: GET /metrics over libmicrohttpd, run inside the sd-event loop (its
 * epoll fd is one more io source), so a scrape reads the Manager's state without threads. */
#pragma once

#include <systemd/sd-event.h>

typedef struct Metrics Metrics;

/* Renders the current metrics as text; returns a malloc'd string or NULL. */
typedef char *(*MetricsRender)(void *userdata);

/* Listens on "HOST:PORT" or "[V6]:PORT". Returns 0 and *ret_metrics, -EINVAL for an address
 * it cannot use, or -EADDRINUSE / another negative errno when it cannot listen. */
int metrics_new(sd_event *e, const char *listen, MetricsRender render, void *userdata, Metrics **ret_metrics);

void metrics_free(Metrics *m);

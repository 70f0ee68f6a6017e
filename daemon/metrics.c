/* The Prometheus endpoint on libmicrohttpd, driven by the sd-event loop. */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include <microhttpd.h>

#include "listen.h"
#include "macro.h"
#include "metrics.h"

/* Scrapers are few; any local user can connect, so their descriptors must stay a small part of
 * the daemon's (systemd's default soft limit is 1024). */
#define METRICS_CONNECTIONS_MAX 32

struct Metrics {
        struct MHD_Daemon *mhd;
        sd_event_source *io, *timer;
        MetricsRender render;
        void *userdata;
};

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
        Metrics *m = cls;
        (void) version;
        (void) upload;
        (void) upload_size;
        (void) con_cls;
        bool found = strcmp(url, "/metrics") == 0 && (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0);
        char *text = found ? m->render(m->userdata) : NULL;
        const char *body = text ? text : found ? "internal error\n" : "kvmtuned serves /metrics\n";
        struct MHD_Response *r =
                text ? MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE)
                     : MHD_create_response_from_buffer(strlen(body), (void *) body, MHD_RESPMEM_PERSISTENT);
        if (!r) {
                free(text);
                return MHD_NO;
        }
        MHD_add_response_header(r, "Content-Type", text ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain");
        enum MHD_Result ret = MHD_queue_response(c,
                                                 text    ? MHD_HTTP_OK
                                                 : found ? MHD_HTTP_INTERNAL_SERVER_ERROR
                                                         : MHD_HTTP_NOT_FOUND,
                                                 r);
        MHD_destroy_response(r);
        return ret;
}

/* After every run, the next wake-up is whatever MHD wants for its connection timeouts. */
static void rearm(Metrics *m) {
        MHD_UNSIGNED_LONG_LONG ms = 1000;
        if (MHD_get_timeout(m->mhd, &ms) != MHD_YES || ms > 1000)
                ms = 1000;
        uint64_t now = 0;
        sd_event_now(sd_event_source_get_event(m->timer), CLOCK_MONOTONIC, &now);
        sd_event_source_set_time(m->timer, now + ms * 1000);
        sd_event_source_set_enabled(m->timer, SD_EVENT_ONESHOT);
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Metrics *m = userdata;
        (void) s;
        (void) fd;
        (void) revents;
        MHD_run(m->mhd);
        rearm(m);
        return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        (void) usec;
        return on_io(s, -1, 0, userdata);
}

int metrics_new(sd_event *e, const char *listen, MetricsRender render, void *userdata, Metrics **ret_metrics) {
        struct sockaddr_storage ss;
        int r = listen_parse(listen, &ss);
        if (r < 0)
                return r;
        Metrics *m = calloc(1, sizeof(Metrics));
        if (!m)
                return -ENOMEM;
        m->render = render;
        m->userdata = userdata;
        unsigned flags = MHD_USE_EPOLL | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
        uint16_t port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *) &ss)->sin6_port
                                                       : ((struct sockaddr_in *) &ss)->sin_port);
        m->mhd = MHD_start_daemon(flags, port, NULL, NULL, on_request, m, MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &ss,
                                  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) 10, MHD_OPTION_CONNECTION_LIMIT,
                                  (unsigned) METRICS_CONNECTIONS_MAX, MHD_OPTION_END);
        if (!m->mhd) {
                free(m);
                return -EADDRINUSE;
        }
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_EPOLL_FD);
        if (!info || (r = sd_event_add_io(e, &m->io, info->epoll_fd, EPOLLIN, on_io, m)) < 0 ||
            (r = sd_event_add_time(e, &m->timer, CLOCK_MONOTONIC, 0, 1000, on_timer, m)) < 0) {
                metrics_free(m);
                return r < 0 ? r : -EIO;
        }
        rearm(m);
        *ret_metrics = m;
        return 0;
}

void metrics_free(Metrics *m) {
        if (!m)
                return;
        sd_event_source_disable_unref(m->io);
        sd_event_source_disable_unref(m->timer);
        if (m->mhd)
                MHD_stop_daemon(m->mhd);
        free(m);
}

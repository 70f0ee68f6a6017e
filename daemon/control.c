/* The control socket: JSON request and reply lines over a Unix stream socket, within bounds. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "json-field.h"
#include "macro.h"

/* Accepted per wake-up, so a flood of connections cannot hold the loop. */
#define ACCEPT_BATCH 32

typedef struct Client {
        struct Control *control;
        int fd;
        sd_event_source *io, *timer;
        char *buf; /* the request as it arrives */
        size_t len, alloc;
        char *out; /* the reply as it leaves */
        size_t out_len, out_off;
        struct Client *next;
} Client;

struct Control {
        sd_event *event;
        char *path;
        int fd;
        sd_event_source *source, *backoff;
        ControlLimits limits;
        ControlHandler handler;
        void *userdata;
        Client *clients;
        unsigned n_clients;
        size_t buffered; /* sum of the clients' request buffers */
};

json_object *control_error(const char *fmt, ...) {
        char msg[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        json_object *o = json_object_new_object();
        if (o)
                json_object_object_add(o, "error", json_object_new_string(msg));
        return o;
}

static void client_drop_request(Client *cl) {
        cl->control->buffered -= cl->alloc;
        free(cl->buf);
        cl->buf = NULL;
        cl->len = cl->alloc = 0;
}

static void client_free(Client *cl) {
        Client **pp = &cl->control->clients;
        while (*pp && *pp != cl)
                pp = &(*pp)->next;
        if (*pp)
                *pp = cl->next;
        cl->control->n_clients--;
        client_drop_request(cl);
        sd_event_source_disable_unref(cl->io);
        sd_event_source_disable_unref(cl->timer);
        close(cl->fd);
        free(cl->out);
        free(cl);
}

/* Writes what the socket takes now. Returns 1 when all is out, 0 to wait for EPOLLOUT, or
 * negative errno. */
static int client_flush(Client *cl) {
        while (cl->out_off < cl->out_len) {
                ssize_t k = send(cl->fd, cl->out + cl->out_off, cl->out_len - cl->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (k < 0)
                        return errno == EAGAIN || errno == EINTR ? 0 : -errno;
                cl->out_off += (size_t) k;
        }
        return 1;
}

/* Queues the reply line and sends what it can; the rest leaves as the client reads, within
 * the client's time. The client is freed when done or failed. */
static void client_reply(Client *cl, json_object *o) {
        const char *s = o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
                          : "{\"error\":\"out of memory\"}";
        client_drop_request(cl);
        if (asprintf(&cl->out, "%s\n", s) < 0) {
                cl->out = NULL;
                client_free(cl);
                return;
        }
        cl->out_len = strlen(cl->out);
        int r = client_flush(cl);
        if (r != 0 || sd_event_source_set_io_events(cl->io, EPOLLOUT) < 0)
                client_free(cl);
}

static void client_reply_error(Client *cl, const char *message) {
        json_object *e = control_error("%s", message);
        client_reply(cl, e);
        json_object_put(e);
}

static void dispatch(Client *cl) {
        Control *c = cl->control;
        struct ucred cred = { .uid = (uid_t) -1 };
        socklen_t len = sizeof(cred);
        getsockopt(cl->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len);

        json_object *req = json_tokener_parse(cl->buf);
        const char *command = json_field_string(req, "command");
        json_object *answer;
        if (!command)
                answer = control_error("malformed request: expected {\"command\": ...}");
        else
                answer = c->handler(
                        c->userdata,
                        &(ControlRequest){ .command = command, .request = req, .uid = cred.uid, .pid = cred.pid });
        client_reply(cl, answer);
        json_object_put(answer);
        json_object_put(req);
}

/* Room for 4 KiB more of the request, within the request and budget limits. Returns 0, or
 * negative errno with the client already answered and freed. */
static int client_grow(Client *cl) {
        Control *c = cl->control;
        if (cl->len + 4096 + 1 <= cl->alloc)
                return 0;
        size_t n = cl->alloc ? cl->alloc * 2 : 8192;
        if (n > c->limits.request_max + 1)
                n = c->limits.request_max + 1;
        char msg[128];
        if (cl->len >= c->limits.request_max) {
                snprintf(msg, sizeof(msg), "request larger than %zu bytes", c->limits.request_max);
                client_reply_error(cl, msg);
                return -E2BIG;
        }
        if (c->buffered - cl->alloc + n > c->limits.buffer_budget) {
                client_reply_error(cl, "busy: too many large requests at once, try again");
                return -ENOBUFS;
        }
        char *b = realloc(cl->buf, n);
        if (!b) {
                client_free(cl);
                return -ENOMEM;
        }
        c->buffered += n - cl->alloc;
        cl->buf = b;
        cl->alloc = n;
        return 0;
}

static int on_client_read(Client *cl) {
        for (;;) {
                if (client_grow(cl) < 0)
                        return 0;
                size_t room = cl->alloc - cl->len - 1;
                ssize_t k = read(cl->fd, cl->buf + cl->len, room);
                if (k < 0 && (errno == EAGAIN || errno == EINTR))
                        return 0;
                if (k <= 0) {
                        if (k == 0 && cl->len > 0) {
                                cl->buf[cl->len] = '\0';
                                dispatch(cl);
                        } else
                                client_free(cl);
                        return 0;
                }
                cl->len += (size_t) k;
                cl->buf[cl->len] = '\0';
                if (memchr(cl->buf + cl->len - k, '\n', (size_t) k)) {
                        dispatch(cl);
                        return 0;
                }
        }
}

static int on_client(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Client *cl = userdata;
        (void) s;
        (void) fd;
        if (cl->out) { /* writing the reply */
                if ((revents & (EPOLLERR | EPOLLHUP)) || client_flush(cl) != 0)
                        client_free(cl);
                return 0;
        }
        return on_client_read(cl);
}

static int on_client_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        (void) s;
        (void) usec;
        client_free(userdata); /* idle, too slow to send its request, or not reading its reply */
        return 0;
}

static int on_backoff(sd_event_source *s, uint64_t usec, void *userdata) {
        Control *c = userdata;
        (void) s;
        (void) usec;
        sd_event_source_set_enabled(c->source, SD_EVENT_ON);
        return 0;
}

/* accept() failed for want of descriptors or memory: the connection stays in the backlog and
 * the socket readable, so stop listening for a while instead of spinning. */
static void control_back_off(Control *c) {
        uint64_t now = 0;
        sd_event_now(c->event, CLOCK_MONOTONIC, &now);
        sd_event_source_set_enabled(c->source, SD_EVENT_OFF);
        sd_event_source_set_time(c->backoff, now + c->limits.backoff_usec);
        sd_event_source_set_enabled(c->backoff, SD_EVENT_ONESHOT);
}

static int client_new(Control *c, int cfd) {
        Client *cl = calloc(1, sizeof(Client));
        if (!cl)
                return -ENOMEM;
        uint64_t now = 0;
        sd_event_now(c->event, CLOCK_MONOTONIC, &now);
        int r = sd_event_add_io(c->event, &cl->io, cfd, EPOLLIN, on_client, cl);
        if (r >= 0)
                r = sd_event_add_time(c->event, &cl->timer, CLOCK_MONOTONIC, now + c->limits.timeout_usec, 10000,
                                      on_client_timeout, cl);
        if (r < 0) {
                sd_event_source_disable_unref(cl->io);
                free(cl);
                return r;
        }
        cl->control = c;
        cl->fd = cfd;
        cl->next = c->clients;
        c->clients = cl;
        c->n_clients++;
        return 0;
}

static int on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Control *c = userdata;
        (void) s;
        (void) revents;
        for (unsigned i = 0; i < ACCEPT_BATCH; i++) {
                int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (cfd < 0) {
                        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                                control_back_off(c);
                        return 0; /* EAGAIN: the backlog is empty; ECONNABORTED: that one left */
                }
                if (c->n_clients >= c->limits.max_clients) {
                        static const char busy[] = "{\"error\":\"busy: too many connections, try again\"}\n";
                        (void) send(cfd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
                        close(cfd);
                } else if (client_new(c, cfd) < 0)
                        close(cfd);
        }
        return 0;
}

static int control_listen(Control *c, const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        strcpy(sa.sun_path, path);
        if ((c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0)
                return -errno;
        (void) unlink(path); /* a socket left by a previous run */
        mode_t old = umask(0177);
        int r = 0;
        if (bind(c->fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(c->fd, 128) < 0)
                r = -errno;
        umask(old);
        if (r == 0 && chmod(path, c->limits.mode) < 0)
                r = -errno;
        if (r == 0)
                r = sd_event_add_io(c->event, &c->source, c->fd, EPOLLIN, on_accept, c);
        if (r == 0)
                r = sd_event_add_time(c->event, &c->backoff, CLOCK_MONOTONIC, 0, 0, on_backoff, c);
        if (r == 0)
                r = sd_event_source_set_enabled(c->backoff, SD_EVENT_OFF);
        return r;
}

int control_new(sd_event *e, const char *path, const ControlLimits *limits, ControlHandler handler, void *userdata,
                Control **ret_control) {
        if (strlen(path) >= sizeof(((struct sockaddr_un *) NULL)->sun_path))
                return -ENAMETOOLONG;
        Control *c = calloc(1, sizeof(Control));
        if (!c)
                return -ENOMEM;
        *c = (Control){
                .event = sd_event_ref(e), .limits = *limits, .handler = handler, .userdata = userdata, .fd = -1
        };
        int r = (c->path = strdup(path)) ? control_listen(c, path) : -ENOMEM;
        if (r < 0) {
                control_free(c);
                return r;
        }
        *ret_control = c;
        return 0;
}

unsigned control_clients(const Control *c) {
        return c->n_clients;
}

void control_free(Control *c) {
        if (!c)
                return;
        while (c->clients)
                client_free(c->clients);
        sd_event_source_disable_unref(c->source);
        sd_event_source_disable_unref(c->backoff);
        if (c->fd >= 0) {
                close(c->fd);
                unlink(c->path);
        }
        sd_event_unref(c->event);
        free(c->path);
        free(c);
}

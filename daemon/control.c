/* The control socket: JSON request and reply lines over a Unix stream socket. */
#include <errno.h>
#include <fcntl.h>
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

#define REQUEST_MAX (4 * 1024 * 1024) /* a hook request carries a whole domain XML */

typedef struct Client {
        struct Control *control;
        int fd;
        sd_event_source *source;
        char *buf;
        size_t len, alloc;
        struct Client *next;
} Client;

struct Control {
        sd_event *event;
        char *path;
        int fd;
        sd_event_source *source;
        ControlHandler handler;
        void *userdata;
        Client *clients;
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

static void client_free(Client *cl) {
        Client **pp = &cl->control->clients;
        while (*pp && *pp != cl)
                pp = &(*pp)->next;
        if (*pp)
                *pp = cl->next;
        sd_event_source_disable_unref(cl->source);
        close(cl->fd);
        free(cl->buf);
        free(cl);
}

static void reply(Client *cl, json_object *o) {
        const char *s = o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
                          : "{\"error\":\"out of memory\"}";
        /* Replies are small and the client waits for them: write them out blocking, bounded. */
        int flags = fcntl(cl->fd, F_GETFL);
        fcntl(cl->fd, F_SETFL, flags & ~O_NONBLOCK);
        struct timeval tv = { .tv_sec = 2 };
        setsockopt(cl->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        size_t len = strlen(s), off = 0;
        while (off < len) {
                ssize_t k = send(cl->fd, s + off, len - off, MSG_NOSIGNAL);
                if (k <= 0)
                        return;
                off += (size_t) k;
        }
        send(cl->fd, "\n", 1, MSG_NOSIGNAL);
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
        reply(cl, answer);
        json_object_put(answer);
        json_object_put(req);
}

static int on_client(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Client *cl = userdata;
        (void) s;
        (void) revents;
        for (;;) {
                if (cl->len + 4096 + 1 > cl->alloc) {
                        size_t n = cl->alloc ? cl->alloc * 2 : 8192;
                        char *b = n <= REQUEST_MAX ? realloc(cl->buf, n) : NULL;
                        if (!b) {
                                json_object *e = control_error("request larger than %d bytes", REQUEST_MAX);
                                reply(cl, e);
                                json_object_put(e);
                                client_free(cl);
                                return 0;
                        }
                        cl->buf = b;
                        cl->alloc = n;
                }
                ssize_t k = read(fd, cl->buf + cl->len, cl->alloc - cl->len - 1);
                if (k < 0 && (errno == EAGAIN || errno == EINTR))
                        return 0;
                if (k <= 0) {
                        if (k == 0 && cl->len > 0) {
                                cl->buf[cl->len] = '\0';
                                dispatch(cl);
                        }
                        client_free(cl);
                        return 0;
                }
                cl->len += (size_t) k;
                cl->buf[cl->len] = '\0';
                if (memchr(cl->buf + cl->len - k, '\n', (size_t) k)) {
                        dispatch(cl);
                        client_free(cl);
                        return 0;
                }
        }
}

static int on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Control *c = userdata;
        (void) s;
        (void) revents;
        int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (cfd < 0)
                return 0;
        Client *cl = calloc(1, sizeof(Client));
        if (!cl || sd_event_add_io(c->event, &cl->source, cfd, EPOLLIN, on_client, cl) < 0) {
                free(cl);
                close(cfd);
                return 0;
        }
        cl->control = c;
        cl->fd = cfd;
        cl->next = c->clients;
        c->clients = cl;
        return 0;
}

int control_new(sd_event *e, const char *path, ControlHandler handler, void *userdata, Control **ret_control) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);

        Control *c = calloc(1, sizeof(Control));
        if (!c)
                return -ENOMEM;
        *c = (Control){ .event = sd_event_ref(e), .handler = handler, .userdata = userdata, .fd = -1 };
        int r = 0;
        if (!(c->path = strdup(path)))
                r = -ENOMEM;
        else if ((c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0)
                r = -errno;
        else {
                (void) unlink(path); /* a socket left by a previous run */
                mode_t old = umask(0117);
                if (bind(c->fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(c->fd, 64) < 0)
                        r = -errno;
                umask(old);
                if (r == 0 && chmod(path, 0660) < 0)
                        r = -errno;
                if (r == 0)
                        r = sd_event_add_io(e, &c->source, c->fd, EPOLLIN, on_accept, c);
        }
        if (r < 0) {
                control_free(c);
                return r;
        }
        *ret_control = c;
        return 0;
}

void control_free(Control *c) {
        if (!c)
                return;
        while (c->clients)
                client_free(c->clients);
        sd_event_source_disable_unref(c->source);
        if (c->fd >= 0) {
                close(c->fd);
                unlink(c->path);
        }
        sd_event_unref(c->event);
        free(c->path);
        free(c);
}

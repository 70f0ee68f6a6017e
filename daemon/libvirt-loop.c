/* libvirt's event loop and connection attempts off the sd-event thread, reported as messages. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <libvirt/virterror.h>

#include "libvirt-loop.h"
#include "macro.h"

/* What one connection registered, to deregister it again. */
typedef struct Subscription {
        bool close_registered;
        int ids[4]; /* lifecycle, device added, device removed, tunable; -1: none */
} Subscription;

struct VirtLoop {
        sd_event *event;
        sd_event_source *source;
        int efd;
        VirtHandler handler;
        void *userdata;
        pthread_t thread;
        bool thread_started;
        int wake_timer; /* a timeout that fires every iteration once quit is set; -1: none */
        atomic_bool quit;

        pthread_mutex_t lock; /* everything below; the attempt thread shares it */
        VirtMessage *head, **tail;
        unsigned gen; /* of the last attempt */
        bool connecting;
        /* Callbacks learn their message's gen from the connection they come from: the current
         * one, or the one an attempt is still subscribing on (a close can come then too). A
         * callback holds a reference on its connection, so an old one's address cannot be a
         * new one's while it runs. */
        virConnectPtr conn, pending;
        unsigned conn_gen, pending_gen;
        Subscription sub; /* conn's */
        unsigned refs; /* the owner's, and one per attempt under way */
};

static void message_free(VirtMessage *msg) {
        if (msg->dom)
                virDomainFree(msg->dom);
        free(msg->error);
        free(msg);
}

/* Queues a copy of *msg (taking a reference on its domain) and wakes the sd-event loop. from: the
 * connection a callback came from, whose gen the message gets; a message of a connection that
 * is neither current nor being subscribed is stale and dropped. After virtloop_free began,
 * messages are dropped too: nobody would read them. */
static void post(VirtLoop *l, const VirtMessage *msg, virConnectPtr from) {
        VirtMessage *copy = malloc(sizeof(VirtMessage));
        if (!copy)
                return; /* out of memory: the next reconcile makes up for a lost event */
        *copy = *msg;
        copy->next = NULL;
        copy->error = msg->error ? strdup(msg->error) : NULL;
        if (copy->dom)
                virDomainRef(copy->dom);
        pthread_mutex_lock(&l->lock);
        bool keep = !atomic_load(&l->quit);
        if (keep && from) {
                keep = from == l->conn || from == l->pending;
                copy->gen = from == l->conn ? l->conn_gen : l->pending_gen;
        }
        if (keep) {
                *l->tail = copy;
                l->tail = &copy->next;
                (void) eventfd_write(l->efd, 1);
        }
        pthread_mutex_unlock(&l->lock);
        if (!keep)
                message_free(copy);
}

/* ---- Callbacks, on libvirt's event thread (a close also where an I/O error shows) ----------- */

static int on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque) {
        post(opaque, &(VirtMessage){ .kind = VIRT_LIFECYCLE, .dom = dom, .event = event, .detail = detail }, conn);
        return 0;
}

static void on_device(virConnectPtr conn, virDomainPtr dom, const char *alias, void *opaque) {
        (void) alias;
        post(opaque, &(VirtMessage){ .kind = VIRT_DEVICE, .dom = dom }, conn);
}

static void on_tunable(virConnectPtr conn, virDomainPtr dom, virTypedParameterPtr params, int n, void *opaque) {
        /* The parameters live only during the callback: reduced here to what the daemon asks. */
        bool only_pins = true;
        for (int i = 0; i < n; i++)
                only_pins &= strstr(params[i].field, "pin") != NULL || strncmp(params[i].field, "numa", 4) == 0;
        post(opaque, &(VirtMessage){ .kind = VIRT_TUNABLE, .dom = dom, .only_pins = only_pins }, conn);
}

static void on_close(virConnectPtr conn, int reason, void *opaque) {
        post(opaque, &(VirtMessage){ .kind = VIRT_CLOSED, .detail = reason }, conn);
}

/* ---- The event thread ---------------------------------------------------------------------- */

static void *run_events(void *arg) {
        VirtLoop *l = arg;
        while (!atomic_load(&l->quit))
                virEventRunDefaultImpl();
        return NULL;
}

static void wake(int timer, void *opaque) {
        (void) timer;
        (void) opaque;
}

/* libvirt has one event implementation per process; registering it twice would start over. */
static pthread_once_t register_once = PTHREAD_ONCE_INIT;
static int register_result;

static void register_default_impl(void) {
        register_result = virEventRegisterDefaultImpl();
}

/* ---- Connections ---------------------------------------------------------------------------- */

static void loop_unref(VirtLoop *l);

static void unsubscribe(virConnectPtr conn, Subscription *sub) {
        for (size_t i = 0; i < ELEMENTSOF(sub->ids); i++)
                if (sub->ids[i] >= 0) {
                        virConnectDomainEventDeregisterAny(conn, sub->ids[i]);
                        sub->ids[i] = -1;
                }
        if (sub->close_registered) {
                virConnectUnregisterCloseCallback(conn, on_close);
                sub->close_registered = false;
        }
}

/* Keepalive, the close callback and the domain events of a new connection, all of them or
 * none. Returns 0 or -EIO. */
static int subscribe(VirtLoop *l, virConnectPtr conn, Subscription *sub) {
        *sub = (Subscription){ .ids = { -1, -1, -1, -1 } };
        virConnectSetKeepAlive(conn, 5, 3);
        sub->close_registered = virConnectRegisterCloseCallback(conn, on_close, l, NULL) == 0;
        sub->ids[0] = virConnectDomainEventRegisterAny(conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                                       VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), l, NULL);
        sub->ids[1] = virConnectDomainEventRegisterAny(conn, NULL, VIR_DOMAIN_EVENT_ID_DEVICE_ADDED,
                                                       VIR_DOMAIN_EVENT_CALLBACK(on_device), l, NULL);
        sub->ids[2] = virConnectDomainEventRegisterAny(conn, NULL, VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED,
                                                       VIR_DOMAIN_EVENT_CALLBACK(on_device), l, NULL);
        sub->ids[3] = virConnectDomainEventRegisterAny(conn, NULL, VIR_DOMAIN_EVENT_ID_TUNABLE,
                                                       VIR_DOMAIN_EVENT_CALLBACK(on_tunable), l, NULL);
        bool all = sub->close_registered;
        for (size_t i = 0; i < ELEMENTSOF(sub->ids); i++)
                all &= sub->ids[i] >= 0;
        if (all)
                return 0;
        unsubscribe(conn, sub);
        return -EIO;
}

typedef struct Attempt {
        VirtLoop *loop;
        unsigned gen;
        char *uri;
} Attempt;

/* virConnectOpen blocks until libvirtd answers, which it does only after its autostart. */
static void *run_attempt(void *arg) {
        Attempt *a = arg;
        VirtLoop *l = a->loop;
        virConnectPtr conn = virConnectOpen(a->uri);
        _cleanup_free_ char *error = conn ? NULL : strdup(virGetLastErrorMessage());
        Subscription sub;
        if (conn) {
                pthread_mutex_lock(&l->lock);
                l->pending = conn;
                l->pending_gen = a->gen;
                pthread_mutex_unlock(&l->lock);
                if (subscribe(l, conn, &sub) < 0) {
                        error = strdup(virGetLastErrorMessage());
                        virConnectClose(conn);
                        conn = NULL;
                }
        }
        pthread_mutex_lock(&l->lock);
        l->connecting = false;
        l->pending = NULL;
        bool abandoned = atomic_load(&l->quit);
        if (conn && !abandoned) {
                l->conn = conn;
                l->conn_gen = a->gen;
                l->sub = sub;
        }
        pthread_mutex_unlock(&l->lock);
        if (conn && abandoned) {
                unsubscribe(conn, &sub);
                virConnectClose(conn);
        } else if (conn)
                post(l, &(VirtMessage){ .kind = VIRT_CONNECTED, .gen = a->gen, .conn = conn }, NULL);
        else
                post(l, &(VirtMessage){ .kind = VIRT_CONNECT_FAILED, .gen = a->gen, .error = error }, NULL);
        free(a->uri);
        free(a);
        loop_unref(l);
        return NULL;
}

int virtloop_connect(VirtLoop *l, const char *uri) {
        Attempt *a = calloc(1, sizeof(Attempt));
        if (!a || !(a->uri = strdup(uri))) {
                free(a);
                return -ENOMEM;
        }
        pthread_mutex_lock(&l->lock);
        if (l->connecting) {
                pthread_mutex_unlock(&l->lock);
                free(a->uri);
                free(a);
                return -EBUSY;
        }
        a->loop = l;
        a->gen = ++l->gen;
        l->connecting = true;
        l->refs++;
        pthread_mutex_unlock(&l->lock);

        pthread_attr_t attr;
        pthread_t t;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED); /* it may outlive the loop */
        int r = pthread_create(&t, &attr, run_attempt, a);
        pthread_attr_destroy(&attr);
        if (r != 0) {
                pthread_mutex_lock(&l->lock);
                l->connecting = false;
                l->refs--;
                pthread_mutex_unlock(&l->lock);
                free(a->uri);
                free(a);
                return -r;
        }
        return 0;
}

bool virtloop_connecting(VirtLoop *l) {
        pthread_mutex_lock(&l->lock);
        bool connecting = l->connecting;
        pthread_mutex_unlock(&l->lock);
        return connecting;
}

void virtloop_disconnect(VirtLoop *l) {
        pthread_mutex_lock(&l->lock);
        virConnectPtr conn = TAKE_PTR(l->conn);
        Subscription sub = l->sub;
        pthread_mutex_unlock(&l->lock);
        if (!conn)
                return;
        unsubscribe(conn, &sub);
        virConnectClose(conn);
}

/* ---- Delivery on the sd-event thread ----------------------------------------------------- */

static int on_wakeup(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        VirtLoop *l = userdata;
        eventfd_t ignored;
        (void) s;
        (void) revents;
        (void) eventfd_read(fd, &ignored);
        pthread_mutex_lock(&l->lock);
        VirtMessage *list = TAKE_PTR(l->head);
        l->tail = &l->head;
        pthread_mutex_unlock(&l->lock);
        while (list) {
                VirtMessage *msg = list;
                list = msg->next;
                l->handler(l->userdata, msg);
                message_free(msg);
        }
        return 0;
}

static void loop_unref(VirtLoop *l) {
        pthread_mutex_lock(&l->lock);
        bool last = --l->refs == 0;
        pthread_mutex_unlock(&l->lock);
        if (!last)
                return;
        pthread_mutex_destroy(&l->lock);
        free(l);
}

int virtloop_new(sd_event *e, VirtHandler handler, void *userdata, VirtLoop **ret_loop) {
        pthread_once(&register_once, register_default_impl);
        if (register_result < 0)
                return -EIO;
        VirtLoop *l = calloc(1, sizeof(VirtLoop));
        if (!l)
                return -ENOMEM;
        *l = (VirtLoop){ .event = sd_event_ref(e), .handler = handler, .userdata = userdata, .wake_timer = -1, .refs = 1 };
        l->tail = &l->head;
        pthread_mutex_init(&l->lock, NULL);
        int r = 0;
        if ((l->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
                r = -errno;
        else if ((r = sd_event_add_io(e, &l->source, l->efd, EPOLLIN, on_wakeup, l)) >= 0) {
                r = -pthread_create(&l->thread, NULL, run_events, l);
                l->thread_started = r == 0;
        }
        if (r < 0) {
                virtloop_free(l);
                return r;
        }
        *ret_loop = l;
        return 0;
}

void virtloop_free(VirtLoop *l) {
        if (!l)
                return;
        pthread_mutex_lock(&l->lock);
        atomic_store(&l->quit, true); /* from here on nothing is queued, an attempt closes its own */
        pthread_mutex_unlock(&l->lock);
        virtloop_disconnect(l);
        if (l->thread_started) {
                l->wake_timer = virEventAddTimeout(0, wake, NULL, NULL);
                pthread_join(l->thread, NULL);
                if (l->wake_timer >= 0)
                        virEventRemoveTimeout(l->wake_timer);
        }
        while (l->head) {
                VirtMessage *msg = l->head;
                l->head = msg->next;
                message_free(msg);
        }
        sd_event_source_disable_unref(l->source);
        if (l->efd >= 0)
                close(l->efd);
        sd_event_unref(l->event);
        loop_unref(l);
}

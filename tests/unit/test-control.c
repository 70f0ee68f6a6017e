/* The control socket's bounds (issue 12, defects 3 and 4): idle and excess clients, request
 * size and buffer budget, replies that never block the loop, accept() failures that back off. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "control.h"
#include "fixture.h"

typedef struct Harness {
        sd_event *event;
        Control *control;
        char *root, *path;
        unsigned requests;
} Harness;

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

/* "big" answers 2 MiB (ten times what a Unix socket buffers), anything else {"ok": command}. */
static json_object *handler(void *userdata, const ControlRequest *req) {
        Harness *h = userdata;
        h->requests++;
        json_object *o = json_object_new_object();
        if (strcmp(req->command, "big") == 0) {
                size_t n = 2 * 1024 * 1024;
                char *s = malloc(n + 1);
                memset(s, 'x', n);
                s[n] = '\0';
                json_object_object_add(o, "big", json_object_new_string(s));
                free(s);
        } else
                json_object_object_add(o, "ok", json_object_new_string(req->command));
        return o;
}

static void harness_new(Harness *h, const ControlLimits *limits) {
        *h = (Harness){ .root = fixture_new() };
        assert_true(asprintf(&h->path, "%s/control", h->root) > 0);
        assert_int_equal(sd_event_new(&h->event), 0);
        assert_int_equal(control_new(h->event, h->path, limits, handler, h, &h->control), 0);
}

static void harness_free(Harness *h) {
        control_free(h->control);
        sd_event_unref(h->event);
        free(h->path);
        fixture_free(h->root);
}

/* Runs the loop for usec; returns how many times it woke up. */
static unsigned run_for(Harness *h, uint64_t usec) {
        unsigned n = 0;
        for (uint64_t end = now_usec() + usec; now_usec() < end; n++)
                assert_true(sd_event_run(h->event, 10000) >= 0);
        return n;
}

static int client_connect(const Harness *h) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", h->path);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        assert_true(fd >= 0);
        assert_int_equal(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        return fd;
}

/* What the daemon sent so far (non-blocking); "" for nothing yet, "EOF" once closed with nothing. */
static char *client_read(int fd) {
        static char buf[4096];
        ssize_t k = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
        if (k == 0)
                return strcpy(buf, "EOF");
        buf[k > 0 ? k : 0] = '\0';
        return buf;
}

/* Sends request and runs the loop until the reply line is in; returns it. */
static char *ask(Harness *h, const char *request) {
        int fd = client_connect(h);
        assert_int_equal(send(fd, request, strlen(request), MSG_NOSIGNAL), (ssize_t) strlen(request));
        static char reply[4096];
        reply[0] = '\0';
        for (uint64_t end = now_usec() + 2000000; now_usec() < end && !strchr(reply, '\n');) {
                sd_event_run(h->event, 10000);
                strncat(reply, client_read(fd), sizeof(reply) - strlen(reply) - 1);
        }
        close(fd);
        return reply;
}

static ControlLimits test_limits(void) {
        ControlLimits l = CONTROL_LIMITS_DEFAULT;
        l.max_clients = 8;
        l.timeout_usec = 200000;
        l.backoff_usec = 50000;
        return l;
}

/* Before: idle clients were held forever (50 held after 3 s), with no limit on their number. */
static void test_idle_and_excess_clients(void **state) {
        (void) state;
        Harness h;
        ControlLimits l = test_limits();
        harness_new(&h, &l);
        int fds[20];
        for (int i = 0; i < 20; i++)
                fds[i] = client_connect(&h);
        run_for(&h, 50000);
        assert_int_equal(control_clients(h.control), 8);
        unsigned busy = 0;
        for (int i = 0; i < 20; i++)
                busy += strstr(client_read(fds[i]), "busy: too many connections") != NULL;
        assert_int_equal(busy, 12);

        run_for(&h, 300000); /* past the clients' time */
        assert_int_equal(control_clients(h.control), 0);
        for (int i = 0; i < 20; i++) {
                assert_string_equal(client_read(fds[i]), "EOF");
                close(fds[i]);
        }
        assert_string_equal(ask(&h, "{\"command\":\"ping\"}\n"), "{\"ok\":\"ping\"}\n");
        harness_free(&h);
}

/* Before: a reply was written blocking with a 2 s timeout, so a client that did not read held
 * the loop 2 s per reply. Another client is answered within 0.5 s (normal: about 1 ms). */
static void test_reply_never_blocks(void **state) {
        (void) state;
        Harness h;
        ControlLimits l = test_limits();
        l.timeout_usec = 3000000;
        harness_new(&h, &l);
        int stalled = client_connect(&h);
        uint64_t start = now_usec();
        assert_int_equal(send(stalled, "{\"command\":\"big\"}\n", 18, MSG_NOSIGNAL), 18);
        run_for(&h, 20000);
        assert_int_equal(h.requests, 1);
        char *reply = ask(&h, "{\"command\":\"ping\"}\n");
        uint64_t took = now_usec() - start;
        print_message("answered in %.1f ms (20 ms of it waiting) beside a client that does not read its 2 MiB "
                      "reply\n", took / 1000.0);
        assert_string_equal(reply, "{\"ok\":\"ping\"}\n");
        assert_true(took < 500000);
        assert_int_equal(control_clients(h.control), 1); /* the stalled one, until its time is up */
        close(stalled);
        run_for(&h, 20000);
        assert_int_equal(control_clients(h.control), 0);
        harness_free(&h);
}

/* A request over its limit, and requests over the budget all clients share, are refused. */
static void test_request_and_budget_limits(void **state) {
        (void) state;
        Harness h;
        ControlLimits l = test_limits();
        l.request_max = 1000;
        l.buffer_budget = 3000;
        harness_new(&h, &l);
        char big[2001];
        memset(big, ' ', 2000);
        big[2000] = '\0';
        assert_string_equal(ask(&h, big), "{\"error\":\"request larger than 1000 bytes\"}\n");

        int fds[3];
        for (int i = 0; i < 3; i++) {
                fds[i] = client_connect(&h);
                assert_int_equal(send(fds[i], big, 900, MSG_NOSIGNAL), 900);
                run_for(&h, 20000);
        }
        assert_string_equal(client_read(fds[0]), "");
        assert_string_equal(client_read(fds[1]), "");
        assert_string_equal(client_read(fds[2]), "{\"error\":\"busy: too many large requests at once, try again\"}\n");
        for (int i = 0; i < 3; i++)
                close(fds[i]);
        assert_int_equal(h.requests, 0);
        harness_free(&h);
}

/* Before: when accept4 failed (no descriptors left) the socket stayed readable and the loop
 * spun (1.5 M wake-ups in 2 s). Now it pauses; the waiting client is served once descriptors
 * are back. */
static void test_accept_failure_backs_off(void **state) {
        (void) state;
        Harness h;
        ControlLimits l = test_limits();
        harness_new(&h, &l);
        int client = client_connect(&h);
        assert_int_equal(send(client, "{\"command\":\"late\"}\n", 19, MSG_NOSIGNAL), 19);
        struct rlimit old, low;
        assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
        low = (struct rlimit){ .rlim_cur = 512, .rlim_max = old.rlim_max };
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
        int held[512];
        unsigned n_held = 0;
        for (int fd; n_held < 512 && (fd = dup(0)) >= 0;)
                held[n_held++] = fd;
        assert_int_equal(errno, EMFILE);
        unsigned wakeups = run_for(&h, 300000);
        for (unsigned i = 0; i < n_held; i++)
                close(held[i]);
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
        print_message("%u wake-ups in 300 ms without descriptors\n", wakeups);
        assert_true(wakeups < 200); /* a 10 ms poll timeout makes about 30; spinning made thousands */

        char reply[256] = "";
        for (uint64_t end = now_usec() + 1000000; now_usec() < end && !strchr(reply, '\n');) {
                sd_event_run(h.event, 10000);
                strncat(reply, client_read(client), sizeof(reply) - strlen(reply) - 1);
        }
        assert_string_equal(reply, "{\"ok\":\"late\"}\n");
        close(client);
        harness_free(&h);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_idle_and_excess_clients),
                cmocka_unit_test(test_reply_never_blocks),
                cmocka_unit_test(test_request_and_budget_limits),
                cmocka_unit_test(test_accept_failure_backs_off),
        };
        return cmocka_run_group_tests_name("control socket", tests, NULL, NULL);
}

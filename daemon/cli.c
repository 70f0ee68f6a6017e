/* What kvmtuned and kvmtunectl share on the command line. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"
#include "macro.h"

int cli_host_option(CliHost *h, int opt, const char *arg) {
        switch (opt) {
        case CLI_OPT_TOPOLOGY:
                h->topology = arg;
                return 1;
        case CLI_OPT_SYSFS_ROOT:
                h->sysfs = arg;
                return 1;
        case CLI_OPT_PROCFS_ROOT:
                h->procfs = arg;
                return 1;
        case CLI_OPT_ROOT:
                free(h->root_sys);
                free(h->root_proc);
                h->root_sys = h->root_proc = NULL;
                if (asprintf(&h->root_sys, "%s/sys", arg) < 0 || asprintf(&h->root_proc, "%s/proc", arg) < 0)
                        return -ENOMEM;
                h->sysfs = h->root_sys;
                h->procfs = h->root_proc;
                return 1;
        case CLI_OPT_CONFIG:
                h->config = arg;
                return 1;
        case CLI_OPT_POLICY_DIR:
                h->policy_dir = arg;
                return 1;
        case CLI_OPT_RUNTIME_DIR:
                h->runtime_dir = arg;
                return 1;
        default:
                return 0;
        }
}

void cli_host_done(CliHost *h) {
        free(h->root_sys);
        free(h->root_proc);
}

int cli_load_topology(const char *prog, const CliHost *h, Topology **ret_topology) {
        TopologySource src = { .xml_path = h->topology, .sysfs = h->sysfs ? h->sysfs : "/sys" };
        int r = topology_load(&src, ret_topology);
        if (r < 0)
                fprintf(stderr, "%s: cannot load topology %s: %s\n", prog, h->topology ? h->topology : "of this host",
                        r == -EINVAL ? "hwloc refused it or it has no usable CPU" : strerror(-r));
        return r;
}

int cli_config_paths_load(const CliHost *h, const Topology *t, Config **ret_config, ConfigErrors *errors) {
        /* Named paths must exist; the default ones are optional, so a host without /etc/kvmtuned
         * runs on built-in defaults. */
        const char *config = h->config;
        if (!config && access(CLI_DEFAULT_CONFIG, F_OK) == 0)
                config = CLI_DEFAULT_CONFIG;
        const char *policy_dir = h->policy_dir;
        if (!policy_dir && access(CLI_DEFAULT_POLICY_DIR, F_OK) == 0)
                policy_dir = CLI_DEFAULT_POLICY_DIR;
        return config_load(config, policy_dir, t, ret_config, errors);
}

int cli_load_config(const char *prog, const CliHost *h, const Topology *t, Config **ret_config) {
        ConfigErrors errors = { 0 };
        int r = cli_config_paths_load(h, t, ret_config, &errors);
        if (errors.n > 0) {
                _cleanup_free_ char *text = config_errors_format(&errors);
                fputs(text ? text : "out of memory formatting configuration errors\n", stderr);
        } else if (r < 0)
                fprintf(stderr, "%s: cannot load configuration: %s\n", prog, strerror(-r));
        config_errors_clear(&errors);
        return r;
}

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

/* Sets the socket's send and receive timeouts to what is left until deadline; false when
 * nothing is. */
static bool time_left(int fd, uint64_t deadline) {
        uint64_t now = now_usec();
        if (now >= deadline)
                return false;
        struct timeval tv = { .tv_sec = (time_t) ((deadline - now) / 1000000),
                              .tv_usec = (suseconds_t) ((deadline - now) % 1000000) };
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        return true;
}

static int send_all(int fd, const char *s, size_t len, uint64_t deadline) {
        while (len > 0) {
                if (!time_left(fd, deadline))
                        return -ETIMEDOUT;
                ssize_t k = send(fd, s, len, MSG_NOSIGNAL);
                if (k < 0 && errno != EINTR)
                        return errno == EAGAIN ? -ETIMEDOUT : -errno;
                if (k > 0) {
                        s += k;
                        len -= (size_t) k;
                }
        }
        return 0;
}

/* The reply, up to EOF, CLI_REPLY_MAX bytes or the deadline. Returns 0 or negative errno. */
static int read_reply(int fd, uint64_t deadline, json_object **ret_reply) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0, alloc = 0;
        for (;;) {
                if (len + 65536 + 1 > alloc) {
                        alloc = alloc ? alloc * 2 : 65536 * 2;
                        if (alloc > CLI_REPLY_MAX + 65536 + 1)
                                return -E2BIG;
                        char *b = realloc(buf, alloc);
                        if (!b)
                                return -ENOMEM;
                        buf = b;
                }
                if (!time_left(fd, deadline))
                        return -ETIMEDOUT;
                ssize_t k = recv(fd, buf + len, 65536, 0);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return errno == EAGAIN ? -ETIMEDOUT : -errno;
                if (k == 0)
                        break;
                len += (size_t) k;
        }
        if (!buf)
                return -EIO;
        buf[len] = '\0';
        *ret_reply = json_tokener_parse(buf);
        return *ret_reply ? 0 : -EIO;
}

int cli_request(const char *prog, const CliHost *h, const char *socket_name, json_object *request,
                json_object **ret_reply) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", h->runtime_dir ? h->runtime_dir : "/run/kvmtuned",
                 socket_name);
        uint64_t deadline = now_usec() + CLI_REQUEST_TIMEOUT_SEC * 1000000ULL;
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        /* A connect to a full backlog waits up to the send timeout. */
        if (fd < 0 || !time_left(fd, deadline) || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                int r = errno == EAGAIN || errno == EINPROGRESS ? -ETIMEDOUT : -errno;
                fprintf(stderr, "%s: cannot reach kvmtuned at %s: %s (is the daemon running?)\n", prog, sa.sun_path,
                        strerror(-r));
                return r;
        }
        const char *s = json_object_to_json_string_ext(request, JSON_C_TO_STRING_PLAIN);
        int r = send_all(fd, s, strlen(s), deadline);
        if (r >= 0)
                r = send_all(fd, "\n", 1, deadline);
        if (r < 0) {
                fprintf(stderr, "%s: cannot send to kvmtuned: %s\n", prog, strerror(-r));
                return r;
        }
        r = read_reply(fd, deadline, ret_reply);
        if (r < 0)
                fprintf(stderr, "%s: kvmtuned sent no reply: %s\n", prog,
                        r == -EIO ? "not a JSON reply" : r == -E2BIG ? "reply too large" : strerror(-r));
        return r;
}

/* What kvmtuned and kvmtunectl share on the command line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
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

int cli_request(const char *prog, const CliHost *h, json_object *request, json_object **ret_reply) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/control", h->runtime_dir ? h->runtime_dir : "/run/kvmtuned");
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                int r = -errno;
                fprintf(stderr, "%s: cannot reach kvmtuned at %s: %s (is the daemon running?)\n", prog, sa.sun_path,
                        strerror(-r));
                return r;
        }
        struct timeval tv = { .tv_sec = 30 };
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        const char *s = json_object_to_json_string_ext(request, JSON_C_TO_STRING_PLAIN);
        size_t len = strlen(s);
        if (write(fd, s, len) != (ssize_t) len || write(fd, "\n", 1) != 1) {
                fprintf(stderr, "%s: cannot send to kvmtuned: %m\n", prog);
                return -EIO;
        }
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        char chunk[65536];
        ssize_t k;
        while ((k = read(fd, chunk, sizeof(chunk))) > 0)
                fwrite(chunk, 1, (size_t) k, f);
        fclose(f);
        json_object *reply = json_tokener_parse(buf);
        free(buf);
        if (!reply) {
                fprintf(stderr, "%s: kvmtuned sent no reply\n", prog);
                return -EIO;
        }
        *ret_reply = reply;
        return 0;
}

/* kvmtuned: the daemon. Runs in the foreground (what Type=notify wants); --check validates. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "config.h"
#include "macro.h"
#include "manager.h"
#include "topology.h"

static void usage(FILE *f) {
        fputs("Usage: kvmtuned [OPTIONS]\n"
              "\n"
              "Places every running libvirt domain by policy and keeps it placed.\n"
              "\n"
              "  --check             validate configuration and policy, print 'configuration OK'\n"
              "                      or every error as FILE:LINE: message, and exit; warnings\n"
              "                      (FILE:LINE: warning: message, shown when there is no error)\n"
              "                      do not fail it\n"
              "  --restore           put back every host setting kvmtuned changed (from its journal of\n"
              "                      original settings) and every hugepage it reserved, and exit\n"
              "  --uri URI           libvirt URI (overrides URI= of the configuration)\n"
              "  --dry-run           compute and log every action, change nothing\n"
              "  --debug             log every pin\n"
              "  --state-dir DIR     the journal of original host settings (default /var/lib/kvmtuned)\n" CLI_HOST_HELP
              "  -h, --help          this text\n",
              f);
}

/* Prints every error to stderr, or when there is none every warning (FILE:LINE: warning: ...):
 * a warning names what loads but will not work on this host, so it never fails the check. */
static int check(const CliHost *h) {
        _cleanup_(topology_freep) Topology *t = NULL;
        _cleanup_(config_freep) Config *c = NULL;
        if (cli_load_topology("kvmtuned", h, &t) < 0)
                return EXIT_FAILURE;
        if (cli_load_config("kvmtuned", h, t, &c) < 0)
                return EXIT_FAILURE;
        _cleanup_free_ char *w = config_warnings_format(c);
        if (!w) {
                fprintf(stderr, "kvmtuned: out of memory formatting configuration warnings\n");
                return EXIT_FAILURE;
        }
        fputs(w, stderr);
        printf("configuration OK\n");
        return EXIT_SUCCESS;
}

int main(int argc, char **argv) {
        enum { OPT_CHECK = 0x100, OPT_RESTORE, OPT_URI, OPT_DRY_RUN, OPT_DEBUG, OPT_STATE_DIR };
        static const struct option options[] = {
                { "check", no_argument, NULL, OPT_CHECK },
                { "restore", no_argument, NULL, OPT_RESTORE },
                { "uri", required_argument, NULL, OPT_URI },
                { "dry-run", no_argument, NULL, OPT_DRY_RUN },
                { "debug", no_argument, NULL, OPT_DEBUG },
                { "state-dir", required_argument, NULL, OPT_STATE_DIR },
                { "help", no_argument, NULL, 'h' },
                CLI_HOST_OPTIONS,
                {},
        };
        _cleanup_(cli_host_done) CliHost host = { 0 };
        ManagerOptions opts = { 0 };
        bool do_check = false, do_restore = false;

        int c;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                int r = cli_host_option(&host, c, optarg);
                if (r < 0)
                        return EXIT_FAILURE;
                if (r > 0)
                        continue;
                switch (c) {
                case OPT_CHECK:
                        do_check = true;
                        break;
                case OPT_RESTORE:
                        do_restore = true;
                        break;
                case OPT_URI:
                        opts.uri = optarg;
                        break;
                case OPT_DRY_RUN:
                        opts.dry_run = true;
                        break;
                case OPT_DEBUG:
                        opts.debug = true;
                        break;
                case OPT_STATE_DIR:
                        opts.state_dir = optarg;
                        break;
                case 'h':
                        usage(stdout);
                        return EXIT_SUCCESS;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "kvmtuned: unexpected argument %s\n", argv[optind]);
                return 2;
        }
        if (do_check)
                return check(&host);

        opts.config_path = host.config;
        opts.policy_dir = host.policy_dir;
        opts.topology = host.topology;
        opts.sysfs = host.sysfs;
        opts.procfs = host.procfs;
        opts.runtime_dir = host.runtime_dir;
        if (do_restore)
                return manager_restore_host(&opts) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        _cleanup_(manager_freep) Manager *m = NULL;
        if (manager_new(&opts, &m) < 0 || manager_start(m) < 0)
                return EXIT_FAILURE;
        return manager_run(m) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

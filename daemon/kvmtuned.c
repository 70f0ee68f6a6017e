/* kvmtuned: the daemon. Today it validates configuration (--check); the event loop arrives
 * with the daemon issue and says so instead of pretending to run. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "config.h"
#include "macro.h"
#include "topology.h"

static void usage(FILE *f) {
        fputs("Usage: kvmtuned [OPTIONS]\n"
              "\n"
              "  --check             validate configuration and policy, print 'configuration OK'\n"
              "                      or every error as FILE:LINE: message, and exit\n" CLI_HOST_HELP
              "  -h, --help          this text\n",
              f);
}

static int check(const CliHost *h) {
        _cleanup_(topology_freep) Topology *t = NULL;
        _cleanup_(config_freep) Config *c = NULL;
        if (cli_load_topology("kvmtuned", h, &t) < 0 || cli_load_config("kvmtuned", h, t, &c) < 0)
                return EXIT_FAILURE;
        printf("configuration OK\n");
        return EXIT_SUCCESS;
}

int main(int argc, char **argv) {
        enum { OPT_CHECK = 0x100 };
        static const struct option options[] = {
                { "check", no_argument, NULL, OPT_CHECK },
                { "help", no_argument, NULL, 'h' },
                CLI_HOST_OPTIONS,
                {},
        };
        _cleanup_(cli_host_done) CliHost host = { 0 };
        bool do_check = false;

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

        fputs("kvmtuned: the event loop is not built yet; only --check works in this version\n", stderr);
        return EXIT_FAILURE;
}

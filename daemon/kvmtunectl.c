/* kvmtunectl: the command-line client (topology and plan today; status, domains, reload as
 * the daemon lands). */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cli.h"
#include "domain.h"
#include "kfile.h"
#include "macro.h"
#include "planner.h"
#include "render.h"
#include "topology.h"

#define EXIT_REFUSED 3

static void usage(FILE *f) {
        fputs("Usage: kvmtunectl [OPTIONS] COMMAND [ARGS]\n"
              "\n"
              "Commands:\n"
              "  topology              the host model as kvmtuned sees it\n"
              "  plan DOMAIN.xml...    place these domains in order (what-if) and print the plan;\n"
              "                        exit 0 when all are admitted, 3 when one is refused\n"
              "\n"
              "Options:\n"
              "  --json              machine-readable output\n" CLI_HOST_HELP "  -h, --help          this text\n",
              f);
}

static int print_json(json_object *o) {
        const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!s)
                return -ENOMEM;
        puts(s);
        return 0;
}

static int verb_topology(const CliHost *h, bool json) {
        _cleanup_(topology_freep) Topology *t = NULL;
        int r = cli_load_topology("kvmtunectl", h, &t);
        if (r < 0)
                return EXIT_FAILURE;

        if (json) {
                _cleanup_(json_object_putp) json_object *o = NULL;
                r = render_topology_json(t, &o);
                return r < 0 || print_json(o) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        }
        _cleanup_free_ char *text = NULL;
        if (render_topology_text(t, &text) < 0)
                return EXIT_FAILURE;
        fputs(text, stdout);
        return EXIT_SUCCESS;
}

/* Parses every file first, so a broken one stops the plan before anything is placed. */
static int read_requests(char **paths, int n, DomainRequest **reqs) {
        int failed = 0;
        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *xml = NULL, *error = NULL;
                int r = kfile_read(paths[i][0] == '/' ? "/" : ".", paths[i], &xml);
                if (r < 0) {
                        fprintf(stderr, "%s: %s\n", paths[i], strerror(-r));
                        failed++;
                        continue;
                }
                r = domain_parse(xml, strlen(xml), &reqs[i], &error);
                if (r < 0) {
                        fprintf(stderr, "%s: %s\n", paths[i], error ? error : strerror(-r));
                        failed++;
                }
        }
        return failed ? -EINVAL : 0;
}

static int verb_plan(const CliHost *h, bool json, char **paths, int n) {
        if (n == 0) {
                fputs("kvmtunectl plan: name at least one domain XML file\n", stderr);
                return 2;
        }
        _cleanup_(topology_freep) Topology *t = NULL;
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_(planner_freep) Planner *p = NULL;
        if (cli_load_topology("kvmtunectl", h, &t) < 0 || cli_load_config("kvmtunectl", h, t, &c) < 0)
                return EXIT_FAILURE;
        if (planner_new(t, c, &p) < 0)
                return EXIT_FAILURE;

        DomainRequest **reqs = calloc((size_t) n, sizeof(DomainRequest *));
        if (!reqs)
                return EXIT_FAILURE;
        int status = read_requests(paths, n, reqs) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        for (int i = 0; i < n && status != EXIT_FAILURE; i++) {
                const Placement *pl;
                int r = planner_place(p, reqs[i], &pl);
                if (r == -EEXIST) {
                        fprintf(stderr, "%s: a domain called %s is planned already\n", paths[i], reqs[i]->name);
                        status = EXIT_FAILURE;
                } else if (r < 0) {
                        fprintf(stderr, "kvmtunectl: planning %s: %s\n", reqs[i]->name, strerror(-r));
                        status = EXIT_FAILURE;
                } else if (!pl->admitted)
                        status = EXIT_REFUSED;
        }
        for (int i = 0; i < n; i++)
                domain_free(reqs[i]);
        free(reqs);
        if (status == EXIT_FAILURE || planner_refresh_shared(p) < 0)
                return EXIT_FAILURE;

        if (json) {
                _cleanup_(json_object_putp) json_object *o = NULL;
                if (render_plan_json(p, &o) < 0 || print_json(o) < 0)
                        return EXIT_FAILURE;
        } else {
                _cleanup_free_ char *text = NULL;
                if (render_plan_text(p, &text) < 0)
                        return EXIT_FAILURE;
                fputs(text, stdout);
        }
        return status;
}

int main(int argc, char **argv) {
        enum { OPT_JSON = 0x100 };
        static const struct option options[] = {
                { "json", no_argument, NULL, OPT_JSON },
                { "help", no_argument, NULL, 'h' },
                CLI_HOST_OPTIONS,
                {},
        };
        _cleanup_(cli_host_done) CliHost host = { 0 };
        bool json = false;

        int c;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                int r = cli_host_option(&host, c, optarg);
                if (r < 0)
                        return EXIT_FAILURE;
                if (r > 0)
                        continue;
                switch (c) {
                case OPT_JSON:
                        json = true;
                        break;
                case 'h':
                        usage(stdout);
                        return EXIT_SUCCESS;
                default:
                        usage(stderr);
                        return 2;
                }
        }

        if (optind >= argc) {
                usage(stderr);
                return 2;
        }
        const char *verb = argv[optind];
        if (strcmp(verb, "topology") == 0 && optind + 1 == argc)
                return verb_topology(&host, json);
        if (strcmp(verb, "plan") == 0)
                return verb_plan(&host, json, argv + optind + 1, argc - optind - 1);

        fprintf(stderr, "kvmtunectl: unknown command or extra arguments: %s\n", verb);
        usage(stderr);
        return 2;
}

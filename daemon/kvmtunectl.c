/* kvmtunectl: the command-line client (topology today; status, plan, reload... as they land). */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "macro.h"
#include "render.h"
#include "topology.h"

typedef struct CtlArgs {
        bool json;
        const char *topology; /* hwloc XML instead of the live host */
        const char *sysfs; /* "/sys" unless --sysfs-root or --root */
} CtlArgs;

static void usage(FILE *f) {
        fputs("Usage: kvmtunectl [OPTIONS] COMMAND\n"
              "\n"
              "Commands:\n"
              "  topology            the host model as kvmtuned sees it\n"
              "\n"
              "Options:\n"
              "  --json              machine-readable output\n"
              "  --topology FILE     read an hwloc XML file instead of the live host\n"
              "  --sysfs-root DIR    read sysfs below DIR instead of /sys\n"
              "  --root DIR          read DIR/sys (and DIR/proc) instead of /sys and /proc\n"
              "  -h, --help          this text\n",
              f);
}

static int print_json(json_object *o) {
        const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!s)
                return -ENOMEM;
        puts(s);
        return 0;
}

static int verb_topology(const CtlArgs *args) {
        TopologySource src = { .xml_path = args->topology, .sysfs = args->sysfs };
        _cleanup_(topology_freep) Topology *t = NULL;
        int r = topology_load(&src, &t);
        if (r < 0) {
                fprintf(stderr, "kvmtunectl: cannot load topology %s: %s\n",
                        args->topology ? args->topology : "of this host",
                        r == -EINVAL ? "hwloc refused it or it has no usable CPU" : strerror(-r));
                return r;
        }

        if (args->json) {
                _cleanup_(json_object_putp) json_object *o = NULL;
                r = render_topology_json(t, &o);
                return r < 0 ? r : print_json(o);
        }
        _cleanup_free_ char *text = NULL;
        r = render_topology_text(t, &text);
        if (r < 0)
                return r;
        fputs(text, stdout);
        return 0;
}

int main(int argc, char **argv) {
        enum { OPT_JSON = 0x100, OPT_TOPOLOGY, OPT_SYSFS_ROOT, OPT_ROOT };
        static const struct option options[] = {
                { "json", no_argument, NULL, OPT_JSON },
                { "topology", required_argument, NULL, OPT_TOPOLOGY },
                { "sysfs-root", required_argument, NULL, OPT_SYSFS_ROOT },
                { "root", required_argument, NULL, OPT_ROOT },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_free_ char *sysfs_buf = NULL;
        CtlArgs args = { .sysfs = "/sys" };

        int c;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case OPT_JSON:
                        args.json = true;
                        break;
                case OPT_TOPOLOGY:
                        args.topology = optarg;
                        break;
                case OPT_SYSFS_ROOT:
                        args.sysfs = optarg;
                        break;
                case OPT_ROOT:
                        free(sysfs_buf);
                        if (asprintf(&sysfs_buf, "%s/sys", optarg) < 0)
                                return EXIT_FAILURE;
                        args.sysfs = sysfs_buf;
                        break;
                case 'h':
                        usage(stdout);
                        return EXIT_SUCCESS;
                default:
                        usage(stderr);
                        return 2;
                }

        if (optind >= argc) {
                usage(stderr);
                return 2;
        }
        const char *verb = argv[optind];
        if (strcmp(verb, "topology") == 0 && optind + 1 == argc)
                return verb_topology(&args) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

        fprintf(stderr, "kvmtunectl: unknown command or extra arguments: %s\n", verb);
        usage(stderr);
        return 2;
}

/* kvmtunectl: the command-line client (topology, plan and doctor offline; status, domains, explain,
 * reload, top and hook through the daemon's control socket). */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cli.h"
#include "doctor.h"
#include "domain.h"
#include "escape.h"
#include "hostfacts.h"
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
              "  status                daemon, libvirt connection, pools, per-node use\n"
              "  domains               every domain: class, state, CPUs, nodes\n"
              "  explain DOMAIN        why it sits where it sits, and what would be better\n"
              "  reload                re-read configuration; errors are printed, old policy kept\n"
              "  top [--once]          live per-vCPU run and steal, refreshed each StatsInterval\n"
              "  doctor                is this host ready for this policy: one line per check saying\n"
              "                        what to change; exit 0 ready, 1 warnings, 2 blockers\n"
              "  hook OBJECT OP SUBOP EXTRA\n"
              "                        the libvirt hook (domain XML on stdin); exit 1 refuses\n"
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

/* cli_request; a reply meant for a human (not --json) has its strings escaped, since they hold
 * domain names and values from domain XML. */
static int ask(const char *prog, const CliHost *h, const char *socket, json_object *req, bool human,
               json_object **ret_reply) {
        int r = cli_request(prog, h, socket, req, ret_reply);
        if (r >= 0 && human && escape_json_strings(*ret_reply) < 0) {
                json_object_put(*ret_reply);
                *ret_reply = NULL;
                return -ENOMEM;
        }
        return r;
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
                        fprintf(stderr, "%s: %s\n", paths[i], error ? error : strerror(-r)); /* escaped already */
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
                        _cleanup_free_ char *name = escape_text(reqs[i]->name);
                        fprintf(stderr, "%s: a domain called %s is planned already\n", paths[i], name ? name : "?");
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

static json_object *get(json_object *o, const char *key) {
        json_object *v = NULL;
        json_object_object_get_ex(o, key, &v);
        return v;
}

static const char *get_str(json_object *o, const char *key) {
        json_object *v = get(o, key);
        return v ? json_object_get_string(v) : "-";
}

/* A JSON array of numbers as a kernel CPU list. */
static char *list_of(json_object *a) {
        _cleanup_bitmap_ hwloc_bitmap_t set = hwloc_bitmap_alloc();
        for (size_t i = 0; a && i < json_object_array_length(a); i++)
                hwloc_bitmap_set(set, (unsigned) json_object_get_int(json_object_array_get_idx(a, i)));
        char *s = NULL;
        if (hwloc_bitmap_iszero(set))
                return strdup("-");
        hwloc_bitmap_list_asprintf(&s, set);
        return s;
}

static void print_status(json_object *o) {
        json_object *d = get(o, "daemon"), *lv = get(o, "libvirt"), *pools = get(o, "pools");
        printf("kvmtuned: pid %d, up %.0f s%s%s\n", json_object_get_int(get(d, "pid")),
               json_object_get_double(get(d, "uptime_seconds")),
               json_object_get_boolean(get(d, "ready")) ? "" : ", starting",
               json_object_get_boolean(get(d, "dry_run")) ? ", dry run" : "");
        const char *state = get_str(lv, "state");
        printf("libvirt: %s %s (%d reconnects)\n", get_str(lv, "uri"),
               json_object_get_boolean(get(lv, "connected")) ? "connected"
               : strcmp(state, "connecting") == 0           ? "DISCONNECTED, connecting (libvirtd does not answer yet)"
                                                            : "DISCONNECTED, retrying",
               json_object_get_int(get(lv, "reconnects")));
        printf("host: %s\n", get_str(o, "host"));
        json_object *hook = get(o, "hook");
        printf("libvirt hook: %s %s\n", get_str(hook, "path"),
               json_object_get_boolean(get(hook, "installed"))
                       ? "installed"
                       : "NOT installed (no admission, no hugepage reservation)");
        printf("hugetlbfs: %s; journal of original settings: %d entries\n",
               get(o, "hugetlbfs") ? get_str(o, "hugetlbfs") : "not mounted",
               json_object_get_int(get(o, "journal_entries")));
        _cleanup_free_ char *hk = list_of(get(pools, "housekeeping")), *ded = list_of(get(pools, "dedicated")),
                            *sh = list_of(get(pools, "shared"));
        printf("pools: housekeeping %s, dedicated %s, shared %s\n", hk, ded, sh);
        json_object *why = get(o, "housekeeping_auto");
        for (size_t i = 0; why && i < json_object_array_length(why); i++)
                printf("automatic housekeeping, %s\n", json_object_get_string(json_object_array_get_idx(why, i)));
        json_object *nodes = get(o, "nodes");
        for (size_t i = 0; nodes && i < json_object_array_length(nodes); i++) {
                json_object *n = json_object_array_get_idx(nodes, i);
                printf("node %d: %d CPUs, %d held by dedicated vCPUs, %d shared CPUs carrying %d vCPUs (ratio %.2f)\n",
                       json_object_get_int(get(n, "node")), json_object_get_int(get(n, "cpus")),
                       json_object_get_int(get(n, "dedicated_held")), json_object_get_int(get(n, "shared_cpus")),
                       json_object_get_int(get(n, "shared_vcpus")), json_object_get_double(get(n, "shared_ratio")));
        }
        json_object *doms = get(o, "domains"), *act = get(o, "actions");
        printf("domains: %d placed, %d adopted, %d refused, %d failed, %d pending, %d admitted, %d planned, "
               "%d restored\n",
               json_object_get_int(get(doms, "placed")), json_object_get_int(get(doms, "adopted")),
               json_object_get_int(get(doms, "refused")), json_object_get_int(get(doms, "failed")),
               json_object_get_int(get(doms, "pending")), json_object_get_int(get(doms, "admitted")),
               json_object_get_int(get(doms, "planned")), json_object_get_int(get(doms, "restored")));
        printf("actions: %d ok, %d failed\n", json_object_get_int(get(act, "ok")),
               json_object_get_int(get(act, "failed")));
}

static void print_domains(json_object *o) {
        json_object *list = get(o, "domains");
        printf("%-24s %-12s %-8s %-6s %-20s %-6s %s\n", "NAME", "CLASS", "STATE", "VCPUS", "CPUS", "NODES", "NOTE");
        for (size_t i = 0; list && i < json_object_array_length(list); i++) {
                json_object *d = json_object_array_get_idx(list, i), *vcpus = get(d, "vcpus");
                _cleanup_bitmap_ hwloc_bitmap_t all = hwloc_bitmap_alloc();
                unsigned dedicated = 0;
                for (size_t v = 0; vcpus && v < json_object_array_length(vcpus); v++) {
                        json_object *e = json_object_array_get_idx(vcpus, v), *cpus = get(e, "cpus");
                        dedicated += json_object_get_boolean(get(e, "dedicated"));
                        for (size_t c = 0; cpus && c < json_object_array_length(cpus); c++)
                                hwloc_bitmap_set(all,
                                                 (unsigned) json_object_get_int(json_object_array_get_idx(cpus, c)));
                }
                char *cpus = NULL;
                if (hwloc_bitmap_iszero(all))
                        cpus = strdup("-");
                else
                        hwloc_bitmap_list_asprintf(&cpus, all);
                _cleanup_free_ char *nodes = list_of(get(d, "nodes"));
                char count[32];
                size_t nv = vcpus ? json_object_array_length(vcpus) : 0;
                snprintf(count, sizeof(count), nv ? "%zu%s" : "-", nv, dedicated == nv ? "d" : dedicated ? "m" : "s");
                json_object *reason = get(d, "reason"), *lat = get(d, "pin_latency_us");
                char note[64] = "";
                if (lat)
                        snprintf(note, sizeof(note), "pinned %.1f ms after start", json_object_get_double(lat) / 1000);
                printf("%-24s %-12s %-8s %-6s %-20s %-6s %s\n", get_str(d, "name"), get_str(d, "class"),
                       get_str(d, "state"), count, cpus, nodes, reason ? json_object_get_string(reason) : note);
                free(cpus);
        }
}

static void print_explain(json_object *o) {
        printf("%s: class %s, %s\n", get_str(o, "name"), get_str(o, "class"), get_str(o, "state"));
        if (get(o, "reason"))
                printf("  refused: %s\n", get_str(o, "reason"));
        json_object *why = get(o, "explain"), *better = get(o, "better");
        for (size_t i = 0; why && i < json_object_array_length(why); i++)
                printf("  why: %s\n", json_object_get_string(json_object_array_get_idx(why, i)));
        for (size_t i = 0; better && i < json_object_array_length(better); i++)
                printf("  better: %s\n", json_object_get_string(json_object_array_get_idx(better, i)));
}

static void print_top(json_object *o, bool tty) {
        json_object *rows = get(o, "vcpus");
        if (tty)
                fputs("\033[H\033[2J", stdout);
        printf("kvmtuned top: every %.1f s, %d passes, collector CPU %.3f s\n",
               json_object_get_double(get(o, "interval_seconds")), json_object_get_int(get(o, "passes")),
               json_object_get_double(get(o, "collector_cpu_seconds")));
        printf("%-24s %-12s %5s %-12s %4s %7s %7s %12s\n", "DOMAIN", "CLASS", "VCPU", "CPUS", "NODE", "RUN%", "STEAL%",
               "STEAL s");
        for (size_t i = 0; rows && i < json_object_array_length(rows); i++) {
                json_object *r = json_object_array_get_idx(rows, i), *node = get(r, "node");
                printf("%-24s %-12s %5d %-12s %4s %7.1f %7.2f %12.3f\n", get_str(r, "domain"), get_str(r, "class"),
                       json_object_get_int(get(r, "vcpu")), get_str(r, "cpus"),
                       node ? json_object_get_string(node) : "-", json_object_get_double(get(r, "run_percent")),
                       json_object_get_double(get(r, "steal_percent")),
                       json_object_get_double(get(r, "steal_seconds")));
        }
        if (!rows || json_object_array_length(rows) == 0)
                printf("(no running domain with vCPU threads kvmtuned can see yet)\n");
        fflush(stdout);
}

/* Refreshes every StatsInterval until interrupted; --once prints one frame. */
static int verb_top(const CliHost *h, bool json, bool once) {
        bool tty = !json && isatty(STDOUT_FILENO);
        for (;;) {
                _cleanup_(json_object_putp) json_object *req = json_object_new_object(), *reply = NULL;
                if (!req)
                        return EXIT_FAILURE;
                json_object_object_add(req, "command", json_object_new_string("stats"));
                if (ask("kvmtunectl top", h, "control", req, !json, &reply) < 0)
                        return EXIT_FAILURE;
                if (get(reply, "error")) {
                        fprintf(stderr, "kvmtunectl top: %s\n", get_str(reply, "error"));
                        return EXIT_FAILURE;
                }
                if (json) {
                        if (print_json(reply) < 0)
                                return EXIT_FAILURE;
                        fflush(stdout);
                } else
                        print_top(reply, tty);
                if (once)
                        return EXIT_SUCCESS;
                double interval = json_object_get_double(get(reply, "interval_seconds"));
                usleep((useconds_t) ((interval > 0.1 ? interval : 1) * 1e6));
        }
}

/* Reads the host's facts: --root DIR covers DIR/dev and DIR/etc too (cli.c keeps DIR as DIR/sys),
 * and the daemon answers for itself when its socket is there. Returns 0 or -ENOMEM. */
static int doctor_facts(const CliHost *h, HostFacts *f) {
        _cleanup_free_ char *dev = NULL, *etc = NULL;
        size_t n = h->root_sys ? strlen(h->root_sys) - strlen("/sys") : 0;
        if (h->root_sys && (asprintf(&dev, "%.*s/dev", (int) n, h->root_sys) < 0 ||
                            asprintf(&etc, "%.*s/etc", (int) n, h->root_sys) < 0))
                return -ENOMEM;
        HostRoots roots = { .sysfs = h->sysfs ? h->sysfs : "/sys",
                            .procfs = h->procfs ? h->procfs : "/proc",
                            .devfs = dev ? dev : "/dev",
                            .etc = etc ? etc : "/etc",
                            .runtime_dir = h->runtime_dir ? h->runtime_dir : "/run/kvmtuned" };
        int r = hostfacts_read(&roots, f);
        if (r < 0 || !f->control_exists)
                return r;
        _cleanup_(json_object_putp) json_object *req = json_object_new_object(), *reply = NULL;
        if (!req || json_object_object_add(req, "command", json_object_new_string("status")) < 0)
                return -ENOMEM;
        r = cli_request("kvmtunectl doctor", h, "control", req, &reply);
        if (r >= 0)
                return doctor_read_status(reply, f);
        f->daemon_errno = -r;
        return r == -ENOMEM ? r : 0;
}

/* The readiness report: exit 0 ready, 1 warnings, 2 blockers (also a configuration that does not
 * load: the host is then judged under the built-in defaults). */
static int verb_doctor(const CliHost *h, bool json) {
        _cleanup_(topology_freep) Topology *t = NULL;
        _cleanup_(config_freep) Config *c = NULL;
        DoctorReport report = { 0 };
        HostFacts f = { 0 };
        ConfigErrors errors = { 0 };
        int r = cli_load_topology("kvmtunectl doctor", h, &t);
        if (r < 0)
                r = doctor_add(&report, DOCTOR_BLOCKER, "topology", "cannot read the host's topology (see above)");
        else if (cli_load_config("kvmtunectl doctor", h, t, &c) < 0) {
                r = doctor_add(&report, DOCTOR_BLOCKER, "configuration",
                               "the configuration does not load (errors above): fix it (kvmtuned --check); the "
                               "checks below use the built-in defaults");
                if (r >= 0)
                        r = config_load(NULL, NULL, t, &c, &errors);
        }
        if (r >= 0 && t && c && (r = doctor_facts(h, &f)) >= 0)
                r = doctor_check(&f, c, t, &report);
        _cleanup_free_ char *text = NULL;
        _cleanup_(json_object_putp) json_object *o = NULL;
        if (r >= 0)
                r = json ? doctor_render_json(&report, &o) : doctor_render_text(&report, &text);
        if (r >= 0 && json)
                r = print_json(o);
        else if (r >= 0)
                fputs(text, stdout);
        int code = r < 0 ? 2 : doctor_exit_code(&report); /* cannot tell: not ready */
        if (r < 0)
                fprintf(stderr, "kvmtunectl doctor: %s\n", strerror(-r));
        config_errors_clear(&errors);
        hostfacts_done(&f);
        doctor_report_clear(&report);
        return code;
}

/* Sends a command to the daemon and prints its reply as JSON or text. */
static int verb_daemon(const CliHost *h, bool json, const char *command, const char *domain) {
        _cleanup_(json_object_putp) json_object *req = json_object_new_object(), *reply = NULL;
        if (!req)
                return EXIT_FAILURE;
        json_object_object_add(req, "command", json_object_new_string(command));
        if (domain)
                json_object_object_add(req, "domain", json_object_new_string(domain));
        if (ask("kvmtunectl", h, "control", req, !json, &reply) < 0)
                return EXIT_FAILURE;
        json_object *error = get(reply, "error"), *errors = get(reply, "errors");
        if (error) {
                fprintf(stderr, "kvmtunectl %s: %s\n", command, json_object_get_string(error));
                for (size_t i = 0; json_object_is_type(errors, json_type_array) && i < json_object_array_length(errors);
                     i++)
                        fprintf(stderr, "%s\n", json_object_get_string(json_object_array_get_idx(errors, i)));
                return EXIT_FAILURE;
        }
        if (json)
                return print_json(reply) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        if (strcmp(command, "status") == 0)
                print_status(reply);
        else if (strcmp(command, "domains") == 0)
                print_domains(reply);
        else if (strcmp(command, "explain") == 0)
                print_explain(reply);
        else {
                printf("configuration reloaded\n");
                json_object *restart = get(reply, "restart_needed");
                if (restart)
                        printf("changed, applied at the next restart (running with the old values): %s\n",
                               json_object_get_string(restart));
        }
        return EXIT_SUCCESS;
}

/* HookFailOpen= from the configuration (default yes) when the daemon cannot answer. */
static bool hook_fail_open(const CliHost *h) {
        _cleanup_(topology_freep) Topology *t = NULL;
        _cleanup_(config_freep) Config *c = NULL;
        ConfigErrors errors = { 0 };
        bool open = true;
        if (topology_load(&(TopologySource){ .xml_path = h->topology, .sysfs = h->sysfs ? h->sysfs : "/sys" }, &t) ==
                    0 &&
            cli_config_paths_load(h, t, &c, &errors) == 0)
                open = c->daemon.hook_fail_open;
        config_errors_clear(&errors);
        return open;
}

/* Reads the domain XML from stdin, all of it whatever its size, so libvirt never writes into a
 * closed pipe, and keeps at most DOMAIN_XML_MAX bytes in *ret_xml. Returns 0, 1 with why the XML
 * cannot be sent in why (too large, or a control character XML forbids, which would also grow
 * sixfold in the JSON request), or -ENOMEM. */
static int hook_read_xml(char **ret_xml, char *why, size_t why_size) {
        _cleanup_free_ char *xml = malloc(DOMAIN_XML_MAX + 1);
        if (!xml)
                return -ENOMEM;
        size_t len = 0, k;
        bool larger = false;
        char sink[65536];
        while ((k = fread(len < DOMAIN_XML_MAX ? xml + len : sink, 1,
                          len < DOMAIN_XML_MAX ? DOMAIN_XML_MAX - len : sizeof(sink), stdin)) > 0) {
                if (len < DOMAIN_XML_MAX)
                        len += k;
                else
                        larger = true;
        }
        xml[len] = '\0';
        *ret_xml = TAKE_PTR(xml);
        if (larger) {
                snprintf(why, why_size, "its domain XML is larger than %s, the most kvmtuned reads",
                         DOMAIN_XML_MAX_TEXT);
                return 1;
        }
        for (size_t i = 0; i < len; i++)
                if ((unsigned char) (*ret_xml)[i] < 0x20 && !strchr("\t\n\r", (*ret_xml)[i])) {
                        snprintf(why, why_size,
                                 "its domain XML holds a control character at byte %zu, which XML does not allow", i);
                        return 1;
                }
        return 0;
}

/* Called by libvirt as qemu.d/kvmtuned NAME OP SUBOP EXTRA with the domain XML on stdin. Exit 0
 * lets the domain go on, exit 1 with a line on stderr refuses it (libvirt shows the line). */
static int verb_hook(const CliHost *h, char **args, int n) {
        if (n < 3) {
                fputs("kvmtunectl hook: expected OBJECT OP SUBOP [EXTRA]\n", stderr);
                return 2;
        }
        const char *op = args[1], *subop = args[2];
        _cleanup_free_ char *xml = NULL, *name = escape_text(args[0]); /* for messages */
        char why[160];
        int bad = hook_read_xml(&xml, why, sizeof(why));
        bool prepare = strcmp(op, "prepare") == 0 && strcmp(subop, "begin") == 0;
        bool release = strcmp(op, "release") == 0 && strcmp(subop, "end") == 0;
        if (bad < 0 || !name)
                return EXIT_FAILURE;
        if (prepare && bad) {
                fprintf(stderr, "kvmtuned: %s refused: %s\n", name, why);
                return EXIT_FAILURE;
        }
        if (!prepare && !release)
                return EXIT_SUCCESS;

        _cleanup_(json_object_putp) json_object *req = json_object_new_object(), *reply = NULL;
        if (!req)
                return EXIT_FAILURE;
        json_object_object_add(req, "command", json_object_new_string("hook"));
        json_object_object_add(req, "domain", json_object_new_string(args[0]));
        json_object_object_add(req, "op", json_object_new_string(op));
        json_object_object_add(req, "subop", json_object_new_string(subop));
        json_object_object_add(req, "xml", json_object_new_string(bad ? "" : xml)); /* "": found by name */
        /* A daemon older than the hook socket (during a package upgrade) answers on "control". */
        char path[4096];
        snprintf(path, sizeof(path), "%s/hook", h->runtime_dir ? h->runtime_dir : "/run/kvmtuned");
        const char *socket = access(path, F_OK) == 0 ? "hook" : "control";
        if (ask("kvmtunectl hook", h, socket, req, true, &reply) < 0 || get(reply, "error")) {
                if (release) /* libvirt goes on after a release whatever we say */
                        return EXIT_SUCCESS;
                const char *what = reply ? "cannot admit it" : "not answering"; /* an error, or no reply */
                if (reply)
                        fprintf(stderr, "kvmtuned: %s\n", get_str(reply, "error"));
                if (hook_fail_open(h)) {
                        fprintf(stderr, "kvmtuned: %s; %s goes on without admission (HookFailOpen=yes)\n", what, name);
                        return EXIT_SUCCESS;
                }
                fprintf(stderr, "kvmtuned: %s; %s refused (HookFailOpen=no)\n", what, name);
                return EXIT_FAILURE;
        }
        if (!json_object_get_boolean(get(reply, "allow"))) {
                fprintf(stderr, "%s\n", get_str(reply, "message"));
                return EXIT_FAILURE;
        }
        return EXIT_SUCCESS;
}

int main(int argc, char **argv) {
        enum { OPT_JSON = 0x100, OPT_ONCE };
        static const struct option options[] = {
                { "json", no_argument, NULL, OPT_JSON },
                { "once", no_argument, NULL, OPT_ONCE },
                { "help", no_argument, NULL, 'h' },
                CLI_HOST_OPTIONS,
                {},
        };
        _cleanup_(cli_host_done) CliHost host = { 0 };
        bool json = false, once = false;

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
                case OPT_ONCE:
                        once = true;
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
        if ((strcmp(verb, "status") == 0 || strcmp(verb, "domains") == 0 || strcmp(verb, "reload") == 0) &&
            optind + 1 == argc)
                return verb_daemon(&host, json, verb, NULL);
        if (strcmp(verb, "doctor") == 0 && optind + 1 == argc)
                return verb_doctor(&host, json);
        if (strcmp(verb, "top") == 0 && optind + 1 == argc)
                return verb_top(&host, json, once);
        if (strcmp(verb, "hook") == 0)
                return verb_hook(&host, argv + optind + 1, argc - optind - 1);
        if (strcmp(verb, "explain") == 0 && optind + 2 == argc)
                return verb_daemon(&host, json, verb, argv[optind + 1]);

        fprintf(stderr, "kvmtunectl: unknown command or extra arguments: %s\n", verb);
        usage(stderr);
        return 2;
}

/* Configuration and policy parsing: every error kind with FILE:LINE, all errors of a file,
 * pool resolution, class matching, and the shipped examples. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "config.h"
#include "cpulist.h"
#include "fixture.h"
#include "oracle.h"
#include "topology.h"

static Topology *synthetic(const char *desc) {
        Topology *t = NULL;
        assert_int_equal(topology_load(&(TopologySource){ .synthetic = desc }, &t), 0);
        return t;
}

/* Loads main (may be NULL) and the policy files of root/policy.d; returns the errors text. */
static char *load(const Topology *t, const char *root, const char *main_rel, Config **ret, int want_r) {
        char main_path[512], dir[512];
        snprintf(main_path, sizeof(main_path), "%s/%s", root, main_rel ? main_rel : "");
        snprintf(dir, sizeof(dir), "%s/policy.d", root);
        ConfigErrors errors = { 0 };
        Config *c = NULL;
        int r = config_load(main_rel ? main_path : NULL, dir, t, &c, &errors);
        char *text = config_errors_format(&errors);
        if (r != want_r)
                print_error("config_load returned %d, errors:\n%s", r, text);
        assert_int_equal(r, want_r);
        config_errors_clear(&errors);
        if (ret)
                *ret = c;
        else
                config_free(c);
        return text;
}

/* Loads the policy files of root/policy.d, which must load (warnings are no errors); returns
 * the warnings text. */
static char *load_warnings(const Topology *t, const char *root) {
        Config *c = NULL;
        free(load(t, root, NULL, &c, 0));
        char *warnings = config_warnings_format(c);
        assert_non_null(warnings);
        config_free(c);
        return warnings;
}

/* The error text must hold this exact line, which names file (relative to root) and line. */
static void assert_error(const char *text, const char *root, const char *rel, unsigned line, const char *message) {
        char want[1024];
        snprintf(want, sizeof(want), "%s/%s:%u: %s\n", root, rel, line, message);
        if (!strstr(text, want)) {
                print_error("missing error line:\n%sin:\n%s", want, text);
                fail();
        }
}

static unsigned count_lines(const char *text) {
        unsigned n = 0;
        for (const char *p = text; *p; p++)
                n += *p == '\n';
        return n;
}

static void test_cpulist(void **state) {
        (void) state;
        hwloc_bitmap_t set = NULL;
        const char *why = NULL;
        assert_int_equal(cpulist_parse("0-3,8,10-11", &set, &why), 0);
        char *s = cpulist_format(set);
        assert_string_equal(s, "0-3,8,10-11");
        free(s);
        hwloc_bitmap_free(set);

        assert_int_equal(cpulist_parse(" 0, 2 ,4-5 ", &set, &why), 0); /* blanks around the commas */
        s = cpulist_format(set);
        assert_string_equal(s, "0,2,4-5");
        free(s);
        hwloc_bitmap_free(set);
        assert_int_equal(cpulist_parse("0, ,2", &set, &why), -EINVAL);

        assert_int_equal(cpulist_parse("5-3", &set, &why), -EINVAL);
        assert_string_equal(why, "range runs backwards");
        assert_int_equal(cpulist_parse("", &set, &why), -EINVAL);
        assert_int_equal(cpulist_parse("1,,2", &set, &why), -EINVAL);
        assert_int_equal(cpulist_parse("1;2", &set, &why), -EINVAL);
        assert_int_equal(cpulist_parse("99999999", &set, &why), -EINVAL);
        assert_string_equal(why, "CPU number too large");
        assert_int_equal(cpulist_parse("0-7,^3", &set, &why), -EINVAL); /* kernel syntax has no ^ */

        assert_int_equal(cpulist_parse_libvirt("0-7,^3,^5-6", &set, &why), 0);
        s = cpulist_format(set);
        assert_string_equal(s, "0-2,4,7");
        free(s);
        hwloc_bitmap_free(set);
}

static void test_defaults(void **state) {
        (void) state;
        Topology *t = synthetic("pack:2 numa:2 l3:1 core:4 pu:2"); /* 4 nodes of 8 CPUs */
        ConfigErrors errors = { 0 };
        Config *c = NULL;
        assert_int_equal(config_load(NULL, NULL, t, &c, &errors), 0);
        assert_int_equal(errors.n, 0);
        assert_string_equal(c->daemon.uri, "qemu:///system");
        assert_string_equal(c->daemon.metrics, "127.0.0.1:9655");
        assert_int_equal(c->daemon.stats_interval_usec, 5000000);
        assert_true(c->daemon.respect_explicit_pins);
        assert_false(c->daemon.dry_run);
        assert_int_equal(c->host.isolate_host, ISOLATE_WHEN_DEDICATED);
        assert_int_equal(c->host.hugepages, HUGEPAGES_ON_DEMAND);
        assert_true(c->host.restore_on_exit);
        assert_int_equal(c->host.irq_affinity, IRQ_AFFINITY_AWAY);
        assert_int_equal(c->host.numa_balancing, NUMA_BALANCING_OFF_WHILE_STRICT);
        assert_int_equal(c->host.ksm, KSM_KEEP);
        assert_int_equal(config_find_class(c, "default")->idle_latency_us, IDLE_LATENCY_KEEP);

        /* auto housekeeping: nothing tells the cores apart, so the first core, both threads, of
         * each of the 4 nodes. */
        char *hk = cpulist_format(c->host.housekeeping), *ded = cpulist_format(c->host.dedicated);
        assert_string_equal(hk, "0-1,8-9,16-17,24-25");
        assert_string_equal(ded, "2-7,10-15,18-23,26-31");
        assert_true(hwloc_bitmap_isequal(c->host.dedicated, c->host.shared));
        free(hk);
        free(ded);

        /* Without a policy a built-in default class exists, and it is not strict. */
        const PolicyClass *d = config_find_class(c, "default");
        assert_non_null(d);
        assert_true(d->builtin);
        assert_int_equal(d->cpu_policy, CPU_POLICY_SHARED);
        assert_int_equal(d->memory_policy, MEMORY_PREFERRED);
        config_free(c);
        topology_free(t);
}

static void test_every_error_kind(void **state) {
        (void) state;
        Topology *t = synthetic("pack:1 numa:1 l3:1 core:8 pu:1"); /* 8 CPUs, no SMT */
        char *root = fixture_new();
        fixture_write(root, "kvmtuned.conf",
                      "# comment\n"
                      "[Daemon]\n"
                      "URI=qemu:///system   # inline comment is stripped\n"
                      "Metrics=localhost\n"
                      "StatsIntervl=5s\n"
                      "DryRun=maybe\n"
                      "DryRun=no\n"
                      "garbage line\n"
                      "StatsInterval=-5s\n"
                      "[Host]\n"
                      "HousekeepingCPUs=0-1\n"
                      "DedicatedCPUs=1-3\n"
                      "SharedCPUs=2-9\n"
                      "IsolateHost=sometimes\n"
                      "[Hots]\n"
                      "Foo=bar\n"
                      "[Class x]\n"
                      "=value\n"
                      "[Daemon\n");
        fixture_write(root, "policy.d/10-a.conf",
                      "[Class gaming]\n"
                      "CPUPolicy=dedicatd\n"
                      "ThreadPolicy=require\n"
                      "MemPageSize=3M\n"
                      "Priority=high\n"
                      "Overcommit=-1\n"
                      "[Class vdi]\n"
                      "CPUPolicy=dedicated\n"
                      "Overcommit=8\n"
                      "MatchName=vdi-*,,x\n");
        fixture_write(root, "policy.d/20-b.conf",
                      "[Class gaming]\n"
                      "[Class]\n"
                      "[Daemon]\n"
                      "Overcomit=2\n");
        fixture_write(root, "policy.d/README", "not a .conf file: ignored\n");

        char *text = load(t, root, "kvmtuned.conf", NULL, -EINVAL);
        print_message("%s", text);
        assert_error(text, root, "kvmtuned.conf", 4, "Metrics=localhost: expected off, ADDRESS:PORT (an IPv4 address or localhost) or [IPV6]:PORT");
        assert_error(text, root, "kvmtuned.conf", 5,
                     "unknown key StatsIntervl in [Daemon]; did you mean StatsInterval?");
        assert_error(text, root, "kvmtuned.conf", 6, "DryRun=maybe: expected yes or no");
        assert_error(text, root, "kvmtuned.conf", 7, "DryRun is set twice in [Daemon] (first at line 6)");
        assert_error(text, root, "kvmtuned.conf", 8, "expected KEY=VALUE, [SECTION] or a comment: garbage line");
        assert_error(text, root, "kvmtuned.conf", 9,
                     "StatsInterval=-5s: expected a duration from 100ms to 24h, such as 5s, 500ms or 1min");
        assert_error(text, root, "kvmtuned.conf", 12, "DedicatedCPUs and HousekeepingCPUs (line 11) overlap on CPUs 1");
        assert_error(text, root, "kvmtuned.conf", 13,
                     "SharedCPUs=2-9: CPU 8-9 not usable on this host (usable CPUs: 0-7)");
        assert_error(text, root, "kvmtuned.conf", 14, "IsolateHost=sometimes: expected no, when-dedicated or always");
        assert_error(text, root, "kvmtuned.conf", 15, "unknown section [Hots]; did you mean [Host]?");
        assert_error(text, root, "kvmtuned.conf", 17,
                     "[Class] sections belong in policy.d/*.conf, not in kvmtuned.conf");
        assert_error(text, root, "kvmtuned.conf", 18, "a value without a key: =value");
        assert_error(text, root, "kvmtuned.conf", 19, "section header lacks its closing ']'");
        assert_error(text, root, "policy.d/10-a.conf", 2, "CPUPolicy=dedicatd: expected dedicated, shared or mixed");
        /* ThreadPolicy=require on line 3 is a warning only (test_require_without_smt). */
        assert_error(text, root, "policy.d/10-a.conf", 4,
                     "MemPageSize=3M: expected small, any or a page size such as 2M or 1G");
        assert_error(text, root, "policy.d/10-a.conf", 5,
                     "Priority=high: expected a whole number from -1000000 to 1000000");
        assert_error(text, root, "policy.d/10-a.conf", 6, "Overcommit=-1: expected a number from 0.1 to 100");
        assert_error(text, root, "policy.d/10-a.conf", 9,
                     "Overcommit= applies to shared vCPUs, but class 'vdi' is CPUPolicy=dedicated");
        assert_error(text, root, "policy.d/10-a.conf", 10, "MatchName=vdi-*,,x: empty entry in list");
        char first[600];
        snprintf(first, sizeof(first), "class 'gaming' is already defined at %s/policy.d/10-a.conf:1", root);
        assert_error(text, root, "policy.d/20-b.conf", 1, first);
        assert_error(text, root, "policy.d/20-b.conf", 2,
                     "[Class]: a class needs a name of letters, digits, '_', '.' or '-': [Class NAME]");
        assert_error(text, root, "policy.d/20-b.conf", 3, "[Daemon] belongs in kvmtuned.conf, not in a policy file");
        /* Keys of a refused section are not reported again: only real errors count. */
        assert_int_equal(count_lines(text), 22);

        /* The errors of a file come in line order, the files in lexical order. */
        const char *a = strstr(text, "10-a.conf:2:"), *b = strstr(text, "10-a.conf:4:"),
                   *c = strstr(text, "20-b.conf:1:");
        assert_true(a && b && c && a < b && b < c);
        free(text);
        fixture_free(root);
        topology_free(t);
}

/* StatsInterval is bounded: a value that rounds to nothing or would spin the collector is an
 * error, the bounds themselves are accepted. */
static void test_duration_bounds(void **state) {
        (void) state;
        Topology *t = synthetic("pack:1 numa:1 l3:1 core:2 pu:1");
        static const struct {
                const char *value;
                uint64_t usec; /* 0: refused */
        } cases[] = { { "0.0000001s", 0 },
                      { "99ms", 0 },
                      { "0", 0 },
                      { "25h", 0 },
                      { "100ms", 100000 },
                      { "0.5", 500000 },
                      { "24h", 86400000000ULL } };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char *root = fixture_new(), conf[128];
                snprintf(conf, sizeof(conf), "[Daemon]\nStatsInterval=%s\n", cases[i].value);
                fixture_write(root, "kvmtuned.conf", conf);
                fixture_write(root, "policy.d/empty.conf", "# no classes\n");
                Config *c = NULL;
                char *text = load(t, root, "kvmtuned.conf", &c, cases[i].usec ? 0 : -EINVAL);
                if (cases[i].usec)
                        assert_int_equal(c->daemon.stats_interval_usec, cases[i].usec);
                else {
                        char want[160];
                        snprintf(want, sizeof(want),
                                 "StatsInterval=%s: expected a duration from 100ms to 24h, such as 5s, 500ms or 1min",
                                 cases[i].value);
                        assert_error(text, root, "kvmtuned.conf", 2, want);
                }
                config_free(c);
                free(text);
                fixture_free(root);
        }
        topology_free(t);
}

static void test_long_line_and_auto_overlap(void **state) {
        (void) state;
        Topology *t = synthetic("pack:1 numa:2 l3:1 core:4 pu:2");
        char *root = fixture_new();
        char longline[4200]; /* past CONFIG_LINE_MAX */
        memset(longline, 'a', sizeof(longline));
        memcpy(longline, "URI=", 4);
        longline[sizeof(longline) - 2] = '\n';
        longline[sizeof(longline) - 1] = '\0';
        char text_in[4400];
        snprintf(text_in, sizeof(text_in), "[Daemon]\n%s[Host]\nDedicatedCPUs=0-15\n", longline);
        fixture_write(root, "kvmtuned.conf", text_in);
        fixture_write(root, "policy.d/empty.conf", "# no classes\n");
        char *text = load(t, root, "kvmtuned.conf", NULL, -EINVAL);
        assert_error(text, root, "kvmtuned.conf", 2,
                     "line is too long: more than 4096 bytes, the most a line may have");
        assert_error(text, root, "kvmtuned.conf", 4,
                     "DedicatedCPUs overlaps the automatic HousekeepingCPUs (one core of each node) on CPUs "
                     "0-1,8-9; set HousekeepingCPUs= explicitly");
        assert_int_equal(count_lines(text), 2);
        free(text);
        fixture_free(root);
        topology_free(t);
}

/* A second [Host] section keeps the lines of the first: the overlap names line 2, not 0. */
static void test_second_host_section(void **state) {
        (void) state;
        Topology *t = synthetic("pack:1 numa:1 l3:1 core:4 pu:1");
        char *root = fixture_new();
        fixture_write(root, "kvmtuned.conf", "[Host]\nHousekeepingCPUs=0\n[Host]\nDedicatedCPUs=0-1\n");
        fixture_write(root, "policy.d/empty.conf", "# no classes\n");
        char *text = load(t, root, "kvmtuned.conf", NULL, -EINVAL);
        assert_error(text, root, "kvmtuned.conf", 4, "DedicatedCPUs and HousekeepingCPUs (line 2) overlap on CPUs 0");
        free(text);
        fixture_free(root);
        topology_free(t);
}

static void test_valid_policy_and_matching(void **state) {
        (void) state;
        Topology *t = synthetic("pack:1 numa:1 l3:2 core:4 pu:2");
        char *root = fixture_new();
        fixture_write(root, "kvmtuned.conf",
                      "[Daemon]\nURI=test:///default\nMetrics=off\nStatsInterval=250ms\n"
                      "[Host]\nHousekeepingCPUs=0,4\nDedicatedCPUs=1-3,5-7,8-15\nSharedCPUs=8-15\n"
                      "GovernorDedicated=performance\nGovernorIdle=keep\n");
        fixture_write(root, "policy.d/10-first.conf",
                      "[Class low]\nMatchName=vm-*\nPriority=1\n"
                      "[Class tie-a]\nMatchName=tie-*\nPriority=5\n"
                      "[Class games]\nMatchName=win*\nMatchMetadata=gaming,play\nPriority=100\nCPUPolicy=dedicated\n"
                      "ThreadPolicy=require\nMemPageSize=1G\n");
        fixture_write(root, "policy.d/20-second.conf",
                      "[Class high]\nMatchName=vm-big*\nPriority=10\n"
                      "[Class tie-b]\nMatchName=tie-*\nPriority=5\n");
        Config *c = NULL;
        char *text = load(t, root, "kvmtuned.conf", &c, 0);
        assert_string_equal(text, "");
        free(text);
        assert_string_equal(c->daemon.uri, "test:///default");
        assert_null(c->daemon.metrics);
        assert_int_equal(c->daemon.stats_interval_usec, 250000);
        assert_string_equal(c->host.governor_dedicated, "performance");
        assert_null(c->host.governor_idle);
        assert_int_equal(config_find_class(c, "games")->mem_page_kib, 1024 * 1024);
        assert_int_equal(c->n_classes, 6); /* five, plus the built-in default */

        struct {
                const char *name, *metadata, *want;
        } cases[] = {
                { "vm-small", NULL, "low" },  { "vm-big1", NULL, "high" },    { "tie-1", NULL, "tie-a" },
                { "win10", NULL, "games" },   { "other", "gaming", "games" }, { "other", "play", "games" },
                { "vm-x", "games", "games" }, { "other", NULL, "default" },   { "vm-1", "nosuch", "low" },
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char *why = NULL;
                const PolicyClass *cls = config_match_class(c, cases[i].name, cases[i].metadata, &why);
                print_message("%s (%s): %s\n", cases[i].name, cases[i].metadata ? cases[i].metadata : "-", why);
                assert_string_equal(cls->name, cases[i].want);
                free(why);
        }
        config_free(c);
        fixture_free(root);
        topology_free(t);
}

/* The shipped configuration and policy for all three audiences pass --check's validation on
 * the live host and on every real machine of the corpus. */
static void test_shipped_examples(void **state) {
        (void) state;
        static const char *mains[] = { "kvmtuned.conf", "examples/gaming-desktop.conf", "examples/dense-host.conf",
                                       "examples/vdi-pool.conf" };
        Topology *hosts[64];
        unsigned n_hosts = 0;
        assert_int_equal(topology_load(&(TopologySource){ .sysfs = "/sys" }, &hosts[n_hosts++]), 0);
        const char *dir = oracle_corpus_dir();
        char **paths = NULL;
        int n = dir ? oracle_list_xml(dir, &paths) : 0;
        for (int i = 0; i < n && n_hosts < 64; i++) {
                Topology *t = NULL;
                assert_int_equal(topology_load(&(TopologySource){ .xml_path = paths[i] }, &t), 0);
                hosts[n_hosts++] = t;
        }
        oracle_free_list(paths, n);

        for (unsigned h = 0; h < n_hosts; h++)
                for (size_t i = 0; i < sizeof(mains) / sizeof(mains[0]); i++) {
                        char path[512];
                        snprintf(path, sizeof(path), "%s/%s", KVMTUNED_ETC, mains[i]);
                        ConfigErrors errors = { 0 };
                        Config *c = NULL;
                        int r = config_load(path, KVMTUNED_ETC "/policy.d", hosts[h], &c, &errors);
                        if (r != 0) {
                                char *text = config_errors_format(&errors);
                                print_error("%s on %s:\n%s", mains[i], hosts[h]->source, text);
                                free(text);
                        }
                        assert_int_equal(r, 0);
                        assert_non_null(config_find_class(c, "gaming"));
                        assert_non_null(config_find_class(c, "vdi"));
                        assert_false(config_find_class(c, "default")->builtin);
                        config_free(c);
                        config_errors_clear(&errors);
                }
        print_message("shipped examples valid on %u hosts\n", n_hosts);
        for (unsigned h = 0; h < n_hosts; h++)
                topology_free(hosts[h]);
}

static void test_missing_files(void **state) {
        (void) state;
        Topology *t = synthetic("pack:1 core:2 pu:1");
        ConfigErrors errors = { 0 };
        Config *c = NULL;
        assert_int_equal(config_load("/nonexistent/kvmtuned.conf", "/nonexistent/policy.d", t, &c, &errors), -EINVAL);
        char *text = config_errors_format(&errors);
        assert_non_null(strstr(text, "/nonexistent/kvmtuned.conf: cannot open: No such file or directory\n"));
        assert_non_null(
                strstr(text, "/nonexistent/policy.d: cannot read policy directory: No such file or directory\n"));
        free(text);
        config_errors_clear(&errors);
        assert_null(c);
        topology_free(t);
}

/* An empty policy directory is valid: the built-in default class applies (UBSan stopped this
 * with qsort(NULL, 0), so a kvmtuned given an empty policy.d could not start). */
static void test_empty_policy_dir(void **state) {
        (void) state;
        Topology *t = synthetic("pack:1 core:2 pu:1");
        char *root = fixture_new(), *dir = NULL;
        assert_true(asprintf(&dir, "%s/policy.d", root) > 0);
        assert_int_equal(mkdir(dir, 0755), 0);
        ConfigErrors errors = { 0 };
        Config *c = NULL;
        assert_int_equal(config_load(NULL, dir, t, &c, &errors), 0);
        assert_int_equal(errors.n, 0);
        assert_non_null(config_find_class(c, "default"));
        config_free(c);
        free(dir);
        fixture_free(root);
        topology_free(t);
}

/* Hostile input stays bounded: a device or a huge file is refused before it is read, an endless
 * line is skipped without being held, and a file of garbage yields a bounded list of errors
 * (before: /dev/zero grew kvmtuned --check to 23.5 GB; an 80 MB file printed 2.1 M errors). */
static void test_input_bounds(void **state) {
        (void) state;
        Topology *t = synthetic("pack:1 core:2 pu:1");
        ConfigErrors errors = { 0 };
        Config *c = NULL;
        assert_int_equal(config_load("/dev/zero", NULL, t, &c, &errors), -EINVAL);
        char *text = config_errors_format(&errors);
        assert_string_equal(text, "/dev/zero: not a regular file\n");
        free(text);
        config_errors_clear(&errors);

        char *root = fixture_new(), *path = NULL;
        fixture_write(root, "policy.d/empty.conf", "");
        assert_true(asprintf(&path, "%s/kvmtuned.conf", root) > 0);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        for (int i = 0; i < 300000; i++) /* 2.4 MB */
                fputs("garbage\n", f);
        fclose(f);
        text = load(t, root, "kvmtuned.conf", NULL, -EINVAL);
        char want[600];
        snprintf(want, sizeof(want), "%s: 2400000 bytes; a configuration file may have at most 1048576\n", path);
        assert_string_equal(text, want);
        free(text);

        f = fopen(path, "w");
        for (int i = 0; i < 100000; i++) /* 800 kB of errors */
                fputs("garbage\n", f);
        fclose(f);
        text = load(t, root, "kvmtuned.conf", NULL, -EINVAL);
        assert_int_equal(count_lines(text), CONFIG_ERRORS_MAX + 1);
        assert_non_null(strstr(text, "too many errors: the first 50 are shown\n"));
        free(text);

        f = fopen(path, "w");
        for (int i = 0; i < 900000; i++) /* one line of 900 kB, then a good one and a bad one */
                fputc('x', f);
        fputs("\n[Daemon]\nDryRun=maybe\n", f);
        fclose(f);
        text = load(t, root, "kvmtuned.conf", NULL, -EINVAL);
        assert_error(text, root, "kvmtuned.conf", 1,
                     "line is too long: more than 4096 bytes, the most a line may have");
        assert_error(text, root, "kvmtuned.conf", 3, "DryRun=maybe: expected yes or no");
        assert_int_equal(count_lines(text), 2);
        free(text);
        free(path);
        fixture_free(root);
        topology_free(t);
}

/* Overcommit has one documented range, and Metrics= one parser for --check and for the daemon. */
static void test_ratio_and_listen_bounds(void **state) {
        (void) state;
        Topology *t = synthetic("pack:1 core:2 pu:1");
        char *root = fixture_new();
        fixture_write(root, "kvmtuned.conf", "[Daemon]\nMetrics=example.com:9655\n");
        fixture_write(root, "policy.d/a.conf",
                      "[Class a]\nCPUPolicy=shared\nOvercommit=1e-12\n[Class b]\nCPUPolicy=shared\nOvercommit=0\n"
                      "[Class c]\nCPUPolicy=shared\nOvercommit=100.5\n");
        char *text = load(t, root, "kvmtuned.conf", NULL, -EINVAL);
        assert_error(text, root, "kvmtuned.conf", 2,
                     "Metrics=example.com:9655: expected off, ADDRESS:PORT (an IPv4 address or localhost) or "
                     "[IPV6]:PORT");
        assert_error(text, root, "policy.d/a.conf", 3, "Overcommit=1e-12: expected a number from 0.1 to 100");
        assert_error(text, root, "policy.d/a.conf", 6, "Overcommit=0: expected a number from 0.1 to 100");
        assert_error(text, root, "policy.d/a.conf", 9, "Overcommit=100.5: expected a number from 0.1 to 100");
        assert_int_equal(count_lines(text), 4);
        free(text);

        fixture_write(root, "kvmtuned.conf", "[Daemon]\nMetrics=[::1]:9655\n");
        fixture_write(root, "policy.d/a.conf", "[Class a]\nCPUPolicy=shared\nOvercommit=0.1\n[Class b]\n"
                                               "CPUPolicy=shared\nOvercommit=100\n");
        Config *c = NULL;
        free(load(t, root, "kvmtuned.conf", &c, 0));
        assert_true(config_find_class(c, "a")->overcommit == 0.1);
        config_free(c);
        fixture_free(root);
        topology_free(t);
}

/* Writes len bytes (NULs included) to root/rel: fixture_write takes a C string. */
static void write_bytes(const char *root, const char *rel, const char *data, size_t len) {
        fixture_write(root, rel, "");
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", root, rel);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        assert_int_equal(fwrite(data, 1, len, f), len);
        assert_int_equal(fclose(f), 0);
}

/* --config naming a directory (a slip for --policy-dir) says so, and so does a policy.d entry
 * that is a directory; before, both were "not a regular file". */
static void test_directory_as_file(void **state) {
        (void) state;
        Topology *t = synthetic("pack:1 core:2 pu:1");
        char *root = fixture_new();
        fixture_write(root, "policy.d/sub.conf/keep", "");
        ConfigErrors errors = { 0 };
        Config *c = NULL;
        assert_int_equal(config_load(root, NULL, t, &c, &errors), -EINVAL);
        char *text = config_errors_format(&errors), want[1200];
        snprintf(want, sizeof(want), "%s: is a directory, not a configuration file such as kvmtuned.conf\n", root);
        assert_string_equal(text, want);
        free(text);
        config_errors_clear(&errors);

        text = load(t, root, NULL, NULL, -EINVAL);
        snprintf(want, sizeof(want), "%s/policy.d/sub.conf: is a directory, not a policy file\n", root);
        assert_string_equal(text, want);
        free(text);
        fixture_free(root);
        topology_free(t);
}

/* HousekeepingCPUs= naming every CPU leaves nothing to place a vCPU on: an error at its line. */
static void test_housekeeping_takes_all(void **state) {
        (void) state;
        Topology *t = synthetic("pack:1 numa:1 l3:1 core:4 pu:2");
        char *root = fixture_new();
        fixture_write(root, "kvmtuned.conf", "[Host]\n# every CPU\nHousekeepingCPUs=0-7\n");
        fixture_write(root, "policy.d/empty.conf", "# no classes\n");
        char *text = load(t, root, "kvmtuned.conf", NULL, -EINVAL);
        assert_error(text, root, "kvmtuned.conf", 3,
                     "HousekeepingCPUs=0-7 takes every CPU of this host: none is left for dedicated or shared "
                     "vCPUs");
        assert_int_equal(count_lines(text), 1);
        free(text);

        fixture_write(root, "kvmtuned.conf", "[Host]\nHousekeepingCPUs=0-5\n"); /* two left: fine */
        free(load(t, root, "kvmtuned.conf", NULL, 0));
        fixture_free(root);
        topology_free(t);
}

/* A NUL byte, a control character or an invisible Unicode character outside a comment is an
 * error naming the byte and the code point (before: a NUL cut the value short silently, the
 * others became part of a glob or a word that never matches). A BOM opening the file, CRLF
 * line ends and such characters in comments are fine. */
static void test_invisible_characters(void **state) {
        (void) state;
        Topology *t = synthetic("pack:1 numa:1 l3:1 core:4 pu:1");
        char *root = fixture_new();
        static const char policy[] = "\xEF\xBB\xBF# a BOM opens this file\n"
                                     "[Class a]\n"
                                     "MatchName=web\0-*\n"
                                     "MatchMetadata=x\x01y\n"
                                     "[Class b]\n"
                                     "MatchName=win\xE2\x80\x8B*\n"
                                     "MatchMetadata=a\xC2\xA0"
                                     "b\n"
                                     "[Class c]\n"
                                     "MatchName=\xEF\xBB\xBFvm-*\n"
                                     "MatchMetadata=gaming\xE2\x80\xAE\n"
                                     "[Class d]\r\n"
                                     "MatchName=ok-*  # a no\xC2\xA0"
                                     "break space, \xE2\x80\x8B and \x01 in a comment\n"
                                     "Priority=5\r\n";
        write_bytes(root, "policy.d/a.conf", policy, sizeof(policy) - 1);
        char *text = load(t, root, NULL, NULL, -EINVAL);
        print_message("%s", text);
        assert_error(text, root, "policy.d/a.conf", 3, "NUL byte at byte 14 of the line");
        assert_error(text, root, "policy.d/a.conf", 4, "control character 0x01 at byte 16 of the line");
        assert_error(text, root, "policy.d/a.conf", 6,
                     "invisible character U+200B (zero width space) at byte 14 of the line");
        assert_error(text, root, "policy.d/a.conf", 7,
                     "invisible character U+00A0 (no-break space) at byte 16 of the line");
        assert_error(text, root, "policy.d/a.conf", 9,
                     "invisible character U+FEFF (zero width no-break space or byte order mark) at byte 11 of the "
                     "line");
        assert_error(text, root, "policy.d/a.conf", 10,
                     "invisible character U+202E (right-to-left override) at byte 21 of the line");
        assert_int_equal(count_lines(text), 6);
        free(text);

        /* Without the bad lines the file loads, the BOM, CRLF and the comment included. */
        static const char good[] = "\xEF\xBB\xBF[Class d]\r\nMatchName=ok-*  # no\xC2\xA0"
                                   "break\r\nPriority=5\r\n";
        write_bytes(root, "policy.d/a.conf", good, sizeof(good) - 1);
        Config *c = NULL;
        free(load(t, root, NULL, &c, 0));
        assert_string_equal(config_find_class(c, "d")->match_name[0], "ok-*");
        assert_null(config_find_class(c, "d")->match_name[1]);
        assert_int_equal(config_find_class(c, "d")->priority, 5);
        config_free(c);
        fixture_free(root);
        topology_free(t);
}

/* Gives node 0 of t these hugepage sizes (KiB) and the root object this Architecture. */
static void set_hugepages(Topology *t, const uint64_t *kib, unsigned n, const char *arch) {
        free(t->nodes[0].hugepages);
        t->nodes[0].hugepages = calloc(n ? n : 1, sizeof(TopoHugepages));
        assert_non_null(t->nodes[0].hugepages);
        for (unsigned i = 0; i < n; i++)
                t->nodes[0].hugepages[i] = (TopoHugepages){ .page_kib = kib[i], .total = 0, .free = -1 };
        t->nodes[0].n_hugepages = n;
        if (arch)
                assert_int_equal(hwloc_obj_add_info(hwloc_get_root_obj(t->hwloc), "Architecture", arch), 0);
}

/* MemPageSize= names a size this host lists, or one its architecture can have (another host
 * of the fleet may); a size no host of the architecture has is an error naming the sizes. */
static void test_page_size_against_host(void **state) {
        (void) state;
        static const uint64_t both[] = { 2048, 1048576 };
        Topology *t = synthetic("pack:1 numa:1 l3:1 core:4 pu:1");
        set_hugepages(t, both, 2, "x86_64");
        char *root = fixture_new();
        fixture_write(root, "policy.d/a.conf",
                      "[Class a]\nMemPageSize=16G\n[Class b]\nMemPageSize=2M\n[Class c]\nMemPageSize=1G\n"
                      "[Class d]\nMemPageSize=64K\n");
        char *text = load(t, root, NULL, NULL, -EINVAL);
        assert_error(text, root, "policy.d/a.conf", 2,
                     "MemPageSize=16G: this host has no 16G hugepages, and no x86_64 host has them (its sizes: "
                     "2M, 1G)");
        assert_error(text, root, "policy.d/a.conf", 8,
                     "MemPageSize=64K: this host has no 64K hugepages, and no x86_64 host has them (its sizes: "
                     "2M, 1G)");
        assert_int_equal(count_lines(text), 2);
        free(text);

        /* A host without 1G pages loads a policy that asks for them (a fleet shares one policy). */
        static const uint64_t small_only[] = { 2048 };
        Topology *t2 = synthetic("pack:1 numa:1 l3:1 core:4 pu:1");
        set_hugepages(t2, small_only, 1, "x86_64");
        fixture_write(root, "policy.d/a.conf", "[Class g]\nMemPageSize=1G\n");
        text = load_warnings(t2, root);
        char want[1024];
        snprintf(want, sizeof(want),
                 "%s/policy.d/a.conf:2: warning: MemPageSize=1G: this host has no 1G hugepages (its sizes: 2M); "
                 "domains of class 'g' that ask for hugepages cannot get them here\n",
                 root);
        assert_string_equal(text, want);
        free(text);
        fixture_write(root, "policy.d/a.conf", "[Class g]\nMemPageSize=2M\n");
        text = load_warnings(t2, root);
        assert_string_equal(text, "");
        free(text);
        fixture_write(root, "policy.d/a.conf", "[Class g]\nMemPageSize=16G\n");
        text = load(t2, root, NULL, NULL, -EINVAL);
        assert_error(text, root, "policy.d/a.conf", 2,
                     "MemPageSize=16G: this host has no 16G hugepages, and no x86_64 host has them (its sizes: 2M)");
        free(text);
        fixture_free(root);
        topology_free(t2);
        topology_free(t);
}

/* ThreadPolicy=require on a host without SMT is no error: a policy.d shared by a mixed fleet
 * must load everywhere, and the planner refuses such a domain with the reason. */
static void test_require_without_smt(void **state) {
        (void) state;
        Topology *t = synthetic("pack:1 numa:1 l3:1 core:8 pu:1");
        char *root = fixture_new();
        fixture_write(root, "policy.d/a.conf", "[Class g]\nCPUPolicy=dedicated\nThreadPolicy=require\n");
        Config *c = NULL;
        char *text = load(t, root, NULL, &c, 0);
        assert_string_equal(text, "");
        assert_int_equal(config_find_class(c, "g")->thread_policy, THREAD_POLICY_REQUIRE);
        free(text);
        config_free(c);
        text = load_warnings(t, root);
        char want[1024];
        snprintf(want, sizeof(want),
                 "%s/policy.d/a.conf:3: warning: ThreadPolicy=require: this host has no SMT (one thread per core); "
                 "domains of class 'g' are refused here\n",
                 root);
        assert_string_equal(text, want);
        free(text);

        /* With SMT there is nothing to say. */
        Topology *smt = synthetic("pack:1 numa:1 l3:1 core:4 pu:2");
        text = load_warnings(smt, root);
        assert_string_equal(text, "");
        free(text);
        topology_free(smt);
        fixture_free(root);
        topology_free(t);
}

/* Issue 14's keys: what each accepts, and every refusal at its line. */
static void test_host_tuning_keys(void **state) {
        (void) state;
        Topology *t = synthetic("pack:1 numa:1 l3:1 core:4 pu:2");
        char *root = fixture_new();
        fixture_write(root, "kvmtuned.conf", "[Host]\nIRQAffinity=keep\nNumaBalancing=keep\nKSM=on\n");
        fixture_write(root, "policy.d/a.conf",
                      "[Class p]\nCPUPolicy=dedicated\nIdleLatency=poll\n[Class n]\nCPUPolicy=mixed\n"
                      "IdleLatency=50us\n[Class m]\nCPUPolicy=dedicated\nIdleLatency=1000000\n");
        Config *c = NULL;
        char *text = load(t, root, "kvmtuned.conf", &c, 0);
        assert_string_equal(text, "");
        assert_int_equal(c->host.irq_affinity, IRQ_AFFINITY_KEEP);
        assert_int_equal(c->host.numa_balancing, NUMA_BALANCING_KEEP);
        assert_int_equal(c->host.ksm, KSM_ON);
        assert_int_equal(config_find_class(c, "p")->idle_latency_us, IDLE_LATENCY_POLL);
        assert_int_equal(config_find_class(c, "n")->idle_latency_us, 50);
        assert_int_equal(config_find_class(c, "m")->idle_latency_us, 1000000);
        free(text);
        config_free(c);

        fixture_write(root, "kvmtuned.conf", "[Host]\nIRQAffinity=away\nKSM=2\n");
        fixture_write(root, "policy.d/a.conf",
                      "[Class a]\nCPUPolicy=dedicated\nIdleLatency=0\n[Class b]\nCPUPolicy=dedicated\n"
                      "IdleLatency=1000001\n[Class c]\nCPUPolicy=dedicated\nIdleLatency=-5\n[Class d]\n"
                      "CPUPolicy=shared\nIdleLatency=10\n[Class e]\nCPUPolicy=dedicated\nIdleLatency=10ms\n");
        text = load(t, root, "kvmtuned.conf", &c, -EINVAL);
        print_message("%s", text);
        char want[4096];
        snprintf(want, sizeof(want),
                 "%1$s/kvmtuned.conf:2: IRQAffinity=away: expected away-from-dedicated or keep\n"
                 "%1$s/kvmtuned.conf:3: KSM=2: expected keep, off or on\n"
                 "%1$s/policy.d/a.conf:3: IdleLatency=0: to the kernel 0 means no bound; say poll for no idle state, "
                 "or keep\n"
                 "%1$s/policy.d/a.conf:6: IdleLatency=1000001: expected keep, poll, or a wake-up latency of 1 to "
                 "1000000 microseconds\n"
                 "%1$s/policy.d/a.conf:9: IdleLatency=-5: expected keep, poll, or a wake-up latency of 1 to 1000000 "
                 "microseconds\n"
                 "%1$s/policy.d/a.conf:12: IdleLatency= applies to the CPUs dedicated vCPUs hold, but class 'd' is "
                 "CPUPolicy=shared\n"
                 "%1$s/policy.d/a.conf:15: IdleLatency=10ms: expected keep, poll, or a wake-up latency of 1 to "
                 "1000000 microseconds\n",
                 root);
        assert_string_equal(text, want);
        free(text);
        fixture_free(root);
        topology_free(t);
}

/* A realistic MatchName list is longer than inih's 198 characters: a line may have 4096 bytes,
 * and a longer one is an error at its line, never cut. */
static void test_long_match_list(void **state) {
        (void) state;
        Topology *t = synthetic("pack:1 numa:1 l3:1 core:4 pu:1");
        char *root = fixture_new(), line[8192] = "[Class web]\nMatchName=";
        for (int i = 0; i < 60; i++)
                snprintf(line + strlen(line), sizeof(line) - strlen(line), "%stenant%02d-web-*", i ? ", " : "", i);
        strcat(line, "  # sixty tenants\nPriority=10\n");
        fixture_write(root, "policy.d/a.conf", line);
        Config *c = NULL;
        free(load(t, root, NULL, &c, 0));
        const PolicyClass *web = config_find_class(c, "web");
        size_t n = 0;
        while (web->match_name[n])
                n++;
        assert_int_equal(n, 60);
        assert_string_equal(web->match_name[59], "tenant59-web-*");
        assert_int_equal(web->priority, 10);
        config_free(c);

        /* 4096 bytes exactly is the bound; one more is an error at that line. */
        for (int extra = 0; extra <= 1; extra++) {
                char *big = malloc(8192);
                assert_non_null(big);
                int k = snprintf(big, 8192, "[Class big]\nMatchName=");
                int start = k;
                while (k - start < 4096 - (int) strlen("MatchName=") + extra)
                        big[k++] = 'x';
                k += snprintf(big + k, (size_t) (8192 - k), "\nPriority=1\n");
                fixture_write(root, "policy.d/a.conf", big);
                char *text = load(t, root, NULL, NULL, extra ? -EINVAL : 0);
                if (extra) {
                        assert_error(text, root, "policy.d/a.conf", 2,
                                     "line is too long: more than 4096 bytes, the most a line may have");
                        assert_int_equal(count_lines(text), 1);
                }
                free(text);
                free(big);
        }
        fixture_free(root);
        topology_free(t);
}

/* A host of the corpus by file name, or NULL after the corpus helper printed a SKIP line. */
static Topology *corpus_host(const char *name) {
        const char *dir = oracle_corpus_dir();
        if (!dir)
                return NULL;
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        Topology *t = NULL;
        assert_int_equal(topology_load(&(TopologySource){ .xml_path = path }, &t), 0);
        return t;
}

/* Resolves the pools of t with built-in defaults; checks the automatic housekeeping CPUs and,
 * in order, the lines that explain them (NULL-terminated). */
static void assert_auto_housekeeping(const Topology *t, const char *want_cpus, const char *const *want_why) {
        ConfigErrors errors = { 0 };
        Config *c = NULL;
        assert_int_equal(config_load(NULL, NULL, t, &c, &errors), 0);
        assert_true(c->host.housekeeping_auto);
        char *hk = cpulist_format(c->host.housekeeping);
        print_message("%s: housekeeping %s\n", t->source, hk);
        for (char **p = c->host.housekeeping_why; p && *p; p++)
                print_message("  %s\n", *p);
        assert_string_equal(hk, want_cpus);
        assert_non_null(c->host.housekeeping_why);
        size_t i = 0;
        for (; want_why[i]; i++) {
                assert_non_null(c->host.housekeeping_why[i]);
                assert_string_equal(c->host.housekeeping_why[i], want_why[i]);
        }
        assert_null(c->host.housekeeping_why[i]);
        /* Auto dedicated and shared are everything else. */
        hwloc_bitmap_t rest = hwloc_bitmap_alloc();
        hwloc_bitmap_andnot(rest, t->cpuset, c->host.housekeeping);
        assert_true(hwloc_bitmap_isequal(rest, c->host.dedicated));
        hwloc_bitmap_free(rest);
        free(hk);
        config_free(c);
}

/* Issue 13: on a Ryzen whose L3 domains differ (16 MiB over cores 0-3, 8 MiB over 4-11, like a
 * 7950X3D's V-cache die), automatic housekeeping leaves the large L3 to VMs: before, it took
 * core 0 there and an 8-vCPU game no longer fit in it. */
static void test_housekeeping_auto_smaller_l3(void **state) {
        (void) state;
        Topology *t = corpus_host("amd-ryzen-ai9-hx370-zen5-asym-l3.xml");
        if (!t)
                return;
        assert_auto_housekeeping(
                t, "4,16",
                (const char *const[]){ "node 0: core 4 (CPUs 4,16): the smaller L3 (8 MiB of 16 MiB)", NULL });
        const TopoCpu *cpu = topology_cpu(t, 4);
        for (unsigned i = 0; i < t->n_l3s; i++)
                assert_true(t->l3s[cpu->l3].size_bytes <= t->l3s[i].size_bytes);
        topology_free(t);
}

/* Issue 13: on a hybrid (6 P-cores with SMT, 8 E-cores) automatic housekeeping is an E-core,
 * not P-core 0. */
static void test_housekeeping_auto_efficiency_core(void **state) {
        (void) state;
        Topology *t = corpus_host("intel-hybrid-i7-1370p-6p8e-cpukinds.xml");
        if (!t)
                return;
        assert_auto_housekeeping(t, "12", (const char *const[]){ "node 0: core 6 (CPU 12): an efficiency core", NULL });
        const TopoCpu *cpu = topology_cpu(t, 12);
        assert_true(cpu->kind >= 0);
        assert_int_equal(t->kinds[cpu->kind].efficiency, 0); /* the least efficient kind */
        topology_free(t);
}

/* Issue 13: automatic housekeeping stays out of the locality of a GPU when its node has another
 * core. The 2990WX counts its two memoryless dies (CPUs 16-31,48-63) with node 0, whose own die
 * holds the GeForce 0000:08:00.0: housekeeping goes to a memoryless die. Node 2 has no core away
 * from its Radeon, and neither node of the Xeon has one away from its Teslas: the lowest-numbered
 * core, as before, and the line says why. */
static void test_housekeeping_auto_away_from_gpu(void **state) {
        (void) state;
        Topology *t = corpus_host("amd-threadripper-2990wx-4die-2numa-gpus.xml");
        if (!t)
                return;
        assert_auto_housekeeping(
                t, "8,16,40,48",
                (const char *const[]){ "node 0: core 16 (CPUs 16,48): outside the locality of 0000:08:00.0",
                                       "node 2: core 8 (CPUs 8,40): the lowest-numbered core (every core left is "
                                       "near 0000:44:00.0)",
                                       NULL });
        int gpu = topology_device_index(t, "0000:08:00.0");
        assert_true(gpu >= 0);
        assert_int_equal(t->devices[gpu].class_id >> 8, 0x03);
        const TopoCpu *cpu = topology_cpu(t, 16);
        assert_false(hwloc_bitmap_intersects(t->devices[gpu].local_cpus, t->cores[cpu->core].cpuset));
        topology_free(t);

        t = corpus_host("intel-2s-xeon-e5-2650-smt-2numa-gpu.xml");
        assert_non_null(t);
        assert_auto_housekeeping(t, "0,8,16,24",
                                 (const char *const[]){ "node 0: core 0 (CPUs 0,16): the lowest-numbered core (every "
                                                        "core left is near 0000:03:00.0)",
                                                        "node 1: core 8 (CPUs 8,24): the lowest-numbered core (every "
                                                        "core left is near 0000:83:00.0)",
                                                        NULL });
        topology_free(t);
}

/* Where nothing tells cores apart, automatic housekeeping is what it always was: the lowest-
 * numbered core of each node (a memoryless package counted with the node keeps it there too);
 * an explicit HousekeepingCPUs= has no explanation. */
static void test_housekeeping_auto_unchanged(void **state) {
        (void) state;
        Topology *t = synthetic("pack:2 numa:1 l3:1 core:4 pu:2");
        assert_auto_housekeeping(t, "0-1,8-9",
                                 (const char *const[]){ "node 0: core 0 (CPUs 0-1): the lowest-numbered core",
                                                        "node 1: core 4 (CPUs 8-9): the lowest-numbered core", NULL });
        char *root = fixture_new();
        fixture_write(root, "kvmtuned.conf", "[Host]\nHousekeepingCPUs=2-3\n");
        fixture_write(root, "policy.d/empty.conf", "# no classes\n");
        Config *c = NULL;
        free(load(t, root, "kvmtuned.conf", &c, 0));
        assert_false(c->host.housekeeping_auto);
        assert_null(c->host.housekeeping_why);
        config_free(c);
        fixture_free(root);
        topology_free(t);

        t = corpus_host("intel-2s-haswell-offline-cpus-memoryless-pkg.xml");
        if (!t)
                return;
        assert_auto_housekeeping(t, "5",
                                 (const char *const[]){ "node 1: core 9 (CPU 5): a core with local memory", NULL });
        topology_free(t);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cpulist),
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_every_error_kind),
                cmocka_unit_test(test_duration_bounds),
                cmocka_unit_test(test_long_line_and_auto_overlap),
                cmocka_unit_test(test_second_host_section),
                cmocka_unit_test(test_valid_policy_and_matching),
                cmocka_unit_test(test_shipped_examples),
                cmocka_unit_test(test_missing_files),
                cmocka_unit_test(test_empty_policy_dir),
                cmocka_unit_test(test_input_bounds),
                cmocka_unit_test(test_ratio_and_listen_bounds),
                cmocka_unit_test(test_directory_as_file),
                cmocka_unit_test(test_housekeeping_takes_all),
                cmocka_unit_test(test_invisible_characters),
                cmocka_unit_test(test_page_size_against_host),
                cmocka_unit_test(test_require_without_smt),
                cmocka_unit_test(test_long_match_list),
                cmocka_unit_test(test_host_tuning_keys),
                cmocka_unit_test(test_housekeeping_auto_smaller_l3),
                cmocka_unit_test(test_housekeeping_auto_efficiency_core),
                cmocka_unit_test(test_housekeeping_auto_away_from_gpu),
                cmocka_unit_test(test_housekeeping_auto_unchanged),
        };
        return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}

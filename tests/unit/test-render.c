/* Text and JSON rendering of the host model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "domain.h"
#include "fixture.h"
#include "planner.h"
#include "render.h"
#include "topology.h"

static Topology *load(const char *desc) {
        Topology *t = NULL;
        assert_int_equal(topology_load(&(TopologySource){ .synthetic = desc }, &t), 0);
        return t;
}

static void test_summary(void **state) {
        (void) state;
        struct {
                const char *desc, *line;
        } cases[] = {
                { "pack:2 numa:2 l3:2 core:8 pu:2", "2 packages, 4 NUMA nodes, 8 L3, 64 cores, 128 CPUs, SMT 2" },
                { "pack:1 core:1 pu:1", "1 package, 1 NUMA node, 0 L3, 1 core, 1 CPU, no SMT" },
                { "pack:2 core:2 pu:4", "2 packages, 1 NUMA node, 0 L3, 4 cores, 16 CPUs, SMT 4" },
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                Topology *t = load(cases[i].desc);
                char *line = NULL;
                assert_int_equal(render_topology_summary(t, &line), 0);
                assert_string_equal(line, cases[i].line);
                free(line);
                topology_free(t);
        }
}

static unsigned count_lines_starting(const char *text, const char *prefix) {
        unsigned n = 0;
        for (const char *p = text; p; p = strchr(p, '\n')) {
                if (*p == '\n')
                        p++;
                if (strncmp(p, prefix, strlen(prefix)) == 0)
                        n++;
        }
        return n;
}

static void test_text(void **state) {
        (void) state;
        Topology *t = load("pack:2 numa:2(memory=8GiB) l3:2(size=32MiB) core:4 pu:2");
        char *text = NULL;
        assert_int_equal(render_topology_text(t, &text), 0);
        assert_int_equal(count_lines_starting(text, "node "), 4);
        assert_int_equal(count_lines_starting(text, "  L3 #"), 8);
        assert_int_equal(count_lines_starting(text, "    core "), 32);
        assert_non_null(strstr(text, "node 0: CPUs 0-15; memory 8 GiB"));
        assert_non_null(strstr(text, "  L3 #1 (32 MiB): CPUs 8-15\n"));
        assert_non_null(strstr(text, "    core 31: 62-63\n"));
        free(text);
        topology_free(t);
}

static void test_json(void **state) {
        (void) state;
        Topology *t = load("pack:2 numa:2 l3:2 core:8 pu:2");
        json_object *o = NULL;
        assert_int_equal(render_topology_json(t, &o), 0);

        /* Round trip through text, as a consumer of kvmtunectl --json would read it. */
        json_object *back = json_tokener_parse(json_object_to_json_string(o));
        assert_non_null(back);
        json_object *summary, *v, *cpus, *nodes;
        assert_true(json_object_object_get_ex(back, "summary", &summary));
        assert_true(json_object_object_get_ex(summary, "cpus", &v));
        assert_int_equal(json_object_get_int(v), 128);
        assert_true(json_object_object_get_ex(summary, "numa_nodes", &v));
        assert_int_equal(json_object_get_int(v), 4);
        assert_true(json_object_object_get_ex(summary, "smt_max", &v));
        assert_int_equal(json_object_get_int(v), 2);

        assert_true(json_object_object_get_ex(back, "cpus", &cpus));
        assert_int_equal(json_object_array_length(cpus), 128);
        json_object *cpu37 = json_object_array_get_idx(cpus, 37), *sib;
        assert_true(json_object_object_get_ex(cpu37, "cpu", &v));
        assert_int_equal(json_object_get_int(v), 37);
        assert_true(json_object_object_get_ex(cpu37, "node", &v));
        assert_int_equal(json_object_get_int(v), 1);
        assert_true(json_object_object_get_ex(cpu37, "siblings", &sib));
        assert_int_equal(json_object_array_length(sib), 2);
        assert_int_equal(json_object_get_int(json_object_array_get_idx(sib, 0)), 36);
        assert_int_equal(json_object_get_int(json_object_array_get_idx(sib, 1)), 37);

        assert_true(json_object_object_get_ex(back, "nodes", &nodes));
        assert_int_equal(json_object_array_length(nodes), 4);
        json_object *node3 = json_object_array_get_idx(nodes, 3), *ncpus;
        assert_true(json_object_object_get_ex(node3, "cpus", &ncpus));
        assert_int_equal(json_object_array_length(ncpus), 32);
        assert_int_equal(json_object_get_int(json_object_array_get_idx(ncpus, 0)), 96);
        /* Synthetic topologies carry no distances: null, not a made-up matrix. */
        assert_true(json_object_object_get_ex(node3, "distances", &v));
        assert_null(v);

        json_object_put(back);
        json_object_put(o);
        topology_free(t);
}

/* A <name> is text from outside: a newline in it must not start a line of the plan (a forged
 * "refused" or "admitted" line for another domain), in either the admitted or refused form. */
static void test_plan_text_escapes_names(void **state) {
        (void) state;
        Topology *t = load("pack:1 numa:1 core:4 pu:2");
        char *root = fixture_new();
        fixture_write(root, "kvmtuned.conf", "");
        fixture_write(root, "policy.d/50-test.conf", "[Class ded]\nCPUPolicy=dedicated\n");
        char conf[512], dir[512];
        snprintf(conf, sizeof(conf), "%s/kvmtuned.conf", root);
        snprintf(dir, sizeof(dir), "%s/policy.d", root);
        Config *c = NULL;
        ConfigErrors errors = { 0 };
        assert_int_equal(config_load(conf, dir, t, &c, &errors), 0);
        Planner *p = NULL;
        assert_int_equal(planner_new(t, c, &p), 0);

        static const char *const xmls[] = {
                "<domain><name>ok\nevil: class ded</name><vcpu>2</vcpu><memory>1024</memory><metadata>"
                "<k:policy xmlns:k='urn:kvmtuned:policy:1' class='ded'/></metadata></domain>",
                /* more vCPUs than the host has: refused; a CR survives XML as &#13; */
                "<domain><name>big&#13;forged: refused: x&#9;y</name><vcpu>64</vcpu><memory>1024</memory>"
                "<metadata><k:policy xmlns:k='urn:kvmtuned:policy:1' class='ded'/></metadata></domain>",
        };
        for (size_t i = 0; i < sizeof(xmls) / sizeof(xmls[0]); i++) {
                DomainRequest *d = NULL;
                char *error = NULL;
                assert_int_equal(domain_parse(xmls[i], strlen(xmls[i]), &d, &error), 0);
                const Placement *pl = NULL;
                assert_int_equal(planner_place(p, d, &pl), 0);
                assert_int_equal(pl->admitted, i == 0);
                domain_free(d);
        }
        char *text = NULL;
        assert_int_equal(render_plan_text(p, &text), 0);
        print_message("%s", text);
        assert_int_equal(count_lines_starting(text, "evil"), 0);
        assert_int_equal(count_lines_starting(text, "forged"), 0);
        assert_null(strchr(text, '\r'));
        assert_null(strchr(text, '\t'));
        assert_non_null(strstr(text, "ok\\nevil: class ded: class ded\n"));
        assert_non_null(strstr(text, "big\\rforged: refused: x\\ty: refused: "));
        free(text);

        planner_free(p);
        config_free(c);
        fixture_free(root);
        topology_free(t);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_summary),
                cmocka_unit_test(test_text),
                cmocka_unit_test(test_json),
                cmocka_unit_test(test_plan_text_escapes_names),
        };
        return cmocka_run_group_tests_name("render", tests, NULL, NULL);
}

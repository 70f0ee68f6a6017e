/* `kvmtunectl topology` as a user runs it: counts on every corpus machine, errors, exit codes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "oracle.h"

static int summary_int(json_object *root, const char *key) {
        json_object *summary, *v;
        assert_true(json_object_object_get_ex(root, "summary", &summary));
        assert_true(json_object_object_get_ex(summary, key, &v));
        return json_object_get_int(v);
}

static void test_corpus_file(void **state) {
        const char *path = *state;
        OracleCounts want;
        assert_int_equal(oracle_counts(path, &want), 0);

        char *out = oracle_run("%s topology --json --topology '%s'", KVMTUNECTL, path);
        assert_non_null(out);
        json_object *root = json_tokener_parse(out);
        assert_non_null(root);
        assert_int_equal(summary_int(root, "cpus"), want.pus);
        assert_int_equal(summary_int(root, "cores"), want.cores ? want.cores : want.pus);
        assert_int_equal(summary_int(root, "packages"), want.packages ? want.packages : 1);
        assert_int_equal(summary_int(root, "numa_nodes"), want.numa_nodes);
        assert_int_equal(summary_int(root, "l3"), want.l3);
        assert_int_equal(summary_int(root, "pci_devices"), want.pci_devices);

        /* Kernel numbers: every CPU hwloc calls P#n appears as cpu n. */
        char *pus = oracle_run("hwloc-calc --if xml -i '%s' --po -I pu all", path);
        hwloc_bitmap_t want_cpus = oracle_parse_list(pus), got_cpus = hwloc_bitmap_alloc();
        json_object *cpus;
        assert_true(json_object_object_get_ex(root, "cpus", &cpus));
        for (size_t i = 0; i < json_object_array_length(cpus); i++) {
                json_object *v;
                assert_true(json_object_object_get_ex(json_object_array_get_idx(cpus, i), "cpu", &v));
                hwloc_bitmap_set(got_cpus, (unsigned) json_object_get_int(v));
        }
        assert_true(hwloc_bitmap_isequal(want_cpus, got_cpus));

        /* The text form opens with the same one-line summary. */
        char *text = oracle_run("%s topology --topology '%s'", KVMTUNECTL, path);
        json_object *summary, *line;
        assert_true(json_object_object_get_ex(root, "summary", &summary));
        assert_true(json_object_object_get_ex(summary, "text", &line));
        assert_non_null(text);
        assert_memory_equal(text, json_object_get_string(line), strlen(json_object_get_string(line)));
        print_message("%s\n", json_object_get_string(line));

        hwloc_bitmap_free(want_cpus);
        hwloc_bitmap_free(got_cpus);
        json_object_put(root);
        free(pus);
        free(out);
        free(text);
}

static int run_status(const char *args, char **ret_stderr) {
        char *cmd = NULL;
        assert_true(asprintf(&cmd, "%s %s 2>&1 >/dev/null; echo \"exit=$?\"", KVMTUNECTL, args) > 0);
        char *out = oracle_run("%s", cmd);
        free(cmd);
        assert_non_null(out);
        char *e = strstr(out, "exit=");
        assert_non_null(e);
        int status = atoi(e + 5);
        *e = '\0';
        *ret_stderr = out;
        return status;
}

static void test_errors(void **state) {
        (void) state;
        char *err = NULL;
        assert_int_equal(run_status("topology --topology /nonexistent.xml", &err), 1);
        assert_non_null(strstr(err, "/nonexistent.xml: No such file or directory"));
        free(err);

        assert_int_equal(run_status("topology --topology /etc/hostname", &err), 1);
        assert_non_null(strstr(err, "hwloc refused it"));
        free(err);

        assert_int_equal(run_status("frobnicate", &err), 2);
        assert_non_null(strstr(err, "unknown command"));
        free(err);

        assert_int_equal(run_status("--no-such-option topology", &err), 2);
        free(err);

        assert_int_equal(run_status("--help", &err), 0);
        free(err);
}

static void test_live_host(void **state) {
        (void) state;
        char *out = oracle_run("%s topology --json", KVMTUNECTL);
        assert_non_null(out);
        json_object *root = json_tokener_parse(out);
        assert_non_null(root);
        char *n = oracle_run("hwloc-calc -N pu all");
        assert_int_equal(summary_int(root, "cpus"), atoi(n));
        json_object_put(root);
        free(n);
        free(out);
}

/* A real machine that is not in the corpus: this host, exported by lstopo, checked the same way. */
static void test_live_xml_export(void **state) {
        (void) state;
        oracle_test_host_export(test_corpus_file);
}

int main(void) {
        const struct CMUnitTest fixed[] = {
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_live_host),
                cmocka_unit_test(test_live_xml_export),
        };
        int failed = cmocka_run_group_tests_name("kvmtunectl topology", fixed, NULL, NULL);

        failed += oracle_run_corpus("kvmtunectl topology corpus", test_corpus_file);
        return failed;
}

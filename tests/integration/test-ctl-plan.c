/* `kvmtunectl plan` and `kvmtuned --check` as an operator runs them: the JSON contract, exit
 * codes, error messages, the shipped policy and a domain XML written by libvirt itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "fixture.h"
#include "oracle.h"

#define POLICY "--config " KVMTUNED_ETC "/kvmtuned.conf --policy-dir " KVMTUNED_ETC "/policy.d"
#define DOMAINS KVMTUNED_FIXTURES "/domains"

/* Runs a shell command; returns its exit status, stdout in *ret_out, stderr in *ret_err. */
static int run(char **ret_out, char **ret_err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int run(char **ret_out, char **ret_err, const char *fmt, ...) {
        char *cmd = NULL, *dir = fixture_new();
        va_list ap;
        va_start(ap, fmt);
        assert_true(vasprintf(&cmd, fmt, ap) > 0);
        va_end(ap);
        char *out = oracle_run("(%s) >%s/out 2>%s/err; echo $?", cmd, dir, dir);
        assert_non_null(out);
        int status = atoi(out);
        free(out);
        *ret_out = oracle_run("cat %s/out", dir);
        *ret_err = oracle_run("cat %s/err", dir);
        free(cmd);
        fixture_free(dir);
        return status;
}

/* The keys of an object, sorted and comma-joined, to compare against the contract. */
static char *keys_of(json_object *o) {
        char *keys[32];
        int n = 0;
        json_object_object_foreach(o, k, v) {
                (void) v;
                keys[n++] = k;
        }
        for (int i = 1; i < n; i++)
                for (int j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
                        char *t = keys[j];
                        keys[j] = keys[j - 1];
                        keys[j - 1] = t;
                }
        char *s = calloc(1, 512);
        for (int i = 0; i < n; i++) {
                strcat(s, i ? "," : "");
                strcat(s, keys[i]);
        }
        return s;
}

static void test_plan_json_contract(void **state) {
        (void) state;
        const char *dir = oracle_corpus_dir();
        if (!dir) {
                skip();
                return;
        }
        char *out, *err;
        int status =
                run(&out, &err,
                    "%s plan --json " POLICY " --topology %s/intel-2s-xeon-8259cl-smt-2numa-8xT4-aws-g4dn.xml " DOMAINS
                    "/win10-virt-install.xml " DOMAINS "/gaming-hostdev.xml " DOMAINS "/hugepage-db.xml " DOMAINS
                    "/nova-pinned.xml " DOMAINS "/mixed-rt.xml",
                    KVMTUNECTL, dir);
        assert_int_equal(status, 0);
        json_object *root = json_tokener_parse(out);
        assert_non_null(root);
        char *k = keys_of(root);
        assert_string_equal(k, "domains");
        free(k);
        json_object *domains;
        assert_true(json_object_object_get_ex(root, "domains", &domains));
        assert_int_equal(json_object_array_length(domains), 5);

        for (size_t i = 0; i < 5; i++) {
                json_object *d = json_object_array_get_idx(domains, i), *v;
                k = keys_of(d);
                assert_string_equal(k, "admitted,class,emulator,explain,hugepages,iothreads,memory,name,vcpus");
                free(k);
                assert_true(json_object_object_get_ex(d, "memory", &v));
                k = keys_of(v);
                assert_string_equal(k, "mode,nodes");
                free(k);
        }
        /* The gaming domain: metadata class, its GPU's node (0), 8 single-CPU vCPUs, 16 x 1G pages. */
        json_object *g = json_object_array_get_idx(domains, 1), *v, *vcpus, *hp;
        assert_true(json_object_object_get_ex(g, "class", &v));
        assert_string_equal(json_object_get_string(v), "gaming");
        assert_true(json_object_object_get_ex(g, "vcpus", &vcpus));
        assert_int_equal(json_object_array_length(vcpus), 8);
        json_object *cpus;
        assert_true(json_object_object_get_ex(json_object_array_get_idx(vcpus, 0), "cpus", &cpus));
        assert_int_equal(json_object_array_length(cpus), 1);
        assert_true(json_object_object_get_ex(g, "hugepages", &hp));
        assert_int_equal(json_object_array_length(hp), 1);
        assert_true(json_object_object_get_ex(json_object_array_get_idx(hp, 0), "page_kib", &v));
        assert_int_equal(json_object_get_int64(v), 1048576);
        assert_true(json_object_object_get_ex(json_object_array_get_idx(hp, 0), "count", &v));
        assert_int_equal(json_object_get_int64(v), 16);
        assert_true(json_object_object_get_ex(json_object_array_get_idx(hp, 0), "node", &v));
        assert_int_equal(json_object_get_int(v), 0);
        json_object_put(root);
        free(out);
        free(err);
}

static void test_plan_refusal_exit_code(void **state) {
        (void) state;
        char *tmp = fixture_new();
        /* A fixed host of 16 CPUs (one of them housekeeping) whatever machine runs the test. */
        char *made = oracle_run("lstopo-no-graphics -f --if synthetic -i 'pack:1 numa:1(memory=64GiB) core:16 pu:1' "
                                "--of xml '%s/host.xml' && echo ok",
                                tmp);
        assert_non_null(made);
        free(made);
        /* Ten 8-vCPU gaming VMs: the first fits in the 15 dedicated CPUs, the second does not. */
        char list[4096] = "";
        for (int i = 0; i < 10; i++) {
                char rel[32], xml[256];
                snprintf(rel, sizeof(rel), "g%d.xml", i);
                snprintf(xml, sizeof(xml),
                         "<domain><name>gaming-%d</name><vcpu>8</vcpu><memory unit='MiB'>64</memory></domain>", i);
                fixture_write(tmp, rel, xml);
                snprintf(list + strlen(list), sizeof(list) - strlen(list), " %s/%s", tmp, rel);
        }
        char *out, *err;
        int status = run(&out, &err, "%s plan " POLICY " --topology %s/host.xml %s", KVMTUNECTL, tmp, list);
        print_message("%s", out);
        assert_int_equal(status, 3);
        assert_non_null(strstr(out, "gaming-1: refused: host: needs 8 dedicated CPUs, 7 free"));
        assert_null(strstr(out, "gaming-0: refused"));
        assert_non_null(strstr(out, "10 domains: 1 admitted, 9 refused"));
        free(out);
        free(err);

        /* A broken file stops the plan before anything is placed, naming file and line. */
        status =
                run(&out, &err, "%s plan " POLICY " " DOMAINS "/win10-virt-install.xml " DOMAINS "/broken-unclosed.xml",
                    KVMTUNECTL);
        assert_int_equal(status, 1);
        assert_string_equal(out, "");
        assert_non_null(strstr(err, DOMAINS "/broken-unclosed.xml: line 6: Premature end of data"));
        free(out);
        free(err);

        /* The same name twice is an error of the input, not a refusal. */
        status = run(&out, &err, "%s plan " POLICY " " DOMAINS "/mixed-rt.xml " DOMAINS "/mixed-rt.xml", KVMTUNECTL);
        assert_int_equal(status, 1);
        assert_non_null(strstr(err, "a domain called rt-mixed is planned already"));
        free(out);
        free(err);
        fixture_free(tmp);
}

/* A domain XML as libvirt writes it (the test driver's own "test" domain) plans on this host. */
static void test_plan_libvirt_written_xml(void **state) {
        (void) state;
        char *virsh = oracle_run("command -v virsh");
        if (!virsh) {
                print_message("SKIP: virsh is not installed\n");
                skip();
                return;
        }
        free(virsh);
        char *xml = oracle_run("virsh -c test:///default dumpxml test"); /* installed, so it must work */
        assert_non_null(xml);
        char *tmp = fixture_new();
        fixture_write(tmp, "test.xml", xml);
        char *out, *err;
        int status = run(&out, &err, "%s plan --json " POLICY " %s/test.xml", KVMTUNECTL, tmp);
        print_message("%s%s", out, err);
        json_object *root = json_tokener_parse(out), *domains, *v;
        assert_non_null(root);
        assert_true(json_object_object_get_ex(root, "domains", &domains));
        json_object *d = json_object_array_get_idx(domains, 0);
        assert_true(json_object_object_get_ex(d, "name", &v));
        assert_string_equal(json_object_get_string(v), "test");
        assert_true(json_object_object_get_ex(d, "admitted", &v));
        assert_int_equal(status, json_object_get_boolean(v) ? 0 : 3);
        json_object_put(root);
        free(out);
        free(err);
        free(xml);
        fixture_free(tmp);
}

static void test_check(void **state) {
        (void) state;
        static const char *mains[] = { "kvmtuned.conf", "examples/gaming-desktop.conf", "examples/dense-host.conf",
                                       "examples/vdi-pool.conf" };
        for (size_t i = 0; i < sizeof(mains) / sizeof(mains[0]); i++) {
                char *out, *err;
                int status = run(&out, &err, "%s --check --config %s/%s --policy-dir %s/policy.d", KVMTUNED,
                                 KVMTUNED_ETC, mains[i], KVMTUNED_ETC);
                assert_int_equal(status, 0);
                assert_string_equal(out, "configuration OK\n");
                free(out);
                free(err);
        }

        char *tmp = fixture_new();
        fixture_write(tmp, "bad.conf", "[Daemon]\nDryRun=perhaps\n[Host]\nIsolateHost=maybe\n");
        fixture_write(tmp, "policy.d/10-x.conf", "[Class x]\nCPUPolcy=dedicated\n");
        char *out, *err;
        int status = run(&out, &err, "%s --check --config %s/bad.conf --policy-dir %s/policy.d", KVMTUNED, tmp, tmp);
        assert_int_equal(status, 1);
        assert_string_equal(out, "");
        char want[1024];
        snprintf(want, sizeof(want),
                 "%s/bad.conf:2: DryRun=perhaps: expected yes or no\n"
                 "%s/bad.conf:4: IsolateHost=maybe: expected no, when-dedicated or always\n"
                 "%s/policy.d/10-x.conf:2: unknown key CPUPolcy in [Class x]; did you mean CPUPolicy?\n",
                 tmp, tmp, tmp);
        assert_string_equal(err, want);
        free(out);
        free(err);
        fixture_free(tmp);
}

/* Issue 12, defect 5: input that is not a configuration or a domain XML gets a bounded, clear
 * refusal (before: --check of /dev/zero grew to 23.5 GB; the hook read stdin without a limit). */
static void test_hostile_input(void **state) {
        (void) state;
        char *out, *err;
        int status = run(&out, &err, "timeout 20 %s --check --config /dev/zero --policy-dir %s/policy.d", KVMTUNED,
                         KVMTUNED_ETC);
        assert_int_equal(status, 1);
        assert_string_equal(err, "/dev/zero: not a regular file\n");
        free(out);
        free(err);

        /* No daemon needed: the hook refuses before it asks one. */
        char *tmp = fixture_new();
        status = run(&out, &err, "head -c 4194305 /dev/zero | tr '\\0' x | timeout 20 %s --runtime-dir %s hook big "
                     "prepare begin -", KVMTUNECTL, tmp);
        assert_int_equal(status, 1);
        assert_string_equal(err, "kvmtuned: big refused: its domain XML is larger than 4 MiB, the most kvmtuned reads\n");
        free(out);
        free(err);
        status = run(&out, &err, "printf '<domain>\\001</domain>' | %s --runtime-dir %s hook ctl prepare begin -",
                     KVMTUNECTL, tmp);
        assert_int_equal(status, 1);
        assert_string_equal(err, "kvmtuned: ctl refused: its domain XML holds a control character at byte 8, which XML "
                                 "does not allow\n");
        free(out);
        free(err);
        /* A release is never refused; the oversized XML is read to its end and the hook goes on
         * (here to a daemon that is not running: HookFailOpen does not apply to a release). */
        status = run(&out, &err, "head -c 5000000 /dev/zero | %s --runtime-dir %s hook big release end -", KVMTUNECTL,
                     tmp);
        print_message("release with a large XML: exit %d, %s", status, err);
        assert_int_equal(status, 0);
        free(out);
        free(err);
        fixture_free(tmp);
}

/* Issue 12, defect 6: values from domain XML reach no output raw. A name or a value holding a
 * newline (an XML character reference) cannot forge a line of kvmtunectl's output or of the
 * hook's answer to libvirt, nor an escape sequence drive the terminal. Before: printed raw. */
static void test_outside_text_escaped(void **state) {
        (void) state;
        char *tmp = fixture_new();
        fixture_write(tmp, "evil-name.xml",
                      "<domain><name>evil&#10;forged: class gaming&#9;x</name><vcpu>1</vcpu>"
                      "<memory unit='MiB'>64</memory></domain>");
        fixture_write(tmp, "evil-value.xml",
                      "<domain><name>v</name><vcpu>1&#10;forged line</vcpu><memory unit='MiB'>64</memory></domain>");
        char *out, *err;
        int status = run(&out, &err, "%s plan " POLICY " %s/evil-name.xml", KVMTUNECTL, tmp);
        print_message("%s", out);
        assert_int_equal(status, 0);
        assert_non_null(strstr(out, "evil\\nforged: class gaming\\tx: class "));
        assert_null(strstr(out, "\nforged"));
        free(out);
        free(err);
        status = run(&out, &err, "%s plan " POLICY " %s/evil-value.xml", KVMTUNECTL, tmp);
        assert_int_equal(status, 1);
        print_message("%s", err);
        assert_non_null(strstr(err, "1\\nforged line"));
        assert_null(strstr(err, "\nforged"));
        free(out);
        free(err);
        /* The hook's answer (here its own refusal of the start) names the domain escaped. */
        status = run(&out, &err, "printf '<domain>\\001</domain>' | %s --runtime-dir %s hook -- \"$(printf 'a\\nb\\033[2J')\" "
                     "prepare begin -", KVMTUNECTL, tmp);
        assert_int_equal(status, 1);
        assert_non_null(strstr(err, "kvmtuned: a\\nb\\x1b[2J refused: "));
        assert_null(strchr(err, '\033'));
        free(out);
        free(err);
        fixture_free(tmp);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_plan_json_contract),
                cmocka_unit_test(test_plan_refusal_exit_code),
                cmocka_unit_test(test_plan_libvirt_written_xml),
                cmocka_unit_test(test_check),
                cmocka_unit_test(test_hostile_input),
                cmocka_unit_test(test_outside_text_escaped),
        };
        return cmocka_run_group_tests_name("kvmtunectl plan, kvmtuned --check", tests, NULL, NULL);
}

/* Outside text in one-line output (issue 12, defect 6): the escaping rules, replies made
 * printable, and the daemon's log lines, which a name or XML value could otherwise break. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "escape.h"
#include "fixture.h"
#include "log.h"
#include "oracle.h"

static void test_rules(void **state) {
        (void) state;
        char *e = escape_text("a\nb\tc\r\x1b[2J\\d\x7f é");
        assert_string_equal(e, "a\\nb\\tc\\r\\x1b[2J\\\\d\\x7f é");
        free(e);
        assert_false(escape_needed("plain name-1.2 é"));
        assert_true(escape_needed("x\n"));
        char small[8];
        assert_string_equal(escape_into(small, sizeof(small), "ab\ncdef"), "ab\\ncde"); /* cut, terminated */
        assert_string_equal(escape_into(small, sizeof(small), "abcdef\n"), "abcdef"); /* never half an escape */
}

static void test_json_strings(void **state) {
        (void) state;
        json_object *o = json_tokener_parse("{\"name\":\"a\\nforged\",\"list\":[\"x\\u001b\",{\"n\":1}]}");
        assert_non_null(o);
        assert_int_equal(escape_json_strings(o), 0);
        assert_string_equal(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
                            "{\"name\":\"a\\\\nforged\",\"list\":[\"x\\\\x1b\",{\"n\":1}]}");
        json_object_put(o);
}

/* A log line on stderr (without the journal) stays one line whatever the name and message. */
static void test_log_line(void **state) {
        (void) state;
        char *root = fixture_new(), *path = NULL;
        assert_true(asprintf(&path, "%s/stderr", root) > 0);
        fflush(stderr);
        int saved = dup(STDERR_FILENO);
        assert_non_null(freopen(path, "w", stderr));
        Logger l;
        unsetenv("JOURNAL_STREAM");
        log_init(&l, false);
        log_emit(&l, LOG_WARNING, &(LogFields){ .domain = "vm\nforged", .action = "hook", .vcpu = -1 },
                 "%s: cannot read the XML: %s", "vm\nforged", "<vcpu> 1\nKVMTUNED OK");
        fflush(stderr);
        dup2(saved, STDERR_FILENO);
        close(saved);
        char *out = oracle_run("cat '%s'", path);
        assert_string_equal(out, "kvmtuned[warning]: vm\\nforged: cannot read the XML: <vcpu> 1\\nKVMTUNED OK "
                                 "DOMAIN=vm\\nforged ACTION=hook\n");
        free(out);
        free(path);
        fixture_free(root);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_rules),
                cmocka_unit_test(test_json_strings),
                cmocka_unit_test(test_log_line),
        };
        return cmocka_run_group_tests_name("escaping outside text", tests, NULL, NULL);
}

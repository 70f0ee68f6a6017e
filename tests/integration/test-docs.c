/* The documentation against the code: every key the configuration parser accepts is described
 * in kvmtuned.conf(5) and in the README's table of its section, and neither describes a key the
 * parser does not accept; every option the binaries' --help lists is in their man page; the
 * pages render without a warning. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "kfile.h"
#include "macro.h"
#include "oracle.h"

static const char *const sections[] = { "Daemon", "Host", "Class" };

__attribute__((noinline)) /* else GCC 12 -O2 warns of a dangling pointer into it */
static char *read_doc(const char *rel) {
        char *text = NULL;
        assert_int_equal(kfile_read(KVMTUNED_SOURCE, rel, &text), 0);
        return text;
}

static bool parser_accepts(const char *section, const char *key) {
        for (size_t i = 0; config_section_key(section, i); i++)
                if (strcmp(config_section_key(section, i), key) == 0)
                        return true;
        return false;
}

/* The keys a document describes per section: section_of says which section a line opens (or
 * -1: none, -2: leaves it), key_of which key a line describes (copied into key). */
typedef int (*SectionOf)(const char *line, const char *prev);
typedef bool (*KeyOf)(const char *line, const char *prev, char *key, size_t size);

/* Checks both directions for one document; returns the number of mismatches, each printed. */
static int check_document(const char *name, const char *text, SectionOf section_of, KeyOf key_of) {
        int bad = 0, section = -1;
        bool seen[3][64] = { { false } };
        char prev[512] = "";
        for (const char *line = text; *line;) {
                size_t len = strcspn(line, "\n");
                char buf[512], key[64];
                snprintf(buf, sizeof(buf), "%.*s", (int) (len < sizeof(buf) - 1 ? len : sizeof(buf) - 1), line);
                int opened = section_of(buf, prev);
                if (opened != -1)
                        section = opened;
                else if (section >= 0 && key_of(buf, prev, key, sizeof(key))) {
                        if (!parser_accepts(sections[section], key)) {
                                print_message("%s: [%s] describes %s, which the parser does not accept\n", name,
                                              sections[section], key);
                                bad++;
                        }
                        for (size_t i = 0; config_section_key(sections[section], i) && i < 64; i++)
                                if (strcmp(config_section_key(sections[section], i), key) == 0)
                                        seen[section][i] = true;
                }
                snprintf(prev, sizeof(prev), "%s", buf);
                line += len + (line[len] ? 1 : 0);
        }
        for (int s = 0; s < 3; s++)
                for (size_t i = 0; config_section_key(sections[s], i); i++)
                        if (!seen[s][i]) {
                                print_message("%s: [%s] %s is not described\n", name, sections[s],
                                              config_section_key(sections[s], i));
                                bad++;
                        }
        return bad;
}

/* kvmtuned.conf(5): ".SH [Daemon] SECTION" opens a section, any other .SH leaves it; a key is a
 * tagged paragraph ".TP" then ".B Key=" or ".BR Key= ...". */
static int man_section(const char *line, const char *prev) {
        (void) prev;
        if (strncmp(line, ".SH ", 4) != 0)
                return -1;
        for (int s = 0; s < 3; s++) {
                char want[32];
                snprintf(want, sizeof(want), ".SH [%s", sections[s]);
                if (strncmp(line, want, strlen(want)) == 0)
                        return s;
        }
        return -2;
}

static bool man_key(const char *line, const char *prev, char *key, size_t size) {
        const char *p = strncmp(line, ".BR ", 4) == 0 ? line + 4 : strncmp(line, ".B ", 3) == 0 ? line + 3 : NULL;
        if (!p || strcmp(prev, ".TP") != 0)
                return false;
        size_t n = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789");
        if (n == 0 || p[n] != '=' || n >= size)
                return false;
        snprintf(key, size, "%.*s", (int) n, p);
        return true;
}

/* README: "### `[Daemon]`" opens a section, any other heading leaves it; a key is a table row
 * "| `Key` | ...". */
static int readme_section(const char *line, const char *prev) {
        (void) prev;
        if (line[0] != '#')
                return -1;
        for (int s = 0; s < 3; s++) {
                char want[32];
                snprintf(want, sizeof(want), "### `[%s", sections[s]);
                if (strncmp(line, want, strlen(want)) == 0)
                        return s;
        }
        return -2;
}

static bool readme_key(const char *line, const char *prev, char *key, size_t size) {
        (void) prev;
        if (strncmp(line, "| `", 3) != 0)
                return false;
        size_t n = strcspn(line + 3, "`");
        if (n == 0 || n >= size || strncmp(line + 3 + n, "` |", 3) != 0)
                return false;
        snprintf(key, size, "%.*s", (int) n, line + 3);
        return true;
}

static void test_config_keys_documented(void **state) {
        (void) state;
        _cleanup_free_ char *man = read_doc("man/kvmtuned.conf.5"), *readme = read_doc("README.md");
        int bad = check_document("kvmtuned.conf(5)", man, man_section, man_key) +
                  check_document("README.md", readme, readme_section, readme_key);
        assert_int_equal(bad, 0);
        /* and the parser has keys in every section: the checks above are not vacuous */
        for (int s = 0; s < 3; s++)
                assert_non_null(config_section_key(sections[s], 0));
}

/* The text of a roff page with its escaped hyphens ("\-") as plain ones. */
static char *read_man(const char *rel) {
        char *text = read_doc(rel), *out = text;
        for (const char *in = text; *in; in++) {
                if (in[0] == '\\' && in[1] == '-')
                        in++;
                *out++ = *in;
        }
        *out = '\0';
        return text;
}

/* Every --option of `BINARY --help` appears in the man page. */
static void check_options(const char *binary, const char *man_rel) {
        _cleanup_free_ char *help = oracle_run("'%s' --help", binary), *man = read_man(man_rel);
        assert_non_null(help);
        int options = 0, bad = 0;
        for (const char *p = strstr(help, "--"); p; p = strstr(p + 2, "--")) {
                size_t n = strspn(p + 2, "abcdefghijklmnopqrstuvwxyz-");
                if (n == 0)
                        continue;
                char roff[80];
                snprintf(roff, sizeof(roff), "--%.*s", (int) n, p + 2);
                options++;
                /* the longest match: --root must not pass on the strength of --root-xyz alone */
                bool found = false;
                for (const char *m = strstr(man, roff); m && !found; m = strstr(m + 1, roff)) {
                        char next = m[strlen(roff)];
                        found = !(next >= 'a' && next <= 'z') && next != '-';
                }
                if (!found) {
                        print_message("%s: --%.*s is not in %s\n", binary, (int) n, p + 2, man_rel);
                        bad++;
                }
        }
        print_message("%s: %d options checked against %s\n", binary, options, man_rel);
        assert_true(options >= 5);
        assert_int_equal(bad, 0);
}

static void test_options_documented(void **state) {
        (void) state;
        check_options(KVMTUNED, "man/kvmtuned.8");
        check_options(KVMTUNECTL, "man/kvmtunectl.8");
}

/* groff renders every page without a warning (what `man` shows). */
static void test_pages_render(void **state) {
        (void) state;
        static const char *const pages[] = { "man/kvmtuned.8", "man/kvmtunectl.8", "man/kvmtuned.conf.5" };
        for (size_t i = 0; i < ELEMENTSOF(pages); i++) {
                _cleanup_free_ char *out = oracle_run("groff -man -Tutf8 -ww -z '%s/%s' 2>&1 && echo rendered",
                                                      KVMTUNED_SOURCE, pages[i]);
                print_message("%s: %s", pages[i], out ? out : "groff failed\n");
                assert_non_null(out);
                assert_string_equal(out, "rendered\n");
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_config_keys_documented),
                cmocka_unit_test(test_options_documented),
                cmocka_unit_test(test_pages_render),
        };
        return cmocka_run_group_tests_name("documentation", tests, NULL, NULL);
}

/* Fixture trees for probe and actuator tests. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fixture.h"
#include "oracle.h"

char *fixture_new(void) {
        const char *tmp = getenv("TMPDIR");
        char *path = NULL;
        assert_true(asprintf(&path, "%s/kvmtuned-fixture-XXXXXX", tmp ? tmp : "/tmp") > 0);
        assert_non_null(mkdtemp(path));
        return path;
}

static void mkdir_parents(char *path) {
        for (char *p = strchr(path + 1, '/'); p; p = strchr(p + 1, '/')) {
                *p = '\0';
                assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
                *p = '/';
        }
}

void fixture_write(const char *root, const char *rel, const char *content) {
        char *path = NULL;
        assert_true(asprintf(&path, "%s/%s", root, rel) > 0);
        mkdir_parents(path);
        FILE *f = fopen(path, "we");
        assert_non_null(f);
        assert_true(fputs(content, f) >= 0);
        assert_int_equal(fclose(f), 0);
        free(path);
}

void fixture_free(char *root) {
        free(oracle_run("rm -rf '%s'", root));
        free(root);
}

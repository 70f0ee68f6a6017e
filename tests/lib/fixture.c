/* Fixture trees for probe and actuator tests. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fixture.h"
#include "oracle.h"

char *fixture_new(void) {
        const char *tmp = getenv("TMPDIR");
        char *path = NULL;
        if (asprintf(&path, "%s/kvmtuned-fixture-XXXXXX", tmp ? tmp : "/tmp") < 0 || !mkdtemp(path))
                abort();
        return path;
}

static void mkdir_parents(char *path) {
        for (char *p = strchr(path + 1, '/'); p; p = strchr(p + 1, '/')) {
                *p = '\0';
                if (mkdir(path, 0755) < 0 && errno != EEXIST)
                        abort();
                *p = '/';
        }
}

void fixture_write(const char *root, const char *rel, const char *content) {
        char *path = NULL;
        if (asprintf(&path, "%s/%s", root, rel) < 0)
                abort();
        mkdir_parents(path);
        FILE *f = fopen(path, "we");
        if (!f || fputs(content, f) < 0 || fclose(f) != 0)
                abort();
        free(path);
}

void fixture_free(char *root) {
        free(oracle_run("rm -rf '%s'", root));
        free(root);
}

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

void daemon_fixture_new(DaemonFixture *f, const char *desc) {
        f->root = fixture_new();
        struct {
                char **path;
                const char *rel;
        } paths[] = {
                { &f->topology, "topology.xml" }, { &f->config, "kvmtuned.conf" }, { &f->policy_dir, "policy.d" },
                { &f->runtime, "run" },           { &f->state, "state" },           { &f->sysfs, "sys" },
                { &f->procfs, "proc" },
        };
        for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
                assert_true(asprintf(paths[i].path, "%s/%s", f->root, paths[i].rel) > 0);
        fixture_write(f->procfs, "sys/kernel/random/boot_id", "boot-1\n");
        fixture_write(f->sysfs, "kernel/mm/transparent_hugepage/enabled", "always [madvise] never\n");
        char *out = oracle_run("lstopo-no-graphics -f --if synthetic -i '%s' --of xml '%s' && echo ok", desc,
                               f->topology);
        assert_non_null(out);
        free(out);
}

void daemon_fixture_free(DaemonFixture *f) {
        fixture_free(f->root);
        char **paths[] = { &f->topology, &f->config, &f->policy_dir, &f->runtime, &f->state, &f->sysfs, &f->procfs };
        for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
                free(*paths[i]);
                *paths[i] = NULL;
        }
        f->root = NULL;
}

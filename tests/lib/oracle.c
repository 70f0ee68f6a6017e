/* Test oracle: runs hwloc-info / hwloc-calc and parses what they print. */
#include <dirent.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "oracle.h"

const char *oracle_corpus_dir(void) {
        const char *dir = getenv("KVMTUNED_TOPOLOGIES");
        if (!dir)
                dir = KVMTUNED_TOPOLOGIES_DIR;
        struct stat st;
        if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
                printf("SKIP: real-machine topology corpus not found at %s (it sits beside the clone in CI)\n", dir);
                return NULL;
        }
        return dir;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int oracle_list_xml(const char *dir, char ***ret_paths) {
        DIR *d = opendir(dir);
        if (!d)
                return -errno;
        char **paths = NULL;
        int n = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                size_t len = strlen(de->d_name);
                if (len < 5 || strcmp(de->d_name + len - 4, ".xml") != 0)
                        continue;
                paths = realloc(paths, (size_t) (n + 1) * sizeof(char *));
                assert_non_null(paths);
                assert_true(asprintf(&paths[n], "%s/%s", dir, de->d_name) > 0);
                n++;
        }
        closedir(d);
        qsort(paths, (size_t) n, sizeof(char *), cmp_str);
        *ret_paths = paths;
        return n;
}

void oracle_free_list(char **paths, int n) {
        for (int i = 0; i < n; i++)
                free(paths[i]);
        free(paths);
}

char *oracle_run(const char *fmt, ...) {
        char *cmd = NULL;
        va_list ap;
        va_start(ap, fmt);
        int r = vasprintf(&cmd, fmt, ap);
        va_end(ap);
        if (r < 0)
                return NULL;

        FILE *p = popen(cmd, "r");
        free(cmd);
        if (!p)
                return NULL;
        char *out = NULL;
        size_t size = 0;
        FILE *m = open_memstream(&out, &size);
        char buf[4096];
        size_t k;
        while ((k = fread(buf, 1, sizeof(buf), p)) > 0)
                fwrite(buf, 1, k, m);
        fclose(m);
        if (pclose(p) != 0) {
                free(out);
                return NULL;
        }
        return out;
}

int oracle_counts(const char *xml, OracleCounts *ret_counts) {
        char *out = oracle_run("hwloc-info --if xml -i '%s' --filter pcidev:all 2>/dev/null", xml);
        if (!out)
                return -EIO;
        OracleCounts c = { 0 };
        for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
                int count;
                char type[64];
                /* "depth 2:  4 Group0 (type #12)" or "Special depth -3:  2 NUMANode (type #13)" */
                char *colon = strchr(line, ':');
                if (!colon || sscanf(colon + 1, "%d %63s", &count, type) != 2)
                        continue;
                if (strcmp(type, "Package") == 0)
                        c.packages = count;
                else if (strcmp(type, "NUMANode") == 0)
                        c.numa_nodes = count;
                else if (strcmp(type, "L3Cache") == 0)
                        c.l3 = count;
                else if (strcmp(type, "Core") == 0)
                        c.cores = count;
                else if (strcmp(type, "PU") == 0)
                        c.pus = count;
                else if (strcmp(type, "PCIDev") == 0)
                        c.pci_devices = count;
        }
        free(out);
        *ret_counts = c;
        return 0;
}

hwloc_bitmap_t oracle_parse_list(const char *s) {
        hwloc_bitmap_t set = hwloc_bitmap_alloc();
        while (s && *s) {
                char *end;
                unsigned long v = strtoul(s, &end, 10);
                if (end == s)
                        break;
                hwloc_bitmap_set(set, (unsigned) v);
                s = *end == ',' ? end + 1 : end;
        }
        return set;
}

int oracle_run_corpus(const char *group, void (*test)(void **state)) {
        const char *dir = oracle_corpus_dir();
        if (!dir)
                return 0;
        char **paths = NULL;
        int n = oracle_list_xml(dir, &paths);
        if (n <= 0) {
                printf("corpus %s holds no XML file\n", dir);
                return 1;
        }
        struct CMUnitTest *tests = calloc((size_t) n, sizeof(*tests));
        assert_non_null(tests);
        for (int i = 0; i < n; i++)
                tests[i] = (struct CMUnitTest){
                        .name = strrchr(paths[i], '/') + 1,
                        .test_func = test,
                        .initial_state = paths[i],
                };
        int failed = _cmocka_run_group_tests(group, tests, (size_t) n, NULL, NULL);
        free(tests);
        oracle_free_list(paths, n);
        return failed;
}

void oracle_test_host_export(void (*test)(void **state)) {
        char path[] = "/tmp/kvmtuned-live-XXXXXX.xml";
        int fd = mkstemps(path, 4);
        assert_true(fd >= 0);
        close(fd);
        char *out = oracle_run("lstopo-no-graphics -f --of xml '%s' && echo ok", path);
        if (!out)
                unlink(path);
        assert_non_null(out);
        free(out);
        void *state = path;
        test(&state);
        unlink(path);
}

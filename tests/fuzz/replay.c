/* The replay driver of the fuzz targets in the normal build: runs LLVMFuzzerTestOneInput once on
 * every file of the corpus directories (or files) it is given, in name order, and says how many
 * ran. A crash is the sanitizers' (or the target's abort()): the process dies with the input's
 * name as the last line before the report. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#pragma weak LLVMFuzzerInitialize

static int read_input(const char *path, uint8_t **ret_data, size_t *ret_size) {
        FILE *f = fopen(path, "re");
        if (!f)
                return -errno;
        uint8_t *data = NULL;
        size_t size = 0, alloc = 0;
        for (;;) {
                if (size == alloc) {
                        uint8_t *grown = realloc(data, alloc ? alloc * 2 : 4096);
                        if (!grown) {
                                free(data);
                                fclose(f);
                                return -ENOMEM;
                        }
                        data = grown;
                        alloc = alloc ? alloc * 2 : 4096;
                }
                size_t k = fread(data + size, 1, alloc - size, f);
                if (k == 0)
                        break;
                size += k;
        }
        int r = ferror(f) ? -EIO : 0;
        fclose(f);
        if (r < 0) {
                free(data);
                return r;
        }
        *ret_data = data;
        *ret_size = size;
        return 0;
}

/* Runs one file; returns 0, or negative errno when it cannot be read. */
static int run_file(const char *path) {
        uint8_t *data = NULL;
        size_t size = 0;
        int r = read_input(path, &data, &size);
        if (r < 0) {
                fprintf(stderr, "replay: cannot read %s: %s\n", path, strerror(-r));
                return r;
        }
        fprintf(stderr, "replay: %s (%zu bytes)\n", path, size);
        /* A copy of exactly size bytes, as libFuzzer hands it: ASan sees a read past the end. */
        uint8_t *copy = malloc(size ? size : 1);
        if (!copy) {
                free(data);
                return -ENOMEM;
        }
        memcpy(copy, data, size);
        free(data);
        LLVMFuzzerTestOneInput(copy, size);
        free(copy);
        return 0;
}

static int cmp_names(const struct dirent **a, const struct dirent **b) {
        return strcmp((*a)->d_name, (*b)->d_name);
}

static int skip_hidden(const struct dirent *de) {
        return de->d_name[0] != '.';
}

/* Runs every regular file of dir; returns how many ran, or negative errno. */
static int run_dir(const char *dir, unsigned *n_run) {
        struct dirent **names = NULL;
        int n = scandir(dir, &names, skip_hidden, cmp_names);
        if (n < 0)
                return -errno;
        int r = 0;
        for (int i = 0; i < n; i++) {
                char *path = NULL;
                struct stat st;
                if (r == 0 && asprintf(&path, "%s/%s", dir, names[i]->d_name) < 0)
                        r = -ENOMEM;
                else if (r == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                        r = run_file(path);
                        if (r == 0)
                                (*n_run)++;
                }
                free(path);
                free(names[i]);
        }
        free(names);
        return r;
}

int main(int argc, char **argv) {
        if (argc < 2) {
                fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
                return EXIT_FAILURE;
        }
        if (LLVMFuzzerInitialize)
                LLVMFuzzerInitialize(&argc, &argv);
        unsigned n_run = 0;
        for (int i = 1; i < argc; i++) {
                struct stat st;
                int r;
                if (stat(argv[i], &st) < 0)
                        r = -errno;
                else if (S_ISDIR(st.st_mode))
                        r = run_dir(argv[i], &n_run);
                else if ((r = run_file(argv[i])) == 0)
                        n_run++;
                if (r < 0) {
                        fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(-r));
                        return EXIT_FAILURE;
                }
        }
        if (n_run == 0) {
                fprintf(stderr, "replay: no inputs in %s\n", argv[1]);
                assert_true(n_run > 0); /* an empty corpus would prove nothing: fail */
        }
        printf("%s: %u inputs ran, no crash\n", program_invocation_short_name, n_run);
        return EXIT_SUCCESS;
}
